#!/bin/bash
# --isolation on this host (as root, so that every mode can be asked for):
# chroot runs RUN steps chrooted into the native snapshot and nothing it
# put there for the run (/dev nodes, the generated /etc/hosts and
# /etc/resolv.conf) reaches a layer, while the image's own /etc/hosts comes
# back unchanged (a RUN's writes to it are lost, as with BuildKit's bind); none refuses RUN with one line but builds COPY; a mode
# that cannot be, or is unknown, fails before the first step.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
export XBUILD_SNAPSHOTTER=native
sh "$src/tests/tools/make-busybox-rootfs" "$t/rootfs.tar" || exit 1
"$xb" --isolation=chroot import "$t/rootfs.tar" busybox >/dev/null 2>&1
mkdir -p "$t/ctx" "$t/ctx2"
echo copied > "$t/ctx/f"
echo "10.1.1.1 mine" > "$t/ctx/hosts"
cat > "$t/ctx/Dockerfile" <<'D'
FROM busybox
COPY hosts /etc/hosts
COPY f /f
RUN cat /etc/hosts > /seen-hosts && ls /dev/null > /seen-dev && echo ran > /ran
D
out=$("$xb" --isolation=chroot build -q -o type=oci,dest="$t/img.tar" "$t/ctx" 2>&1)
check "chroot build" 0 $?
contains "the line says chroot" "isolation: chroot (as asked): RUN steps run chrooted" "$out"
"$src/tests/tools/imgdiff" --dump "$t/img.tar" > "$t/dump.json"
view() { python3 -c "import json,sys; d=json.load(open('$t/dump.json'))['fs']; print('\n'.join(sorted(p for p in d if p.startswith(('/dev','/etc/resolv','/etc/hosts')))))"; }
check "no /dev node, no generated /etc file in the layers" "/etc/hosts" "$(view)"
check "the image's own /etc/hosts is back" 14 "$(python3 -c "import json; print(json.load(open('$t/dump.json'))['fs']['/etc/hosts'].get('size'))")"
"$xb" build -q -t chrootimg --isolation=chroot "$t/ctx" >/dev/null 2>&1
contains "RUN saw the generated /etc/hosts" "localhost" "$("$xb" run --rm chrootimg cat /seen-hosts 2>/dev/null)"
check "RUN had /dev/null" "/dev/null" "$("$xb" run --rm chrootimg cat /seen-dev 2>/dev/null)"

printf 'FROM busybox\nRUN --mount=type=cache,target=/c true\n' > "$t/ctx2/Dockerfile"
out=$("$xb" --isolation=chroot build -q "$t/ctx2" 2>&1)
check "chroot: RUN --mount fails" 1 $?
contains "chroot: one line says why" "RUN --mount (/c): isolation chroot cannot mount anything" "$out"

out=$("$xb" --isolation=none build -q --no-cache "$t/ctx" 2>&1)
check "none: RUN fails" 1 $?
contains "none: one line says why" "cannot run \`/bin/sh\`: isolation none" "$out"
printf 'FROM busybox\nCOPY f /f\n' > "$t/ctx/Dockerfile.copy"
out=$("$xb" --isolation=none build -q -f "$t/ctx/Dockerfile.copy" "$t/ctx" 2>&1)
check "none: COPY-only build works" 0 $?

out=$("$xb" --isolation=bogus build -q "$t/ctx" 2>&1)
check "unknown mode: usage" 2 $?
contains "unknown mode: one line" "--isolation=bogus: use auto, namespaces, chroot or none" "$out"
out=$(HOME=/nonexistent setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$xb" --root /nonexistent/store --isolation=chroot build -q "$t/ctx" 2>&1)
check "chroot without CAP_SYS_CHROOT fails" 1 $?
contains "before the first step, one line" "--isolation=chroot: this process may not chroot (no CAP_SYS_CHROOT)" "$out"
[ $fails -eq 0 ]
