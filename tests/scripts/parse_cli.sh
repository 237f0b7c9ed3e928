#!/bin/bash
# `xbuild parse`: every BuildKit parser testfile dumps byte for byte through
# the command, --json yields JSON, and a misspelt instruction fails with
# exit 1 naming file:line and the suggestion.
set -euo pipefail
: "${XBUILD_BINARY:?}" "${XBUILD_SOURCE_DIR:?}"
data="$XBUILD_SOURCE_DIR/tests/conformance/buildkit-parser/testfiles"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for dir in "$data"/*/; do
  "$XBUILD_BINARY" parse "$dir/Dockerfile" > "$tmp/out"
  cmp "$tmp/out" "$dir/result" || { echo "parse differs for $dir"; diff "$tmp/out" "$dir/result" | head; exit 1; }
  n=$((n + 1))
done
[ "$n" -ge 30 ] || { echo "only $n testfiles"; exit 1; }

printf 'ARG V=1\nFROM alpine AS build\nRUN --mount=type=cache,target=/c make\n' > "$tmp/Dockerfile"
"$XBUILD_BINARY" parse --json "$tmp/Dockerfile" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["meta_args"][0]["key"] == "V", d
assert d["stages"][0]["name"] == "build", d
assert d["stages"][0]["instructions"][0]["mounts"][0]["type"] == "cache", d
'

printf 'FROM alpine\nRUN true\nCOPPY a /b\n' > "$tmp/Bad"
set +e
"$XBUILD_BINARY" parse --json "$tmp/Bad" 2> "$tmp/err"
rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "exit $rc, want 1"; exit 1; }
grep -q "Bad:3:1: unknown instruction: COPPY (did you mean COPY?)" "$tmp/err" || { cat "$tmp/err"; exit 1; }
echo "ok: $n testfiles"
