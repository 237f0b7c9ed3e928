#!/bin/sh
# build_bench.sh [-n RUNS] [-s "SCENARIOS"] [-t "TOOLS"] [-o FILE]
#
# Times xbuild against its peers, BuildKit v0.13 (Docker Engine 26, from
# tests/tools/buildkit-daemon) and
# buildah, on the solver's target scenarios, and prints one table: per
# scenario and tool the median wall time over RUNS builds (5), the fastest
# and slowest, the peak RSS, the steps the tool reported as cached, and the
# ratio of xbuild to the best peer against its target.
#
#   a   20 trivial RUN steps, cold (every cache emptied before each build)
#   b   the same, warm (everything cached)
#   c   COPY of a 500 MiB, 10,000-file context, cold
#   d   the same, warm, nothing changed
#   e1  the same, warm, after touching one file's mtime only
#   e2  the same, warm, after changing one file's content (same size)
#
# -s picks scenarios, -t tools (xbuild buildah buildkit; xbuild-old too, the
# binary $XBUILD_OLD side by side with $XBUILD), -o also writes the table to
# FILE. Before each timed build, untimed: sync (BENCH_SYNC=0 skips it); before
# each cell: sync and drop the dentry and inode caches (BENCH_DROP_CACHES=0
# skips it), and the cell's line after the table row says the load, dentries
# and dirty page cache at its start and end. Needs root. Installs its peers first (bench/bootstrap) and
# builds build/xbuild if it is missing ($XBUILD overrides the binary). A tool
# that fails a build gets "<tool>: build failed" in its row; the others are
# still measured.
set -eu
bench_repo=$(cd "$(dirname "$0")/.." && pwd)
. "$bench_repo/bench/lib.sh"

runs=5
scenarios="a b c d e1 e2"
tools="xbuild buildah buildkit"
out=""
while getopts n:s:t:o:h opt; do
  case $opt in
    n) runs=$OPTARG ;;
    s) scenarios=$OPTARG ;;
    t) tools=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n '2,25s/^# \{0,1\}//p' "$0"; [ "$opt" = h ] && exit 0; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (dockerd, buildah and xbuild need it)"
case $runs in '' | *[!0-9]* | 0) die "-n wants a positive number of runs" ;; esac

[ -n "${BENCH_NO_BOOTSTRAP:-}" ] || "$bench_repo/bench/bootstrap"
# Other work on the machine (compiles) would otherwise share the cores with the
# builds; every tool inherits the same priority, dockerd included.
renice -n "${BENCH_NICE:--10}" $$ >/dev/null 2>&1 || true

case " $tools " in *" xbuild "*)
  if [ ! -x "$XBUILD" ]; then
    log "building $XBUILD"
    { cmake -S "$bench_repo" -B "$bench_repo/build" -G Ninja >/dev/null &&
      cmake --build "$bench_repo/build" -j2 --target xbuild >/dev/null; } ||
      log "xbuild: could not build it; its rows will say so"
  fi ;;
esac

BENCH_TOOLS=$tools
peers_start
work=$XB_BENCH_DIR/work
rm -rf "$work"
mkdir -p "$work/runs/ctx"
{
  echo "FROM busybox"
  i=1
  while [ $i -le 20 ]; do echo "RUN echo step $i >> /steps"; i=$((i + 1)); done
} >"$work/runs/Dockerfile"
printf 'FROM busybox\nCOPY . /data\n' >"$work/copy.Dockerfile"
case " $scenarios " in *" c "* | *" d "* | *" e1 "* | *" e2 "*)
  ctx=$("$bench_repo/bench/gen-context") ;;
esac
victim=d42/f04242   # the one file e1 and e2 change

# ---- the table ----
table=$work/table
{
  echo "# xbuild build benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $runs runs per cell"
  echo "# machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), nice $(nice), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# buildkit: $(dk version --format '{{.Server.Version}}' 2>/dev/null || echo n/a) (Docker Engine, embedded BuildKit v0.13, buildkit-daemon);" \
    "buildah: $(buildah --version 2>/dev/null | awk '{ print $3 }') (chroot, ${BH_DRIVER:-overlay});" \
    "xbuild: $("$XBUILD" --version 2>/dev/null | head -1 || echo n/a)${XBUILD_OLD:+; xbuild-old: $XBUILD_OLD}"
  printf '%-26s %-9s %9s %9s %9s %9s %7s  %s\n' scenario tool median_s min_s max_s rss_MiB cached note
} | tee "$table"

row() { printf '%-26s %-9s %9s %9s %9s %9s %7s  %s\n' "$@" | tee -a "$table"; }

seconds_since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The machine's state that moves build times: load, the dentry cache (a
# tool's unique temporary names leave negative dentries behind), and dirty
# page cache (every fsync of a build waits for the file system's journal,
# which carries what other processes wrote: 250 MB of someone else's
# unwritten data doubled a 20-RUN build here, 1.1 s to 2.0 s).
machine_state() {
  awk -v load="$(cut -d' ' -f1 /proc/loadavg)" '
    FILENAME == "/proc/sys/fs/dentry-state" { d = $1; neg = $5 }
    FILENAME == "/proc/meminfo" && $1 == "Dirty:" { dirty = $2 }
    END { printf "load %s, dentries %d (%d negative), dirty %.0f MiB", load, d, neg, dirty / 1024 }' \
    /proc/sys/fs/dentry-state /proc/meminfo
}

# settle: before a cell, untimed, so that each starts from the same state.
settle() {
  sync
  [ "${BENCH_DROP_CACHES:-1}" = 0 ] || echo 2 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

# prep MODE TOOL RUN: what happens, untimed, before each timed build.
prep() {
  case $1 in
    cold) tool_cold "$2" ;;
    warm) ;;
    touch) touch -d "@$((1800000000 + $3))" "$ctx/$victim" ;;
    edit) printf 'run %08d of %s' "$3" "$2" | dd of="$ctx/$victim" conv=notrunc status=none ;;
  esac
  [ "${BENCH_SYNC:-1}" = 0 ] || sync
}

# scenario ID TITLE MODE DOCKERFILE CONTEXT TARGET_RATIO
scenario() {
  id=$1 title="$1 $2" mode=$3 df=$4 dir=$5 target=$6
  case " $scenarios " in *" $id "*) ;; *) return 0 ;; esac
  best="" best_tool=""
  xb_median="" xb_note="" old_median=""
  for tool in $tools; do
    if ! tool_available "$tool"; then
      row "$title" "$tool" - - - - - "$tool: not available"
      [ "$tool" = xbuild ] && xb_note="xbuild: not available"
      continue
    fi
    if [ "$mode" = touch ] || [ "$mode" = edit ]; then
      cp -p "$ctx/$victim" "$work/victim.orig"
    fi
    log "$title: $tool"
    settle
    state_before=$(machine_state)
    times="" rss=0 hits=- note="" failed=""
    # warm scenarios start from a complete cache of the unchanged input
    if [ "$mode" != cold ] && ! tool_build "$tool" "$df" "$dir" bench-img "$work/log.$tool"; then
      failed=1
    fi
    r=1
    while [ -z "$failed" ] && [ $r -le "$runs" ]; do
      prep "$mode" "$tool" "$r"
      [ "$tool" = buildkit ] && bk_rss_reset
      rm -f "$work/rss"
      t0=$(date +%s%N)
      if [ "$tool" = buildkit ]; then tool_build "$tool" "$df" "$dir" bench-img "$work/log.$tool" || failed=1
      else tool_build "$tool" "$df" "$dir" bench-img "$work/log.$tool" "$work/rss" || failed=1; fi
      t=$(seconds_since "$t0")
      [ -n "$failed" ] && break
      if [ "$tool" = buildkit ]; then k=$(bk_rss_peak || echo 0); else k=$(tail -1 "$work/rss" 2>/dev/null || echo 0); fi
      case $k in '' | *[!0-9]*) k=0 ;; esac
      [ "$k" -gt "$rss" ] && rss=$k
      times="$times $t"
      hits=$(tool_cache_hits "$tool" "$work/log.$tool" || true)
      if [ "$mode" = cold ] && [ "${hits:-0}" -gt 0 ]; then note="WARNING: cache hits in a cold build"; fi
      r=$((r + 1))
    done
    if [ "$mode" = touch ] || [ "$mode" = edit ]; then
      cp -p "$work/victim.orig" "$ctx/$victim"   # the next tool starts from the same context
    fi
    if [ -n "$failed" ]; then
      cp "$work/log.$tool" "$XB_BENCH_DIR/failed-$id-$tool.log" 2>/dev/null || true
      row "$title" "$tool" - - - - - "$tool: build failed (log: $XB_BENCH_DIR/failed-$id-$tool.log)"
      [ "$tool" = xbuild ] && xb_note="xbuild: build failed"
      continue
    fi
    med=$(echo "$times" | median)
    lo=$(echo "$times" | tr ' ' '\n' | grep . | sort -g | head -1)
    hi=$(echo "$times" | tr ' ' '\n' | grep . | sort -g | tail -1)
    row "$title" "$tool" "$med" "$lo" "$hi" "$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')" "$hits" "$note"
    echo "  ~ before: $state_before; after: $(machine_state)" | tee -a "$table"
    if [ "$tool" = xbuild ]; then xb_median=$med
    elif [ "$tool" = xbuild-old ]; then old_median=$med
    elif [ -z "$best" ] || awk -v a="$med" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$med best_tool=$tool; fi
  done
  case " $tools " in *" xbuild "*)
    goal="no target"
    [ "$target" = - ] || goal="target <= $target"
    if [ -n "$xb_median" ] && [ -n "$best" ]; then
      ratio=$(awk -v a="$xb_median" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
      verdict=""
      [ "$target" = - ] || verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r <= t) ? ": met" : ": MISSED" }')
      echo "  -> xbuild / best peer ($best_tool): $ratio, $goal$verdict" | tee -a "$table"
    else
      echo "  -> ${xb_note:-no peer measured}; $goal${best:+, best peer $best_tool $best s}" | tee -a "$table"
    fi
    if [ -n "$xb_median" ] && [ -n "$old_median" ]; then
      echo "  -> xbuild / xbuild-old: $(awk -v a="$xb_median" -v b="$old_median" 'BEGIN { printf "%.2f", a / b }')" | tee -a "$table"
    fi ;;
  esac
}

scenario a "20 RUN, cold" cold "$work/runs/Dockerfile" "$work/runs/ctx" 0.25
scenario b "20 RUN, warm" warm "$work/runs/Dockerfile" "$work/runs/ctx" 0.5
scenario c "COPY 500MiB, cold" cold "$work/copy.Dockerfile" "${ctx:-}" 0.33
scenario d "COPY 500MiB, warm" warm "$work/copy.Dockerfile" "${ctx:-}" 0.5
scenario e1 "COPY, one mtime" touch "$work/copy.Dockerfile" "${ctx:-}" -
scenario e2 "COPY, one file edited" edit "$work/copy.Dockerfile" "${ctx:-}" -

echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$table"
[ -z "$out" ] || { mkdir -p "$(dirname "$out")"; cp "$table" "$out"; log "table written to $out"; }
