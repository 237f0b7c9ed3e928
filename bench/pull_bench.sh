#!/bin/bash
# pull_bench.sh [XBUILD] [SIZE_MB] [LAYERS] [RUNS]
# Pulls a ~200 MB multi-layer image from a local docker-registry with xbuild
# and with `skopeo copy docker://… oci:DIR` and prints the times and ratio.
# The image is made here: LAYERS gzip layers of incompressible data.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
xbuild=${1:-$here/build/xbuild}
size_mb=${2:-200}
layers=${3:-4}
runs=${4:-3}
command -v docker-registry >/dev/null || { echo "pull_bench: install docker-registry" >&2; exit 2; }
command -v skopeo >/dev/null || { echo "pull_bench: install skopeo" >&2; exit 2; }
work=$(mktemp -d)
reg_pid=""
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

. "$here/bench/registry.sh"
bench_start_registry "$work"

# An OCI layout with $layers gzip layers (random bytes, so sizes are real).
python3 - "$work/layout" "$size_mb" "$layers" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, size_mb, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{out}/blobs/sha256")
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
layers, diffs = [], []
for i in range(n):
    payload = os.urandom(size_mb * 1024 * 1024 // n)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(f"data/layer{i}.bin"); info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    tar = buf.getvalue()
    diffs.append("sha256:" + hashlib.sha256(tar).hexdigest())
    d, s = put(gzip.compress(tar, compresslevel=1))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s})
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
cd, cs = put(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                  "layers": layers}).encode()
md, ms = put(man)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "big"}}]},
          open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
ref=127.0.0.1:$port/bench/big:1
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:big" "docker://$ref"
total=$(du -sb "$work/layout/blobs" | cut -f1)

best() { sort -n | head -1; }
time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
xb_times=(); sk_times=()
for r in $(seq "$runs"); do
  rm -rf "$work/xroot" "$work/sdir"
  xb_times+=("$(time_it env XBUILD_ROOT="$work/xroot" "$xbuild" pull -q "$ref")")
  sk_times+=("$(time_it skopeo copy --quiet --src-tls-verify=false "docker://$ref" "oci:$work/sdir:big")")
done
# Both must have fetched the same image.
"$xbuild" --root "$work/xroot" inspect "$ref" | grep -q "$(skopeo inspect --tls-verify=false "docker://$ref" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')"
xb=$(printf '%s\n' "${xb_times[@]}" | best)
sk=$(printf '%s\n' "${sk_times[@]}" | best)
printf '\npull of %s (%d layers, %.0f MB compressed), best of %d runs\n' "$ref" "$layers" "$(echo "$total/1048576" | bc -l)" "$runs"
printf '%-28s %8s %10s\n' tool seconds MB/s
printf '%-28s %8.2f %10.1f\n' "xbuild pull" "$xb" "$(echo "$total/1048576/$xb" | bc -l)"
printf '%-28s %8.2f %10.1f\n' "skopeo copy docker:// oci:" "$sk" "$(echo "$total/1048576/$sk" | bc -l)"
printf 'ratio skopeo/xbuild: %.2fx (above 1: xbuild is faster)\n' "$(echo "$sk/$xb" | bc -l)"
