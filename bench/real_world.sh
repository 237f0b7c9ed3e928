#!/bin/sh
# real_world.sh [-o FILE] [NAME...]
#
# Real packages, built by xbuild and by the reference (BuildKit v0.13 in
# Docker Engine 26, tests/tools/buildkit-daemon) and compared as a user would
# see the images: each bench/real_world/NAME.Dockerfile installs Debian
# packages with unusual file-system contents (non-ASCII names, file
# capabilities, setuid binaries, hard links, byte-compiled modules, a
# generated locale archive, a user made by useradd) on the debian:bookworm of scripts/debian-base,
# imported into both builders from the same tarball. Each image is compared
# with tests/tools/imgdiff --ignore-apt (apt/dpkg logs, caches and package
# lists set aside: they differ between any two builds).
#
# Prints, and writes to FILE (bench/results/real_world.md), one table row per
# Dockerfile: xbuild's and BuildKit's build time (wall clock; a
# Dockerfile's RUN is cached by neither), the imgdiff verdict and the first
# differences; the full imgdiff output of each follows the table.
#
# A benchmark, not a CI test: it needs the Debian mirror (apt-get inside the
# builds) and about ten minutes. Needs root and python3 (imgdiff). Uses
# bench/lib.sh's private peers (nothing touches the machine's own docker);
# XBUILD overrides the binary (default build/xbuild). Exit 1 if any build
# failed or any image differs.
set -eu
bench_repo=$(cd "$(dirname "$0")/.." && pwd)
. "$bench_repo/bench/lib.sh"
out=$bench_repo/bench/results/real_world.md
while getopts o: opt; do
  case $opt in
    o) out=$OPTARG ;;
    *) echo "usage: real_world.sh [-o FILE] [NAME...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
names=${*:-ca-certificates tzdata iputils-ping sudo perl python3 fonts-dejavu-core locales ca-certificates-python3 useradd}
for n in $names; do
  [ -f "$bench_repo/bench/real_world/$n.Dockerfile" ] || { echo "real_world.sh: no bench/real_world/$n.Dockerfile" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || die "run as root (BuildKit's dockerd and xbuild need it)"
[ -x "$XBUILD" ] || die "no $XBUILD (build xbuild first, or set XBUILD)"

debian=$("$bench_repo/scripts/debian-base")
BENCH_TOOLS="buildkit xbuild"
peers_start
tool_available buildkit || die "BuildKit is not available (see $bk_dir/log)"
tool_available xbuild || die "xbuild is not available"
dk import "$debian" debian:bookworm >/dev/null
xb import "$debian" debian:bookworm >/dev/null

work=$XB_BENCH_DIR/real_world
rm -rf "$work"; mkdir -p "$work/ctx"
# Untimed: each builder's first RUN on the base prepares its snapshot (xbuild
# unpacks the imported layer then; dockerd did at import).
printf 'FROM debian:bookworm\nRUN true\n' >"$work/warm.Dockerfile"
tool_build xbuild "$work/warm.Dockerfile" "$work/ctx" bench-warm "$work/warm.xbuild.log" || die "xbuild cannot run on debian:bookworm (see $work/warm.xbuild.log)"
tool_build buildkit "$work/warm.Dockerfile" "$work/ctx" bench-warm "$work/warm.buildkit.log" || die "BuildKit cannot run on debian:bookworm (see $work/warm.buildkit.log)"
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
# One line of a table cell: no pipes, no newlines.
cell() { sed 's/|/\\|/g' | tr '\n' ' ' | sed 's/ *$//'; }

rows=$work/rows; details=$work/details; : >"$rows"; : >"$details"
failed=0
for n in $names; do
  df=$bench_repo/bench/real_world/$n.Dockerfile
  log "$n: xbuild"
  t0=$(now); xok=""; xt=""
  if tool_build xbuild "$df" "$work/ctx" "bench-$n" "$work/$n.xbuild.log"; then
    xt=$(secs "$t0" "$(now)")   # the build only, not the save
    xb save -o "$work/$n.xbuild.tar" "bench-$n" >>"$work/$n.xbuild.log" 2>&1 && xok=1
  fi
  log "$n: BuildKit"
  t0=$(now)
  bt=""
  if tool_build buildkit "$df" "$work/ctx" "bench-$n" "$work/$n.buildkit.log"; then
    bt=$(secs "$t0" "$(now)")
    dk save -o "$work/$n.buildkit.tar" "bench-$n" >>"$work/$n.buildkit.log" 2>&1 || bt=""
  fi
  if [ -z "$xok" ]; then
    verdict="xbuild failed"; failed=1
    what=$(grep '^error:' "$work/$n.xbuild.log" | sed "s|$bench_repo/bench/real_world/||" | head -n 1 | cell)
    [ -n "$what" ] || what=$(grep -v '^ *$' "$work/$n.xbuild.log" | tail -n 1 | cell)
    { echo "### $n: xbuild failed"; echo; echo '```'; tail -n 15 "$work/$n.xbuild.log"; echo '```'; echo; } >>"$details"
  elif [ -z "$bt" ]; then
    verdict="BuildKit failed"; what=$(grep -v '^ *$' "$work/$n.buildkit.log" | tail -n 3 | cell); failed=1
  elif "$bench_repo/tests/tools/imgdiff" --ignore-apt "$work/$n.buildkit.tar" "$work/$n.xbuild.tar" >"$work/$n.diff" 2>&1; then
    verdict="same"; what=$(tail -n 1 "$work/$n.diff" | sed 's/^imgdiff: 0 differences //' | cell)
  else
    verdict="differs"; failed=1
    what=$(grep -v '^imgdiff:' "$work/$n.diff" | head -n 4 | sed 's/$/;/' | cell)
    what="$what $(tail -n 1 "$work/$n.diff" | sed 's/^imgdiff: //' | cell)"
    { echo "### $n: imgdiff --ignore-apt BuildKit xbuild (- BuildKit, + xbuild)"; echo; echo '```'
      head -n 40 "$work/$n.diff"; [ "$(wc -l <"$work/$n.diff")" -le 40 ] || echo "… $(wc -l <"$work/$n.diff") lines"
      echo '```'; echo; } >>"$details"
  fi
  [ -n "$xok" ] || xt="—"
  echo "| $n | $xt | ${bt:-—} | $verdict | $what |" >>"$rows"
  log "$n: $verdict"
  # No Dockerfile shares a RUN with another: each build is cold in both.
  rm -f "$work/$n.xbuild.tar" "$work/$n.buildkit.tar"
done

{
  echo "# Real packages: xbuild against BuildKit v0.13"
  echo
  echo "bench/real_world.sh, $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg);"
  echo "BuildKit: Docker Engine $(dk version --format '{{.Server.Version}}' 2>/dev/null || echo '?') (tests/tools/buildkit-daemon);"
  echo "xbuild: $("$XBUILD" --version 2>/dev/null | head -n 1 || echo '?') ($(git -C "$bench_repo" rev-parse --short HEAD 2>/dev/null || echo '?'))."
  echo "Base: scripts/debian-base (debian:bookworm, debootstrap minbase), imported into both."
  echo "Times: one build each, its RUN cached by neither, the base's snapshot prepared before (untimed);"
  echo "apt-get's downloads included, so the mirror's speed counts (xbuild runs first, then BuildKit)."
  echo "Verdict: tests/tools/imgdiff --ignore-apt (file type, mode, owner, size, content, link"
  echo "target, xattrs; config), apt/dpkg logs, caches and lists set aside."
  echo
  echo "| Dockerfile (bench/real_world/) | xbuild s | BuildKit s | imgdiff | differences |"
  echo "| --- | ---: | ---: | --- | --- |"
  cat "$rows"
  echo
  cat "$details"
} >"$work/table.md"
cat "$work/table.md"
mkdir -p "$(dirname "$out")"
cp "$work/table.md" "$out.tmp" && mv "$out.tmp" "$out"
exit $failed
