#!/bin/bash
# Attestations end to end (issue 21): --provenance and --sbom attach an
# image index with an attestation manifest as BuildKit does, read back by
# tools nobody here wrote: skopeo reads the pushed index from a registry:2
# (Debian's docker-registry), python3-jsonschema checks every statement
# against the required fields of in-toto v0.1, SLSA provenance v0.2 and SPDX
# 2.3 (tests/exporter/testdata/attest/), and the SBOM of debian:bookworm +
# `apt-get install curl` lists curl with the version dpkg-query prints in it.
# --provenance=false gives exactly the image of a build without flags.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building needs root"; exit 77; }
for tool in skopeo docker-registry python3 curl; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/bootstrap installs it)"; exit 77; }
done
python3 -c 'import jsonschema' 2>/dev/null || { echo "skip: python3-jsonschema is not installed (scripts/bootstrap installs it)"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
schemas=$src/tests/exporter/testdata/attest
reg_pid="" http_pid=""
trap 'for p in $reg_pid $http_pid; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$t"' EXIT

start_registry

import_busybox busybox || exit 1
mkdir -p "$t/ctx"
cat > "$t/ctx/Dockerfile" <<'D'
FROM busybox
ARG TOKEN
RUN echo built > /built
CMD ["cat", "/built"]
D
build() { "$xb" build --progress=plain "$@" >"$t/build.log" 2>&1 || { cat "$t/build.log"; bad "build $*" "failed"; return 1; }; }
raw() { skopeo inspect --raw --tls-verify=false "docker://$reg/$1"; }
py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
blob() { curl -sf "http://$reg/v2/$1/blobs/$2"; }
# stored_statement NAME N: the Nth statement attached to the stored image NAME
stored_statement() {
  python3 - "$XBUILD_ROOT" "$1" "$2" <<'P'
import json, sys, os
root, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
blob = lambda d: open(os.path.join(root, "blobs", "sha256", d.split(":")[1])).read()
entry = [m for m in json.load(open(os.path.join(root, "index.json")))["manifests"]
         if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == name][0]
att = [m for m in json.loads(blob(entry["digest"]))["manifests"]
       if m.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest"][0]
print(blob(json.loads(blob(att["digest"]))["layers"][n]["digest"]))
P
}
# validate SCHEMA FILE…: every file against tests/exporter/testdata/attest/SCHEMA
validate() {
  python3 - "$schemas/$1" "${@:2}" <<'P'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
for f in sys.argv[2:]:
    doc = json.load(open(f))
    if "predicate" in doc and "_type" not in schema.get("properties", {}):
        doc = doc["predicate"]
    jsonschema.validate(doc, schema)
print("valid")
P
}

# --- push with provenance (max) and SBOM: the index as BuildKit writes it
build -t "$reg/app:att" --build-arg TOKEN=s3cret --provenance=mode=max --sbom=true --push "$t/ctx" || exit 1
raw app:att > "$t/index.json"
check index-media-type application/vnd.oci.image.index.v1+json "$(py 'print(d["mediaType"])' < "$t/index.json")"
check index-two-manifests 2 "$(py 'print(len(d["manifests"]))' < "$t/index.json")"
image_digest=$(py 'print(d["manifests"][0]["digest"])' < "$t/index.json")
check image-platform linux/amd64 "$(py 'p=d["manifests"][0]["platform"]; print(p["os"]+"/"+p["architecture"])' < "$t/index.json")"
check attestation-reference-type attestation-manifest \
  "$(py 'print(d["manifests"][1]["annotations"]["vnd.docker.reference.type"])' < "$t/index.json")"
check attestation-reference-digest "$image_digest" \
  "$(py 'print(d["manifests"][1]["annotations"]["vnd.docker.reference.digest"])' < "$t/index.json")"
check attestation-platform unknown/unknown \
  "$(py 'p=d["manifests"][1]["platform"]; print(p["os"]+"/"+p["architecture"])' < "$t/index.json")"
att_digest=$(py 'print(d["manifests"][1]["digest"])' < "$t/index.json")
raw "app@$att_digest" > "$t/att.json"
check attestation-layer-types "application/vnd.in-toto+json application/vnd.in-toto+json" \
  "$(py 'print(" ".join(l["mediaType"] for l in d["layers"]))' < "$t/att.json")"
check attestation-predicate-types "https://spdx.dev/Document https://slsa.dev/provenance/v0.2" \
  "$(py 'print(" ".join(l["annotations"]["in-toto.io/predicate-type"] for l in d["layers"]))' < "$t/att.json")"
blob app "$(py 'print(d["layers"][0]["digest"])' < "$t/att.json")" > "$t/sbom.json"
blob app "$(py 'print(d["layers"][1]["digest"])' < "$t/att.json")" > "$t/prov.json"
check statements-valid-in-toto valid "$(validate in-toto-statement-v0.1.schema.json "$t/sbom.json" "$t/prov.json" 2>&1 | tail -1)"
check provenance-valid-slsa-v0.2 valid "$(validate slsa-provenance-v0.2.schema.json "$t/prov.json" 2>&1 | tail -1)"
check sbom-valid-spdx-2.3 valid "$(validate spdx-2.3.schema.json "$t/sbom.json" 2>&1 | tail -1)"
check subject-is-the-image "pkg:docker/$reg/app@att?platform=linux%2Famd64 ${image_digest#sha256:}" \
  "$(py 'print(d["subject"][0]["name"], d["subject"][0]["digest"]["sha256"])' < "$t/prov.json")"
busybox_digest=$(python3 -c "import json; print([m['digest'] for m in json.load(open('$XBUILD_ROOT/index.json'))['manifests'] if m['annotations']['org.opencontainers.image.ref.name']=='docker.io/library/busybox:latest'][0])")
check provenance-material "pkg:docker/busybox@latest?platform=linux%2Famd64 ${busybox_digest#sha256:}" \
  "$(py 'm=d["predicate"]["materials"][0]; print(m["uri"], m["digest"]["sha256"])' < "$t/prov.json")"
check provenance-dockerfile-digest "Dockerfile $(sha256sum < "$t/ctx/Dockerfile" | cut -c1-64)" \
  "$(py 'c=d["predicate"]["invocation"]["configSource"]; print(c["entryPoint"], c["digest"]["sha256"])' < "$t/prov.json")"
check provenance-max-args "s3cret dockerfile.v0" \
  "$(py 'p=d["predicate"]["invocation"]["parameters"]; print(p["args"]["build-arg:TOKEN"], p["frontend"])' < "$t/prov.json")"
contains provenance-max-steps '"/bin/sh", "-c", "echo built > /built"' \
  "$(py 'print(json.dumps(d["predicate"]["buildConfig"]["llbDefinition"]))' < "$t/prov.json")"

# --- mode=min (--attest): no build-arg values, no steps
build -t "$reg/app:min" --build-arg TOKEN=s3cret --attest type=provenance,mode=min --push "$t/ctx" || exit 1
att=$(raw app:min | py 'print(d["manifests"][1]["digest"])')
raw "app@$att" | py 'print(d["layers"][0]["digest"])' > "$t/min.digest"
blob app "$(cat "$t/min.digest")" > "$t/min.json"
lacks provenance-min-hides-build-args s3cret "$(cat "$t/min.json")"
check provenance-min-no-build-config False "$(py 'print("buildConfig" in d["predicate"])' < "$t/min.json")"
check provenance-min-valid valid "$(validate slsa-provenance-v0.2.schema.json "$t/min.json" 2>&1 | tail -1)"

# --- --provenance=false is exactly today's image (and the default)
build -t "$reg/app:plain" --push "$t/ctx" || exit 1
build -t "$reg/app:off" --provenance=false --sbom=false --push "$t/ctx" || exit 1
check provenance-false-same-image "$(raw app:plain | sha256sum)" "$(raw app:off | sha256sum)"
check default-is-a-manifest application/vnd.oci.image.manifest.v1+json "$(raw app:plain | py 'print(d["mediaType"])')"
build -t "$reg/app:prov" --provenance=true --push --metadata-file "$t/md.json" "$t/ctx" || exit 1
check attested-image-is-the-plain-image "$(raw app:plain | sha256sum | cut -c1-64)" \
  "$(raw app:prov | py 'print(d["manifests"][0]["digest"][7:])')"
# As buildx: with attestations the metadata names the pushed index, and the image's config.
check metadata-names-the-index "sha256:$(raw app:prov | sha256sum | cut -c1-64) application/vnd.oci.image.index.v1+json" \
  "$(py 'print(d["containerimage.digest"], d["containerimage.descriptor"]["mediaType"])' < "$t/md.json")"
check metadata-config-digest "$(raw app:plain | py 'print(d["config"]["digest"])')" \
  "$(py 'print(d["containerimage.config.digest"])' < "$t/md.json")"

# --- docker media types: a manifest list, the attestation still named (as BuildKit)
build -t "$reg/app:schema2" --provenance=true -o type=registry,oci-mediatypes=false "$t/ctx" || exit 1
raw app:schema2 > "$t/schema2.json"
check schema2-manifest-list "application/vnd.docker.distribution.manifest.list.v2+json attestation-manifest" \
  "$(py 'print(d["mediaType"], d["manifests"][1]["annotations"]["vnd.docker.reference.type"])' < "$t/schema2.json")"
check schema2-reference-digest "$(py 'print(d["manifests"][0]["digest"])' < "$t/schema2.json")" \
  "$(py 'print(d["manifests"][1]["annotations"]["vnd.docker.reference.digest"])' < "$t/schema2.json")"

# --- the local store: run, images, inspect, fsck with an index of attestations
build -t att:local --sbom=true --provenance=true "$t/ctx" || exit 1
check local-run built "$("$xb" run --rm att:local 2>&1)"
contains local-images att "$("$xb" images 2>&1)"
contains local-inspect '"Cmd"' "$("$xb" inspect att:local 2>&1)"
"$xb" fsck >"$t/fsck.log" 2>&1; check local-fsck 0 "$?"
# pushed later, its layers compressed: the statements follow the manifest's new digest
"$xb" tag att:local "$reg/app:later" && "$xb" push "$reg/app:later" >"$t/push.log" 2>&1 || { cat "$t/push.log"; bad push-later "failed"; }
raw app:later > "$t/later.json"
later_image=$(py 'print(d["manifests"][0]["digest"])' < "$t/later.json")
check push-later-reference-digest "$later_image" \
  "$(py 'print(d["manifests"][1]["annotations"]["vnd.docker.reference.digest"])' < "$t/later.json")"
att=$(py 'print(d["manifests"][1]["digest"])' < "$t/later.json")
subjects=$(for l in $(raw "app@$att" | py 'print(" ".join(l["digest"] for l in d["layers"]))'); do
  blob app "$l" | py 'print(d["subject"][0]["digest"]["sha256"])'; done | sort -u)
check push-later-subjects "${later_image#sha256:}" "$subjects"

# --- a URL that ADD fetched is a material, with the digest of its bytes
mkdir -p "$t/www" "$t/urlctx"
echo "remote data" > "$t/www/data.txt"
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$t/www" "$hport" >/dev/null 2>&1 &
http_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$hport/data.txt" >/dev/null && break; sleep 0.1; done
printf 'FROM busybox\nADD http://127.0.0.1:%s/data.txt /data.txt\n' "$hport" > "$t/urlctx/Dockerfile"
build -t urlimg --provenance=true "$t/urlctx" && stored_statement docker.io/library/urlimg:latest 0 > "$t/url-prov.json"
kill "$http_pid" 2>/dev/null
contains provenance-url-material "http://127.0.0.1:$hport/data.txt $(sha256sum < "$t/www/data.txt" | cut -c1-64)" \
  "$(py 'print("\n".join(m["uri"] + " " + m["digest"]["sha256"] for m in d["predicate"]["materials"]))' < "$t/url-prov.json")"

# --- archives: OCI keeps the attestations, docker drops them (as BuildKit)
build --provenance=true -o type=oci,dest="$t/oci.tar" -o type=docker,dest="$t/docker.tar" -t att:arch "$t/ctx" || exit 1
oci_index=$(skopeo inspect --raw "oci-archive:$t/oci.tar:arch")
contains oci-archive-attestation attestation-manifest "$oci_index"
mkdir -p "$t/o" && tar -xf "$t/oci.tar" -C "$t/o"
oci_att=$(py 'print([m for m in d["manifests"] if m.get("annotations",{}).get("vnd.docker.reference.type")][0]["digest"][7:])' <<<"$oci_index")
oci_layer=$(py 'l=d["layers"][0]; print(l["mediaType"], l["digest"][7:])' < "$t/o/blobs/sha256/$oci_att")
check oci-archive-statement-as-is "application/vnd.in-toto+json https://in-toto.io/Statement/v0.1" \
  "${oci_layer% *} $(py 'print(d["_type"])' < "$t/o/blobs/sha256/${oci_layer#* }")"
mkdir -p "$t/d" && tar -xf "$t/docker.tar" -C "$t/d" manifest.json
check docker-archive-image-only "1 2" "$(py 'print(len(d), len(d[0]["Layers"]))' < "$t/d/manifest.json")"

# --- the SBOM of debian:bookworm + apt-get install curl lists curl at dpkg's version
if debian=$(sh "$src/scripts/debian-base" 2>"$t/debian.log"); then
  "$xb" import "$debian" debian:bookworm >/dev/null || bad debian-import "failed"
  mkdir -p "$t/deb"
  printf 'FROM debian:bookworm\nRUN apt-get update -qq && apt-get install -y -qq --no-install-recommends curl >/dev/null\n' >"$t/deb/Dockerfile"
  if "$xb" build --progress=plain --sbom=true -t debcurl "$t/deb" >"$t/deb.log" 2>&1; then
    version=$("$xb" run --rm debcurl dpkg-query -W -f='${Version}' curl)
    stored_statement docker.io/library/debcurl:latest 0 > "$t/deb-sbom.json"
    check debian-sbom-valid valid "$(validate spdx-2.3.schema.json "$t/deb-sbom.json" 2>&1 | tail -1)"
    check debian-sbom-curl "curl $version pkg:deb/debian/curl@$version?arch=amd64&distro=debian-12" \
      "$(py '[print(p["name"], p["versionInfo"], p["externalRefs"][0]["referenceLocator"]) for p in d["predicate"]["packages"] if p["name"] == "curl"]' < "$t/deb-sbom.json")"
    n=$(py 'print(len(d["predicate"]["packages"]))' < "$t/deb-sbom.json")
    [ "$n" -gt 100 ] && ok "debian-sbom-every-package ($n)" || bad debian-sbom-every-package "only $n packages"
  elif grep -q "Could not resolve\|Failed to fetch\|Temporary failure" "$t/deb.log"; then
    echo "skip debian-sbom: the Debian mirror is not reachable from a build container"
  else
    cat "$t/deb.log"; bad debian-sbom-build "failed"
  fi
else
  echo "skip debian-sbom: scripts/debian-base could not make debian:bookworm ($(tail -1 "$t/debian.log"))"
fi

# --- usage errors name the flag
out=$("$xb" build --provenance=mode=full "$t/ctx" 2>&1); rc=$?
check usage-exit 2 "$rc"
contains usage-message "--provenance mode=full: mode=full: want min or max" "$out"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all attestation checks passed"
