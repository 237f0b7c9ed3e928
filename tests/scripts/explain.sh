#!/bin/bash
# Why did a step miss the cache (issue 22): every step that runs says why,
# in one line, under its header in plain progress (#N cache miss: REASON) and
# as the step_started event's cache_miss field in json progress: a changed
# file, build arg, base image or instruction, --no-cache, or never built.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building images needs root"; exit 77; }
command -v busybox >/dev/null || [ -x /bin/busybox ] || { echo "skip: busybox-static is not installed"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
import_busybox bb || exit 1
c=$t/ctx
mkdir -p "$c/src"
cat > "$c/Dockerfile" <<'D'
FROM bb
ARG VERSION=1
COPY src/ /app/
RUN echo $VERSION > /v
D
echo 'print(1)' > "$c/src/app.py"
echo 'echo hi' > "$c/src/run.sh"

# plain NAME: builds with --progress=plain into $t/NAME.
plain() { local n=$1; shift; "$xb" build --progress=plain "$@" "$c" > "$t/$n" 2>&1 || { bad "$n" "build failed: $(tail -5 "$t/$n")"; }; }
# why FILE INSTRUCTION: the cache-miss line of the step whose header ends
# in INSTRUCTION ("" when it did not run).
why() {
  local n
  n=$(awk -v s="] $2" '/^#[0-9]+ \[/ && substr($0, length($0) - length(s) + 1) == s { print $1; exit }' "$1")
  [ -n "$n" ] && grep "^$n cache miss: " "$1" | head -1 | sed "s/^$n cache miss: //"
}
# json REASONS of the steps in a --progress=json build, "INSTRUCTION => REASON" per line.
json() {
  local n=$1; shift
  "$xb" build --progress=json "$@" "$c" > "$t/$n" 2>&1 || bad "$n" "build failed: $(tail -5 "$t/$n")"
  python3 -c '
import json, sys, re
for line in open(sys.argv[1]):
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("type") == "step_started":
        print(re.sub(r"^\[[^]]*\] ", "", e.get("name", "")) + " => " + e.get("cache_miss", "(none)"))
' "$t/$n"
}

plain first
check first-build-never-built "never built" "$(why "$t/first" 'COPY src/ /app/')"
check first-build-run-never-built "never built" "$(why "$t/first" 'RUN echo $VERSION > /v')"

plain cached
lacks cached-build-explains-nothing "cache miss" "$(cat "$t/cached")"

# A file's content.
echo 'print(2)' > "$c/src/app.py"
plain file
check file-content-changed "src/app.py: content changed" "$(why "$t/file" 'COPY src/ /app/')"
check file-next-step-names-parent "parent step changed: [2/3] COPY src/ /app/" "$(why "$t/file" 'RUN echo $VERSION > /v')"

# A file's mode, and files added.
chmod 755 "$c/src/run.sh"
plain mode
check file-mode-changed "mode of src/run.sh changed (0644 → 0755)" "$(why "$t/mode" 'COPY src/ /app/')"
mkdir -p "$c/src/lib" && touch "$c/src/lib/a.py" "$c/src/lib/b.py" "$c/src/c.py"
plain added
check files-added "3 files added under src/" "$(why "$t/added" 'COPY src/ /app/')"

# A build arg's value: the COPY stays cached, the RUN says which arg.
plain arg --build-arg VERSION=2
check arg-copy-cached "" "$(why "$t/arg" 'COPY src/ /app/')"
check arg-changed "build arg VERSION changed: 1 → 2" "$(why "$t/arg" 'RUN echo $VERSION > /v')"
check arg-changed-json 'RUN echo $VERSION > /v => build arg VERSION changed: 2 → 3' \
  "$(json arg-json --build-arg VERSION=3 | grep '^RUN')"

# The base image: another root file system imported under the same name.
old_base=$("$xb" inspect --format '{{.ManifestDigest}}' bb 2>/dev/null)
cp "$t/rootfs.tar" "$t/rootfs2.tar"
mkdir -p "$t/extra/etc" && echo v2 > "$t/extra/etc/base-version"
tar -rf "$t/rootfs2.tar" -C "$t/extra" etc/base-version
"$xb" import "$t/rootfs2.tar" bb > /dev/null || bad import "second base"
new_base=$("$xb" inspect --format '{{.ManifestDigest}}' bb 2>/dev/null)
plain base --build-arg VERSION=3
check base-changed "base image bb:latest changed: ${old_base:0:19} → ${new_base:0:19}" "$(why "$t/base" 'COPY src/ /app/')"

# The instruction.
sed -i 's|RUN echo $VERSION > /v|RUN echo $VERSION > /w|' "$c/Dockerfile"
plain instruction --build-arg VERSION=3
check instruction-changed 'instruction changed: RUN echo $VERSION > /v → RUN echo $VERSION > /w' \
  "$(why "$t/instruction" 'RUN echo $VERSION > /w')"
sed -i 's|RUN echo $VERSION > /w|RUN echo $VERSION > /x|' "$c/Dockerfile"
check instruction-changed-json 'RUN echo $VERSION > /x => instruction changed: RUN echo $VERSION > /w → RUN echo $VERSION > /x' \
  "$(json instruction-json --build-arg VERSION=3 | grep '^RUN')"
echo 'print(3)' > "$c/src/app.py"
check file-changed-json 'COPY src/ /app/ => src/app.py: content changed' \
  "$(json file-json --build-arg VERSION=3 | grep '^COPY')"

# --no-cache.
plain nocache --build-arg VERSION=3 --no-cache
check no-cache "--no-cache" "$(why "$t/nocache" 'COPY src/ /app/')"

# A secret is named, never its value.
printf 'FROM bb\nRUN --mount=type=secret,id=tok cat /run/secrets/tok >/dev/null\n' > "$c/Dockerfile"
echo s3cr3t-one > "$t/tok"
plain secret1 --secret id=tok,src="$t/tok"
printf 'FROM bb\nRUN --mount=type=secret,id=tok2 cat /run/secrets/tok2 >/dev/null\n' > "$c/Dockerfile"
plain secret2 --secret id=tok2,src="$t/tok"
lacks secret-value-not-shown "s3cr3t" "$(cat "$t/secret1" "$t/secret2")"
lacks secret-value-not-recorded "s3cr3t" "$(cat "$XBUILD_ROOT"/records/cache/* 2>/dev/null)"

# The step index is build cache: prune --all removes it with the records.
[ -n "$(ls "$XBUILD_ROOT/cache-steps")" ] && ok step-index-kept || bad step-index-kept "cache-steps is empty"
n_index=$(ls "$XBUILD_ROOT/cache-steps" | wc -l)
"$xb" prune > /dev/null || bad prune "exit $?"
check prune-keeps-step-index-of-kept-records "$n_index" "$(ls "$XBUILD_ROOT/cache-steps" | wc -l)"
"$xb" prune --all > /dev/null || bad prune "exit $?"
check prune-all-sweeps-step-index "" "$(ls "$XBUILD_ROOT/cache-steps")"

[ "$fails" -eq 0 ]
