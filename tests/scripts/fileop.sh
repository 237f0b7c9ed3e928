#!/bin/bash
# File operations end to end (docs/dev/copy.md): one error rule for path
# patterns (a malformed COPY --exclude is refused naming the Dockerfile line,
# as a malformed .dockerignore line is), and the context hasher's warnings
# reach the user (an unreadable stat cache is said, and the build goes on).
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building needs root"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
trap 'rm -rf "$t"' EXIT

ctx=$t/ctx
mkdir -p "$ctx/d"
echo a > "$ctx/a"
echo b > "$ctx/d/b.txt"

# A bad --exclude used to match nothing, silently (BuildKit's patternmatcher
# refuses it); now it is refused before any step runs, naming file:line.
printf 'FROM scratch\nCOPY a /a\nCOPY --exclude=[ab d /d\n' > "$ctx/Dockerfile"
out=$("$xb" build --progress plain "$ctx" 2>&1); rc=$?
check exclude-bad-pattern-exit 1 $rc
contains exclude-bad-pattern-names-line 'Dockerfile:3' "$out"
contains exclude-bad-pattern-says-what 'invalid --exclude pattern "[ab"' "$out"
lacks exclude-bad-pattern-nothing-ran 'COPY a /a' "$out"

printf 'ok\n[bad\n' > "$ctx/.dockerignore"
printf 'FROM scratch\nCOPY a /a\n' > "$ctx/Dockerfile"
out=$("$xb" build --progress plain "$ctx" 2>&1); rc=$?
check dockerignore-bad-pattern-exit 1 $rc
contains dockerignore-bad-pattern-names-line '.dockerignore:2' "$out"
contains dockerignore-bad-pattern-says-what 'invalid .dockerignore pattern "[bad"' "$out"
rm "$ctx/.dockerignore"

# The stat cache (docs/dev/copy.md) is only a speed-up: a damaged one is
# said in a warning line and the build starts from an empty cache.
"$xb" build -q "$ctx" >/dev/null 2>&1
check statcache-first-build 0 $?
n=0
for f in "$XBUILD_ROOT"/statcache/*.bin; do [ -f "$f" ] && echo garbage > "$f" && n=$((n + 1)); done
check statcache-written 1 $n
out=$("$xb" build --progress plain "$ctx" 2>&1); rc=$?
check statcache-damaged-build 0 $rc
contains statcache-damaged-warned 'WARNING: stat cache' "$out"
contains statcache-damaged-says-why 'not a stat cache file; starting with an empty cache' "$out"
out=$("$xb" build --progress plain "$ctx" 2>&1)
lacks statcache-rewritten-no-warning 'WARNING' "$out"

[ $fails -eq 0 ]
