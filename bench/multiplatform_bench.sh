#!/bin/sh
# multiplatform_bench.sh [-n RUNS] [-o FILE]
#
# A two-platform build (--platform linux/amd64,linux/arm64; arm64 RUNs
# through qemu-user-static) of the 20-RUN Dockerfile of build_bench.sh,
# xbuild against BuildKit v0.13 (Docker Engine 26 from tests/tools/
# buildkit-daemon's packages, started here with the containerd image store,
# which BuildKit's docker driver needs for a multi-platform build), both
# writing an OCI archive of the index:
#
#   cold  every step runs (--no-cache)
#   warm  everything cached
#
# The base is a busybox index of both platforms (Debian's busybox-static and
# busybox-static:arm64, scripts/bootstrap) that xbuild imports and pushes to
# a private registry:2, from which BuildKit pulls it. Then each platform's
# image of tests/scripts/multiplatform.sh's Dockerfile (a FROM
# --platform=$BUILDPLATFORM stage, TARGETARCH) is compared with BuildKit's:
# files and runtime config (tests/tools/imgdiff), platform and history.
# Prints the median, fastest and slowest wall time of RUNS builds (5) per
# cell; -o also writes it to FILE. Needs root, qemu-user-static and the
# peers (tests/tools/buildkit-daemon installs them).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=5
out=""
while getopts n:o:h opt; do
  case $opt in
    n) runs=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n '2,24s/^# \{0,1\}//p' "$0"; [ "$opt" = h ] && exit 0; exit 2 ;;
  esac
done
XBUILD=${XBUILD:-$repo/build/xbuild}
dir=${XB_BENCH_DIR:-/tmp/xb-bench}/multiplatform
log() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
deb=$(ls /var/cache/xbuild/busybox-static_*_arm64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || die "no busybox-static:arm64 in /var/cache/xbuild (run scripts/bootstrap)"
renice -n "${BENCH_NICE:--10}" $$ >/dev/null 2>&1 || true

# BuildKit: the peers' dockerd, with the containerd image store.
peers=/opt/peers
[ -x $peers/docker.io/usr/sbin/dockerd ] || sh "$repo/tests/tools/buildkit-daemon" start "$dir/probe" >/dev/null
[ -f "$dir/bk/d.pid" ] && kill "$(cat "$dir/bk/d.pid")" 2>/dev/null && sleep 2
umount -R "$dir/bk/data" 2>/dev/null || true
rm -rf --one-file-system "$dir"
mkdir -p "$dir/bk/config/cli-plugins"
ln -sf $peers/docker-buildx/usr/libexec/docker/cli-plugins/docker-buildx "$dir/bk/config/cli-plugins/docker-buildx"
echo '{"features":{"containerd-snapshotter":true}}' > "$dir/bk/daemon.json"
export DOCKER_CONFIG=$dir/bk/config DOCKER_BUILDKIT=1
dk() { $peers/docker-cli/usr/bin/docker -H "unix://$dir/bk/d.sock" "$@"; }
PATH=$peers/docker.io/usr/sbin:$PATH nohup $peers/docker.io/usr/sbin/dockerd --config-file "$dir/bk/daemon.json" \
  --iptables=false --bridge=none -H "unix://$dir/bk/d.sock" --data-root "$dir/bk/data" --exec-root "$dir/bk/exec" \
  --pidfile "$dir/bk/d.pid" >"$dir/bk/log" 2>&1 &
for _ in $(seq 100); do dk info >/dev/null 2>&1 && break; sleep 0.2; done
dk info >/dev/null 2>&1 || die "dockerd did not start (see $dir/bk/log)"

# The registry and the two-platform base.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$dir/registry" "$port" > "$dir/registry.yml"
docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
reg_pid=$!
trap 'kill $reg_pid 2>/dev/null; kill "$(cat "$dir/bk/d.pid" 2>/dev/null)" 2>/dev/null; sleep 1; umount -R "$dir/bk/data" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
reg=127.0.0.1:$port
export XBUILD_ROOT=$dir/xbuild
dpkg-deb -x "$deb" "$dir/arm64"
sh "$repo/tests/tools/make-busybox-rootfs" "$dir/amd64.tar"
sh "$repo/tests/tools/make-busybox-rootfs" "$dir/arm64.tar" "$dir/arm64/bin/busybox"
"$XBUILD" import --platform linux/amd64 "$dir/amd64.tar" "$reg/busybox" >/dev/null
"$XBUILD" import --platform linux/arm64 "$dir/arm64.tar" "$reg/busybox" >/dev/null
"$XBUILD" push "$reg/busybox" >/dev/null 2>&1

mkdir -p "$dir/runs" "$dir/cross"
{
  echo "FROM $reg/busybox"
  i=1
  while [ $i -le 20 ]; do echo "RUN echo step $i >> /steps"; i=$((i + 1)); done
} > "$dir/runs/Dockerfile"
cat > "$dir/cross/Dockerfile" <<D
FROM --platform=\$BUILDPLATFORM $reg/busybox AS cross
RUN uname -m > /build-arch
ARG TARGETARCH TARGETPLATFORM BUILDPLATFORM
RUN echo "\$TARGETARCH \$TARGETPLATFORM \$BUILDPLATFORM \$(uname -m)" > /cross
FROM $reg/busybox
ARG TARGETARCH
COPY --from=cross /cross /cross
RUN uname -m > /arch && echo \$TARGETARCH > /targetarch
CMD ["cat", "/arch"]
D
P=linux/amd64,linux/arm64
build() { # tool ctx dest [flags]
  tool=$1 ctx=$2 dest=$3
  shift 3
  if [ "$tool" = xbuild ]; then
    "$XBUILD" build -q --platform $P -o "type=oci,dest=$dest" "$@" "$ctx" >/dev/null 2>"$dir/err"
  else
    dk build -q --network host --platform $P -o "type=oci,dest=$dest" "$@" "$ctx" >/dev/null 2>"$dir/err"
  fi || { cat "$dir/err" >&2; die "$tool: build failed"; }
}
secs() { python3 -c 'import sys,time; print(f"{time.time():.3f}")'; }
stats() { sort -n | awk '{ a[NR] = $1 } END { printf "%6.2f s  (%.2f–%.2f)", a[int((NR + 1) / 2)], a[1], a[NR] }'; }
table=$dir/table
{
  echo "# two-platform build (linux/amd64,linux/arm64, arm64 through qemu-user-static), $(date -u '+%Y-%m-%d %H:%M UTC'), $runs runs per cell"
  echo "# machine: $(nproc) cores, $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# buildkit: Docker Engine $(dk version --format '{{.Server.Version}}') (BuildKit v0.13, containerd image store); xbuild: $("$XBUILD" --version | head -1)"
  echo "# both write -o type=oci,dest=FILE (the index, gzip layers); median (fastest–slowest) wall time"
  printf '%-34s %-28s %s\n' scenario xbuild buildkit
} > "$table"
for scenario in cold warm; do
  row="20 RUN, 2 platforms, $scenario"
  printf '%-34s' "$row" >> "$table"
  for tool in xbuild buildkit; do
    build $tool "$dir/runs" "$dir/$tool.tar"  # primes the cache (warm) and the base
    : > "$dir/times"
    n=0
    while [ $n -lt "$runs" ]; do
      flags=""
      [ $scenario = cold ] && flags=--no-cache
      s=$(secs)
      # shellcheck disable=SC2086
      build $tool "$dir/runs" "$dir/$tool.tar" $flags
      e=$(secs)
      python3 -c "print(f'{$e - $s:.3f}')" >> "$dir/times"
      n=$((n + 1))
    done
    printf ' %-28s' "$(stats < "$dir/times")" >> "$table"
  done
  echo >> "$table"
done

# The images each tool made of the cross-compilation Dockerfile, per platform.
build xbuild "$dir/cross" "$dir/xb-cross.tar"
build buildkit "$dir/cross" "$dir/bk-cross.tar"
echo "# per platform, xbuild's image against BuildKit's (files, runtime config: imgdiff; platform, history):" >> "$table"
for arch in amd64 arm64; do
  for t in xb bk; do
    skopeo copy -q --override-arch $arch "oci-archive:$dir/$t-cross.tar" "oci-archive:$dir/$t-$arch.tar" >/dev/null
  done
  if python3 "$repo/tests/tools/imgdiff" "$dir/xb-$arch.tar" "$dir/bk-$arch.tar" > "$dir/imgdiff-$arch" 2>&1; then
    files="same files and config"
  else
    files="DIFFERENT: $(head -5 "$dir/imgdiff-$arch" | tr '\n' ' ')"
  fi
  hist=$(python3 - "$dir/xb-$arch.tar" "$dir/bk-$arch.tar" <<'PY'
import json, sys, tarfile
def view(path):
    t = tarfile.open(path)
    blob = lambda d: json.load(t.extractfile("blobs/sha256/" + d.split(":")[1]))
    idx = json.load(t.extractfile("index.json"))
    m = blob(idx["manifests"][0]["digest"])
    while "manifests" in m:
        m = blob(m["manifests"][0]["digest"])
    c = blob(m["config"]["digest"])
    return ({k: c.get(k) for k in ("os", "architecture", "variant")},
            [(h.get("created_by"), bool(h.get("empty_layer"))) for h in c.get("history", [])],
            c["rootfs"]["diff_ids"][1:])
a, b = view(sys.argv[1]), view(sys.argv[2])
print("same platform" if a[0] == b[0] else f"platform {a[0]} vs {b[0]}",
      "same history" if a[1] == b[1] else f"history differs: {a[1]} vs {b[1]}",
      "same new layers" if a[2] == b[2] else "new layers differ (diff IDs)", sep=", ")
PY
)
  echo "#   linux/$arch: $files; $hist" >> "$table"
done
cat "$table"
[ -z "$out" ] || cp "$table" "$out"
