#!/bin/bash
# Runtime and output behaviours where xbuild must do what BuildKit v0.13 does
# (issue 15). Every expected value below is what the reference gave for the
# same Dockerfile and context (../shared/tools/buildkit-daemon, busybox base).
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: builds need root"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 makes the context's sockets"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"

import_busybox busybox || exit 1

# ── USER: supplementary groups (CVE-2023-25173), HOSTNAME, the hostname ──
ctx=$t/user
mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<'EOF'
FROM busybox
RUN echo "bob:x:1001:1001::/home/bob:/bin/sh" >> /etc/passwd && printf 'bob:x:1001:\nextra:x:2000:bob\nmore:x:2500:alice,bob\nother:x:3000:alice\n' >> /etc/group && mkdir -m 777 /g
RUN grep Groups /proc/self/status > /g/root
USER bob
RUN grep Groups /proc/self/status > /g/name
USER 1001
RUN grep Groups /proc/self/status > /g/uid
USER 1001:2000
RUN grep Groups /proc/self/status > /g/uidgid
USER bob:more
RUN grep Groups /proc/self/status > /g/namegroup
USER 4242
RUN grep Groups /proc/self/status > /g/unknown
USER 4242:4343
RUN grep Groups /proc/self/status > /g/unknowngid
USER root
RUN env > /g/env; hostname > /g/hostname; cat /etc/hosts > /g/hosts; { cat /etc/hostname 2>/dev/null || echo none; } > /g/etchostname
EOF
"$xb" build -q -o type=local,dest="$t/user-out" "$ctx" >"$t/user.log" 2>&1 || bad user-build "$(cat "$t/user.log")"
groups() { sed 's/^Groups:[[:space:]]*//; s/[[:space:]]*$//' "$t/user-out/g/$1" 2>&1; }
check groups-root "0" "$(groups root)"
check groups-name-has-primary-and-memberships "1001 2000 2500" "$(groups name)"
check groups-uid-has-primary-and-memberships "1001 2000 2500" "$(groups uid)"
check groups-uid-gid-is-the-gid-alone "2000" "$(groups uidgid)"
check groups-name-group-is-the-group-alone "2500" "$(groups namegroup)"
check groups-unknown-uid-is-gid-0 "0" "$(groups unknown)"
check groups-unknown-uid-gid-is-the-gid "4343" "$(groups unknowngid)"
lacks run-exports-no-hostname "HOSTNAME=" "$(cat "$t/user-out/g/env")"
check run-hostname-default "buildkitsandbox" "$(cat "$t/user-out/g/hostname")"
check run-has-no-etc-hostname "none" "$(cat "$t/user-out/g/etchostname")"
contains run-hosts-names-the-host "localhost buildkitsandbox" "$(cat "$t/user-out/g/hosts")"
"$xb" build -q --build-arg BUILDKIT_SANDBOX_HOSTNAME=myhost -o type=local,dest="$t/user-out2" "$ctx" >"$t/user2.log" 2>&1 ||
  bad sandbox-hostname-build "$(cat "$t/user2.log")"
check sandbox-hostname-build-arg "myhost" "$(cat "$t/user-out2/g/hostname" 2>&1)"
contains sandbox-hostname-in-hosts "localhost myhost" "$(cat "$t/user-out2/g/hosts" 2>&1)"
# `xbuild run` is docker run: there HOSTNAME is exported.
contains run-command-exports-hostname "HOSTNAME=" "$("$xb" run --rm busybox env 2>&1)"

# ── A socket in the context: an empty regular file with its mode ─────────
ctx=$t/sock
mkdir -p "$ctx/d"
(cd "$ctx" && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("s"); socket.socket(socket.AF_UNIX).bind("d/s2")')
mode=$(stat -c %a "$ctx/s")
printf 'FROM scratch\nCOPY s /s\nCOPY d /d\n' >"$ctx/Dockerfile"
"$xb" build -q -o type=local,dest="$t/sock-out" "$ctx" >"$t/sock.log" 2>&1 || bad socket-build "$(cat "$t/sock.log")"
check socket-becomes-empty-file "regular empty file $mode" "$(stat -c '%F %a' "$t/sock-out/s" 2>&1)"
check socket-in-dir-becomes-empty-file "regular empty file $mode" "$(stat -c '%F %a' "$t/sock-out/d/s2" 2>&1)"

# ── An OCI archive's ref.name is the tag alone ──────────────────────────
ctx=$t/oci
mkdir -p "$ctx"
echo hello >"$ctx/greeting"
printf 'FROM scratch\nCOPY greeting /greeting\n' >"$ctx/Dockerfile"
"$xb" build -q -t app:1 -o type=oci,dest="$t/app.tar" "$ctx" >"$t/oci.log" 2>&1 || bad oci-build "$(cat "$t/oci.log")"
mkdir -p "$t/app-layout" && tar -xf "$t/app.tar" -C "$t/app-layout"
anno() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"].get(sys.argv[2], ""))' "$t/app-layout/index.json" "$1"; }
check oci-ref-name-is-the-tag "1" "$(anno org.opencontainers.image.ref.name)"
check oci-containerd-name-is-full "docker.io/library/app:1" "$(anno io.containerd.image.name)"
if command -v skopeo >/dev/null; then
  skopeo copy -q "oci-archive:$t/app.tar:1" "dir:$t/skopeo-dir" >"$t/skopeo.log" 2>&1 &&
    ok skopeo-copies-oci-archive-by-tag || bad skopeo-copies-oci-archive-by-tag "$(cat "$t/skopeo.log")"
fi
if command -v umoci >/dev/null; then
  umoci unpack --rootless --image "$t/app-layout:1" "$t/bundle" >"$t/umoci.log" 2>&1
  check umoci-unpacks-by-tag hello "$(cat "$t/bundle/rootfs/greeting" 2>&1 || cat "$t/umoci.log")"
fi
rm -rf "$t/loaded" && XBUILD_ROOT=$t/loaded "$xb" load -i "$t/app.tar" >/dev/null 2>&1
XBUILD_ROOT=$t/loaded "$xb" images 2>&1 | grep -Eq '^app +1 ' && ok oci-archive-loads-with-its-name ||
  bad oci-archive-loads-with-its-name "$(XBUILD_ROOT=$t/loaded "$xb" images 2>&1)"

# ── A missing COPY source: the Dockerfile line and a caret under it ──────
ctx=$t/missing
mkdir -p "$ctx"
printf 'FROM busybox\nCOPY missing.txt /x\n' >"$ctx/Dockerfile"
"$xb" build -q "$ctx" >"$t/missing.log" 2>&1
check missing-source-exit 1 $?
contains missing-source-names-the-line "Dockerfile:2:6: " "$(cat "$t/missing.log")"
contains missing-source-shows-the-line "  2 | COPY missing.txt /x" "$(cat "$t/missing.log")"
contains missing-source-caret "$(printf '  2 | COPY missing.txt /x\n           ^')" "$(cat "$t/missing.log")"

# ── Step counts in the progress view, as BuildKit's plain progress ──────
ctx=$t/stages
mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<'EOF'
FROM busybox
RUN echo one > /one

FROM busybox AS b
WORKDIR /w
RUN echo two > /two

FROM b
COPY --from=0 /one /one
RUN cat /one /two
ENV X=1
RUN echo hi
EOF
"$xb" build --progress=plain "$ctx" >"$t/stages.log" 2>&1 || bad stages-build "$(cat "$t/stages.log")"
steps=$(sed -n 's/^#[0-9]* \(\[[^]]*\] .*\)/\1/p' "$t/stages.log" | grep -v '^\[internal\]' | sort -u)
check progress-step-counts-as-buildkit "[b 2/3] WORKDIR /w
[b 3/3] RUN echo two > /two
[stage-0 1/2] FROM docker.io/library/busybox:latest
[stage-0 2/2] RUN echo one > /one
[stage-2 1/3] COPY --from=0 /one /one
[stage-2 2/3] RUN cat /one /two
[stage-2 3/3] RUN echo hi" "$steps"

# ── prune -f / --force, as docker's scripts call it ──────────────────────
"$xb" prune -f >/dev/null 2>&1
check prune-accepts-f 0 $?
"$xb" prune --force >/dev/null 2>&1
check prune-accepts-force 0 $?

echo "$fails failed"
[ "$fails" -eq 0 ]
