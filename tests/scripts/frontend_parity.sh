#!/bin/bash
# Dockerfile-language behaviours where BuildKit v0.13 (or, for flags it does
# not have yet, the newest stable BuildKit) is the reference: each claim was
# checked against the real BuildKit (tests/tools/… and ../shared/tools/
# buildkit-daemon) or its own frontend tests (frontend/dockerfile/*_test.go).
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: builds need root"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"

import_busybox busybox || exit 1
ctx=$t/ctx
mkdir -p "$ctx"
echo hi >"$ctx/f"
chmod 0664 "$ctx/f"
# build NAME DOCKERFILE-TEXT [flags…]: builds $ctx with that Dockerfile, output in $t/NAME.log.
build() {
  local name=$1 text=$2
  shift 2
  printf '%s\n' "$text" >"$ctx/$name.Dockerfile"
  "$xb" build --progress=plain -f "$ctx/$name.Dockerfile" "$@" "$ctx" >"$t/$name.log" 2>&1
}
out() { "$xb" run --rm "$@" 2>&1; }

# ── heredocs ──
# COPY <<EOF expands variables but keeps quotes (BuildKit's heredoc lexer
# skips quote processing; the escape character still escapes); a quoted
# delimiter keeps the body as written.
build heredoc 'FROM busybox
ARG A=aval
ENV E=eval
COPY <<EOF /unq
q "x" '"'"'y'"'"' '"'"'$A'"'"' "$A" \$A \\ ${E} ${A:-d}
EOF
COPY <<"EOF" /dq
q "x" $A ${E}
EOF
COPY <<'"'"'EOF'"'"' /sq
q '"'"'y'"'"' $A
EOF
RUN <<EOF
echo "run: $A ${E}" > /run-unq
EOF
RUN <<'"'"'EOF'"'"'
echo "run: $A" > /run-sq
EOF' -t heredoc
check heredoc-builds 0 $?
check copy-heredoc-keeps-quotes "q \"x\" 'y' 'aval' \"aval\" \$A \\ eval aval" "$(out heredoc cat /unq)"
check copy-heredoc-double-quoted-word-is-literal 'q "x" $A ${E}' "$(out heredoc cat /dq)"
check copy-heredoc-single-quoted-word-is-literal "q 'y' \$A" "$(out heredoc cat /sq)"
check run-heredoc-expanded-by-the-shell "run: aval eval" "$(out heredoc cat /run-unq)"
check run-heredoc-quoted-word-still-sees-args "run: aval" "$(out heredoc cat /run-sq)"
build shebang 'FROM busybox
RUN <<EOF
#!/bin/awk -f
BEGIN { print "from awk" > "/awk-out" }
EOF' -t shebang
check run-heredoc-shebang-picks-the-interpreter "from awk" "$(out shebang cat /awk-out)"

# ONBUILD RUN <<EOF parses; its trigger, body included, runs in the child
# image, and in a child stage (FROM parent-stage).
build onbuild 'FROM busybox AS parent
ONBUILD RUN echo trigger-ran > /trig
ONBUILD RUN <<EOF
echo heredoc-trigger > /trig2
EOF
RUN echo parent
FROM parent AS child
RUN cat /trig /trig2 > /both' -t onbuild-child
check onbuild-heredoc-builds 0 $?
check onbuild-triggers-run-in-child-stage "trigger-ran
heredoc-trigger" "$(out onbuild-child cat /both)"
build onbuild-parent "$(cat "$ctx/onbuild.Dockerfile")" --target parent -t onbuild-parent
check onbuild-parent-keeps-heredoc-trigger '["RUN echo trigger-ran > /trig","RUN <<EOF\necho heredoc-trigger > /trig2\nEOF"]' \
  "$("$xb" inspect onbuild-parent | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[0]["Config"]["OnBuild"], separators=(",", ":")))' 2>&1)"
build onbuild-image 'FROM onbuild-parent
RUN cat /trig2 > /seen' -t onbuild-image
check onbuild-heredoc-trigger-runs-from-image "heredoc-trigger" "$(out onbuild-image cat /seen)"

# ENV expands all its pairs with the variables from before the line (BuildKit v0.13: B=x).
build envpairs 'FROM busybox
ENV A=1 B=${A}x
ARG C=1 D=${C}y
RUN echo "B=$B D=$D" > /b' -t envpairs
check env-and-arg-pairs-expand-with-earlier-env "B=x D=y" "$(out envpairs cat /b)"
contains undefined-var-warning "UndefinedVar: Usage of undefined variable '\$A'" "$(cat "$t/envpairs.log")"

# ── proxy build args: usable without ARG, both spellings set, kept out of the image ──
proxy_dockerfile='FROM busybox
ARG FOO=1
RUN env | grep -i -e _proxy -e foo | sort > /env'
build proxy "$proxy_dockerfile" -t px --build-arg http_proxy=http://p:1 --build-arg HTTPS_PROXY=http://q:2 \
  --build-arg no_proxy=localhost --build-arg ALL_PROXY=socks://r:3 --build-arg ftp_proxy=ftp://s
check proxy-builds 0 $?
check proxy-args-reach-run "ALL_PROXY=socks://r:3
FOO=1
FTP_PROXY=ftp://s
HTTPS_PROXY=http://q:2
HTTP_PROXY=http://p:1
NO_PROXY=localhost
all_proxy=socks://r:3
ftp_proxy=ftp://s
http_proxy=http://p:1
https_proxy=http://q:2
no_proxy=localhost" "$(out px cat /env)"
meta=$("$xb" inspect px)
lacks proxy-not-in-config-or-history "://" "$meta"
contains proxy-history-as-buildkit 'RUN |1 FOO=1 /bin/sh -c env | grep' "$meta"
# A changed proxy does not rerun the step (BuildKit keeps proxies out of the cache key).
build proxy2 "$proxy_dockerfile" --build-arg http_proxy=http://other:1
contains proxy-change-keeps-the-cache 'CACHED' "$(grep -A1 'RUN env' "$t/proxy2.log")"

# ── RUN --mount ──
mkdir -p "$ctx/mnt"
build mounts 'FROM busybox AS src
RUN mkdir /d && echo content > /d/x
FROM busybox
ARG T=bind
ARG TGT=/mnt
ARG S=/d
RUN --mount=type=$T,from=src,source=$S,target=$TGT,rw echo changed > /mnt/x && cat /mnt/x > /out
RUN --mount=type=bind,from=src,source=/d,target=/mnt cat /mnt/x >> /out
ARG C=cache
RUN --mount=type=$C,target=/c,id=$T echo cached > /c/f && ls -d /c > /out2' -t mounts
check mount-options-expand 0 $?
check rw-from-mount-writable-changes-discarded "changed
content" "$(out mounts cat /out)"
check mount-type-expands "/c" "$(out mounts cat /out2)"
# A stage's file name with ':' must not become a second overlay lower dir
# (the host's directory after the ':' would show in the RUN).
mkdir -p "$t/hostdir" && echo host-secret >"$t/hostdir/host-secret"
build colon "FROM busybox AS src
RUN mkdir -p '/a:$t/hostdir' && echo inside > '/a:$t/hostdir/inside'
FROM busybox
RUN --mount=from=src,source=/a:$t/hostdir,target=/m,rw ls /m > /seen" -t colon
check rw-from-mount-colon-source-stays-in-stage "inside" "$(out colon cat /seen)"
build mountvar 'FROM busybox AS src
FROM busybox
ARG ST=src
RUN --mount=from=$ST,target=/m true'
check mount-from-variable-fails 1 $?
contains mount-from-variable-message "'from' doesn't support variable expansion, define alias stage instead" "$(cat "$t/mountvar.log")"
contains mount-from-variable-names-line "mountvar.Dockerfile:4" "$(cat "$t/mountvar.log")"

# ── errors BuildKit gives ──
build later 'FROM busybox AS first
COPY --from=later /etc/passwd /p
FROM busybox AS later
RUN true' --target first
check copy-from-later-stage-fails 1 $?
contains copy-from-later-stage-message 'later.Dockerfile:2' "$(cat "$t/later.log")"
contains copy-from-later-stage-says-why 'cannot copy from stage "later", it needs to be defined before current stage "first"' "$(cat "$t/later.log")"
build laterm 'FROM busybox AS first
RUN --mount=from=later,target=/m true
FROM busybox AS later' --target first
check mount-from-later-stage-fails 1 $?
contains mount-from-later-stage-says-why 'cannot mount from stage "later" to "/m", stage needs to be defined before current command' "$(cat "$t/laterm.log")"
build undeclplat 'FROM --platform=$UNDECL busybox
RUN true'
check undeclared-platform-arg-fails 1 $?
contains undeclared-platform-arg-names-line 'undeclplat.Dockerfile:1' "$(cat "$t/undeclplat.log")"
contains undeclared-platform-arg-says-why 'failed to parse platform' "$(cat "$t/undeclplat.log")"
build checksumlocal 'FROM busybox
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d f /f'
check checksum-on-local-source-fails 1 $?
contains checksum-on-local-source-message "checksum can't be specified for non-HTTP sources" "$(cat "$t/checksumlocal.log")"
contains checksum-on-local-source-names-line 'checksumlocal.Dockerfile:2' "$(cat "$t/checksumlocal.log")"
build parentsmissing 'FROM busybox
COPY --parents nothere/x /dst/'
check copy-parents-missing-source-fails 1 $?
contains copy-parents-missing-source-message '"nothere/x": not found' "$(cat "$t/parentsmissing.log")"

# ── no Dockerfile: BuildKit falls back to "dockerfile" ──
mkdir -p "$t/lower"
printf 'FROM busybox\nRUN echo lower > /lower\n' >"$t/lower/dockerfile"
"$xb" build -q -t lower "$t/lower" >"$t/lower.log" 2>&1
check lower-case-dockerfile-builds 0 $?
check lower-case-dockerfile-used "lower" "$(out lower cat /lower)"

# ── ADD --unpack, --chmod, --exclude ──
mkdir -p "$t/arch/in" && echo packed >"$t/arch/in/member"
tar -C "$t/arch/in" -czf "$ctx/a.tar.gz" member
mkdir -p "$ctx/www" && cp "$ctx/a.tar.gz" "$ctx/www/"
port=$((20000 + RANDOM % 20000))
python3 -m http.server --bind 127.0.0.1 --directory "$ctx/www" "$port" >/dev/null 2>&1 &
http_pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
mkdir -p "$ctx/onlytxt" && echo x >"$ctx/onlytxt/a.txt"
mkdir -p "$ctx/dp/d" && chmod 0750 "$ctx/dp/d" && echo y >"$ctx/dp/d/g" && chmod 0640 "$ctx/dp/d/g"
build addunpack "FROM busybox
ADD --unpack=false a.tar.gz /kept/
ADD a.tar.gz /unpacked/
ADD --unpack=true http://127.0.0.1:$port/a.tar.gz /url-unpacked/
ADD http://127.0.0.1:$port/a.tar.gz /url-kept/" -t addunpack
rc=$?
kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null
check add-unpack-builds 0 $rc
check add-unpack-false-keeps-archive "a.tar.gz" "$(out addunpack ls /kept)"
check add-local-archive-unpacked "packed" "$(out addunpack cat /unpacked/member)"
check add-unpack-true-unpacks-url "packed" "$(out addunpack cat /url-unpacked/member)"
check add-url-kept-by-default "a.tar.gz" "$(out addunpack ls /url-kept)"
build chmod 'FROM busybox
COPY --chmod=u+x,g-w f /f1
COPY --chmod=a=rX f /f2
COPY --chmod=go-rwx,u=rwX dp/ /dp/' -t chmod
check chmod-symbolic-builds 0 $?
check chmod-symbolic-u+x,g-w "744" "$(out chmod stat -c %a /f1)"
check chmod-symbolic-a=rX-file "444" "$(out chmod stat -c %a /f2)"
check chmod-symbolic-dir-and-file "700 600" "$(out chmod stat -c '%a' /dp/d /dp/d/g | tr '\n' ' ' | sed 's/ $//')"
build exclude 'FROM busybox
ADD --exclude=*.txt onlytxt/ /empty/
COPY --exclude=*.txt onlytxt/ /empty2/' -t exclude
check exclude-builds 0 $?
check add-exclude-creates-empty-dest "dir 0" "$(out exclude sh -c 'test -d /empty && echo dir $(ls -A /empty | wc -l)')"
check copy-exclude-creates-empty-dest "dir 0" "$(out exclude sh -c 'test -d /empty2 && echo dir $(ls -A /empty2 | wc -l)')"
build badchmod 'FROM busybox
COPY --chmod=64a f /f'
check bad-chmod-fails 1 $?
contains bad-chmod-message "invalid chmod parameter: '64a'" "$(cat "$t/badchmod.log")"

# ── TARGETSTAGE ──
ts='FROM busybox AS base
RUN echo "first:$TARGETSTAGE" > /first
ARG TARGETSTAGE
RUN echo "second:$TARGETSTAGE" > /second
FROM base AS foo
FROM base'
build ts "$ts" --target foo -t ts-foo
check targetstage-named-target "first: second:foo" "$(out ts-foo cat /first /second | tr '\n' ' ' | sed 's/ $//')"
build ts2 "$ts" -t ts-default
check targetstage-default "second:default" "$(out ts-default cat /second)"

# ── SOURCE_DATE_EPOCH as a build arg ──
build sde 'FROM busybox
ARG SOURCE_DATE_EPOCH
RUN echo "sde=$SOURCE_DATE_EPOCH" > /sde' --build-arg SOURCE_DATE_EPOCH=86400 -t sde
check sde-build-arg-builds 0 $?
contains sde-build-arg-sets-created '"Created": "1970-01-02T00:00:00Z"' "$("$xb" inspect sde)"
check sde-build-arg-clamps-mtimes 86400 "$(out sde stat -c %Y /sde)"
check sde-build-arg-visible-to-run "sde=86400" "$(out sde cat /sde)"
err=$("$xb" build --build-arg SOURCE_DATE_EPOCH=soon -f "$ctx/sde.Dockerfile" "$ctx" 2>&1); rc=$?
check sde-build-arg-not-a-number-exit 2 $rc
contains sde-build-arg-not-a-number-message "SOURCE_DATE_EPOCH=soon: want a number" "$err"

# ── # check=error=true ──
build lint 'FROM busybox as base
RUN true'
check lint-warning-does-not-fail 0 $?
contains lint-warning-shown "FromAsCasing" "$(cat "$t/lint.log")"
build linterr '# check=error=true
FROM busybox as base
RUN true'
check lint-error-fails 1 $?
contains lint-error-message "lint violation found for rules: FromAsCasing" "$(cat "$t/linterr.log")"
build lintskip '# check=skip=FromAsCasing;error=true
FROM busybox as base
RUN true'
check lint-skip-rule 0 $?

echo "$fails failed"
[ "$fails" -eq 0 ]
