#!/bin/bash
# Multi-platform builds end to end (README "Multi-platform images"): an
# arm64 busybox base made from Debian's busybox-static:arm64 joins the host's
# under one name (import --platform); one build for linux/amd64,linux/arm64
# gives an OCI index whose manifests carry their platforms; RUN ran each
# platform's programs (uname -m through qemu-user-static's binfmt_misc
# handler for arm64), a FROM --platform=$BUILDPLATFORM stage ran on the host
# with TARGETARCH set per platform; the index is pushed to registry:2 and
# skopeo pulls its arm64 image. A platform without a binfmt handler fails
# before the first step with one line saying what to install.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building needs root"; exit 77; }
[ "$(uname -m)" = x86_64 ] || { echo "skip: the test's platforms assume an amd64 host"; exit 77; }
for tool in skopeo docker-registry python3 curl dpkg-deb; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/bootstrap installs it)"; exit 77; }
done
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
reg_pid=""
trap '[ -n "$reg_pid" ] && kill $reg_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$t"' EXIT
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Debian's busybox-static:arm64: scripts/bootstrap downloads it into
# /var/cache/xbuild; else apt-get download (needs `dpkg --add-architecture arm64`).
deb=$(ls /var/cache/xbuild/busybox-static_*_arm64.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
  (cd "$t" && apt-get download busybox-static:arm64 >/dev/null 2>&1)
  deb=$(ls "$t"/busybox-static_*_arm64.deb 2>/dev/null | head -1)
fi
[ -n "$deb" ] || { echo "skip: no busybox-static:arm64 package (scripts/bootstrap downloads it)"; exit 77; }
[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null
if ! grep -qs '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  echo "skip: no qemu-aarch64 binfmt_misc handler with the F flag (scripts/bootstrap installs qemu-user-static)"; exit 77
fi

dpkg-deb -x "$deb" "$t/arm64"
sh "$src/tests/tools/make-busybox-rootfs" "$t/amd64.tar"
sh "$src/tests/tools/make-busybox-rootfs" "$t/arm64.tar" "$t/arm64/bin/busybox"
"$xb" import --platform linux/amd64 "$t/amd64.tar" busybox >/dev/null
"$xb" import --platform linux/arm64 "$t/arm64.tar" busybox >/dev/null
check "import --platform makes an index of both platforms" "linux/amd64 linux/arm64" \
  "$("$xb" inspect --format '{{range .Platforms}}{{.}} {{end}}' busybox | sed 's/ $//')"
check "the index's arm64 image is the arm64 import" "arm64" \
  "$("$xb" inspect --platform linux/arm64 --format '{{.Architecture}}' busybox)"
check "run --platform runs the arm64 image" "aarch64" "$("$xb" run --platform linux/arm64 busybox uname -m)"
check "run picks the host's image of an index" "x86_64" "$("$xb" run busybox uname -m)"

mkdir -p "$t/ctx"
cat > "$t/ctx/Dockerfile" <<'D'
FROM --platform=$BUILDPLATFORM busybox AS cross
RUN uname -m > /build-arch
ARG TARGETARCH TARGETPLATFORM BUILDPLATFORM
RUN echo "$TARGETARCH $TARGETPLATFORM $BUILDPLATFORM $(uname -m)" > /cross
FROM busybox
ARG TARGETARCH
COPY --from=cross /cross /cross
RUN uname -m > /arch && echo $TARGETARCH > /targetarch
D
out=$("$xb" build --progress plain --platform linux/amd64,linux/arm64 -t multi:1 --iidfile "$t/iid" "$t/ctx" 2>&1)
rc=$?
check "two-platform build succeeds" 0 "$rc"
[ "$rc" = 0 ] || echo "$out" | tail -20
contains "steps are named by platform" "[linux/arm64 stage-1" "$out"
check "a step both platforms share runs once" 1 "$(printf '%s\n' "$out" | grep -c '] RUN uname -m > /build-arch$')"
idx=$(cat "$t/iid")
check "the tag names the index (--iidfile)" "$idx" "$("$xb" inspect --format '{{.Descriptor.digest}}' multi:1)"
python3 - "$XBUILD_ROOT" "$idx" > "$t/index.txt" <<'P'
import json, sys
root, dg = sys.argv[1], sys.argv[2]
blob = lambda d: json.load(open(f"{root}/blobs/sha256/{d.split(':')[1]}"))
idx = blob(dg)
print(idx["mediaType"])
for m in idx["manifests"]:
    cfg = blob(blob(m["digest"])["config"]["digest"])
    print(m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant", "-"), cfg["architecture"])
P
check "the index and its manifests' platforms" "application/vnd.oci.image.index.v1+json
linux amd64 - amd64
linux arm64 - arm64" "$(cat "$t/index.txt")"
for p in amd64:x86_64 arm64:aarch64; do
  arch=${p%%:*}; uname=${p#*:}
  check "RUN ran $arch's programs" "$uname" "$("$xb" run --platform linux/$arch multi:1 cat /arch)"
  check "TARGETARCH in the $arch image" "$arch" "$("$xb" run --platform linux/$arch multi:1 cat /targetarch)"
  check "the cross stage ran on the build platform for $arch" "$arch linux/$arch linux/amd64 x86_64" \
    "$("$xb" run --platform linux/$arch multi:1 cat /cross)"
done

# A rebuild runs nothing.
out=$("$xb" build --progress plain --platform linux/amd64,linux/arm64 -t multi:1 --iidfile "$t/iid2" "$t/ctx" 2>&1)
check "a rebuild gives the same index" "$idx" "$(cat "$t/iid2")"
contains "a rebuild is cached, the shared step once" "(7 steps, 7 cached)" "$out"

# Archives of the index: OCI (skopeo picks a platform from it), docker
# (one image per platform, the host's tagged), save and load.
"$xb" build -q --platform linux/amd64,linux/arm64 -t multi:1 -o type=oci,dest="$t/multi-oci.tar" \
  -o type=docker,dest="$t/multi-docker.tar" "$t/ctx" >/dev/null
check "the OCI archive holds the arm64 image" "arm64" \
  "$(skopeo inspect --override-arch arm64 "oci-archive:$t/multi-oci.tar:1" | json 'd["Architecture"]')"
check "the OCI archive holds the amd64 image" "amd64" \
  "$(skopeo inspect --override-arch amd64 "oci-archive:$t/multi-oci.tar:1" | json 'd["Architecture"]')"
tar -xOf "$t/multi-docker.tar" manifest.json > "$t/docker-manifest.json"
check "the docker archive has one image per platform, the host's tagged" "2 [['multi:1'], []]" \
  "$(json 'str(len(d)) + " " + str([e["RepoTags"] for e in d])' < "$t/docker-manifest.json")"
"$xb" save --format oci -o "$t/saved.tar" multi:1
XBUILD_ROOT=$t/store2 "$xb" load -q -i "$t/saved.tar"
check "save and load keep the index" "linux/amd64 linux/arm64" \
  "$(XBUILD_ROOT=$t/store2 "$xb" inspect --format '{{range .Platforms}}{{.}} {{end}}' multi:1 | sed 's/ $//')"
check "the loaded index runs its arm64 image" "aarch64" \
  "$(XBUILD_ROOT=$t/store2 "$xb" run --platform linux/arm64 multi:1 cat /arch)"

# One remote cache for both platforms (their keys differ): a fresh store
# with the same bases builds nothing.
"$xb" build -q --platform linux/amd64,linux/arm64 -t multi:1 --cache-to "type=local,dest=$t/cache,mode=max" \
  "$t/ctx" >/dev/null
export XBUILD_ROOT=$t/store4
"$xb" import --platform linux/amd64 "$t/amd64.tar" busybox >/dev/null
"$xb" import --platform linux/arm64 "$t/arm64.tar" busybox >/dev/null
out=$("$xb" build --progress plain --platform linux/amd64,linux/arm64 --cache-from "type=local,src=$t/cache" \
  -t multi:1 "$t/ctx" 2>&1)
contains "the remote cache serves both platforms" "(7 steps, 7 cached)" "$out"
layers4=$("$xb" inspect --platform linux/arm64 --format '{{json .RootFS}}' multi:1 2>&1)
export XBUILD_ROOT=$t/store
# (the bases were imported at another time: the configs differ, the layers not)
check "the arm64 layers from the remote cache are the built ones" \
  "$("$xb" inspect --platform linux/arm64 --format '{{json .RootFS}}' multi:1)" "$layers4"

# Pushed as an index; skopeo takes the arm64 image from it.
start_registry
"$xb" build -q --platform linux/amd64,linux/arm64 -t "$reg/multi:1" --push "$t/ctx" >/dev/null 2>"$t/push.err"
check "push of the index succeeds" "" "$(cat "$t/push.err")"
check "the registry holds an OCI index" "application/vnd.oci.image.index.v1+json" \
  "$(skopeo inspect --tls-verify=false --raw "docker://$reg/multi:1" | json 'd["mediaType"]')"
skopeo copy -q --src-tls-verify=false --override-arch arm64 "docker://$reg/multi:1" "dir:$t/pulled" >/dev/null 2>"$t/skopeo.err"
check "skopeo pulls the arm64 image" "arm64" "$(json 'd["architecture"]' < "$t/pulled/$(python3 -c "import json; print(json.load(open('$t/pulled/manifest.json'))['config']['digest'].split(':')[1])")")"

"$xb" build -q --platform linux/amd64,linux/arm64 -t "$reg/multi:docker" -o type=image,push=true,oci-mediatypes=false \
  "$t/ctx" >/dev/null 2>"$t/push2.err"
check "oci-mediatypes=false pushes a docker manifest list" \
  "application/vnd.docker.distribution.manifest.list.v2+json" \
  "$(skopeo inspect --tls-verify=false --raw "docker://$reg/multi:docker" | json 'd["mediaType"]')"
XBUILD_ROOT=$t/store3 "$xb" pull --platform linux/arm64 "$reg/multi:1" >/dev/null 2>&1
check "pull --platform takes the arm64 image of the pushed index" "aarch64" \
  "$(XBUILD_ROOT=$t/store3 "$xb" run --platform linux/arm64 "$reg/multi:1" cat /arch)"

# A base pulled from a registry for both platforms: the pulls add to one
# index instead of replacing each other.
"$xb" tag busybox "$reg/busybox:1" && "$xb" push -q "$reg/busybox:1" >/dev/null
mkdir -p "$t/ctx2"
printf 'FROM %s/busybox:1\nRUN uname -m > /arch\n' "$reg" > "$t/ctx2/Dockerfile"
XBUILD_ROOT=$t/store5 "$xb" build -q --platform linux/amd64,linux/arm64 -t pulled:1 "$t/ctx2" >/dev/null 2>"$t/pull.err"
check "a two-platform build pulls both platforms of its base" "" "$(cat "$t/pull.err")"
check "the pulled base's arm64 image ran" "aarch64" \
  "$(XBUILD_ROOT=$t/store5 "$xb" run --platform linux/arm64 pulled:1 cat /arch)"

# A platform with no binfmt_misc handler: one line, before any step. The
# host's riscv64 handler (if any) is disabled for the moment and enabled again.
h=/proc/sys/fs/binfmt_misc/qemu-riscv64
reenable=""
if [ -e $h ] && head -1 $h | grep -q enabled; then echo 0 > $h && reenable=1; fi
trap '[ -n "$reenable" ] && echo 1 > '$h'; [ -n "$reg_pid" ] && kill $reg_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$t"' EXIT
"$xb" import --platform linux/riscv64 "$t/amd64.tar" busybox >/dev/null
out=$("$xb" build --progress plain --platform linux/riscv64 "$t/ctx" 2>&1)
rc=$?
[ -n "$reenable" ] && echo 1 > $h && reenable=""
check "no handler: the build fails" 1 "$rc"
check "no handler: one line" 1 "$(printf '%s\n' "$out" | grep -c .)"
contains "no handler: says what is missing" "has no binfmt_misc handler to run its programs" "$out"
contains "no handler: names qemu-user-static" "apt-get install qemu-user-static" "$out"
[ "$fails" -eq 0 ]
