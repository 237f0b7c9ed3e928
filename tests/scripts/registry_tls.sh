#!/bin/bash
# Private registries with TLS as docker and podman speak to them: a real
# registry:2 (Debian's docker-registry) with a CA and certificates made
# here by openssl. HTTPS first everywhere (plain HTTP only as the fallback
# of 127.0.0.0/8, localhost and insecure registries); a registry's CA and
# client pair come from HOST:PORT/ under the certs.d roots
# ($XBUILD_CERTS_DIRS here, /etc/docker/certs.d and /etc/containers/certs.d
# by default); every TLS failure is one line saying what failed. Push,
# pull, build FROM and the registry build cache all go through it.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building needs root"; exit 77; }
for tool in docker-registry openssl python3 curl; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/bootstrap installs it)"; exit 77; }
done
pids=()
source "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
etc_dirs=()  # HOST:PORT dirs this test made under /etc/{docker,containers}/certs.d
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$t" "${etc_dirs[@]}"' EXIT
unset SSL_CERT_FILE SSL_CERT_DIR XBUILD_CONFIG REGISTRY_AUTH_FILE CONTAINERS_REGISTRIES_CONF
export DOCKER_CONFIG=$t/docker-config XDG_RUNTIME_DIR=$t/xdg  # logins stay in $t

# --- certificates: a CA; server certificates for 127.0.0.1 + localhost, for
# another name, and an expired one; a client pair signed by the CA.
c=$t/pki; mkdir -p "$c"
cd "$c" || exit 1
q() { "$@" >/dev/null 2>&1 || { echo "FAIL openssl: $*"; exit 1; }; }
q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=xbuild-test-ca
leaf() { # NAME SAN [openssl-ca date flags…]: NAME.crt/NAME.key signed by the CA
  local name=$1 san=$2; shift 2
  q openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$name"
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > "$name.ext"
  if [ $# -eq 0 ]; then
    q openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$name.ext" -out "$name.crt"
  else  # dates in the past need `openssl ca`
    mkdir -p ca.db; : > ca.db/index; echo 01 > ca.db/serial
    printf '[ca]\ndefault_ca=d\n[d]\ndatabase=ca.db/index\nserial=ca.db/serial\nnew_certs_dir=ca.db\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\n[p]\ncommonName=supplied\n' > ca.cnf
    q openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in "$name.csr" -extfile "$name.ext" -out "$name.crt" "$@"
  fi
}
leaf server "IP:127.0.0.1,DNS:localhost"
leaf other "DNS:other.example"
leaf expired "IP:127.0.0.1" -startdate 20200101000000Z -enddate 20200102000000Z
leaf client "DNS:client"
q openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.crt -days 2 -subj /CN=rogue
cd - >/dev/null || exit 1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
registry() { # NAME ADDR [TLS-YAML [TOP-LEVEL-YAML]]: a registry:2 on ADDR; waits until it listens
  local name=$1 addr=$2 tls=${3:-}
  printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "%s"%s}\n%s\n' \
    "$t/$name" "$addr" "${tls:+, tls: $tls}" "${4:-}" > "$t/$name.yml"
  docker-registry serve "$t/$name.yml" >"$t/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null && return 0; sleep 0.05; done
  echo "FAIL registry $name did not start: $(cat "$t/$name.log")"; exit 1
}
p1=$(free_port); p2=$(free_port); p3=$(free_port); p4=$(free_port); p5=$(free_port)
registry tls 127.0.0.1:$p1 "{certificate: $c/server.crt, key: $c/server.key}"
registry mtls 127.0.0.1:$p2 "{certificate: $c/server.crt, key: $c/server.key, clientcas: [$c/ca.crt]}"
registry expired 127.0.0.1:$p3 "{certificate: $c/expired.crt, key: $c/expired.key}"
registry other 127.0.0.1:$p4 "{certificate: $c/other.crt, key: $c/other.key}"
registry plain 127.0.0.1:$p5

import_busybox busybox || exit 1
mkdir -p "$t/ctx" "$t/none"
printf 'ARG BASE\nFROM $BASE\nRUN echo built > /built\n' > "$t/ctx/Dockerfile"
certs() { mkdir -p "$t/$1/$2" && cp "$c/$3" "$t/$1/$2/${4:-$3}"; }  # ROOT HOST:PORT FILE [AS]

# 1. The CA in a docker-layout certs.d root: push, pull, build FROM work.
certs docker 127.0.0.1:$p1 ca.crt
export XBUILD_CERTS_DIRS=$t/docker:$t/containers
reg=127.0.0.1:$p1
"$xb" tag busybox $reg/busybox:1 >/dev/null
out=$("$xb" push $reg/busybox:1 2>&1); check "push to a TLS registry with its CA in certs.d" 0 $?
lacks "push did not speak plain HTTP to TLS" "400 Bad Request" "$out"
out=$(XBUILD_ROOT=$t/s1 "$xb" pull $reg/busybox:1 2>&1); check "pull from a TLS registry with its CA in certs.d" 0 $?
out=$(XBUILD_ROOT=$t/s2 "$xb" build -q --build-arg BASE=$reg/busybox:1 -t built "$t/ctx" 2>&1)
check "build FROM a TLS registry with its CA in certs.d" 0 $?
# The same CA for the name localhost, only in the podman-layout root.
certs containers localhost:$p1 ca.crt
out=$(XBUILD_ROOT=$t/s3 "$xb" pull localhost:$p1/busybox:1 2>&1); check "pull from localhost:PORT with the CA in the second root" 0 $?
# The build cache through the TLS registry.
out=$(XBUILD_ROOT=$t/s2 "$xb" build -q --build-arg BASE=$reg/busybox:1 --cache-to type=registry,ref=$reg/cache,mode=max "$t/ctx" 2>&1)
check "--cache-to type=registry on a TLS registry" 0 $?
out=$(XBUILD_ROOT=$t/s2c "$xb" build --progress=plain --build-arg BASE=$reg/busybox:1 --cache-from type=registry,ref=$reg/cache "$t/ctx" 2>&1)
contains "--cache-from type=registry on a TLS registry: the RUN is cached" "CACHED" "$out"
# SSL_CERT_DIR: a hashed directory, as in Go.
mkdir -p "$t/hashed" && cp "$c/ca.crt" "$t/hashed/" && openssl rehash "$t/hashed" 2>/dev/null
out=$(XBUILD_CERTS_DIRS=$t/none SSL_CERT_DIR=$t/hashed XBUILD_ROOT=$t/s4d "$xb" pull $reg/busybox:1 2>&1)
check "pull with the CA in SSL_CERT_DIR" 0 $?
# SSL_CERT_FILE replaces the system CAs, as in Go.
out=$(XBUILD_CERTS_DIRS=$t/none SSL_CERT_FILE=$c/ca.crt XBUILD_ROOT=$t/s4 "$xb" pull $reg/busybox:1 2>&1)
check "pull with the CA as SSL_CERT_FILE" 0 $?

# 2. Without the CA: one line naming the registry and where ca.crt goes.
out=$(XBUILD_CERTS_DIRS=$t/none XBUILD_ROOT=$t/s5 "$xb" pull $reg/busybox:1 2>&1); rc=$?
check "unknown CA: exit 1" 1 $rc
echo "# $out"
contains "unknown CA: says so" "certificate signed by unknown authority" "$out"
contains "unknown CA: names the registry" "$reg" "$out"
contains "unknown CA: says where to put ca.crt" "$t/none/$reg/ca.crt" "$out"
check "unknown CA: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
out=$(XBUILD_CERTS_DIRS=$t/none XBUILD_ROOT=$t/s5 "$xb" build -q --build-arg BASE=$reg/busybox:1 "$t/ctx" 2>&1)
contains "unknown CA: a build FROM says so too" "certificate signed by unknown authority" "$out"
# An insecure registry accepts the certificate it cannot verify.
echo "{\"insecure-registries\": [\"$reg\"]}" > "$t/insecure.json"
out=$(XBUILD_CONFIG=$t/insecure.json XBUILD_CERTS_DIRS=$t/none XBUILD_ROOT=$t/s6 "$xb" pull $reg/busybox:1 2>&1)
check "insecure registry: an unverifiable certificate is accepted" 0 $?

# 3. A registry that verifies client certificates.
m=127.0.0.1:$p2
certs docker $m ca.crt
"$xb" tag busybox $m/busybox:1 >/dev/null
out=$("$xb" push $m/busybox:1 2>&1); rc=$?
check "client certificate missing: exit 1" 1 $rc
echo "# $out"
contains "client certificate missing: says so and where" "registry $m: requires a TLS client certificate (put client.cert and client.key in $t/docker/$m)" "$out"
certs docker $m client.crt client.cert; certs docker $m client.key
out=$("$xb" push $m/busybox:1 2>&1); check "push with the client pair in certs.d" 0 $?
out=$(XBUILD_ROOT=$t/s7 "$xb" pull $m/busybox:1 2>&1); check "pull with the client pair in certs.d" 0 $?
# A pair the registry does not trust (self-signed) is named.
cp "$c/rogue.crt" "$t/docker/$m/client.cert"; cp "$c/rogue.key" "$t/docker/$m/client.key"
out=$(XBUILD_ROOT=$t/s7r "$xb" pull $m/busybox:1 2>&1)
echo "# $out"
contains "an untrusted client certificate: says so" "registry $m: rejected the TLS client certificate $t/docker/$m/client.cert" "$out"
rm "$t/docker/$m/client.key"
out=$(XBUILD_ROOT=$t/s8 "$xb" pull $m/busybox:1 2>&1)
echo "# $out"
contains "a client certificate without its key is named" "has no key $t/docker/$m/client.key" "$out"

# 4. An expired certificate and a name mismatch.
certs docker 127.0.0.1:$p3 ca.crt; certs docker 127.0.0.1:$p4 ca.crt
out=$(XBUILD_ROOT=$t/s9 "$xb" pull 127.0.0.1:$p3/busybox:1 2>&1)
echo "# $out"
contains "expired certificate: says so" "registry 127.0.0.1:$p3: TLS certificate has expired" "$out"
out=$(XBUILD_ROOT=$t/s9 "$xb" pull 127.0.0.1:$p4/busybox:1 2>&1)
echo "# $out"
contains "name mismatch: says so" "registry 127.0.0.1:$p4: TLS certificate is not valid for the name 127.0.0.1 (name mismatch)" "$out"

# 5. Plain HTTP: on 127.0.0.1 the fallback still works; elsewhere it is an error.
"$xb" tag busybox 127.0.0.1:$p5/busybox:1 >/dev/null
out=$("$xb" push 127.0.0.1:$p5/busybox:1 2>&1); check "push to a plain-HTTP registry on 127.0.0.1" 0 $?
out=$(XBUILD_ROOT=$t/s10 "$xb" pull 127.0.0.1:$p5/busybox:1 2>&1); check "pull from a plain-HTTP registry on 127.0.0.1" 0 $?
ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -1)
if [ -n "$ip" ]; then
  p6=$(free_port)
  registry plainnet $ip:$p6
  out=$(XBUILD_ROOT=$t/s11 "$xb" pull $ip:$p6/busybox:1 2>&1)
  echo "# $out"
  contains "plain HTTP on the HTTPS port: says so" "registry $ip:$p6: the server answers plain HTTP, not TLS" "$out"
  echo "{\"insecure-registries\": [\"$ip:$p6\"]}" > "$t/insecure2.json"
  "$xb" tag busybox $ip:$p6/busybox:1 >/dev/null
  out=$(XBUILD_CONFIG=$t/insecure2.json "$xb" push $ip:$p6/busybox:1 2>&1)
  check "an insecure registry falls back to plain HTTP" 0 $?
else
  echo "skip plain HTTP on a non-loopback address: none configured"
fi

# 6. The roots a user actually writes to (XBUILD_CERTS_DIRS unset): the CA
# only in /etc/docker/certs.d/HOST:PORT, then only in
# /etc/containers/certs.d/HOST:PORT (dirs named by this test's port, removed
# at exit).
for root in /etc/docker/certs.d /etc/containers/certs.d; do
  top=$root/$reg  # the outermost dir this test creates, removed at exit
  while [ ! -e "$(dirname "$top")" ]; do top=$(dirname "$top"); done
  etc_dirs+=("$top")
  mkdir -p "$root/$reg" && cp "$c/ca.crt" "$root/$reg/ca.crt"
  e=$t/etc-${root#/etc/}; e=${e%%/certs.d}
  out=$(env -u XBUILD_CERTS_DIRS XBUILD_ROOT=$e "$xb" pull $reg/busybox:1 2>&1)
  check "pull with the CA only in $root/HOST:PORT" 0 $?
  out=$(env -u XBUILD_CERTS_DIRS XBUILD_ROOT=$e-b "$xb" build -q --build-arg BASE=$reg/busybox:1 \
    --cache-to type=registry,ref=$reg/etc-cache,mode=max -t $reg/etc-built:1 --push "$t/ctx" 2>&1)
  check "build FROM, --push and --cache-to with the CA only in $root/HOST:PORT" 0 $?
  out=$(env -u XBUILD_CERTS_DIRS XBUILD_ROOT=$e-c "$xb" build --progress=plain --build-arg BASE=$reg/busybox:1 \
    --cache-from type=registry,ref=$reg/etc-cache "$t/ctx" 2>&1)
  contains "--cache-from with the CA only in $root/HOST:PORT: the RUN is cached" "CACHED" "$out"
  rm -rf "${top:?}"
done

# 7. TLS with htpasswd auth: login, push, pull, build FROM.
command -v htpasswd >/dev/null || { echo "FAIL htpasswd is not installed (apache2-utils)"; exit 1; }
htpasswd -Bbn alice s3cret > "$t/htpasswd" 2>/dev/null
pa=$(free_port)
registry auth 127.0.0.1:$pa "{certificate: $c/server.crt, key: $c/server.key}" \
  "auth: {htpasswd: {realm: xbuild-test, path: $t/htpasswd}}"
a=127.0.0.1:$pa
certs docker $a ca.crt
"$xb" tag busybox $a/private:1 >/dev/null
out=$("$xb" push $a/private:1 2>&1)
contains "auth over TLS: a push without login is refused" "401" "$out"
echo s3cret | "$xb" login --username alice --password-stdin $a >/dev/null 2>&1
check "auth over TLS: login" 0 $?
out=$("$xb" push $a/private:1 2>&1); check "auth over TLS: push after login" 0 $?
out=$(XBUILD_ROOT=$t/sa "$xb" pull $a/private:1 2>&1); check "auth over TLS: pull" 0 $?
out=$(XBUILD_ROOT=$t/sa2 "$xb" build -q --build-arg BASE=$a/private:1 "$t/ctx" 2>&1)
check "auth over TLS: build FROM" 0 $?

[ $fails -eq 0 ]
