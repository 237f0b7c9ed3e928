#!/bin/bash
# File names are bytes (issue 15), end to end, with LANG and LC_ALL unset:
# an image whose COPY, ADD and RUN steps make names in several scripts, NFD,
# emoji, spaces, a newline, bytes that are not UTF-8 and long paths (the
# tree of tests/tools/odd-names, checked byte for byte) keeps every name and
# link target through -o type=local and type=tar, xbuild save (oci and
# docker) and load, push and pull, skopeo copy and umoci unpack of the OCI
# archive, podman load of the docker archive; a layer umoci (Go's archive/tar) writes is read back exactly; and
# the locale does not change the image.
set -u
unset LANG LC_ALL LANGUAGE LC_CTYPE
export SOURCE_DATE_EPOCH=1700000000  # image IDs comparable across stores
[ "$(id -u)" -eq 0 ] || { echo "skip: building needs root"; exit 77; }
for tool in skopeo umoci docker-registry python3 curl; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/bootstrap installs it)"; exit 77; }
done
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
reg_pid=""
trap '[ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$t"' EXIT
names() { python3 "$src/tests/tools/odd-names" "$@"; }
tree_ok() { # NAME DIR|TAR PREFIX…: the odd tree is exactly there
  local name=$1; shift
  local out; out=$(names check "$@" 2>&1)
  if [ -z "$out" ]; then ok "$name"; else bad "$name" "$(echo "$out" | head -3)"; fi
}

# A registry:2 on a free port.
start_registry

import_busybox busybox || exit 1
mkdir -p "$t/ctx"
names make "$t/ctx/c"
names script /r "$t/ctx/mk.sh"
names tar "$t/ctx/names.tar" a
printf 'the issue line\n' > "$t/ctx/café.txt"
cat > "$t/ctx/Dockerfile" <<'D'
FROM busybox
COPY c/ /c/
ADD names.tar /
COPY café.txt /
COPY mk.sh /
RUN sh /mk.sh && rm /mk.sh
D
"$xb" build --progress=plain -t names --iidfile "$t/iid" \
  -o type=local,dest="$t/local" -o type=tar,dest="$t/fs.tar" -o type=image "$t/ctx" >"$t/build.log" 2>&1
check build-exit 0 $?
grep -i "translate\|converted" "$t/build.log" | head -3
iid=$(cat "$t/iid" 2>/dev/null)

# What COPY, ADD and RUN made, in the two root file system outputs.
tree_ok local-copy-add-run "$t/local" c a r
check local-copy-issue-line "the issue line" "$(cat "$t/local/café.txt" 2>&1)"
tree_ok tar-copy-add-run "$t/fs.tar" c a r

# save (oci, docker) → load into a fresh store: same image, same names.
"$xb" save -o "$t/oci.tar" --format oci names 2>"$t/err"; check save-oci 0 $?
"$xb" save -o "$t/docker.tar" --format docker names 2>"$t/err"; check save-docker 0 $?
from_store() { # STORE IMAGE DEST: IMAGE of STORE as a directory
  mkdir -p "$t/from"; echo "FROM $2" > "$t/from/Dockerfile"
  XBUILD_ROOT=$1 "$xb" build -q -o type=local,dest="$3" "$t/from" >/dev/null 2>"$t/err" || cat "$t/err"
}
load() { # STORE ARCHIVE: loads, prints the name it was loaded under
  XBUILD_ROOT=$1 "$xb" load -i "$2" 2>"$t/err" | sed -n 's/^Loaded image: //p' | head -1
}
for fmt in oci docker; do
  img=$(load "$t/s-$fmt" "$t/$fmt.tar")
  check "load-$fmt" "names:latest" "$img"
  check "load-$fmt-same-image" "$iid" "$(XBUILD_ROOT=$t/s-$fmt "$xb" inspect "$img" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])' 2>&1)"
  from_store "$t/s-$fmt" "$img" "$t/out-$fmt"
  tree_ok "load-$fmt-names" "$t/out-$fmt" c a r
done

# push → pull into a fresh store.
"$xb" tag names "$reg/names:1" >/dev/null && "$xb" push "$reg/names:1" >/dev/null 2>"$t/err"
check push 0 $?
XBUILD_ROOT=$t/s-pull "$xb" pull "$reg/names:1" >/dev/null 2>"$t/err" && XBUILD_ROOT=$t/s-pull "$xb" tag "$reg/names:1" names >/dev/null
check pull 0 $?
from_store "$t/s-pull" names "$t/out-pull"
tree_ok pull-names "$t/out-pull" c a r

# skopeo and umoci (Go's archive/tar) read the OCI archive.
skopeo copy -q "oci-archive:$t/oci.tar" "oci:$t/layout:img" 2>"$t/err"; check skopeo-copy 0 $?
umoci unpack --image "$t/layout:img" "$t/bundle" >/dev/null 2>"$t/err"; check umoci-unpack 0 $?
tree_ok umoci-names "$t/bundle/rootfs" c a r

# A layer Go writes (umoci repack), read back by xbuild: load, then build on it.
names make "$t/bundle/rootfs/g"
umoci repack --image "$t/layout:img" "$t/bundle" >/dev/null 2>"$t/err"; check umoci-repack 0 $?
skopeo copy -q "oci:$t/layout:img" "oci-archive:$t/go.tar:docker.io/library/goimg:1" 2>"$t/err"
check skopeo-archive-go 0 $?
img=$(load "$t/s-go" "$t/go.tar")
check load-go-layer "goimg:1" "$img"
from_store "$t/s-go" "$img" "$t/out-go"
tree_ok go-layer-names "$t/out-go" c a r g
skopeo copy -q "docker-archive:$t/docker.tar" "oci:$t/layout2:img" 2>"$t/err"; check skopeo-reads-docker-archive 0 $?

# podman (containers/storage's tar-split) loads the docker archive: with vfs
# the top layer's directory holds the whole tree.
if command -v podman >/dev/null && command -v runc >/dev/null; then
  podman --root "$t/podman/root" --runroot "$t/podman/run" --storage-driver vfs --runtime runc \
    --cgroup-manager cgroupfs --events-backend none load -i "$t/docker.tar" >/dev/null 2>"$t/err"
  check podman-load 0 $?
  top=$(for d in "$t"/podman/root/vfs/dir/*/; do [ -d "$d/r/f" ] && echo "$d"; done | head -1)
  tree_ok podman-names "${top:-$t/podman/none}" c a r
fi

# The locale changes nothing: a UTF-8 one gives the same image ID.
LANG=C.UTF-8 LC_ALL=C.UTF-8 XBUILD_ROOT=$t/s-utf8 "$xb" import "$t/rootfs.tar" busybox >/dev/null
LANG=C.UTF-8 LC_ALL=C.UTF-8 XBUILD_ROOT=$t/s-utf8 "$xb" build -q --iidfile "$t/iid.utf8" "$t/ctx" >/dev/null 2>"$t/err"
check utf8-locale-same-image "$iid" "$(cat "$t/iid.utf8" 2>&1)"
[ $fails -eq 0 ]
