#!/bin/bash
# Issue 7: faults that must lose nothing. kill -9 of xbuild at many points of
# a build, a full disk, many builds at once on one store (with a prune in
# the middle); after each, `xbuild fsck` verifies every blob and reference,
# and `xbuild prune` leaves no mount, cgroup, secret or temporary file.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building images needs root"; exit 77; }
command -v busybox >/dev/null || [ -x /bin/busybox ] || { echo "skip: busybox-static is not installed"; exit 77; }
xb=${XBUILD_BINARY:?}
src=${XBUILD_SOURCE_DIR:?}
t=$(mktemp -d)
cleanup() { umount -l "$t/small" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$t"; }
trap cleanup EXIT
export XBUILD_ROOT=$t/store
fails=0
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails+1)); }
fsck_ok() { # label: the store is consistent (leftovers allowed)
  if ! "$xb" fsck > "$t/fsck.out" 2>&1; then bad "$1" "$(grep -v '^leftover' "$t/fsck.out" | head -5)"; return 1; fi
}
mounts_under() { grep -c " $1/" /proc/self/mountinfo; }
cgroups_of() { # pids...: cgroups xbuild made for them that still exist
  local n=0 p
  for p in "$@"; do n=$((n + $(ls -d /sys/fs/cgroup/*/xbuild/"$p"-* /sys/fs/cgroup/xbuild/"$p"-* 2>/dev/null | wc -l))); done
  echo $n
}
sh "$src/tests/tools/make-busybox-rootfs" "$t/rootfs.tar" || exit 1
"$xb" import "$t/rootfs.tar" bb >/dev/null || exit 1

# --- kill -9 at many points of a build --------------------------------------
ctx=$t/ctx; mkdir -p "$ctx"
head -c 3000000 /dev/urandom > "$ctx/big"
echo "S3CRET" > "$t/secret"
# The Dockerfile lives outside the context, so that changing it changes no bind mount of the context.
df=$t/Dockerfile.kill
cat > "$df" <<'EOF'
FROM bb
RUN echo one > /one
COPY big /big
RUN --mount=type=secret,id=s cat /run/secrets/s > /dev/null && head -c 2000000 /dev/urandom > /two
RUN --mount=type=cache,target=/cache sh -c 'echo x >> /cache/log; sleep 0.2; echo three > /three'
RUN --mount=type=bind,target=/ctx,rw sh -c 'cp /ctx/big /four && sleep 0.2'
RUN sleep 0.3 && echo five > /five
EOF
pids=()
for delay in 0.02 0.05 0.1 0.15 0.2 0.3 0.4 0.5 0.6 0.8 1.0 1.3 1.6 2.0 2.5; do
  "$xb" build --progress plain --memory 256m --secret id=s,src="$t/secret" --no-cache -t killed -f "$df" "$ctx" \
    > "$t/kill.log" 2>&1 &
  pid=$!; pids+=($pid)
  sleep "$delay"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  fsck_ok "kill-9-after-${delay}s-store-consistent" || break
done
[ $fails -eq 0 ] && ok "kill-9-at-15-points-store-consistent"
"$xb" prune > "$t/prune.out" 2>&1 || bad prune-after-kills "$(cat "$t/prune.out")"
"$xb" fsck > "$t/fsck.out" 2>&1
if grep -q '^leftover' "$t/fsck.out"; then bad prune-removes-all-leftovers "$(grep '^leftover' "$t/fsck.out" | head -5)"
else ok prune-removes-all-leftovers; fi
[ "$(mounts_under "$XBUILD_ROOT")" -eq 0 ] && ok no-mount-left || bad no-mount-left "$(grep " $XBUILD_ROOT/" /proc/self/mountinfo)"
[ "$(cgroups_of "${pids[@]}")" -eq 0 ] && ok no-cgroup-left || bad no-cgroup-left "$(cgroups_of "${pids[@]}")"
left=$(ls /dev/shm | grep -c "^xbuild-secret-\($(IFS='|'; echo "${pids[*]}" | sed 's/|/\\|/g')\)-" || true)
[ "$left" -eq 0 ] && ok no-secret-file-left || bad no-secret-file-left "$left"
[ -z "$(ls -A "$XBUILD_ROOT/ingest")" ] && ok no-temporary-left || bad no-temporary-left "$(ls "$XBUILD_ROOT/ingest")"
# A build that completes commits its steps; one killed next reuses them.
"$xb" build --progress plain --secret id=s,src="$t/secret" -t warm -f "$df" "$ctx" > "$t/warm1.log" 2>&1 ||
  bad build-after-kills-succeeds "$(tail -5 "$t/warm1.log")"
sed -i 's/^RUN sleep 0.3 .*/RUN sleep 0.3 \&\& echo five-changed > \/five/' "$df"
"$xb" build --progress plain --secret id=s,src="$t/secret" -t warm -f "$df" "$ctx" > "$t/warm2.log" 2>&1 &
pid=$!; sleep 0.25; kill -9 $pid; wait $pid 2>/dev/null
# Only the changed last step runs; its parent comes from the cache.
if "$xb" build --progress plain --secret id=s,src="$t/secret" -t warm -f "$df" "$ctx" > "$t/warm3.log" 2>&1 &&
   [ "$(grep -c '^#[0-9]* DONE' "$t/warm3.log")" -eq 1 ] && grep -q '^#5 CACHED' "$t/warm3.log"; then
  ok next-build-reuses-committed-work
else bad next-build-reuses-committed-work "$(grep -E '^#[0-9]+ (DONE|CACHED)' "$t/warm3.log" | tr '\n' ' ')"; fi
fsck_ok store-consistent-after-rebuild && ok store-consistent-after-rebuild

# --- a full disk ---------------------------------------------------------------
mkdir -p "$t/small"
if mount -t tmpfs -o size=24m tmpfs "$t/small"; then
  export XBUILD_ROOT=$t/small/store
  "$xb" import "$t/rootfs.tar" bb >/dev/null || bad full-disk-import "import failed"
  mkdir -p "$t/ctx-full"
  printf 'FROM bb\nRUN head -c 14000000 /dev/urandom > /big\n' > "$t/ctx-full/Dockerfile"
  "$xb" build --progress plain -t full "$t/ctx-full" > "$t/full.log" 2>&1; rc=$?
  errline=$(grep '^error' "$t/full.log")
  if [ $rc -eq 1 ] && echo "$errline" | grep -qi 'no space left on device' && [ "$(echo "$errline" | wc -l)" -eq 1 ]; then
    ok full-disk-clear-error
  else bad full-disk-clear-error "rc=$rc: $(tail -3 "$t/full.log")"; fi
  printf 'FROM bb\nRUN head -c 40000000 /dev/zero > /big\n' > "$t/ctx-full/Dockerfile"
  "$xb" build --progress plain -t full "$t/ctx-full" > "$t/full2.log" 2>&1; rc=$?
  [ $rc -eq 1 ] && ok full-disk-in-run-fails-cleanly || bad full-disk-in-run-fails-cleanly "rc=$rc"
  "$xb" images | grep -q full && bad full-disk-nothing-tagged "tagged" || ok full-disk-nothing-tagged
  fsck_ok full-disk-store-consistent && ok full-disk-store-consistent
  "$xb" prune >/dev/null 2>&1
  printf 'FROM bb\nRUN echo small > /s\n' > "$t/ctx-full/Dockerfile"
  "$xb" build --progress plain -t small "$t/ctx-full" > "$t/full3.log" 2>&1 && ok full-disk-then-build-succeeds ||
    bad full-disk-then-build-succeeds "$(tail -3 "$t/full3.log")"
  export XBUILD_ROOT=$t/store
  umount -l "$t/small"
else
  bad full-disk "cannot mount a tmpfs"
fi

# --- many builds at once on one store ---------------------------------------------
mkdir -p "$t/ctx-par"; echo shared > "$t/ctx-par/shared"
cat > "$t/ctx-par/Dockerfile" <<'EOF'
FROM bb
RUN echo common-step > /common
COPY shared /shared
ARG N
RUN echo "build $N" > /n && sleep 0.1
RUN --mount=type=cache,target=/c,sharing=locked sh -c 'echo $N >> /c/log'
EOF
for n in 4 16; do
  ps=()
  for i in $(seq 1 $n); do
    "$xb" build --progress plain --build-arg N=$((i % 3)) -t "par$n-$i" "$t/ctx-par" > "$t/par-$n-$i.log" 2>&1 &
    ps+=($!)
  done
  # A prune in the middle must neither break the builds nor lose their work.
  sleep 0.3; "$xb" prune > "$t/par-prune.log" 2>&1 &
  prune_pid=$!
  failed=0
  for p in "${ps[@]}"; do wait "$p" || failed=$((failed+1)); done
  wait $prune_pid || bad "concurrent-$n-prune" "$(cat "$t/par-prune.log")"
  if [ $failed -eq 0 ]; then ok "concurrent-$n-builds-all-succeed"; else
    bad "concurrent-$n-builds-all-succeed" "$failed failed: $(grep -h '^error' "$t"/par-$n-*.log | head -3)"; fi
  ids=$("$xb" images -q | sort -u | wc -l)
  fsck_ok "concurrent-$n-store-consistent" && ok "concurrent-$n-store-consistent"
  for i in 1 2 3; do
    out=$("$xb" run --rm "par$n-$i" cat /n /common 2>&1)
    [ "$out" = "build $((i % 3))
common-step" ] || bad "concurrent-$n-image-$i-content" "$out"
  done
done
"$xb" du > "$t/du.out" 2>&1 && grep -q '^build cache' "$t/du.out" && ok du-table || bad du-table "$(cat "$t/du.out")"
[ $fails -eq 0 ]
