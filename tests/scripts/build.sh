#!/bin/bash
# xbuild build end to end, as a user drives it: the default verb, the cache
# (what reruns and what does not), flags, RUN mounts and secrets, failures.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: builds need root"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
# Steps of a plain log that were cached / that ran, by instruction text.
cached() { awk '/^#[0-9]+ \[/ { n = $1; sub(/^#[0-9]+ \[[^]]*\] /, ""); name[n] = $0 } $2 == "CACHED" { print name[$1] }' "$1"; }
ran() { awk '/^#[0-9]+ \[/ { n = $1; sub(/^#[0-9]+ \[[^]]*\] /, ""); name[n] = $0 } $2 == "DONE" { print name[$1] }' "$1"; }

import_busybox busybox || exit 1

ctx=$t/ctx
mkdir -p "$ctx/src"
echo one >"$ctx/src/a.txt"
echo unrelated >"$ctx/other.txt"
cat >"$ctx/Dockerfile" <<'EOF'
FROM busybox
ARG GREETING=hello
RUN echo "$GREETING" > /greeting
COPY src/ /src/
RUN cat /src/a.txt /greeting > /combined
CMD ["cat", "/combined"]
EOF

# The default verb, plain progress, a tag.
(cd "$ctx" && "$xb" -t app --progress=plain --iidfile "$t/id1" . >"$t/b1.log" 2>&1); rc=$?
check default-verb-builds 0 $rc
check first-build-runs-every-step "$(printf 'RUN echo "$GREETING" > /greeting\nCOPY src/ /src/\nRUN cat /src/a.txt /greeting > /combined')" "$(ran "$t/b1.log")"
check image-runs "one
hello" "$("$xb" run --rm app)"

# Warm: everything cached, nothing run; the same image, to its ID (history
# times are those of the cached layers, as with BuildKit).
"$xb" build --progress=plain -t app --iidfile "$t/id2" "$ctx" >"$t/b2.log" 2>&1
check warm-runs-nothing "" "$(ran "$t/b2.log")"
check warm-shows-every-step-cached 4 "$(cached "$t/b2.log" | wc -l)"
check warm-gives-the-same-image-id "$(cat "$t/id1")" "$(cat "$t/id2")"

# A touched mtime or an unrelated file changes nothing.
touch -d '2001-01-01' "$ctx/src/a.txt"
echo changed >"$ctx/other.txt"
"$xb" build --progress=plain -t app "$ctx" >"$t/b3.log" 2>&1
check mtime-and-unrelated-file-keep-the-cache "" "$(ran "$t/b3.log")"

# A changed byte reruns the COPY and what follows, not what precedes.
echo two >"$ctx/src/a.txt"
"$xb" build --progress=plain -t app "$ctx" >"$t/b4.log" 2>&1
check changed-file-reruns-copy-and-after "$(printf 'COPY src/ /src/\nRUN cat /src/a.txt /greeting > /combined')" "$(ran "$t/b4.log")"
contains changed-file-keeps-earlier-steps 'RUN echo "$GREETING" > /greeting' "$(cached "$t/b4.log")"
check changed-content-in-image "two
hello" "$("$xb" run --rm app)"

# --build-arg changes the RUN that uses it; --no-cache reruns everything.
"$xb" build --progress=plain --build-arg GREETING=bonjour -t app "$ctx" >"$t/b5.log" 2>&1
contains build-arg-reruns-its-run 'RUN echo "$GREETING" > /greeting' "$(ran "$t/b5.log")"
check build-arg-value "two
bonjour" "$("$xb" run --rm app)"
"$xb" build --progress=plain -t app --iidfile "$t/id5" "$ctx" >"$t/b5b.log" 2>&1
"$xb" build --progress=plain --no-cache -t app --iidfile "$t/id6" "$ctx" >"$t/b6.log" 2>&1
check no-cache-reruns-all 3 "$(ran "$t/b6.log" | wc -l)"
[ "$(cat "$t/id5")" != "$(cat "$t/id6")" ]
check no-cache-gives-a-new-image-id 0 $?

# SOURCE_DATE_EPOCH clamps the layers' mtimes, so layers cached without it
# are not reused with it; with the same value twice, they are.
SOURCE_DATE_EPOCH=86400 "$xb" build --progress=plain -t sde "$ctx" >"$t/sde1.log" 2>&1
check epoch-build-reruns-steps-cached-without-it 3 "$(ran "$t/sde1.log" | wc -l)"
check epoch-clamps-mtimes 86400 "$("$xb" run --rm sde stat -c %Y /combined)"
SOURCE_DATE_EPOCH=86400 "$xb" build --progress=plain -t sde "$ctx" >"$t/sde2.log" 2>&1
check same-epoch-uses-the-cache "" "$(ran "$t/sde2.log")"

# -q prints the image ID only; --iidfile gets the same.
id=$("$xb" build -q --iidfile "$t/iid" -t app "$ctx" 2>/dev/null)
check quiet-prints-the-id "$id" "$(cat "$t/iid")"
case "$id" in sha256:????????????????????????????????????????????????????????????????) ok id-format ;; *) bad id-format "$id" ;; esac

# JSON progress: one JSON object a line.
"$xb" build --progress=json -t app "$ctx" 2>"$t/json.log" >/dev/null
if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$t/json.log"; then ok json-progress; else bad json-progress "$(head -3 "$t/json.log")"; fi

# --target and -f.
cat >"$ctx/multi.Dockerfile" <<'EOF'
FROM busybox AS base
RUN echo base > /base
FROM base AS test
RUN echo test > /test
FROM busybox AS broken
RUN exit 1
FROM base
RUN echo final > /final
EOF
"$xb" build -f "$ctx/multi.Dockerfile" --target test -t multi "$ctx" >/dev/null 2>&1
check target-builds-its-stage "base test" "$("$xb" run --rm multi cat /base /test | tr '\n' ' ' | sed 's/ $//')"
"$xb" build -f "$ctx/multi.Dockerfile" -t multi "$ctx" >"$t/m.log" 2>&1
check unreached-broken-stage-is-not-built 0 $?
err=$("$xb" build -f "$ctx/multi.Dockerfile" --target tset "$ctx" 2>&1); rc=$?
check bad-target-exit 1 $rc
contains bad-target-suggests 'test' "$err"

# A failing RUN: location, command, exit code, the output's last lines; nothing tagged.
cat >"$ctx/fail.Dockerfile" <<'EOF'
FROM busybox
RUN echo before
RUN for i in $(seq 1 30); do echo out-$i; done; exit 3
EOF
err=$("$xb" build -f "$ctx/fail.Dockerfile" -t failed "$ctx" 2>&1); rc=$?
check failing-run-exits-1 1 $rc
contains failing-run-names-the-line 'fail.Dockerfile:3' "$err"
contains failing-run-shows-the-command 'for i in $(seq 1 30); do echo out-$i; done; exit 3' "$err"
contains failing-run-shows-the-exit-code 'exit code 3' "$err"
contains failing-run-shows-the-last-output "$(printf 'out-29\nout-30\n------')" "$err"
err_quiet=$("$xb" build -q -f "$ctx/fail.Dockerfile" "$ctx" 2>&1)
contains quiet-failure-still-shows-output 'out-30' "$err_quiet"
"$xb" inspect failed >/dev/null 2>&1
check failed-build-tags-nothing 1 $?

# A misspelt instruction: one line naming the line and the right word.
printf 'FROM busybox\nRUN true\nCOPPY a b\n' >"$ctx/typo.Dockerfile"
err=$("$xb" build -f "$ctx/typo.Dockerfile" "$ctx" 2>&1); rc=$?
check typo-exit 1 $rc
contains typo-names-line-3 'typo.Dockerfile:3' "$err"
contains typo-suggests-copy 'COPY' "$err"

# --platform: the host's is fine; another whose base image the store lacks
# fails clearly, saying how to add it (multi-platform builds: multiplatform.sh).
"$xb" build -q --platform "linux/$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')" "$ctx" >/dev/null 2>&1
check host-platform-accepted 0 $?
err=$("$xb" build --platform linux/s390x "$ctx" 2>&1); rc=$?
check other-platform-exit 1 $rc
contains other-platform-says-why 'not linux/s390x: add that platform' "$err"
err=$("$xb" build --platform linux/amd64,,linux/arm64 "$ctx" 2>&1); rc=$?
check empty-platform-in-list-exit 2 $rc
contains empty-platform-in-list-says-why 'an empty platform' "$err"

# RUN mounts: a cache mount persists between builds and stays out of the image;
# a secret is readable in the step and nowhere else; tmpfs; a context bind.
echo s3cr3t-value >"$t/secret.txt"
cat >"$ctx/mounts.Dockerfile" <<'EOF'
FROM busybox
ARG N=1
RUN --mount=type=cache,target=/cache echo "run $N" >> /cache/log && cat /cache/log > /seen
RUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /secret-len
RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/f && grep -q tmpfs /proc/mounts && echo tmpfs-ok > /tmpfs
RUN --mount=type=bind,source=src,target=/mnt/src cat /mnt/src/a.txt > /bound
RUN --network=none sh -c 'cat /proc/net/dev | tail -n +3 | wc -l' > /netdevs
EOF
"$xb" build -q -f "$ctx/mounts.Dockerfile" --secret id=tok,src="$t/secret.txt" -t mounts "$ctx" >/dev/null 2>"$t/mounts.err"
check mounts-build 0 $?
"$xb" build -q -f "$ctx/mounts.Dockerfile" --build-arg N=2 --secret id=tok,src="$t/secret.txt" -t mounts "$ctx" >/dev/null 2>>"$t/mounts.err"
check cache-mount-persists "run 1
run 2" "$("$xb" run --rm mounts cat /seen)"
check cache-mount-not-in-image "" "$("$xb" run --rm mounts ls /cache 2>/dev/null)"
check secret-seen-in-step 13 "$("$xb" run --rm mounts cat /secret-len | tr -d ' ')"
check secret-file-not-in-image 1 "$("$xb" run --rm mounts sh -c 'test -e /run/secrets/tok; echo $?')"
if grep -rq s3cr3t-value "$XBUILD_ROOT/blobs" "$XBUILD_ROOT/records" 2>/dev/null; then bad secret-not-in-store "found in the store"; else ok secret-not-in-store; fi
check tmpfs-mount "tmpfs-ok" "$("$xb" run --rm mounts cat /tmpfs)"
check bind-mount-from-context "two" "$("$xb" run --rm mounts cat /bound)"
check network-none-has-only-lo 1 "$("$xb" run --rm mounts cat /netdevs | tr -d ' ')"
# As in BuildKit, a secret mount is optional unless required=true.
"$xb" build -q -f "$ctx/mounts.Dockerfile" --build-arg N=3 -t nosecret "$ctx" >/dev/null 2>&1
check optional-secret-may-be-missing 0 $?
printf 'FROM busybox\nRUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok\n' >"$ctx/required.Dockerfile"
err=$("$xb" build -f "$ctx/required.Dockerfile" "$ctx" 2>&1); rc=$?
check missing-required-secret-exit 1 $rc
contains missing-required-secret-says-how '--secret id=tok' "$err"

# A failed --push keeps the built image under its name (docker build + push
# does) and the one error line says so and how to retry. Port 1: nothing listens.
printf 'FROM busybox\nLABEL pushed=no\n' >"$ctx/push.Dockerfile"
err=$("$xb" build -q -f "$ctx/push.Dockerfile" -t 127.0.0.1:1/app:1 --push "$ctx" 2>&1 >/dev/null); rc=$?
check failed-push-exit 1 $rc
contains failed-push-says-kept 'the image is kept in the local store as 127.0.0.1:1/app:1: retry with `xbuild push 127.0.0.1:1/app:1`' "$err"
check failed-push-one-line 1 "$(printf '%s\n' "$err" | grep -c .)"
contains failed-push-image-kept '127.0.0.1:1/app' "$("$xb" images)"

echo "$fails failed"
[ "$fails" -eq 0 ]
