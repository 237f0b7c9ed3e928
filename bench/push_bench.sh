#!/bin/bash
# push_bench.sh [XBUILD] [SIZE_MB] [RUNS]
# Exports a ~500 MB, 4-layer image (real files from /usr, so it compresses
# like an image does) as a gzip OCI archive and pushes it to a local
# docker-registry, with xbuild and, side by side, with skopeo and buildah
# doing the same to the very same image (read from xbuild's store, which is
# an OCI layout with uncompressed layers). Every push goes to an empty
# registry. Prints a table: seconds, MB/s of uncompressed image, and each
# peer's time over xbuild's (above 1: xbuild is faster), and for archives
# the size written (a faster but larger result would be no win). Also each
# tool at the other end of its scale: xbuild at compression-level=4, skopeo
# at level 1. Best of RUNS.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
xbuild=${1:-$here/build/xbuild}
size_mb=${2:-500}
runs=${3:-3}
[ "$(id -u)" -eq 0 ] || { echo "push_bench: run as root (xbuild builds the image)" >&2; exit 2; }
for t in docker-registry skopeo python3 curl; do
  command -v $t >/dev/null || { echo "push_bench: install $t (scripts/bootstrap)" >&2; exit 2; }
done
have_buildah=0; command -v buildah >/dev/null && have_buildah=1
# lower case: buildah derives an image name from the layout path
work=/var/tmp/push-bench-$$; rm -rf "$work"; mkdir -p "$work"
reg_pid=""
stop_registry() { if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; reg_pid=""; fi; }
cleanup() { stop_registry; buildah --root "$work/bh" --runroot "$work/bhrun" rm -a >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
# A fresh, empty registry (so that every push uploads everything).
fresh_registry() {
  stop_registry
  rm -rf "$work/registry"
  cat > "$work/registry.yml" <<C
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: $reg}
C
  docker-registry serve "$work/registry.yml" >>"$work/registry.log" 2>&1 &
  reg_pid=$!
  for _ in $(seq 100); do curl -sf "http://$reg/v2/" >/dev/null && return 0; sleep 0.1; done
  echo "push_bench: docker-registry did not start" >&2; exit 1
}

# The image: busybox + 4 COPY layers of real files, $size_mb MB in all.
export XBUILD_ROOT=$work/xb
"$here/tests/tools/make-busybox-rootfs" "$work/busybox.tar"
"$xbuild" import "$work/busybox.tar" busybox >/dev/null
python3 - "$work/ctx" "$size_mb" <<'PY'
import os, shutil, sys
out, budget = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
files = []
for top in ("/usr/lib/x86_64-linux-gnu", "/usr/bin", "/usr/share", "/usr/lib"):
    for dp, dn, fn in os.walk(top):
        dn.sort()
        for f in sorted(fn):
            p = os.path.join(dp, f)
            if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) < 64 << 20:
                files.append(p)
seen, total, i = set(), 0, 0
for p in files:
    if total >= budget: break
    if p in seen: continue
    seen.add(p)
    dst = os.path.join(out, f"part{(total * 4) // budget}", p.lstrip("/"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(p, dst)
    total += os.path.getsize(p)
open(os.path.join(out, "Dockerfile"), "w").write(
    "FROM busybox\n" + "".join(f"COPY part{i} /data/{i}\n" for i in range(4)))
PY
"$xbuild" build -q -t bench/big "$work/ctx" >/dev/null
image_bytes=$(python3 - "$XBUILD_ROOT" <<'PY'
import json, sys
root = sys.argv[1]
idx = json.load(open(f"{root}/index.json"))
d = next(m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"].endswith("bench/big:latest"))
man = json.load(open(f"{root}/blobs/sha256/{d['digest'][7:]}"))
print(sum(l["size"] for l in man["layers"]))
PY
)
oci_ref="oci:$XBUILD_ROOT:docker.io/bench/big:latest"
"$xbuild" tag bench/big "$reg/bench/big:1"

now() { date +%s.%N; }
best() { sort -n | head -1; }
declare -A times sizes
record() { times[$1]="${times[$1]:-} $2"; }
forget_compressed() { rm -rf "$XBUILD_ROOT/records/layers"; }   # the next export compresses again

if [ $have_buildah -eq 1 ]; then
  bh() { buildah --root "$work/bh" --runroot "$work/bhrun" --storage-driver vfs "$@"; }
  if ! { bh pull -q "$oci_ref" >"$work/bh.log" 2>&1 && bh tag "$(bh images -q | head -1)" bench-big >>"$work/bh.log" 2>&1; }; then
    echo "push_bench: buildah cannot read the image, leaving it out: $(tail -1 "$work/bh.log")" >&2
    have_buildah=0
  fi
fi

for r in $(seq "$runs"); do
  # 1. export as a gzip OCI archive (compressing every layer)
  forget_compressed; rm -f "$work/x.tar"
  s=$(now); "$xbuild" build -q -o type=oci,dest="$work/x.tar" "$work/ctx" >/dev/null; e=$(now)
  record "export:xbuild" "$(echo "$e - $s" | bc)"
  rm -f "$work/s.tar"
  s=$(now); skopeo copy -q --dest-compress --dest-compress-format gzip "$oci_ref" "oci-archive:$work/s.tar:big"; e=$(now)
  record "export:skopeo" "$(echo "$e - $s" | bc)"
  sizes[export:xbuild]=$(stat -c %s "$work/x.tar"); sizes[export:skopeo]=$(stat -c %s "$work/s.tar")
  # The same at the other end of the scale: xbuild at a level whose layers
  # are smaller than skopeo's default, skopeo at its fastest level.
  forget_compressed; rm -f "$work/x4.tar"
  s=$(now); "$xbuild" build -q -o type=oci,dest="$work/x4.tar",compression-level=4 "$work/ctx" >/dev/null; e=$(now)
  record "export4:xbuild" "$(echo "$e - $s" | bc)"; sizes[export4:xbuild]=$(stat -c %s "$work/x4.tar")
  rm -f "$work/s1.tar"
  s=$(now); skopeo copy -q --dest-compress --dest-compress-format gzip --dest-compress-level 1 "$oci_ref" "oci-archive:$work/s1.tar:big"; e=$(now)
  record "export1:skopeo" "$(echo "$e - $s" | bc)"; sizes[export1:skopeo]=$(stat -c %s "$work/s1.tar")
  rm -f "$work/x.tar" "$work/s.tar" "$work/x4.tar" "$work/s1.tar"
  # 2. push from a cold compression cache: compress + upload
  fresh_registry; forget_compressed
  s=$(now); "$xbuild" push -q "$reg/bench/big:1" </dev/null >/dev/null; e=$(now)
  record "push:xbuild" "$(echo "$e - $s" | bc)"
  # 3. push again to an empty registry: the compressed layers are reused
  fresh_registry
  s=$(now); "$xbuild" push -q "$reg/bench/big:1" </dev/null >/dev/null; e=$(now)
  record "push-again:xbuild" "$(echo "$e - $s" | bc)"
  fresh_registry
  s=$(now); skopeo copy -q --dest-tls-verify=false "$oci_ref" "docker://$reg/bench/big:2"; e=$(now)
  record "push:skopeo" "$(echo "$e - $s" | bc)"
  skopeo inspect --tls-verify=false "docker://$reg/bench/big:2" >/dev/null   # what skopeo pushed reads back
  fresh_registry
  s=$(now); skopeo copy -q --dest-tls-verify=false "$oci_ref" "docker://$reg/bench/big:2"; e=$(now)
  record "push-again:skopeo" "$(echo "$e - $s" | bc)"
  if [ $have_buildah -eq 1 ]; then
    fresh_registry
    s=$(now); bh push -q --tls-verify=false bench-big "docker://$reg/bench/big:3" >/dev/null; e=$(now)
    record "push:buildah" "$(echo "$e - $s" | bc)"
  fi
done

mb=$(echo "$image_bytes/1000000" | bc -l)
printf '\nexport and push of a %.0f MB image (4 COPY layers of files from /usr + busybox), gzip, best of %d runs\n' "$mb" "$runs"
printf '%s, %s cores, load average %s\n' "$(date -u +%Y-%m-%d)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-58s %8s %8s %10s %9s\n' operation seconds MB/s "vs xbuild" "MB out"
row() { # label key xbuild-key
  local v x out=""
  v=$(printf '%s\n' ${times[$2]} | best)
  x=$(printf '%s\n' ${times[$3]} | best)
  [ -n "${sizes[$2]:-}" ] && out=$(printf '%9.1f' "$(echo "${sizes[$2]}/1000000" | bc -l)")
  printf '%-58s %8.2f %8.1f %9.2fx %s\n' "$1" "$v" "$(echo "$mb/$v" | bc -l)" "$(echo "$v/$x" | bc -l)" "$out"
}
row "xbuild build -o type=oci,dest=F (gzip, cold)" export:xbuild export:xbuild
row "skopeo copy oci: oci-archive: --dest-compress" export:skopeo export:xbuild
row "xbuild build -o type=oci,...,compression-level=4" export4:xbuild export:xbuild
row "skopeo copy ... --dest-compress-level 1" export1:skopeo export:xbuild
row "xbuild push (compress + upload)" push:xbuild push:xbuild
row "skopeo copy oci: docker:// (compress + upload)" push:skopeo push:xbuild
[ $have_buildah -eq 1 ] && row "buildah push (compress + upload)" push:buildah push:xbuild
row "xbuild push again, empty registry (upload only)" push-again:xbuild push-again:xbuild
row "skopeo copy again, empty registry (compresses again)" push-again:skopeo push-again:xbuild
