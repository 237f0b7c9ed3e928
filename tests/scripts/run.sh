#!/bin/bash
# xbuild run end to end: a busybox image imported into a fresh store, run the
# way a user would; exit codes, flags, limits, and nothing left behind.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: xbuild run needs root"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
import_busybox bb || exit 1
# Mounts under this test's directory only: the suite runs in parallel, and
# other tests mount and unmount their own (a tmpfs store, a build's overlay).
our_mounts() { awk -v t="$t/" 'index($5, t) == 1' /proc/self/mountinfo | wc -l; }
mounts_before=$(our_mounts)

out=$("$xb" run --rm bb sh -c 'echo $$ $(hostname | wc -c)')
check pid1-and-hostname "1 13" "$out"
"$xb" run bb sh -c 'exit 42'; check exit-code 42 $?
out=$("$xb" run -e FOO=bar -u app -w /made/here bb sh -c 'echo $FOO $(id -u) $(pwd)')
check env-user-workdir "bar 1000 /made/here" "$out"
out=$("$xb" run -u app bb sh -c 'echo x > /dev/null && stat -c %a /dev/null /dev/zero /dev/tty | tr "\n" " "')
check dev-nodes-writable-by-users "666 666 666 " "$out"
out=$("$xb" run --network none bb sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "')
check network-none lo "$out"
out=$("$xb" run bb grep CapEff /proc/self/status)
check capabilities "CapEff:	00000000a80425fb" "$out"
err=$("$xb" run --memory 64m bb sh -c 'head -c 300m /dev/zero | tail' 2>&1 >/dev/null); rc=$?
check oom-exit 137 $rc
case "$err" in *"killed: out of memory (limit 64 MiB)"*) echo "ok oom-message";; *) echo "FAIL oom-message: $err"; fails=$((fails+1));; esac
"$xb" run bb /no/such/thing 2>/dev/null; check missing-command 1 $?
"$xb" run --memory lots bb true 2>/dev/null; check bad-flag-usage 2 $?
"$xb" run bb sh -c 'echo x > /written'
out=$("$xb" run bb sh -c 'ls /written 2>&1 >/dev/null | wc -l')
check changes-not-kept 1 "$out"
mounts_after=$(our_mounts)
check no-mount-left yes "$([ "$mounts_after" -le "$mounts_before" ] && echo yes || echo "no ($mounts_before → $mounts_after)")"
left=$(grep -c '"run-' "$XBUILD_ROOT/snapshots/metadata.json")
check no-run-snapshots-left 0 "$left"
left=$(ls -d /sys/fs/cgroup/*/xbuild/* 2>/dev/null | grep -c "/$$-" || true)
check no-cgroups-left 0 "$left"
[ $fails -eq 0 ]
