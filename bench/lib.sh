# bench/lib.sh: the three builders the benchmarks compare, each with private
# state, and the same busybox base image in each. Sourced (POSIX sh):
#
#   . bench/lib.sh
#   peers_start            # private BuildKit, buildah and xbuild stores, busybox:latest in each
#   tool_build buildkit DOCKERFILE CONTEXT TAG LOG
#   tool_cold  buildah     # empty the tool's build cache (keeps busybox:latest)
#   peers_stop             # also run by the EXIT trap peers_start sets
#
# Tools: buildkit (BuildKit v0.13 inside Docker Engine 26 with buildx 0.13,
# from Debian 13's packages, unpacked and started on a private socket by
# tests/tools/buildkit-daemon; never the machine's own docker), buildah (Debian's,
# --isolation=chroot, --layers so that it caches steps at all) and xbuild
# (build/xbuild or $XBUILD), and xbuild-old ($XBUILD_OLD: another xbuild
# binary, e.g. the one before a change, with a store of its own, measured
# side by side with xbuild and never counted as a peer). Everything lives under $XB_BENCH_DIR
# (/tmp/xb-bench): nothing touches the machine's own docker or containers
# storage, and a second benchmark waits on the lock instead of sharing state.

XB_BENCH_DIR=${XB_BENCH_DIR:-/tmp/xb-bench}
bench_repo=${bench_repo:-$(cd "$(dirname "$0")/.." && pwd)}
XBUILD=${XBUILD:-$bench_repo/build/xbuild}
XBUILD_OLD=${XBUILD_OLD:-}
BUILDKIT_DAEMON=$bench_repo/tests/tools/buildkit-daemon

bk_dir=$XB_BENCH_DIR/buildkit   # buildkit-daemon's DIR: d.sock, d.pid, data, log
bk_pidfile=$bk_dir/d.pid
bh_root=$XB_BENCH_DIR/buildah/root
bh_runroot=$XB_BENCH_DIR/buildah/run
xb_root=$XB_BENCH_DIR/xbuild
xbo_root=$XB_BENCH_DIR/xbuild-old
busybox_tar=$XB_BENCH_DIR/busybox-rootfs.tar
busybox_docker_tar=$XB_BENCH_DIR/busybox-docker.tar

log() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# $bench_prefix (empty, or e.g. "timeout 900 /usr/bin/time -o F") wraps the
# tool's own process, so that what is measured is the tool and nothing else.
bench_prefix=""
# $BUILDKIT ("docker -H unix://…/d.sock") and DOCKER_CONFIG come from bk_start.
dk() {
  [ -n "${BUILDKIT:-}" ] || { log "buildkit: not started"; return 1; }
  # shellcheck disable=SC2086
  DOCKER_BUILDKIT=1 $bench_prefix $BUILDKIT "$@"
}
# buildah reads $DOCKER_CONFIG/config.json for credentials and fails when it is
# missing: the one buildkit-daemon exports is BuildKit's, not buildah's.
bh() {
  BUILDAH_ISOLATION=chroot $bench_prefix env -u DOCKER_CONFIG buildah --root "$bh_root" --runroot "$bh_runroot" \
    --storage-driver "${BH_DRIVER:-overlay}" "$@"
}
xb() { XBUILD_ROOT=$xb_root $bench_prefix "$XBUILD" "$@"; }
xbo() { XBUILD_ROOT=$xbo_root $bench_prefix "$XBUILD_OLD" "$@"; }

# Unmounts whatever a tool left mounted below DIR (deepest first), then
# removes DIR without crossing into another file system.
bench_rmtree() {
  [ -e "$1" ] || return 0
  findmnt -rn -o TARGET | grep -F "$1/" | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$1"
}

bk_pid() { cat "$bk_pidfile" 2>/dev/null; }

bk_start() {
  bk_stop
  bench_rmtree "$bk_dir"
  mkdir -p "$bk_dir"
  bk_env=$("$BUILDKIT_DAEMON" start "$bk_dir") || { tail -5 "$bk_dir/log" >&2 2>/dev/null; log "buildkit: buildkit-daemon did not start"; return 1; }
  eval "$bk_env"
}

bk_stop() {
  [ -x "$BUILDKIT_DAEMON" ] && [ -d "$bk_dir" ] || return 0
  pid=$(bk_pid || true)
  "$BUILDKIT_DAEMON" stop "$bk_dir"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  rm -f "$bk_pidfile"
}

# The same image in all three: docker imports the rootfs tarball (one
# layer), buildah pulls docker's own export of that image, xbuild imports the
# tarball. Same layer content, same name.
bk_base() { dk import "$busybox_tar" busybox:latest >/dev/null && dk save busybox:latest -o "$busybox_docker_tar"; }
bh_base() {
  if [ -s "$busybox_docker_tar" ]; then
    bh pull -q "docker-archive:$busybox_docker_tar" >/dev/null
  else   # without buildkit: the same tarball as the one layer of a scratch image
    c=$(bh from scratch) && bh add "$c" "$busybox_tar" / && bh commit -q "$c" busybox:latest >/dev/null && bh rm "$c" >/dev/null
  fi
  bh inspect -t image busybox:latest >/dev/null 2>&1
}
xb_base() {   # xb_base [xb|xbo]
  ${1:-xb} import "$busybox_tar" busybox:latest >/dev/null 2>&1 ||
    ${1:-xb} load -i "$busybox_docker_tar" >/dev/null 2>&1
}

# tool_available TOOL: 0 once peers_start set it up.
tool_available() { case " $bench_tools_ok " in *" $1 "*) return 0 ;; esac; return 1; }

peers_start() {
  mkdir -p "$XB_BENCH_DIR"
  exec 9>"$XB_BENCH_DIR/lock"
  flock -w 600 9 || die "another benchmark holds $XB_BENCH_DIR/lock"
  trap peers_stop EXIT
  trap 'exit 130' INT TERM
  rm -f "$busybox_docker_tar"
  "$bench_repo/tests/tools/make-busybox-rootfs" "$busybox_tar"
  bench_tools_ok=""
  want=" ${BENCH_TOOLS:-xbuild buildah buildkit} "
  for t in buildkit buildah xbuild xbuild-old; do   # buildah's base is buildkit's export
    case $want in *" $t "*) ;; *) continue ;; esac
    case $t in
      buildkit) if bk_start && bk_base; then bench_tools_ok="$bench_tools_ok buildkit"; else log "buildkit: not available"; fi ;;
      buildah)
        bench_rmtree "$XB_BENCH_DIR/buildah"
        if bh_base; then bench_tools_ok="$bench_tools_ok buildah"; else log "buildah: cannot import busybox"; fi ;;
      xbuild)
        bench_rmtree "$xb_root"
        # an xbuild that cannot import yet still runs: its builds fail and say so
        if [ -x "$XBUILD" ]; then bench_tools_ok="$bench_tools_ok xbuild"; xb_base || log "xbuild: cannot import busybox"
        else log "xbuild: $XBUILD missing"; fi ;;
      xbuild-old)
        bench_rmtree "$xbo_root"
        if [ -n "$XBUILD_OLD" ] && [ -x "$XBUILD_OLD" ]; then bench_tools_ok="$bench_tools_ok xbuild-old"; xb_base xbo || log "xbuild-old: cannot import busybox"
        else log "xbuild-old: set XBUILD_OLD to an xbuild binary"; fi ;;
    esac
  done
  log "tools ready:$bench_tools_ok"
}

peers_stop() {
  bk_stop
  bench_rmtree "$bk_dir"
  bench_rmtree "$XB_BENCH_DIR/buildah"
  bench_rmtree "$xb_root"
  bench_rmtree "$xbo_root"
}

# tool_build TOOL DOCKERFILE CONTEXT TAG LOG [RSS_FILE]: one build, its
# output to LOG; with RSS_FILE, GNU time writes the peak RSS (KiB) there.
# A build that takes longer than $BENCH_TIMEOUT seconds (900) fails.
tool_build() {
  bench_prefix="timeout -k 10 ${BENCH_TIMEOUT:-900}${6:+ /usr/bin/time -f %M -o $6}"
  case $1 in
    buildkit) dk build --network=host --progress=plain -f "$2" -t "$4" "$3" >"$5" 2>&1 ;;
    buildah) bh bud --layers --pull=never --isolation=chroot -f "$2" -t "$4" "$3" >"$5" 2>&1 ;;
    xbuild) xb build --progress=plain -f "$2" -t "$4" "$3" >"$5" 2>&1 ;;
    xbuild-old) xbo build --progress=plain -f "$2" -t "$4" "$3" >"$5" 2>&1 ;;
  esac
  tool_build_rc=$?
  bench_prefix=""
  return $tool_build_rc
}

# tool_cold TOOL: forget every cached step and built image; busybox:latest stays.
tool_cold() {
  case $1 in
    buildkit)
      dk builder prune -af >/dev/null
      for img in $(dk images -q --filter 'reference=bench-*'); do dk rmi -f "$img" >/dev/null 2>&1; done
      dk image prune -f >/dev/null ;;
    buildah)
      bh rm -a >/dev/null 2>&1
      bh rmi -a -f >/dev/null 2>&1
      bh_base ;;
    xbuild)
      bench_rmtree "$xb_root"
      xb_base || true ;;
    xbuild-old)
      bench_rmtree "$xbo_root"
      xb_base xbo || true ;;
  esac
}

# tool_cache_hits TOOL LOG: how many steps (not counting FROM) the tool reported as cached.
tool_cache_hits() {
  case $1 in
    buildkit)   # "#6 [2/2] COPY . /data" ... "#6 CACHED"; the base image (FROM) does not count
      awk '/^#[0-9]+ \[/ { s = $0; sub(/^#[0-9]+ \[[^]]*\] /, "", s); split(s, w, " "); step[$1] = w[1] }
           $2 == "CACHED" && step[$1] != "FROM" { n++ } END { print n + 0 }' "$2" ;;
    buildah) grep -c '^--> Using cache' "$2" ;;
    xbuild | xbuild-old)   # BuildKit's plain format if xbuild prints it, else any line that says cached
      awk '/^#[0-9]+ \[/ { s = $0; sub(/^#[0-9]+ \[[^]]*\] /, "", s); split(s, w, " "); step[$1] = w[1]; bk = 1 }
           $2 == "CACHED" && step[$1] != "FROM" { n++ }
           tolower($0) ~ /cached/ && $0 !~ /FROM/ { any++ } END { print bk ? n + 0 : any + 0 }' "$2" ;;
  esac
}

# The peak resident set of the process that does the work, in KiB: for
# buildkit the daemon (dockerd; its high-water mark is reset before each
# build), for the others the largest process of the build (GNU time).
bk_rss_reset() { pid=$(bk_pid) && echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true; }
bk_rss_peak() { pid=$(bk_pid) && awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"; }
