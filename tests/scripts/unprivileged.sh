#!/bin/bash
# xbuild inside an unprivileged container: the image of xbuild
# (examples/xbuild-image, built here by xbuild from scripts/debian-base),
# exported as a docker archive and loaded into Debian's Docker Engine (a
# private dockerd: tests/support/dockerd_lib.sh) and into podman (runc,
# its own --root/--runroot), then run with each one's defaults (no
# --privileged, default capabilities and seccomp profile, no /dev/fuse;
# host network) to build a Dockerfile with RUN and COPY and push it to a
# registry:2 on 127.0.0.1 (multi-stage: the native driver's COPY --from).
# The isolation each chose is checked by the line
# xbuild prints, and the pushed image is run here to show its files.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (dockerd, podman)"; exit 77; }
for tool in docker-registry curl python3; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/bootstrap installs it)"; exit 77; }
done
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
. "$src/tests/support/dockerd_lib.sh"
base=$("$src/scripts/debian-base" 2>/dev/null) || { echo "skip: scripts/debian-base could not make a Debian base"; exit 77; }
reg_pid=""
stop_all() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  stop_dockerd
  umount -l "$t/dockerd/exec/netns/default" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$t"
}
trap stop_all EXIT

start_registry

# The image of xbuild, built by xbuild, as a docker archive.
"$xb" import "$base" debian:bookworm >/dev/null || { bad "import the debian base" "failed"; exit 1; }
cp -r "$src/examples/xbuild-image" "$t/image"
sh "$t/image/gather" "$xb" "$t/image" || exit 1
"$xb" build -q -t xbuild-test -o type=docker,dest="$t/xbuild-image.tar",name=xbuild-test:latest "$t/image" >/dev/null 2>"$t/image.err"
check "xbuild builds its own image" 0 $?

# What the contained xbuild builds: a busybox base (imported inside), RUN,
# COPY and COPY --from.
mkdir -p "$t/in/ctx"
sh "$src/tests/tools/make-busybox-rootfs" "$t/in/busybox.tar" || exit 1
echo copied > "$t/in/ctx/file.txt"
cat > "$t/in/ctx/Dockerfile" <<'D'
FROM busybox AS base
COPY file.txt /file.txt
RUN echo ran > /ran && cat /file.txt >> /ran && ls /dev/null
FROM busybox
COPY --from=base /ran /ran
RUN rm /bin/vi
D
chmod -R a+rX "$t/in"
inner() { # NAME: the commands run in the container
  echo "xbuild import /in/busybox.tar busybox >/dev/null && xbuild build -t $reg/unpriv/$1:1 --push /in/ctx"
}
pushed() { # NAME: the pushed image, pulled and run here
  "$xb" pull -q "$reg/unpriv/$1:1" >/dev/null 2>&1
  "$xb" run --rm "$reg/unpriv/$1:1" sh -c 'cat /ran; test -e /bin/vi && echo vi-still-there' 2>&1
}

if start_dockerd; then
  docker load -i "$t/xbuild-image.tar" >/dev/null
  check "docker loads it" 0 $?
  out=$(docker run --rm --network host -v "$t/in:/in:ro" --entrypoint sh xbuild-test:latest -c "$(inner docker)" 2>&1)
  rc=$?
  check "builds and pushes in docker run (defaults)" 0 $rc
  [ $rc -eq 0 ] || echo "$out" | tail -15
  echo "$out" | grep '^isolation:' | sed 's/^/  docker: /'
  contains "docker: isolation chroot (no user namespace under Docker's seccomp profile)" "isolation: chroot (no user namespace can be made here" "$out"
  check "docker: the pushed image has RUN's and COPY's files" "ran
copied" "$(pushed docker)"
  out=$(docker run --rm --network host -v "$t/in:/in:ro" --entrypoint sh xbuild-test:latest -c "xbuild --isolation=namespaces build /in/ctx" 2>&1)
  check "docker: --isolation=namespaces fails" 1 $?
  contains "docker: one line says why" "error: --isolation=namespaces: no user namespace can be made here (unshare(CLONE_NEWUSER)" "$out"
  stop_dockerd
else
  echo "skip docker part: dockerd is not installed or did not start"
fi

if command -v podman >/dev/null && command -v runc >/dev/null; then
  pm() { podman --root "$t/podman/root" --runroot "$t/podman/runroot" --runtime runc --cgroup-manager cgroupfs \
           --events-backend none --storage-driver vfs "$@"; }
  pm load -i "$t/xbuild-image.tar" >/dev/null 2>"$t/podman-load.err"
  check "podman loads it" 0 $?
  out=$(pm run --rm --network host --ulimit nofile=16384:16384 --ulimit nproc=32768:32768 -v "$t/in:/in:ro" --entrypoint sh xbuild-test:latest -c "$(inner podman)" 2>&1)
  rc=$?
  check "builds and pushes in podman run (defaults)" 0 $rc
  [ $rc -eq 0 ] || echo "$out" | tail -15
  echo "$out" | grep '^isolation:' | sed 's/^/  podman: /'
  # podman's seccomp profile lets a container make user namespaces
  contains "podman: isolation namespaces in a user namespace" \
    "isolation: namespaces, in a user namespace (uid 0 is root of the container, which has no CAP_SYS_ADMIN)" "$out"
  check "podman: the pushed image has RUN's and COPY's files" "ran
copied" "$(pushed podman)"
  pm rmi -a -f >/dev/null 2>&1
else
  echo "skip podman part: podman or runc is not installed"
fi
[ $fails -eq 0 ]
