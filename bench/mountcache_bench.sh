#!/bin/bash
# mountcache_bench.sh [-n RUNS] [-o FILE]
# Cache mounts that travel (issue 22): examples/cache-mount (apt-get update
# and install jq with /var/cache/apt and /var/lib/apt as cache mounts) on a
# fresh store ("a new CI runner"), its apt step changed (a build arg) so that
# it runs again, with and without the previous runner's cache mounts:
#   without: --cache-from the registry cache (layers only, mounts=false)
#   with:    --cache-from the same cache, its mounts restored
# A first runner fills the mounts and exports them once (--cache-to
# type=registry,…,mode=max,mounts=true) to a local docker-registry. Per run
# and kind: the wall time of the build and the bytes apt fetched from
# Debian's mirror (the sum of apt's "Fetched N B" lines). The two kinds
# alternate, so that a drift of the mirror or the machine shows in both.
# A benchmark, not a test: it needs Debian's mirror (apt inside the builds),
# root, docker-registry and scripts/debian-base. XBUILD overrides the binary.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
xbuild=${XBUILD:-$here/build/xbuild}
runs=3
out=""
while getopts n:o: opt; do
  case $opt in
    n) runs=$OPTARG ;;
    o) out=$OPTARG ;;
    *) echo "usage: mountcache_bench.sh [-n RUNS] [-o FILE]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "mountcache_bench: run as root" >&2; exit 2; }
command -v docker-registry >/dev/null || { echo "mountcache_bench: install docker-registry" >&2; exit 2; }
debian=$("$here/scripts/debian-base")
work=$(mktemp -d /var/tmp/xb-mountcache-bench.XXXXXX)
reg_pid=""
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

. "$here/bench/registry.sh"
bench_start_registry "$work"
cache=127.0.0.1:$port/bench/apt-cache:main

# The example, with a build arg in its steps' environment: a new REV reruns
# them as a changed Dockerfile would.
mkdir -p "$work/ctx"
sed 's/^FROM debian:bookworm$/FROM debian:bookworm\nARG REV/' "$here/examples/cache-mount/Dockerfile" >"$work/ctx/Dockerfile"
grep -q '^ARG REV' "$work/ctx/Dockerfile" || { echo "mountcache_bench: examples/cache-mount has no FROM debian:bookworm" >&2; exit 1; }

fresh() { rm -rf "$work/store"; XBUILD_ROOT=$work/store "$xbuild" import "$debian" debian:bookworm >/dev/null; }
fetched() { # bytes in apt's "Fetched 9,240 kB in 2s" lines of a build log
  sed -n 's/.*Fetched \([0-9.,]*\) \([kMG]*B\) in .*/\1 \2/p' "$1" | tr -d , |
    awk '{ m = 1; if ($2 == "kB") m = 1e3; if ($2 == "MB") m = 1e6; if ($2 == "GB") m = 1e9; s += $1 * m } END { printf "%d", s }'
}
build() { # log, flags…
  local log=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  XBUILD_ROOT=$work/store "$xbuild" build --progress=plain "$@" "$work/ctx" >"$log" 2>&1 ||
    { echo "mountcache_bench: build failed:" >&2; tail -20 "$log" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
report() { if [ -n "$out" ]; then tee -a "$out"; else cat; fi; }
[ -n "$out" ] && : >"$out"
{
  echo "# cache mounts across runners (issue 22), $(date -u '+%F %H:%M') UTC, $runs runs per kind"
  echo "# machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r); $("$xbuild" --version 2>/dev/null || echo xbuild)"
  echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# examples/cache-mount (apt-get update && apt-get install jq; /var/cache/apt and /var/lib/apt cache mounts) on a fresh store, the apt step changed"
} | report
fresh
t=$(build "$work/first.log" --build-arg REV=0 --cache-to "type=registry,ref=$cache,mode=max,mounts=true")
printf 'first runner: %.1f s, apt fetched %s bytes; %s\n' "$t" "$(fetched "$work/first.log")" \
  "$(grep -o 'exported cache to.*' "$work/first.log")" | report
curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$port/v2/bench/apt-cache/manifests/main" |
  python3 -c 'import json, sys
for l in json.load(sys.stdin)["layers"]:
    i = l.get("annotations", {}).get("org.xbuild.cache-mount.id")
    print("  cache layer %-14s %10d bytes %s" % (i or "(step)", l["size"], l["mediaType"]))' | report
printf '%-8s %-34s %8s %14s\n' run kind wall_s apt_fetched_B | report
for r in $(seq "$runs"); do
  fresh
  t=$(build "$work/without.log" --build-arg REV="$r" --cache-from "type=registry,ref=$cache,mounts=false")
  echo "$t" >>"$work/without.times"
  printf '%-8s %-34s %8.1f %14s\n' "$r" "without mounts (layers only)" "$t" "$(fetched "$work/without.log")" | report
  fresh
  t=$(build "$work/with.log" --build-arg REV="$r" --cache-from "type=registry,ref=$cache")
  echo "$t" >>"$work/with.times"
  printf '%-8s %-34s %8.1f %14s\n' "$r" "with the travelled mounts" "$t" "$(fetched "$work/with.log")" | report
  grep -q 'restored cache mount /var/cache/apt' "$work/with.log" || echo "  (the apt mount was not restored!)" | report
  grep -h 'Need to get' "$work/without.log" "$work/with.log" | sed 's/^#[0-9]* [0-9.]* /  apt: /' | report
done
printf 'median wall time: without %.1f s, with %.1f s; apt fetched %s bytes without, %s with (per build)\n' \
  "$(median <"$work/without.times")" "$(median <"$work/with.times")" "$(fetched "$work/without.log")" "$(fetched "$work/with.log")" | report
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | report
