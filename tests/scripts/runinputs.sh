#!/bin/bash
# Issue 20: what the build flags that shape every RUN do, checked inside the
# RUN and in the image as a user would: --add-host (/etc/hosts of the RUN,
# never of the image), --shm-size (df /dev/shm), --ulimit (ulimit -n),
# --no-cache-filter (which stage reruns), --build-arg NAME (from the
# environment), --ssh with RUN --mount=type=ssh (ssh to a real sshd with a
# forwarded agent or key files; no socket or key in the image).
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building images needs root"; exit 77; }
command -v busybox >/dev/null || [ -x /bin/busybox ] || { echo "skip: busybox-static is not installed"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
# build NAME DOCKERFILE-TEXT [xbuild args...]: builds $t/ctx-NAME as img-NAME
# and exports its root file system to $t/out-NAME; log in $t/log-NAME.
build() {
  local name=$1 text=$2; shift 2
  mkdir -p "$t/ctx-$name"
  printf '%s\n' "$text" > "$t/ctx-$name/Dockerfile"
  rm -rf "$t/out-$name"
  "$xb" build --progress plain "$@" -t "img-$name" -o type=image -o "type=local,dest=$t/out-$name" "$t/ctx-$name" > "$t/log-$name" 2>&1
}
import_busybox bb || exit 1

# --- --add-host: in the RUN's /etc/hosts, not in the image -------------------
build hosts 'FROM bb
RUN cat /etc/hosts > /seen' --add-host db.internal:10.1.2.3 --add-host v6=[2001:db8::0001] --add-host gw:host-gateway
check add-host-builds 0 $?
contains add-host-line-in-run "$(printf '10.1.2.3\tdb.internal')" "$(cat "$t/out-hosts/seen" 2>/dev/null)"
contains add-host-ipv6-as-go-writes-it "$(printf '2001:db8::1\tv6')" "$(cat "$t/out-hosts/seen" 2>/dev/null)"
contains add-host-host-gateway-is-loopback "$(printf '127.0.0.1\tgw')" "$(cat "$t/out-hosts/seen" 2>/dev/null)"
contains add-host-defaults-kept "$(printf '127.0.0.1\tlocalhost buildkitsandbox')" "$(cat "$t/out-hosts/seen" 2>/dev/null)"
if [ -e "$t/out-hosts/etc/hosts" ]; then bad add-host-not-in-image "$(cat "$t/out-hosts/etc/hosts")"; else ok add-host-not-in-image; fi
# Only a count leaves the RUN, so that no layer may hold the name but through a leak.
build hostslayer 'FROM bb
RUN grep -c "db[.]internal" /etc/hosts > /count' --add-host db.internal:10.1.2.3
check add-host-seen-once 1 "$(cat "$t/out-hostslayer/count" 2>/dev/null)"
"$xb" save -o "$t/hosts.tar" img-hostslayer >/dev/null 2>&1 || bad add-host-image-saved "$?"
check add-host-in-no-layer 0 "$(tar -xOf "$t/hosts.tar" | grep -a -c db.internal)"
# The hosts are part of the step (BuildKit: ExecOp meta.ExtraHosts): another host reruns it.
build hosts 'FROM bb
RUN cat /etc/hosts > /seen' --add-host db.internal:10.1.2.4
contains add-host-changes-key "$(printf '10.1.2.4\tdb.internal')" "$(cat "$t/out-hosts/seen" 2>/dev/null)"
build badhost 'FROM bb' --add-host db.internal
check add-host-bad-exit-2 2 $?
check add-host-bad-one-line 1 "$(grep -c . "$t/log-badhost")"
contains add-host-bad-says-what '--add-host db.internal: want HOST:IP' "$(cat "$t/log-badhost")"

# --- --shm-size: the RUN's /dev/shm ------------------------------------------
build shm 'FROM bb
RUN df -k /dev/shm | tail -1 | tr -s " " | cut -d" " -f2 > /shm'
check shm-default-64m 65536 "$(cat "$t/out-shm/shm" 2>/dev/null)"
build shm 'FROM bb
RUN df -k /dev/shm | tail -1 | tr -s " " | cut -d" " -f2 > /shm' --shm-size 128m
check shm-size-128m 131072 "$(cat "$t/out-shm/shm" 2>/dev/null)"

# --- --ulimit: the RUN's resource limits -------------------------------------
build ulimit 'FROM bb
RUN echo "$(ulimit -n) $(ulimit -Hn) $(ulimit -u)" > /limits' --ulimit nofile=1024:2048 --ulimit nproc=300
check ulimit-nofile-and-nproc "1024 2048 300" "$(cat "$t/out-ulimit/limits" 2>/dev/null)"
build ulimit 'FROM bb
RUN echo "$(ulimit -n) $(ulimit -Hn) $(ulimit -u)" > /limits' --ulimit nofile=1024:2048 --ulimit nofile=512 --ulimit nproc=300
check ulimit-later-name-wins "512 512 300" "$(cat "$t/out-ulimit/limits" 2>/dev/null)"
build ulimitbad 'FROM bb' --ulimit files=10
check ulimit-unknown-exit-2 2 $?
check ulimit-unknown-one-line 1 "$(grep -c . "$t/log-ulimitbad")"
contains ulimit-unknown-says-name 'unknown limit "files"' "$(cat "$t/log-ulimitbad")"
build ulimitbad 'FROM bb' --ulimit nofile=many
check ulimit-bad-number-exit-2 2 $?
contains ulimit-bad-number-says-what '--ulimit nofile=many: want whole numbers' "$(cat "$t/log-ulimitbad")"

# --- --no-cache-filter: the named stages rerun, the others stay cached ------
nc='FROM bb AS a
RUN cat /proc/sys/kernel/random/uuid > /a
FROM bb AS b
RUN cat /proc/sys/kernel/random/uuid > /b
FROM bb
COPY --from=a /a /a
COPY --from=b /b /b'
build nocache "$nc"
a1=$(cat "$t/out-nocache/a"); b1=$(cat "$t/out-nocache/b")
build nocache "$nc"
check no-cache-filter-baseline-cached "$a1 $b1" "$(cat "$t/out-nocache/a") $(cat "$t/out-nocache/b")"
build nocache "$nc" --no-cache-filter A
a2=$(cat "$t/out-nocache/a"); b2=$(cat "$t/out-nocache/b")
if [ -n "$a2" ] && [ "$a2" != "$a1" ]; then ok no-cache-filter-stage-reruns; else bad no-cache-filter-stage-reruns "a: $a1 -> $a2"; fi
check no-cache-filter-other-stage-cached "$b1" "$b2"
contains no-cache-filter-other-step-shown-cached CACHED "$(grep -A1 '\[b 2/2\] RUN' "$t/log-nocache" | tail -1)"
lacks no-cache-filter-stage-step-not-cached CACHED "$(grep -A1 '\[a 2/2\] RUN' "$t/log-nocache" | tail -1)"
# A rerun replaces its step's snapshot: repeated --no-cache builds leave
# the store's snapshot count as it was (each used to leave one per step,
# until prune).
nsnap() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["snapshots"]))' "$XBUILD_ROOT/snapshots/metadata.json"; }
build nocache "$nc" --no-cache
s1=$(nsnap)
build nocache "$nc" --no-cache
build nocache "$nc" --no-cache
check no-cache-reruns-keep-snapshot-count "$s1" "$(nsnap)"
check no-cache-rerun-still-correct 1 "$( [ "$(cat "$t/out-nocache/a")" != "$a2" ] && echo 1)"

# --- --build-arg NAME: the value from the environment, else unset -----------
ba='FROM bb
ARG FOO
RUN echo "${FOO-unset}" > /foo'
FOO=from-env build buildarg "$ba" --build-arg FOO
check build-arg-from-env from-env "$(cat "$t/out-buildarg/foo" 2>/dev/null)"
(unset FOO; build buildarg "$ba" --build-arg FOO)
check build-arg-unset-stays-unset unset "$(cat "$t/out-buildarg/foo" 2>/dev/null)"
FOO= build buildarg "$ba" --build-arg FOO
check build-arg-set-empty "" "$(cat "$t/out-buildarg/foo" 2>/dev/null)"

# --- --ssh and RUN --mount=type=ssh ------------------------------------------
# required=true without --ssh: one line, before the step runs.
build sshreq 'FROM bb
RUN echo ran > /ran
RUN --mount=type=ssh,id=deploy,required=true echo ran-ssh > /ran-ssh'
check ssh-required-fails 1 $?
contains ssh-required-names-line "Dockerfile:3" "$(grep error: "$t/log-sshreq")"
contains ssh-required-says-flag "pass --ssh deploy" "$(grep error: "$t/log-sshreq")"
check ssh-required-one-line 1 "$(grep -c error: "$t/log-sshreq")"
lacks ssh-required-step-did-not-run "ran-ssh" "$(grep -v 'RUN --mount' "$t/log-sshreq")"
# Not required: the mount is left out and the step runs (SSH_AUTH_SOCK still set, as BuildKit).
build sshopt 'FROM bb
RUN --mount=type=ssh echo "$SSH_AUTH_SOCK $(test -S /run/buildkit/ssh_agent.0 && echo sock || echo none)" > /env'
check ssh-optional-without-agent "/run/buildkit/ssh_agent.0 none" "$(cat "$t/out-sshopt/env" 2>/dev/null)"
build sshbad 'FROM bb' --ssh "deploy=$t/no-such-key"
check ssh-bad-path-exit-2 2 $?
contains ssh-bad-path-says-path "$t/no-such-key: no such file or socket" "$(cat "$t/log-sshbad")"

if ! [ -x /usr/sbin/sshd ] || ! command -v ssh-agent >/dev/null || ! command -v ssh-keygen >/dev/null; then
  echo "note: openssh-server/openssh-client not installed: the sshd checks are skipped"
  [ "$fails" -eq 0 ]; exit $?
fi
# A base with an ssh client: busybox plus the host's ssh and ssh-add with their libraries.
mkdir -p "$t/sshroot" && tar -C "$t/sshroot" -xf "$t/rootfs.tar"
for bin in /usr/bin/ssh /usr/bin/ssh-add; do
  for f in "$bin" $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$t/sshroot$(dirname "$f")" && cp -L "$f" "$t/sshroot$f"
  done
done
tar -C "$t/sshroot" -cf "$t/sshroot.tar" . && "$xb" import "$t/sshroot.tar" sshbase >/dev/null || { bad ssh-base imported; exit 1; }
# An sshd of the test's own on 127.0.0.1 that accepts one client key.
ssh-keygen -q -t ed25519 -N '' -f "$t/hostkey" && ssh-keygen -q -t ed25519 -N '' -C runinputs-key -f "$t/clientkey"
cp "$t/clientkey.pub" "$t/authorized_keys" && chmod 600 "$t/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$t/sshd_config" <<C
ListenAddress 127.0.0.1
HostKey $t/hostkey
AuthorizedKeysFile $t/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile none
C
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$t/sshd_config" -p "$port" 2>"$t/sshd.log" &
sshd_pid=$!
eval "$(ssh-agent -s -a "$t/agent.sock")" >/dev/null
agent_pid=$SSH_AGENT_PID
trap 'kill $sshd_pid $agent_pid 2>/dev/null; rm -rf "$t"' EXIT
ssh-add -q "$t/clientkey" 2>/dev/null
for _ in $(seq 50); do ssh-keyscan -p "$port" 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.1; done
reach="RUN --mount=type=ssh ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -p $port root@127.0.0.1 echo reached-sshd > /out && ssh-add -l > /keys && echo \"\$SSH_AUTH_SOCK\" > /sock"
build sshagent "FROM sshbase
$reach" --ssh default
check ssh-agent-forwarded-reaches-sshd reached-sshd "$(cat "$t/out-sshagent/out" 2>/dev/null)"
contains ssh-agent-keys-listed runinputs-key "$(cat "$t/out-sshagent/keys" 2>/dev/null)"
check ssh-auth-sock-default-target /run/buildkit/ssh_agent.0 "$(cat "$t/out-sshagent/sock" 2>/dev/null)"
[ -e "$t/out-sshagent/out" ] || sed 's/^/  | /' "$t/log-sshagent" | tail -20
if [ -e "$t/out-sshagent/run/buildkit/ssh_agent.0" ]; then bad ssh-socket-not-in-image found; else ok ssh-socket-not-in-image; fi
# The agent is not part of the key (BuildKit: the mount's id is): another agent, same step, cached.
ssh-agent -a "$t/agent2.sock" -s > "$t/agent2.env"
agent2_pid=$(sed -n 's/.*SSH_AGENT_PID=\([0-9]*\).*/\1/p' "$t/agent2.env")
build sshagent "FROM sshbase
$reach" --ssh "default=$t/agent2.sock"
contains ssh-agent-not-in-key CACHED "$(grep -A1 '\] RUN --mount=type=ssh' "$t/log-sshagent" | tail -1)"
kill "$agent2_pid" 2>/dev/null
# Key files: xbuild serves them from an agent of its own, gone after the build.
build sshkey "FROM sshbase
RUN --mount=type=ssh,id=deploy,target=/tmp/agent.sock,uid=1000,mode=0600 stat -c '%u %a' /tmp/agent.sock > /stat && SSH_AUTH_SOCK=/tmp/agent.sock ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -p $port root@127.0.0.1 echo reached-with-key > /out" --ssh "deploy=$t/clientkey"
check ssh-keyfile-reaches-sshd reached-with-key "$(cat "$t/out-sshkey/out" 2>/dev/null)"
check ssh-mount-owner-and-mode "1000 600" "$(cat "$t/out-sshkey/stat" 2>/dev/null)"
[ -e "$t/out-sshkey/out" ] || sed 's/^/  | /' "$t/log-sshkey" | tail -20
key_body=$(sed -n 2p "$t/clientkey")
found=$(grep -rlF -- "$key_body" "$t/out-sshkey" "$t/out-sshagent" 2>/dev/null)
check ssh-key-in-no-file-of-the-image "" "$found"
"$xb" save -o "$t/sshkey.tar" img-sshkey >/dev/null 2>&1 || bad ssh-image-saved "$?"
check ssh-key-in-no-layer 0 "$(tar -xOf "$t/sshkey.tar" | grep -a -c -F -- "$key_body")"
left=$(ps -eo args | grep -c '[s]sh-agent -D -a /dev/shm/xbuild-secret')
check ssh-own-agent-stopped 0 "$left"
# Killed with SIGKILL mid-build, xbuild leaves no agent of its own behind
# (Debian's ssh-agent is setgid: exec clears the parent-death signal, so a
# guard process holds it).
mkdir -p "$t/ctx-sshkill"
printf 'FROM sshbase\nRUN --mount=type=ssh,id=deploy sleep 60\n' > "$t/ctx-sshkill/Dockerfile"
"$xb" build --no-cache --progress plain --ssh "deploy=$t/clientkey" "$t/ctx-sshkill" > "$t/log-sshkill" 2>&1 &
kill_pid=$!
for _ in $(seq 100); do
  ps -eo args | grep -q "[s]sh-agent -D -a /dev/shm/xbuild-secret-$kill_pid-" && grep -q "sleep 60" "$t/log-sshkill" && break
  sleep 0.1
done
contains ssh-kill-agent-was-running "ssh-agent" "$(ps -eo args | grep "[s]sh-agent -D -a /dev/shm/xbuild-secret-$kill_pid-")"
kill -9 "$kill_pid"; wait "$kill_pid" 2>/dev/null
left=0
for _ in $(seq 50); do
  left=$(ps -eo args | grep -c "[s]sh-agent -D -a /dev/shm/xbuild-secret-$kill_pid-")
  [ "$left" = 0 ] && break
  sleep 0.1
done
check ssh-agent-gone-after-sigkill 0 "$left"
build sshpass 'FROM sshbase' --ssh "x=$t/hostkey.pub"
check ssh-bad-key-fails 1 $?
contains ssh-bad-key-one-line "ssh-add could not load the key" "$(grep error: "$t/log-sshpass")"

[ "$fails" -eq 0 ]
