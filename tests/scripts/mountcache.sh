#!/bin/bash
# Cache mounts that travel (issue 22): `--cache-to …,mounts=true` puts the
# contents of the build's RUN --mount=type=cache directories into the cache;
# `--cache-from` restores them in a fresh store before the first RUN that
# uses them. Through registry:2 and type=local; only the ids a build uses,
# never over a warmer local mount, unchanged contents not written again,
# mounts-max-size honoured, and a hostile cache's mount tar cannot write
# outside the mount directory.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building images needs root"; exit 77; }
command -v busybox >/dev/null || [ -x /bin/busybox ] || { echo "skip: busybox-static is not installed"; exit 77; }
for tool in docker-registry python3 curl; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/bootstrap installs it)"; exit 77; }
done
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
reg_pid=""
trap '[ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$t"' EXIT
start_registry
sh "$src/tests/tools/make-busybox-rootfs" "$t/rootfs.tar" || exit 1
# A fresh store with busybox imported: the store of a new CI runner.
fresh() { rm -rf "$t/$1"; XBUILD_ROOT=$t/$1 "$xb" import "$t/rootfs.tar" bb >/dev/null || exit 1; }
xs() { local s=$1; shift; XBUILD_ROOT=$t/$s "$xb" "$@"; }
mkdir -p "$t/fill" "$t/read" "$t/other"

# The first runner fills two cache mounts (ids m and n) and exports them.
printf 'FROM bb\nRUN --mount=type=cache,id=m,target=/c,sharing=locked --mount=type=cache,id=n,target=/d echo from-the-first-runner > /c/marker && mkdir -p /c/sub && echo deep > /c/sub/f && echo nn > /d/n\n' >"$t/fill/Dockerfile"
fresh a
out=$(xs a build --progress=plain --cache-to "type=registry,ref=$reg/cache:main,mode=max,mounts=true" \
  --cache-to "type=local,dest=$t/layout,mounts=true" "$t/fill" 2>&1)
check "fill and export (exit)" 0 $?
contains "the registry export counts the cache mounts" "exported cache to type=registry,ref=$reg/cache:main" "$out"
contains "two cache mounts exported" "2 cache mounts" "$out"
first=$(printf '%s\n' "$out" | sed -n "s/.*exported cache to type=registry.*(\(sha256:[0-9a-f]*\)).*/\1/p")

# A fresh runner reads the marker in a RUN that is not cached (another command).
printf 'FROM bb\nRUN --mount=type=cache,id=m,target=/c,sharing=locked cat /c/marker /c/sub/f > /seen\n' >"$t/read/Dockerfile"
fresh b
out=$(xs b build --progress=plain -t seen --cache-from "type=registry,ref=$reg/cache:main" "$t/read" 2>&1)
check "fresh store, --cache-from registry (exit)" 0 $?
contains "the mount is restored before its RUN" "restored cache mount m from registry $reg/cache:main" "$out"
check "registry: the first runner's marker is read on a fresh store" "from-the-first-runner
deep" "$(xs b run --rm seen cat /seen 2>&1)"
# Only the ids this build uses: n was exported but no step here mounts it.
n_dir=$t/b/cache-mounts/$(printf n | sha256sum | cut -d' ' -f1)
[ ! -e "$n_dir" ] && ok "an id no RUN of the build uses is not restored" || bad "an id no RUN of the build uses is not restored" "$(ls -la "$n_dir")"
lacks "no restore line for n" "restored cache mount n" "$out"

fresh c
out=$(xs c build --progress=plain -t seen --cache-from "type=local,src=$t/layout" "$t/read" 2>&1)
check "fresh store, --cache-from local (exit)" 0 $?
check "local: the first runner's marker is read on a fresh store" "from-the-first-runner
deep" "$(xs c run --rm seen cat /seen 2>&1)"

# Two builds on one fresh store at once: one restores, the other waits on
# the mount's lock or finds it whole; both read the complete marker.
mkdir -p "$t/read2"
printf 'FROM bb\nRUN --mount=type=cache,id=m,target=/c cat /c/marker /c/sub/f > /seen2\n' >"$t/read2/Dockerfile"
# The mount's lock is held here until both builds have reached their RUN,
# so that both find the mount empty and queue on the lock.
fresh k
lock=$t/k/cache-mounts/$(printf m | sha256sum | cut -d' ' -f1).lock
mkdir -p "$t/k/cache-mounts"
( flock 9; while [ ! -e "$t/release" ]; do sleep 0.1; done ) 9>"$lock" &
holder=$!
while flock -n "$lock" true 2>/dev/null; do sleep 0.05; done  # the holder has it
xs k build --progress=plain -t one --cache-from "type=registry,ref=$reg/cache:main" "$t/read" >"$t/k1.log" 2>&1 &
p1=$!
xs k build --progress=plain -t two --cache-from "type=local,src=$t/layout" "$t/read2" >"$t/k2.log" 2>&1 &
p2=$!
for _ in $(seq 300); do
  grep -q '\[2/2\] RUN' "$t/k1.log" && grep -q '\[2/2\] RUN' "$t/k2.log" && break
  sleep 0.1
done
sleep 1  # both are past their first look at the mount and wait on the lock
touch "$t/release"; wait $holder
wait $p1; r1=$?; wait $p2; r2=$?
check "concurrent builds (exits)" "0 0" "$r1 $r2"
check "concurrent builds: the first reads the whole mount" "from-the-first-runner
deep" "$(xs k run --rm one cat /seen 2>&1)"
check "concurrent builds: the second reads the whole mount" "from-the-first-runner
deep" "$(xs k run --rm two cat /seen2 2>&1)"
check "concurrent builds: the mount is restored once" 1 "$(cat "$t/k1.log" "$t/k2.log" | grep -c 'restored cache mount m')"

# Lazily: a build whose RUN steps mount nothing restores nothing.
printf 'FROM bb\nRUN echo plain > /p\n' >"$t/other/Dockerfile"
fresh d
out=$(xs d build --progress=plain --cache-from "type=registry,ref=$reg/cache:main" "$t/other" 2>&1)
check "a build without cache mounts (exit)" 0 $?
[ -z "$(ls -A "$t/d/cache-mounts" 2>/dev/null)" ] && ok "a build without cache mounts restores none" ||
  bad "a build without cache mounts restores none" "$(ls -A "$t/d/cache-mounts")"

# A warmer local mount is never replaced.
fresh e
printf 'FROM bb\nRUN --mount=type=cache,id=m,target=/c echo local-runner > /c/marker && mkdir -p /c/sub && echo x > /c/sub/f\n' >"$t/other/Dockerfile"
xs e build -q "$t/other" >/dev/null || bad "warm the local mount" "build failed"
out=$(xs e build --progress=plain -t seen --cache-from "type=registry,ref=$reg/cache:main" "$t/read" 2>&1)
check "warm store, --cache-from (exit)" 0 $?
contains "a non-empty local mount is kept" "local-runner" "$(xs e run --rm seen cat /seen 2>&1)"
lacks "and not restored over" "restored cache mount" "$out"

# --cache-from mounts=false restores nothing.
fresh f
out=$(xs f build --progress=plain -t seen --cache-from "type=registry,ref=$reg/cache:main,mounts=false" "$t/read" 2>&1)
contains "--cache-from mounts=false: no marker (the RUN fails on the missing file)" "No such file" "$out"

# Without mounts=true nothing of the mounts travels.
xs a build -q --cache-to "type=registry,ref=$reg/cache:nomounts,mode=max" "$t/fill" >/dev/null || bad "export without mounts" "failed"
fresh g
out=$(xs g build --progress=plain --cache-from "type=registry,ref=$reg/cache:nomounts" "$t/read" 2>&1)
contains "without mounts=true the marker does not travel" "No such file" "$out"

# Unchanged contents: the same cache, byte for byte (so the same blobs,
# which the registry already has), and no new blob in the layout.
nblobs=$(ls "$t/layout/blobs/sha256" | wc -l)
out=$(xs a build --progress=plain --cache-to "type=registry,ref=$reg/cache:main,mode=max,mounts=true" \
  --cache-to "type=local,dest=$t/layout,mounts=true" "$t/fill" 2>&1)
second=$(printf '%s\n' "$out" | sed -n "s/.*exported cache to type=registry.*(\(sha256:[0-9a-f]*\)).*/\1/p")
[ -n "$first" ] && check "re-exporting unchanged mounts writes the same cache manifest" "$first" "$second"
check "re-exporting unchanged mounts adds no blob to the layout" "$nblobs" "$(ls "$t/layout/blobs/sha256" | wc -l)"

# A fresh runner that only hits the cache re-exports what it imported: the
# mount it never restored is carried over, not lost.
fresh h
out=$(xs h build --progress=plain --cache-from "type=registry,ref=$reg/cache:main" \
  --cache-to "type=registry,ref=$reg/cache:relay,mode=max,mounts=true" "$t/fill" 2>&1)
contains "a fully cached build re-exports the imported mounts" "2 cache mounts" "$out"
fresh i
xs i build -q -t seen --cache-from "type=registry,ref=$reg/cache:relay" "$t/read" >/dev/null 2>&1
check "the relayed cache restores the marker" "from-the-first-runner
deep" "$(xs i run --rm seen cat /seen 2>&1)"

# mounts-max-size: a larger mount is left out, with a note.
out=$(xs a build --progress=plain --cache-to "type=local,dest=$t/capped,mounts=true,mounts-max-size=1" "$t/fill" 2>&1)
contains "mounts-max-size: a larger mount is left out with a note" "is larger than mounts-max-size=1: not exported" "$out"
lacks "mounts-max-size: no mount exported" "cache mounts" "$(printf '%s\n' "$out" | grep 'exported cache to')"
out=$(xs a build -q --cache-to "type=inline,mounts=true" "$t/fill" 2>&1)
check "mounts=true with type=inline is a usage error" 2 $?
contains "naming the option" "unknown option mounts" "$out"

# A hostile cache: the mount tar holds a symlink out of the mount, a file
# written through it, and a name with "..": the restore is refused as a
# whole (a warning), the step runs with an empty mount, and nothing appears
# outside the mount directory.
mkdir -p "$t/outside"
python3 - "$t/layout" "$t/hostile" "$t/outside" <<'PY' || bad "make the hostile cache" "python failed"
import hashlib, io, json, os, shutil, sys, tarfile
src, dst, outside = sys.argv[1:]
shutil.copytree(src, dst)
blob = lambda d: os.path.join(dst, "blobs", "sha256", d.split(":")[1])
def put(b):
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    with open(blob(d), "wb") as f: f.write(b)
    return d
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
    l = tarfile.TarInfo("link"); l.type = tarfile.SYMTYPE; l.linkname = outside; tf.addfile(l)
    for name in ("link/through-symlink", "marker", "../../../../../../" + outside.lstrip("/") + "/dotdot"):
        data = b"pwned\n"; i = tarfile.TarInfo(name); i.size = len(data); tf.addfile(i, io.BytesIO(data))
tar = buf.getvalue()
idx = json.load(open(os.path.join(dst, "index.json")))
man = json.load(open(blob(idx["manifests"][0]["digest"])))
cfg = json.load(open(blob(man["config"]["digest"])))
for n, l in enumerate(man["layers"]):
    if l.get("annotations", {}).get("org.xbuild.cache-mount.id") == "m":
        d = put(tar)
        l.update(mediaType="application/vnd.oci.image.layer.v1.tar", digest=d, size=len(tar))
        cfg["diff_ids"][n] = d
c = json.dumps(cfg).encode(); man["config"].update(digest=put(c), size=len(c))
m = json.dumps(man).encode(); idx["manifests"][0].update(digest=put(m), size=len(m))
json.dump(idx, open(os.path.join(dst, "index.json"), "w"))
PY
fresh j
out=$(xs j build --progress=plain --cache-from "type=local,src=$t/hostile" "$t/read" 2>&1)
contains "a hostile mount tar is refused with a warning" "WARNING: cache mount m from local $t/hostile" "$out"
contains "naming the entry that leads out" "is outside the extraction root" "$out"
check "nothing was written outside the mount directory" "" "$(ls -A "$t/outside")"
m_dir=$t/j/cache-mounts/$(printf m | sha256sum | cut -d' ' -f1)
[ ! -e "$m_dir/marker" ] && ok "nothing of the refused tar is in the mount" || bad "nothing of the refused tar is in the mount" "$(ls -la "$m_dir")"
check "no temporary directory is left behind" "" "$(ls -A "$t/j/ingest" 2>/dev/null)"

[ "$fails" -eq 0 ] || exit 1
