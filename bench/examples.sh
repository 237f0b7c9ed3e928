#!/bin/sh
# examples.sh [TOOL]: builds and runs every example (examples/*) with TOOL
# (buildkit, the default, or xbuild) on a debian:bookworm made by
# scripts/debian-base (no registry needed) and the busybox of
# tests/tools/make-busybox-rootfs, and prints what each image prints.
# Exit 1 if any example fails. Needs root; uses bench/lib.sh's private peers.
set -eu
bench_repo=$(cd "$(dirname "$0")/.." && pwd)
. "$bench_repo/bench/lib.sh"
tool=${1:-buildkit}
[ -n "${BENCH_NO_BOOTSTRAP:-}" ] || "$bench_repo/bench/bootstrap"
debian=$("$bench_repo/scripts/debian-base")
BENCH_TOOLS=$tool
peers_start
tool_available "$tool" || die "$tool is not available"
case $tool in
  buildkit) dk import "$debian" debian:bookworm >/dev/null ;;
  xbuild) xb import "$debian" debian:bookworm >/dev/null ;;
  *) die "examples.sh runs buildkit or xbuild, not '$tool'" ;;
esac
run() {
  case $tool in
    buildkit) dk run --rm --network=none "$@" ;;
    xbuild) xb run --rm --network none "$@" ;;
  esac
}
failed=0
for dir in "$bench_repo"/examples/*/; do
  name=$(basename "$dir")
  log "$tool: building examples/$name"
  t0=$(date +%s)
  if ! tool_build "$tool" "$dir/Dockerfile" "$dir" "example-$name" "$XB_BENCH_DIR/example-$name.log"; then
    tail -20 "$XB_BENCH_DIR/example-$name.log" >&2
    echo "FAIL $name: build (log: $XB_BENCH_DIR/example-$name.log)"; failed=1; continue
  fi
  echo "ok   $name: built in $(( $(date +%s) - t0 )) s"
  case $name in
    figlet) args="Hello" ;;
    multistage-c) args="xbuild" ;;
    cache-mount) args="--version" ;;
    *) args="" ;;
  esac
  # shellcheck disable=SC2086
  if ! run "example-$name" $args; then echo "FAIL $name: run"; failed=1; fi
done
exit $failed
