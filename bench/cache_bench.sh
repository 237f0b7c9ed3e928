#!/bin/bash
# cache_bench.sh [XBUILD] [RUNS]
# A fresh store ("a new CI runner") builds a small project three ways and
# prints the wall times: without any cache, with --cache-from a local
# docker-registry (mode=max, exported by a first build), and with the
# final step changed (one context file) so that the rest comes from the
# cache. The Dockerfile has a CPU-bound step (~several seconds), a 64 MB
# layer and a builder stage. Needs root, busybox-static, docker-registry.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
xbuild=${1:-$here/build/xbuild}
runs=${2:-3}
command -v docker-registry >/dev/null || { echo "cache_bench: install docker-registry" >&2; exit 2; }
work=$(mktemp -d)
reg_pid=""
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

. "$here/bench/registry.sh"
bench_start_registry "$work"

sh "$here/tests/tools/make-busybox-rootfs" "$work/rootfs.tar"
XBUILD_ROOT=$work/seed "$xbuild" import "$work/rootfs.tar" bb >/dev/null
XBUILD_ROOT=$work/seed "$xbuild" save --format oci -o "$work/base.tar" bb

mkdir -p "$work/ctx"
cat > "$work/ctx/Dockerfile" <<'D'
FROM bb AS builder
RUN i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; echo $i > /count
FROM bb
RUN head -c 64m /dev/urandom > /data
COPY --from=builder /count /count
RUN i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; echo $i > /count2
COPY app.txt /app.txt
D
echo v1 > "$work/ctx/app.txt"
cache=127.0.0.1:$port/bench/cache:main
export SOURCE_DATE_EPOCH=1700000000

fresh() { rm -rf "$work/store"; XBUILD_ROOT=$work/store "$xbuild" load -i "$work/base.tar" >/dev/null; }
timed() { # label, build flags…
  local label=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  XBUILD_ROOT=$work/store "$xbuild" build -q "$@" "$work/ctx" >/dev/null
  t1=$(date +%s.%N)
  printf '%-34s %6.2f s\n' "$label" "$(echo "$t1 - $t0" | bc)"
}

fresh
timed "export (first build, --cache-to)" --cache-to "type=registry,ref=$cache,mode=max"
for r in $(seq "$runs"); do
  echo "run $r"
  fresh; timed "fresh store, no cache"
  fresh; timed "fresh store, --cache-from" --cache-from "$cache"
  echo "v$r$RANDOM" > "$work/ctx/app.txt"
  fresh; timed "fresh store, last step changed" --cache-from "$cache"
  echo v1 > "$work/ctx/app.txt"
done
