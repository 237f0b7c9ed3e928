#!/bin/bash
# BuildKit's build checks and buildx's --call subrequests, end to end:
# `--call=check` / `--check` (lint only, exit 1 on a finding, as buildx),
# the `# check=` directive and BUILDKIT_DOCKERFILE_CHECK, the warnings a
# normal build ends with, and `--call=outline|targets`. The expected texts
# of outline and targets were recorded from buildx 0.13 against BuildKit
# v0.13 (../shared/tools/buildkit-daemon); the check texts follow BuildKit's
# lint tests and printers (v0.13 predates the checks).
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: builds need root"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"

import_busybox busybox || exit 1
ctx=$t/ctx
mkdir -p "$ctx"
echo hi >"$ctx/f"
df() { printf '%s\n' "$2" >"$ctx/$1"; }

# ── --call=check ──
df lint.Dockerfile 'FROM busybox as base
COPY $foo /f
cmd echo hi
ENV password=x'
out=$("$xb" build --call=check -f "$ctx/lint.Dockerfile" "$ctx" 2>"$t/err"); rc=$?
check check-exit-1-on-findings 1 "$rc"
contains check-count "Check complete, 5 warnings have been found!" "$out"
contains check-rule-url "WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/
'as' and 'FROM' keywords' casing do not match" "$out"
contains check-excerpt "   1 | >>> FROM busybox as base
   2 |     COPY \$foo /f" "$out"
contains check-undefined-var "Usage of undefined variable '\$foo'" "$out"
contains check-secret "Do not use ARG or ENV instructions for sensitive data (ENV \"password\")" "$out"
contains check-casing "Command 'cmd' should match the case of the command majority (uppercase)" "$out"
# Nothing was built: no image, no step ran.
lacks check-builds-nothing "image sha256:" "$(cat "$t/err")"
out=$("$xb" build --check -f "$ctx/lint.Dockerfile" "$ctx" 2>/dev/null); rc=$?
check check-flag-same-as-call "1 Check complete, 5 warnings have been found!" "$rc $(head -1 <<<"$out")"
out=$("$xb" build --call=check,ignorestatus=true -f "$ctx/lint.Dockerfile" "$ctx" 2>/dev/null); rc=$?
check check-ignorestatus 0 "$rc"
json=$("$xb" build --call=check,format=json -f "$ctx/lint.Dockerfile" "$ctx" 2>/dev/null)
check check-json "FromAsCasing 1" "$(python3 -c 'import json,sys; w=json.load(sys.stdin)["warnings"][0]; print(w["ruleName"], w["location"]["ranges"][0]["start"]["line"])' <<<"$json")"
df clean.Dockerfile 'FROM busybox
CMD ["true"]'
out=$("$xb" build --check -f "$ctx/clean.Dockerfile" "$ctx" 2>&1); rc=$?
check check-clean "0 Check complete, no warnings found." "$rc $out"
# --call=check lints every stage, a build only those it reaches.
df stages.Dockerfile 'FROM busybox AS unused
ENV k v
FROM busybox
CMD ["true"]'
out=$("$xb" build --check -f "$ctx/stages.Dockerfile" "$ctx" 2>/dev/null)
contains check-all-stages "LegacyKeyValueFormat" "$out"

# The experimental CopyIgnoredFile reads the context's .dockerignore.
mkdir -p "$t/ign" && echo secret.txt >"$t/ign/.dockerignore" && touch "$t/ign/secret.txt"
printf '# check=experimental=CopyIgnoredFile\nFROM busybox\nCOPY secret.txt /s\n' >"$t/ign/Dockerfile"
out=$("$xb" build --check "$t/ign" 2>/dev/null)
contains check-copy-ignored-file 'Attempting to Copy file "secret.txt" that is excluded by .dockerignore' "$out"

# ── the directive and the build arg ──
df skip.Dockerfile '# check=skip=FromAsCasing,ConsistentInstructionCasing
FROM busybox as base
cmd ["true"]'
out=$("$xb" build --check -f "$ctx/skip.Dockerfile" "$ctx" 2>&1); rc=$?
check directive-skip "0 Check complete, no warnings found." "$rc $out"
df error.Dockerfile '# check=error=true
FROM busybox as base
CMD ["true"]'
out=$("$xb" build --check -f "$ctx/error.Dockerfile" "$ctx" 2>&1); rc=$?
check directive-error-exit 1 "$rc"
contains directive-error-message "ERROR: lint violation found for rules: FromAsCasing" "$out"
"$xb" build --progress=plain -f "$ctx/error.Dockerfile" "$ctx" >"$t/builderr.log" 2>&1; rc=$?
check directive-error-fails-build 1 "$rc"
contains directive-error-build-message "lint violation found for rules: FromAsCasing" "$(cat "$t/builderr.log")"
out=$("$xb" build --check --build-arg BUILDKIT_DOCKERFILE_CHECK=skip=all -f "$ctx/error.Dockerfile" "$ctx" 2>&1); rc=$?
check build-arg-replaces-directive "0 Check complete, no warnings found." "$rc $out"
"$xb" build --check --build-arg 'BUILDKIT_DOCKERFILE_CHECK=bogus' -f "$ctx/clean.Dockerfile" "$ctx" >"$t/bogus.log" 2>&1; rc=$?
check bad-directive-exit 1 "$rc"
contains bad-directive-message 'invalid check option "bogus"' "$(cat "$t/bogus.log")"

# ── warnings after a normal build, as buildx prints them ──
df warn.Dockerfile 'FROM busybox as base
CMD echo hi'
"$xb" build --progress=plain -t warned -f "$ctx/warn.Dockerfile" "$ctx" >"$t/warn.out" 2>"$t/warn.log"; rc=$?
check build-with-warnings-succeeds 0 "$rc"
contains build-warning-summary " 2 warnings found (use xbuild build --check to expand):
 - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)
 - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 2)" "$(cat "$t/warn.log")"
"$xb" build -q -f "$ctx/warn.Dockerfile" "$ctx" >"$t/q.out" 2>"$t/q.log"
lacks quiet-has-no-summary "warnings found" "$(cat "$t/q.log")"
"$xb" build --progress=plain -f "$ctx/stages.Dockerfile" "$ctx" >/dev/null 2>"$t/reach.log"
lacks build-checks-reached-stages-only "LegacyKeyValueFormat" "$(cat "$t/reach.log")"

# ── outline and targets (buildx 0.13's output, recorded) ──
df outline.Dockerfile 'ARG ALPINE_VERSION=3.19
# GO_VERSION sets the Go version
ARG GO_VERSION=1.21
ARG NOVAL

# base is the base stage
FROM busybox AS base
# FOO is a stage arg
ARG FOO=bar
ARG BAR
RUN --mount=type=secret,id=mysecret --mount=type=ssh echo hi
RUN --mount=type=secret,id=other,required=true --mount=type=ssh,id=key,required=true echo $FOO

FROM base AS build
ARG GO_VERSION
RUN echo ${GO_VERSION}

# release publishes the binary
# in two lines
FROM build AS release
COPY --from=base /bin/sh /x

FROM busybox'
out=$("$xb" build --call=targets -f "$ctx/outline.Dockerfile" "$ctx")
check targets "TARGET    DESCRIPTION
base      is the base stage
build     
release   publishes the binary
(default) " "$out"
out=$("$xb" build --call=outline --target release -f "$ctx/outline.Dockerfile" "$ctx")
check outline "TARGET:      release
DESCRIPTION: publishes the binary

BUILD ARG    VALUE   DESCRIPTION
GO_VERSION   1.21    sets the Go version
FOO          bar     is a stage arg
BAR                  

SECRET     REQUIRED
mysecret   
other      true

SSH       REQUIRED
default   
key       true" "$out"
out=$("$xb" build --print=outline --build-arg GO_VERSION=1.22 --target build -f "$ctx/outline.Dockerfile" "$ctx")
contains outline-build-arg "GO_VERSION   1.22    sets the Go version" "$out"
json=$("$xb" build --call=targets,format=json -f "$ctx/outline.Dockerfile" "$ctx")
check targets-json "base release 20 True" "$(python3 -c 'import json,sys; t=json.load(sys.stdin)["targets"]; print(t[0]["name"], t[2]["name"], t[2]["location"]["ranges"][0]["start"]["line"], t[3]["default"])' <<<"$json")"
"$xb" build --call=outline --target nope -f "$ctx/outline.Dockerfile" "$ctx" >"$t/nope.log" 2>&1; rc=$?
check outline-unknown-target 1 "$rc"
contains outline-unknown-target-message 'target stage "nope" could not be found' "$(cat "$t/nope.log")"
"$xb" build --call=bogus "$ctx" >"$t/bogus-call.log" 2>&1; rc=$?
check unknown-call-usage 2 "$rc"

exit $((fails > 0))
