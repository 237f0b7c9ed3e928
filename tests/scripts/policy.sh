#!/bin/bash
# Issue 14: what a Dockerfile, a context or another host user may not do, and
# input that must not end in an internal error. Each claim is checked as a
# user would: the build's exit code and message, what the image holds, and
# what user nobody can do on the host. docs/dev/hardening.md lists them.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building images needs root"; exit 77; }
command -v busybox >/dev/null || [ -x /bin/busybox ] || { echo "skip: busybox-static is not installed"; exit 77; }
command -v setpriv >/dev/null || { echo "skip: setpriv (util-linux) is needed to act as nobody"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
# mktemp -d is 0700, which would hide the store from nobody by itself: open
# the way down to the store, so that only the store's own modes protect it.
chmod 755 "$t"
# build NAME DOCKERFILE-TEXT [xbuild args...]: builds $t/ctx-NAME (filled by
# the caller, or empty) as img-NAME; log in $t/log-NAME; the build's exit code.
build() {
  local name=$1 text=$2; shift 2
  mkdir -p "$t/ctx-$name"
  [ -e "$t/ctx-$name/Dockerfile" ] || [ -L "$t/ctx-$name/Dockerfile" ] || printf '%s\n' "$text" > "$t/ctx-$name/Dockerfile"
  "$xb" build --progress plain "$@" -t "img-$name" "$t/ctx-$name" > "$t/log-$name" 2>&1
}
# (Through sh: setpriv's own execve still passes the path walk as root.)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups /bin/sh -c '"$@"' sh "$@"; }
import_busybox bb || exit 1

# --- 1. Network: RUN --network=host needs --allow network.host ---------------
hostns=$(readlink /proc/self/ns/net)
build nethost 'FROM bb
RUN --network=host true' --network none
check network-host-needs-entitlement 1 $?
contains network-host-error-names-line-and-flag 'Dockerfile:2' "$(grep error: "$t/log-nethost")"
contains network-host-error-says-allow '--allow network.host' "$(grep error: "$t/log-nethost")"
check network-host-error-one-line 1 "$(grep -c error: "$t/log-nethost")"
build netdefault 'FROM bb
RUN --network=default readlink /proc/self/ns/net > /ns' --network none
check network-default-follows-command-line 0 $?
ns=$("$xb" run --rm img-netdefault cat /ns)
if [ -n "$ns" ] && [ "$ns" != "$hostns" ]; then ok network-default-gets-no-network; else bad network-default-gets-no-network "ns=$ns host=$hostns"; fi
build nethostok 'FROM bb
RUN --network=host readlink /proc/self/ns/net > /ns' --allow network.host
check network-host-with-allow 0 $?
check network-host-with-allow-is-host "$hostns" "$("$xb" run --rm img-nethostok cat /ns)"
build nethostcli 'FROM bb
RUN --network=host true' --network host
check network-host-on-command-line-grants-it 0 $?

# --- 2. The store: no other host user reaches it -----------------------------
# A RUN plants setuid-root binaries in a cache mount (mode 0777, so a RUN as
# any user may write it) and in its layer, and a world-writable dir. (Named
# "true": busybox runs the applet its name says.)
build store 'FROM bb
RUN --mount=type=cache,target=/c,mode=0777 cp /bin/busybox /c/true && chmod 4755 /c/true && mkdir -p /c/w && chmod 777 /c/w && mkdir /s && cp /bin/busybox /s/true && chmod 4755 /s/true'
check store-build 0 $?
check store-root-0700 700 "$(stat -c %a "$XBUILD_ROOT")"
planted=$(find "$XBUILD_ROOT" -name true -type f -perm -4000 2>/dev/null)
if [ "$(echo "$planted" | grep -c .)" -ge 2 ]; then ok store-planted-found; else bad store-planted-found "$planted"; fi
ran=""
for f in $planted; do as_nobody "$f" 2>/dev/null && ran="$ran $f"; done
check nobody-cannot-run-setuid-from-store "" "$ran"
cachew=$(find "$XBUILD_ROOT/cache-mounts" -maxdepth 2 -name w -type d | head -1)
as_nobody sh -c "echo poison > '$cachew/poison'" 2>/dev/null
check nobody-cannot-write-cache-mount 1 "$([ -e "$cachew/poison" ] && echo 0 || echo 1)"
as_nobody ls "$XBUILD_ROOT" >/dev/null 2>&1
check nobody-cannot-list-store 2 $?
# A store made 0755 (by an older xbuild) is tightened when opened.
mkdir -p "$t/old-store"; chmod 755 "$t/old-store"
XBUILD_ROOT=$t/old-store "$xb" images >/dev/null 2>&1
check old-store-tightened 700 "$(stat -c %a "$t/old-store")"
# Users inside the container are not affected: a RUN as uid 65534 uses a
# cache mount, a secret and the generated /etc/hosts.
echo user-secret > "$t/user-secret"
build asuser 'FROM bb
USER 65534
RUN --mount=type=cache,target=/c,uid=65534 --mount=type=secret,id=s,uid=65534 sh -c "echo x > /c/x && cat /run/secrets/s /etc/hosts > /dev/null && echo ok > /tmp/ran"' --secret id=s,src="$t/user-secret"
check run-as-user-uses-store-mounts 0 $?

# --- 3. Secrets: never readable by other host users ---------------------------
# The RUN says "ready" through a cache mount and waits for "go", so that the
# host side is checked while the secret is mounted.
echo "SECRET-$$" > "$t/secret.txt"
sync_dir=$XBUILD_ROOT/cache-mounts/$(printf sync | sha256sum | cut -c1-64)
mkdir -p "$t/ctx-secret"
printf '%s\n' 'FROM bb' \
  'RUN --mount=type=cache,id=sync,target=/sync --mount=type=secret,id=tok,mode=0444,uid=1000,gid=1000 sh -c "stat -c \"%a %u %g\" /run/secrets/tok > /inside && rm -f /sync/go && echo > /sync/ready && i=0; while [ ! -e /sync/go ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done; rm -f /sync/ready"' \
  > "$t/ctx-secret/Dockerfile"
"$xb" build --progress plain --secret id=tok,src="$t/secret.txt" -t img-secret "$t/ctx-secret" > "$t/log-secret" 2>&1 &
bpid=$!
for _ in $(seq 600); do [ -e "$sync_dir/ready" ] && break; kill -0 $bpid 2>/dev/null || break; sleep 0.1; done
sdirs=$(ls -d /dev/shm/xbuild-secret-$bpid-* 2>/dev/null)
sfiles=$(grep -rl "SECRET-$$" /dev/shm/xbuild-secret-$bpid-* 2>/dev/null)
if [ -n "$sfiles" ]; then ok secret-file-exists-during-step; else bad secret-file-exists-during-step "ready=$(ls "$sync_dir" 2>&1) dirs=$sdirs"; fi
read_by=""
for f in $sfiles; do as_nobody cat "$f" 2>/dev/null | grep -q "SECRET-$$" && read_by="$read_by $f"; done
check nobody-cannot-read-secret "" "$read_by"
modes=$(for d in $sdirs; do stat -c %a "$d"; done | sort -u | tr '\n' ' ')
check secret-dir-0700 "700 " "$modes"
mkdir -p "$sync_dir"; echo > "$sync_dir/go"
wait $bpid
check secret-build 0 $?
check secret-mode-uid-gid-inside "444 1000 1000" "$("$xb" run --rm img-secret cat /inside)"
check secret-dir-removed "" "$(ls -d /dev/shm/xbuild-secret-$bpid-* 2>/dev/null)"

# --- 4. A Dockerfile or .dockerignore that is a symlink out of the context ----
mkdir -p "$t/outside"
printf 'HOST-FIRST-LINE-%s\nFROM bb\n' $$ > "$t/outside/Dockerfile"
mkdir -p "$t/ctx-dfabs" "$t/ctx-dfrel" "$t/ctx-dff/sub" "$t/ctx-dfin/sub" "$t/ctx-ign"
ln -s "$t/outside/Dockerfile" "$t/ctx-dfabs/Dockerfile"
ln -s "../../../../../../../..$t/outside/Dockerfile" "$t/ctx-dfrel/Dockerfile"
ln -s "$t/outside/Dockerfile" "$t/ctx-dff/sub/Df"
for c in dfabs dfrel; do
  build $c ''
  rc=$?
  log=$(cat "$t/log-$c")
  check dockerfile-symlink-out-refused-$c 1 $rc
  lacks dockerfile-symlink-out-not-shown-$c "HOST-FIRST-LINE" "$log"
  contains dockerfile-symlink-out-says-why-$c "leads out of" "$log"
done
"$xb" build --progress plain -f "$t/ctx-dff/sub/Df" -t img-dff "$t/ctx-dff" > "$t/log-dff" 2>&1
check dockerfile-f-symlink-out-refused 1 $?
lacks dockerfile-f-symlink-out-not-shown "HOST-FIRST-LINE" "$(cat "$t/log-dff")"
# Inside the context a symlink is followed, as docker and BuildKit do.
printf 'FROM bb\nRUN echo in > /in\n' > "$t/ctx-dfin/sub/real"
ln -s sub/real "$t/ctx-dfin/Dockerfile"
build dfin ''
check dockerfile-symlink-inside-followed 0 $?
printf 'secret-name\n' > "$t/outside/ignore"
ln -s "$t/outside/ignore" "$t/ctx-ign/.dockerignore"
build ign 'FROM bb'
check dockerignore-symlink-out-refused 1 $?
contains dockerignore-symlink-out-says-why "leads out of" "$(cat "$t/log-ign")"

# --- 5. --chown with names the image does not know ---------------------------
mkdir -p "$t/ctx-chown"; echo f > "$t/ctx-chown/f"
for spec in 'COPY --chown=nosuchuser f /f|unable to find user nosuchuser' \
            'COPY --chown=1:nosuchgroup f /f|unable to find group nosuchgroup' \
            'ADD --chown=nosuchuser:nogroup f /f|unable to find user nosuchuser' \
            'RUN --mount=type=cache,target=/c,uid=nosuchuser true|invalid uid'; do
  inst=${spec%%|*}; want=${spec#*|}
  rm -f "$t/ctx-chown/Dockerfile"
  build chown "FROM bb
$inst"
  rc=$?
  err=$(grep error: "$t/log-chown")
  check "chown-unknown-fails: $inst" 1 $rc
  contains "chown-unknown-says: $inst" "$want" "$err"
  contains "chown-unknown-located: $inst" "Dockerfile:2" "$err"
done
rm -f "$t/ctx-chown/Dockerfile"
build chown 'FROM bb
COPY --chown=app:staff f /f
COPY --chown=root:root f /g'
check chown-known-names 0 $?
check chown-known-names-owner "1000:50" "$("$xb" run --rm img-chown stat -c %u:%g /f)"

# --- 7. Invalid UTF-8 in every instruction: built as BuildKit builds it -------
mkdir -p "$t/ctx-utf8"
printf 'x\n' > "$t/ctx-utf8/f$(printf '\377')"
printf 'FROM bb\nLABEL l=a\377b\nENV E=c\377d\nARG A=e\377f\nWORKDIR /w\377\nCOPY f\377 /copied\377\nRUN echo "r\377$A" > /run-out\nCMD ["c\377"]\n' \
  > "$t/ctx-utf8/Dockerfile"
build utf8 ''
rc=$?
check utf8-builds 0 $rc
lacks utf8-no-internal-error "internal" "$(cat "$t/log-utf8")"
cfg=$("$xb" inspect img-utf8 2>&1)
lacks utf8-inspect-no-internal-error "internal" "$cfg"
# Go's json.Marshal (BuildKit) writes U+FFFD for each invalid byte in the config.
contains utf8-label-replaced "a$(printf '\357\277\275')b" "$cfg"
contains utf8-env-replaced "E=c$(printf '\357\277\275')d" "$cfg"
contains utf8-workdir-replaced "/w$(printf '\357\277\275')" "$cfg"
# Files and commands keep the bytes.
if "$xb" run --rm -u 0 img-utf8 sh -c "test -d '/w$(printf '\377')' && test -f '/copied$(printf '\377')'" 2>/dev/null; then
  ok utf8-paths-keep-bytes; else bad utf8-paths-keep-bytes "$("$xb" run --rm -u 0 img-utf8 ls / 2>&1 | od -c | head -5)"; fi
check utf8-run-keeps-bytes "r$(printf '\377')e$(printf '\377')f" "$("$xb" run --rm img-utf8 cat /run-out)"
# Different bytes are different steps (no cache hit through U+FFFD).
printf 'FROM bb\nRUN echo "\376" > /x\n' > "$t/ctx-utf8/Dockerfile"
build utf8 '' && printf 'FROM bb\nRUN echo "\375" > /x\n' > "$t/ctx-utf8/Dockerfile" && build utf8 ''
check utf8-distinct-bytes-distinct-keys "$(printf '\375')" "$("$xb" run --rm img-utf8 cat /x)"
"$xb" parse "$t/ctx-utf8/Dockerfile" > "$t/parse-utf8" 2>&1
check utf8-parse 0 $?
for inst in 'RUN echo \377' 'LABEL a=\377' 'ENV a=\377' 'COPY \377 /' 'WORKDIR /\377' 'ARG a=\377' 'CMD ["\377"]' 'CMD \377' 'ENTRYPOINT ["\377"]' 'EXPOSE \377' 'VOLUME ["\377"]' 'SHELL ["\377"]' 'STOPSIGNAL \377' 'HEALTHCHECK CMD \377' 'ONBUILD RUN \377' 'USER \377' 'FROM \377'; do
  printf "FROM bb\n$inst\n" > "$t/ctx-utf8/Dockerfile"
  "$xb" build --progress plain -t img-utf8b "$t/ctx-utf8" > "$t/log-utf8b" 2>&1
  lacks "utf8-no-internal-error: $inst" "internal" "$(cat "$t/log-utf8b")"
  "$xb" parse "$t/ctx-utf8/Dockerfile" > "$t/log-utf8p" 2>&1
  "$xb" parse --json "$t/ctx-utf8/Dockerfile" >> "$t/log-utf8p" 2>&1
  lacks "utf8-parse-no-internal-error: $inst" "internal" "$(cat "$t/log-utf8p")"
done

[ $fails -eq 0 ]
