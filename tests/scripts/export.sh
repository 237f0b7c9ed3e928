#!/bin/bash
# Outputs and pushes end to end, each checked by a tool nobody here wrote:
# skopeo reads our OCI archive and our pushed images, umoci unpacks the
# archive and runc runs the bundle, podman loads our docker archive,
# Debian's docker-registry (registry:2) accepts every push; an image pushed
# from one store and built FROM in another is identical; two cold builds
# with SOURCE_DATE_EPOCH give the same image ID.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building needs root"; exit 77; }
for tool in skopeo umoci runc docker-registry podman python3 curl; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/bootstrap installs it)"; exit 77; }
done
xb=${XBUILD_BINARY:?}
src=${XBUILD_SOURCE_DIR:?}
t=$(mktemp -d)
reg_pid=""
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  runc delete -f "xbexp-$$" >/dev/null 2>&1
  wait 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT
fails=0
check() { # name expected actual
  if [ "$2" != "$3" ]; then echo "FAIL $1: expected [$2] got [$3]"; fails=$((fails+1)); else echo "ok $1"; fi
}
contains() { # name needle haystack
  case "$3" in *"$2"*) echo "ok $1";; *) echo "FAIL $1: [$2] not in [$3]"; fails=$((fails+1));; esac
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# A registry:2 on a free port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$t/registry.yml" <<C
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $t/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
C
docker-registry serve "$t/registry.yml" >"$t/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
reg=127.0.0.1:$port

export SOURCE_DATE_EPOCH=1700000000
sh "$src/tests/tools/make-busybox-rootfs" "$t/rootfs.tar" || exit 1
mkdir -p "$t/ctx"
seq 1 200000 > "$t/ctx/numbers.txt"
touch -d @1800000000 "$t/ctx/numbers.txt"   # newer than SOURCE_DATE_EPOCH: must be clamped
cat > "$t/ctx/Dockerfile" <<'D'
FROM busybox
COPY numbers.txt /app/
RUN echo hello > /app/greeting && rm /bin/vi && mkdir /gone && touch /gone/x
RUN rm -rf /gone
CMD ["cat", "/app/greeting"]
D
build() { # STORE ARGS…: a build into STORE (busybox imported first)
  local store=$1; shift
  [ -d "$store" ] || XBUILD_ROOT=$store "$xb" import "$t/rootfs.tar" busybox >/dev/null || return 1
  XBUILD_ROOT=$store "$xb" build --progress=plain "$@"
}

# --- reproducible: two cold builds, two stores, one image ID
build "$t/a" --iidfile "$t/iid.a" -t img "$t/ctx" >"$t/a.log" 2>&1 || { cat "$t/a.log"; exit 1; }
build "$t/b" --iidfile "$t/iid.b" -t img "$t/ctx" >"$t/b.log" 2>&1 || { cat "$t/b.log"; exit 1; }
iid=$(cat "$t/iid.a")
check reproducible-image-id "$iid" "$(cat "$t/iid.b")"

# --- every output type from one build (cached), into store a
export XBUILD_ROOT=$t/a
"$xb" build --progress=plain -t img --iidfile "$t/iid.c" \
  -o type=oci,dest="$t/oci.tar" -o type=docker,dest="$t/docker.tar" -o type=local,dest="$t/local" \
  -o type=tar,dest="$t/fs.tar" -o type=image "$t/ctx" >"$t/outputs.log" 2>&1 || { cat "$t/outputs.log"; exit 1; }
check iidfile-is-config-digest "$iid" "$(cat "$t/iid.c")"
"$xb" build -q -t img -o type=oci,dest=- "$t/ctx" > "$t/stdout-oci.tar" 2>/dev/null
check oci-to-stdout "$(sha256sum < "$t/oci.tar")" "$(sha256sum < "$t/stdout-oci.tar")"
n=$(grep -c "compressed layer" "$t/outputs.log")
check first-export-compresses 4 "$n"
"$xb" build --progress=plain -o type=oci,dest="$t/oci2.tar" "$t/ctx" >"$t/again.log" 2>&1
check second-export-compresses-nothing 0 "$(grep -c "compressed layer" "$t/again.log")"

# OCI archive: skopeo reads it, the config is our image ID, layers are gzip.
raw=$(skopeo inspect --raw "oci-archive:$t/oci.tar") || { echo "FAIL skopeo-reads-oci-archive"; fails=$((fails+1)); }
check oci-config-digest "$iid" "$(echo "$raw" | json 'd["config"]["digest"]')"
check oci-layer-types "application/vnd.oci.image.layer.v1.tar+gzip" \
  "$(echo "$raw" | json '" ".join(sorted(set(l["mediaType"] for l in d["layers"])))')"
# umoci unpacks it (verifying every blob and diff ID), runc runs the bundle.
skopeo copy -q "oci-archive:$t/oci.tar" "oci:$t/layout:img" && umoci unpack --image "$t/layout:img" "$t/bundle" >/dev/null 2>&1
check umoci-unpacks hello "$(cat "$t/bundle/rootfs/app/greeting" 2>&1)"
python3 - "$t/bundle/config.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"))
P
check runc-runs-bundle hello "$(runc run -b "$t/bundle" "xbexp-$$" 2>&1)"

# Docker archive: podman loads it under our image ID.
pm() { podman --root "$t/podman/root" --runroot "$t/podman/run" --storage-driver vfs --runtime runc \
  --cgroup-manager cgroupfs --events-backend none "$@"; }
pm load -i "$t/docker.tar" >/dev/null 2>&1 || { echo "FAIL podman-load"; fails=$((fails+1)); }
check podman-loads-docker-archive "$iid" "sha256:$(pm image inspect --format '{{.Id}}' img 2>&1)"
check podman-sees-cmd "[cat /app/greeting]" "$(pm image inspect --format '{{.Config.Cmd}}' img 2>&1)"

# Root file system: whiteouts applied, mtimes clamped to SOURCE_DATE_EPOCH.
check local-has-file hello "$(cat "$t/local/app/greeting" 2>&1)"
check local-whiteout-file absent "$([ -e "$t/local/bin/vi" ] && echo present || echo absent)"
check local-whiteout-dir absent "$([ -e "$t/local/gone" ] && echo present || echo absent)"
check local-mtime-clamped 1700000000 "$(stat -c %Y "$t/local/app/numbers.txt")"
check tar-matches-local "$(cd "$t/local" && find . | sort | sed 's|^\./||;/^\.$/d')" \
  "$(tar tf "$t/fs.tar" | sed 's|^\./||;s|/$||;/^\.$/d;/^$/d' | sort)"
"$xb" build -q -o type=local,dest="$t/local" "$t/ctx" >/dev/null 2>"$t/err"; rc=$?
check local-refuses-non-empty-dest "1 1" "$rc $(wc -l < "$t/err")"

# zstd and docker media types.
"$xb" build -q -o type=oci,dest="$t/zstd.tar",compression=zstd,compression-level=9 "$t/ctx" >/dev/null 2>&1
check zstd-layers "application/vnd.oci.image.layer.v1.tar+zstd" \
  "$(skopeo inspect --raw "oci-archive:$t/zstd.tar" | json '" ".join(sorted(set(l["mediaType"] for l in d["layers"])))')"
skopeo copy -q "oci-archive:$t/zstd.tar" "oci:$t/zlayout:z" >/dev/null 2>&1
check skopeo-reads-zstd 0 $?

# --- push: two tags in two repositories, read back by skopeo
"$xb" build --progress=plain -t "$reg/one/img:1" -t "$reg/two/img:2" --push "$t/ctx" >"$t/push.log" 2>&1
check push-exit 0 $?
contains push-reports-rate "MB/s" "$(cat "$t/push.log")"
contains second-repo-mounts "mounted from $reg/one/img" "$(cat "$t/push.log")"
d1=$(skopeo inspect --tls-verify=false "docker://$reg/one/img:1" 2>&1 | json 'd["Digest"]')
d2=$(skopeo inspect --tls-verify=false "docker://$reg/two/img:2" 2>&1 | json 'd["Digest"]')
check pushed-same-manifest "$d1" "$d2"
check pushed-config "$iid" "$(skopeo inspect --tls-verify=false --raw "docker://$reg/one/img:1" | json 'd["config"]["digest"]')"
skopeo copy -q --src-tls-verify=false "docker://$reg/two/img:2" "oci:$t/pulled:img" >/dev/null 2>&1
check skopeo-copies-pushed 0 $?
# docker schema2 media types on request
"$xb" build -q -o type=registry,oci-mediatypes=false,name="$reg/docker/img:1" "$t/ctx" >/dev/null 2>&1
check docker-mediatypes-push 0 $?
check docker-manifest-type "application/vnd.docker.distribution.manifest.v2+json" \
  "$(skopeo inspect --tls-verify=false --raw "docker://$reg/docker/img:1" | json 'd["mediaType"]')"
# xbuild push of a stored image: everything exists already.
out=$("$xb" push "$reg/one/img:1" 2>&1 </dev/null); rc=$?
check xbuild-push-exit 0 $rc
check xbuild-push-skips-existing 0 "$(echo "$out" | grep -c Pushing)"

# --- pushed from store a, built FROM in a fresh store c: the same image
mkdir -p "$t/ctx2"
echo "FROM $reg/one/img:1" > "$t/ctx2/Dockerfile"
XBUILD_ROOT=$t/c "$xb" build -q --iidfile "$t/iid.from" -t "$reg/three/img:1" --push "$t/ctx2" >/dev/null 2>"$t/c.log"
check built-from-pushed-same-id "$iid" "$(cat "$t/iid.from" 2>&1)"
check repushed-same-manifest "$d1" "$(skopeo inspect --tls-verify=false "docker://$reg/three/img:1" 2>&1 | json 'd["Digest"]')"

# --- user errors: one line, exit 2
for spec in "type=bogus" "type=local" "type=oci,dest=x,compression=lz4" "type=oci,dest=x,compression=zstd,oci-mediatypes=false" \
            "type=oci,dest=x,compression-level=12" "type=oci,dest=x,colour=blue"; do
  "$xb" build -o "$spec" "$t/ctx" >/dev/null 2>"$t/err"; rc=$?
  check "usage-error $spec" "2 1" "$rc $(wc -l < "$t/err")"
done
[ $fails -eq 0 ]
