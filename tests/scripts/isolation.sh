#!/bin/bash
# Issue 14: a build container is isolated as Docker's default profile
# isolates a container, tried the way an attacker's Dockerfile would: every
# path of Docker's read-only and masked lists, device nodes made with mknod
# (allowed, as in Docker) that must not open, the host's kernel settings,
# the host's xbuild binary through /proc/self/exe (CVE-2019-5736), and what
# --security=insecure gives instead. docs/dev/hardening.md lists them.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: containers need root"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
import_busybox bb || exit 1

# build NAME DOCKERFILE-TEXT [xbuild args...]: the build's log in $t/log-NAME.
build() {
  local name=$1 text=$2; shift 2
  mkdir -p "$t/ctx-$name"
  printf '%s\n' "$text" > "$t/ctx-$name/Dockerfile"
  "$xb" build --progress plain "$@" -t "img-$name" "$t/ctx-$name" > "$t/log-$name" 2>&1
}

# output_of NAME: what the build's RUNs printed ("#2 0.034 text" lines), not
# the commands echoed in the progress or in an error.
output_of() { grep -E '^#[0-9]+ [0-9]+\.[0-9]+ ' "$t/log-$1"; }

# --- Docker's read-only paths ------------------------------------------------
# Opening for writing (": >>" writes nothing) must fail; for a directory, every
# file in it that its mode lets root write. Nothing is written either way.
readonly_paths="/proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger"
out=$("$xb" run --rm bb sh -c '
for p in '"$readonly_paths"'; do
  [ -e $p ] || { echo "$p absent"; continue; }
  w=""; n=0
  for f in $( [ -d $p ] && find $p -type f -perm -200 2>/dev/null | head -50 || echo $p); do
    n=$((n+1)); ( : >> $f ) 2>/dev/null && w="$w $f"
  done
  mkdir $p/xbuild-probe 2>/dev/null && w="$w (mkdir)"
  echo "$p ${w:-none-writable} ($n files)"
done' 2>&1)
for p in $readonly_paths; do
  line=$(printf '%s\n' "$out" | grep "^$p ")
  if [ ! -e "$p" ]; then ok "readonly $p (absent on this host)"
  else contains "readonly $p" "$p none-writable" "$line"; fi
done

# A RUN tries to make the host run a program on the next crash.
pattern_before=$(cat /proc/sys/kernel/core_pattern)
trap '[ "$(cat /proc/sys/kernel/core_pattern)" = "$pattern_before" ] || echo "$pattern_before" > /proc/sys/kernel/core_pattern; rm -rf "$t"' EXIT
build corepattern 'FROM bb
RUN echo "|/bin/sh -c xbuild-was-here" > /proc/sys/kernel/core_pattern; echo "rc=$?"; cat /proc/sys/kernel/core_pattern'
check core-pattern-unchanged-on-host "$pattern_before" "$(cat /proc/sys/kernel/core_pattern)"
contains core-pattern-write-refused "Read-only file system" "$(output_of corepattern)"

# --- Docker's masked paths -----------------------------------------------------
# A masked file reads empty (it is /dev/null); a masked directory is empty and
# nothing can be created in it.
masked="/proc/acpi /proc/asound /proc/interrupts /proc/kcore /proc/keys /proc/latency_stats /proc/sched_debug
/proc/scsi /proc/timer_list /proc/timer_stats /sys/devices/virtual/powercap /sys/firmware
$(ls -d /sys/devices/system/cpu/cpu*/thermal_throttle 2>/dev/null)"
out=$("$xb" run --rm bb sh -c '
for p in '"$(echo $masked)"'; do
  if [ -d $p ]; then
    touch $p/probe 2>/dev/null && echo "$p dir-writable" || echo "$p dir entries=$(ls -A $p | wc -l)"
  elif [ -e $p ]; then
    echo "$p file bytes=$(head -c 4096 $p 2>/dev/null | wc -c) chardev=$([ -c $p ] && echo yes || echo no)"
  else echo "$p absent"; fi
done' 2>&1)
for p in $masked; do
  line=$(printf '%s\n' "$out" | grep "^$p ")
  if [ -d "$p" ]; then check "masked $p" "$p dir entries=0" "$line"
  elif [ -e "$p" ]; then check "masked $p" "$p file bytes=0 chardev=yes" "$line"
  else check "masked $p (absent on this host)" "$p absent" "$line"; fi
done

# --- Devices -------------------------------------------------------------------
# mknod works (CAP_MKNOD, as in Docker), opening does not: loop0, sda, the
# host's own first disk, /dev/kmsg, loop-control, /dev/mem. Writable opens
# write nothing (": >>"). Docker's devices stay usable, also when made anew.
read -r disk_major disk_minor < <(awk 'NR > 2 && NF == 4 { print $1, $2; exit }' /proc/partitions)
devices_check() {  # MODE: v1 or bpf (XBUILD_DEVICE_CGROUP)
  local mode=$1 log
  build "dev-$mode" "FROM bb
RUN for d in 'b 7 0' 'b 8 0' 'b ${disk_major:-8} ${disk_minor:-16}' 'c 1 11' 'c 10 237' 'c 1 1'; do \\
      n=/tmp/node-\$(echo \$d | tr ' ' -); mknod \$n \$d && echo \"made \$n\"; \\
      dd if=\$n of=/dev/null bs=1 count=1 2>&1 | grep -q 'Operation not permitted' && echo \"read-denied \$n\" || echo \"READ-ALLOWED \$n\"; \\
      case \$d in 'c 1 1') ;; *) ( : >> \$n ) 2>&1 | grep -q 'Operation not permitted' && echo \"write-denied \$n\" || echo \"WRITE-ALLOWED \$n\";; esac; \\
    done; \\
    mknod /tmp/mynull c 1 3 && echo x > /tmp/mynull && echo own-null-works; \\
    echo x > /dev/null && echo \"devs \$(head -c 8 /dev/zero | wc -c) \$(head -c 8 /dev/urandom | wc -c) \$( ( echo x > /dev/full ) 2>&1 | grep -c 'No space')\"; \\
    ( exec 3<>/dev/ptmx ) && echo ptmx-opens; [ -e /dev/kmsg ] && echo KMSG-PRESENT || echo no-kmsg" --no-cache
  log=$(output_of "dev-$mode")
  for d in b-7-0 b-8-0 "b-${disk_major:-8}-${disk_minor:-16}" c-1-11 c-10-237 c-1-1; do
    contains "device-$mode mknod $d allowed" "made /tmp/node-$d" "$log"
    contains "device-$mode read $d denied" "read-denied /tmp/node-$d" "$log"
    [ $d = c-1-1 ] || contains "device-$mode write $d denied" "write-denied /tmp/node-$d" "$log"
  done
  contains "device-$mode own /dev/null node usable" own-null-works "$log"
  contains "device-$mode null zero urandom full usable" "devs 8 8 1" "$log"
  contains "device-$mode ptmx usable" ptmx-opens "$log"
  contains "device-$mode no /dev/kmsg" no-kmsg "$log"
}
if [ -f /sys/fs/cgroup/devices/devices.allow ]; then XBUILD_DEVICE_CGROUP=v1 devices_check v1
else ok "device-v1 (no v1 devices controller on this host)"; fi
if grep -q ' - cgroup2 ' /proc/self/mountinfo; then XBUILD_DEVICE_CGROUP=bpf devices_check bpf
else ok "device-bpf (no cgroup2 hierarchy on this host)"; fi

# --- The host's xbuild through /proc/self/exe (CVE-2019-5736) --------------------
# A command whose interpreter is /proc/self/exe is run with the exe of the
# process that executes it. That must not be the host's xbuild (which the
# container could then run, and try to overwrite once it exits).
version=$("$xb" --version)
sum_before=$(sha256sum < "$xb")
build selfexe 'FROM bb
RUN printf "#!/proc/self/exe --version\n" > /evil && chmod +x /evil
RUN ["/evil"]'
rc=$?
lacks selfexe-host-binary-not-run "$version" "$(cat "$t/log-selfexe")"
check selfexe-run-fails 1 $rc
out=$("$xb" run --rm bb /proc/self/exe --version 2>&1)
lacks selfexe-direct-not-host-binary "$version" "$out"
out=$("$xb" run --rm bb sh -c 'sha256sum < /proc/1/exe; sha256sum < /proc/self/exe; : >> /proc/1/exe' 2>&1)
lacks proc1-exe-not-host-binary "$sum_before" "$out"
contains proc1-exe-not-writable "Text file busy" "$out"
check host-binary-unchanged "$sum_before" "$(sha256sum < "$xb")"

# --- RUN --security=insecure (BuildKit's insecure mode) -------------------------
all_caps=$(grep CapBnd /proc/self/status | cut -f2)
build insecure 'FROM bb
RUN --security=insecure grep -E "^(CapEff|Seccomp):" /proc/self/status; \
    ( : >> /proc/sys/kernel/core_pattern ) && echo proc-sys-writable; \
    grep -q " /sys rw," /proc/self/mountinfo && echo sys-rw; \
    head -c 1 /dev/kmsg > /dev/null && echo kmsg-readable; [ -c /dev/fuse ] && echo has-fuse
RUN grep -E "^CapEff:" /proc/self/status' --allow security.insecure
log=$(output_of insecure)
contains insecure-all-capabilities "CapEff:	$all_caps" "$log"
contains insecure-no-seccomp "Seccomp:	0" "$log"
contains insecure-proc-sys-writable proc-sys-writable "$log"
contains insecure-sys-writable sys-rw "$log"
contains insecure-devices kmsg-readable "$log"
contains insecure-dev-fuse has-fuse "$log"
contains insecure-only-that-step "CapEff:	00000000a80425fb" "$log"
out=$("$xb" run --rm --security insecure -u nobody bb grep CapEff /proc/self/status)
check insecure-non-root-user-all-capabilities "CapEff:	$all_caps" "$out"
build insecure-refused 'FROM bb
RUN --security=insecure true'
check insecure-needs-entitlement 1 $?

# --- Cgroups: one per RUN, none left ---------------------------------------------
left() { ls -d /sys/fs/cgroup/*/xbuild/"$1"-* 2>/dev/null | wc -l; }
"$xb" run --rm bb sleep 30 & xpid=$!
for _ in $(seq 100); do [ "$(left $xpid)" -gt 0 ] && break; sleep 0.1; done
in_cgroup=$(left $xpid)
kill -9 $xpid; wait $xpid 2>/dev/null
check cgroup-for-a-run-without-limits yes "$([ "$in_cgroup" -gt 0 ] && echo yes || echo "no ($in_cgroup)")"
"$xb" prune >/dev/null 2>&1
check prune-removes-a-killed-runs-cgroups 0 "$(left $xpid)"
[ $fails -eq 0 ]
