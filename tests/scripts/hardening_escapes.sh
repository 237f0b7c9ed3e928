#!/bin/bash
# Issue 7: every escape an untrusted Dockerfile (or context, or base image)
# might try, each checked the way a user would: by what ends up on the host
# and in the image. docs/dev/hardening.md lists them with their results.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building images needs root"; exit 77; }
command -v busybox >/dev/null || [ -x /bin/busybox ] || { echo "skip: busybox-static is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is needed to write hostile tarballs"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
# build NAME DOCKERFILE-TEXT [xbuild args...]: builds $t/ctx-NAME (already
# filled by the caller, or empty) and unpacks the image's layers into
# $t/out-NAME (GNU tar: it never extracts through a symlink it made); the
# exit code is the build's.
build() {
  local name=$1 text=$2 rc; shift 2
  mkdir -p "$t/ctx-$name"
  printf '%s\n' "$text" > "$t/ctx-$name/Dockerfile"
  rm -rf "$t/out-$name" "$t/img-$name"
  "$xb" build --progress plain "$@" -t "img-$name" "$t/ctx-$name" > "$t/log-$name" 2>&1
  rc=$?
  [ $rc -eq 0 ] || return $rc
  mkdir -p "$t/out-$name" "$t/img-$name"
  "$xb" save --format docker -o "$t/img-$name.tar" "img-$name" && tar -xf "$t/img-$name.tar" -C "$t/img-$name" || return 99
  for l in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))[0]["Layers"]))' "$t/img-$name/manifest.json"); do
    tar -xf "$t/img-$name/$l" -C "$t/out-$name" 2>/dev/null
  done
  return 0
}
import_busybox bb || exit 1

# The host's files that the attacks aim at: a directory and a secret.
# Each attack starts from a fresh copy (an attack that succeeded may have deleted it).
host=$t/host
secret="HOST-SECRET-$$"
fresh_host() { rm -rf "$host"; mkdir -p "$host"; echo "$secret" > "$host/secret"; }
fresh_host
host_unchanged() { [ "$(ls -A "$host")" = secret ] && [ "$(cat "$host/secret")" = "$secret" ]; }
image_has_secret() { grep -rqs "$secret" "$t/out-$1"; }

# --- The context -----------------------------------------------------------
mkdir -p "$t/ctx-up"; echo inside > "$t/ctx-up/ok"; cp "$host/secret" "$t/outside-secret"
fresh_host
build up 'FROM bb
COPY ../outside-secret /x'
rc=$?
if [ $rc -ne 0 ] && ! image_has_secret up; then ok "copy-dotdot-refused"; else bad copy-dotdot-refused "rc=$rc"; fi
grep -q 'not found\|no such\|does not exist' "$t/log-up" && ok copy-dotdot-message || bad copy-dotdot-message "$(tail -3 "$t/log-up")"

fresh_host
build abs "FROM bb
COPY $host/secret /x"
rc=$?
if [ $rc -ne 0 ] && ! image_has_secret abs; then ok copy-absolute-source-refused; else bad copy-absolute-source-refused "rc=$rc"; fi

mkdir -p "$t/ctx-links/d"
ln -s "$host/secret" "$t/ctx-links/d/abs"
ln -s ../../../../../../../../..$host/secret "$t/ctx-links/d/rel"
ln -s "$host" "$t/ctx-links/d/dir"
fresh_host
build links 'FROM bb
COPY d /d'
rc=$?
if [ $rc -eq 0 ] && [ -L "$t/out-links/d/abs" ] && [ "$(readlink "$t/out-links/d/abs")" = "$host/secret" ] &&
   [ -L "$t/out-links/d/rel" ] && [ -L "$t/out-links/d/dir" ] && ! image_has_secret links; then
  ok context-symlinks-copied-as-links
else bad context-symlinks-copied-as-links "rc=$rc $(ls -l "$t/out-links/d" 2>&1 | tr '\n' ' ')"; fi
# Named as a source, a symlink is followed, but inside the context only.
fresh_host
build links2 'FROM bb
COPY d/abs /x'
rc=$?
if [ $rc -ne 0 ] && ! image_has_secret links2; then ok context-symlink-source-stays-inside; else bad context-symlink-source-stays-inside "rc=$rc"; fi

mkdir -p "$t/ctx-ign"; echo "IGNORED-$$" > "$t/ctx-ign/private.key"; echo fine > "$t/ctx-ign/app"
printf 'private.key\n' > "$t/ctx-ign/.dockerignore"
fresh_host
build ign 'FROM bb
COPY . /c
RUN --mount=type=bind,target=/b sh -c "ls -a /b > /bind-listing; cat /b/private.key > /leak 2>/dev/null; true"
RUN --mount=type=bind,target=/w,rw sh -c "cat /w/private.key >> /leak 2>/dev/null; true"'
rc=$?
if [ $rc -eq 0 ] && [ -f "$t/out-ign/c/app" ] && [ ! -e "$t/out-ign/c/private.key" ] && ! grep -rqs "IGNORED-$$" "$t/out-ign"; then
  ok dockerignored-never-reaches-a-step
else bad dockerignored-never-reaches-a-step "rc=$rc $(cat "$t/out-ign/bind-listing" 2>&1 | tr '\n' ' ')"; fi

# --- Mounts ----------------------------------------------------------------
mkdir -p "$t/ctx-bindesc"; ln -s "$host" "$t/ctx-bindesc/hostdir"; ln -s / "$t/ctx-bindesc/root"
fresh_host
build bindesc 'FROM bb
RUN --mount=type=bind,source=hostdir,target=/h sh -c "cat /h/secret > /leak1 2>/dev/null; true"'
rc=$?
if ! image_has_secret bindesc; then ok bind-source-symlink-stays-in-context; else bad bind-source-symlink-stays-in-context "rc=$rc"; fi
fresh_host
build bindesc2 "FROM bb
RUN --mount=type=bind,source=../../../../../..$host,target=/h sh -c \"cat /h/secret > /leak 2>/dev/null; true\""
if ! image_has_secret bindesc2; then ok bind-source-dotdot-stays-in-context; else bad bind-source-dotdot-stays-in-context "leaked"; fi
cp -r "$t/ctx-bindesc" "$t/ctx-bindesc3"
fresh_host
build bindesc3 'FROM bb
RUN --mount=type=bind,source=root,target=/h,rw sh -c "cat /h'"$host"'/secret > /leak 2>/dev/null; rm -rf /h'"$host"' 2>/dev/null; true"'
if ! image_has_secret bindesc3 && host_unchanged; then ok bind-rw-source-symlink-stays-in-context; else bad bind-rw-source-symlink-stays-in-context "leaked or deleted"; fi

fresh_host
build stagebind "FROM bb AS evil
RUN ln -s $host /hostdir && ln -s / /root-link
FROM bb
RUN --mount=type=bind,from=evil,source=hostdir,target=/h sh -c 'cat /h/secret > /leak 2>/dev/null; true'
RUN --mount=type=bind,from=evil,source=root-link,target=/r,rw sh -c 'cat /r$host/secret >> /leak 2>/dev/null; rm -rf /r$host 2>/dev/null; true'"
rc=$?
if ! image_has_secret stagebind && host_unchanged; then ok stage-bind-symlink-stays-in-stage; else bad stage-bind-symlink-stays-in-stage "rc=$rc"; fi

fresh_host
build cacheid "FROM bb
RUN --mount=type=cache,id=../../../../../../..$host/planted,target=/c sh -c 'echo x > /c/f'
RUN --mount=type=cache,target=/c2 ln -s $host /c2/link
RUN --mount=type=cache,target=/c2 sh -c 'rm -rf /c2/link/ /c2/link/secret; true'"
rc=$?
if [ $rc -eq 0 ] && host_unchanged && [ ! -e "$host/planted" ]; then ok cache-mount-cannot-leave-cache; else bad cache-mount-cannot-leave-cache "rc=$rc $(ls "$host")"; fi

# (Other builds on this machine may hold their own secret files in /dev/shm
# meanwhile: only a file with this build's value is a leak.)
echo "SECRET-VALUE-$$" > "$t/secret.txt"
fresh_host
build secret 'FROM bb
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null && echo used > /used
RUN --mount=type=secret,id=tok,env=TOK sh -c "test -n \"$TOK\""' --secret id=tok,src="$t/secret.txt"
rc=$?
if [ $rc -eq 0 ] && [ -f "$t/out-secret/used" ] && ! grep -rqs "SECRET-VALUE-$$" "$t/out-secret" "$XBUILD_ROOT" "$t/log-secret" &&
   ! grep -rqs "SECRET-VALUE-$$" /dev/shm/xbuild-secret-* 2>/dev/null; then
  ok secret-never-on-disk
else bad secret-never-on-disk "rc=$rc $(grep -rls "SECRET-VALUE-$$" "$XBUILD_ROOT" 2>&1 | head -3)"; fi

# --- The image: symlinks planted by earlier steps ---------------------------
mkdir -p "$t/ctx-plant"; echo payload > "$t/ctx-plant/f"
fresh_host
build plant "FROM bb
RUN ln -s $host /dest && ln -s ../../../../../../../..$host /rel && mkdir /d2 && ln -s $host /d2/in
COPY f /dest/
COPY f /rel/f2
ADD f /dest/f3
COPY f /d2/in/sub/f4
WORKDIR /dest/made
WORKDIR /rel/made2"
rc=$?
if [ $rc -eq 0 ] && host_unchanged && [ -f "$t/out-plant$host/f" ] && [ -d "$t/out-plant$host/made" ] &&
   [ -f "$t/out-plant$host/sub/f4" ]; then
  ok copy-add-workdir-through-planted-symlinks-stay-inside
else bad copy-add-workdir-through-planted-symlinks-stay-inside "rc=$rc host: $(ls "$host" | tr '\n' ' ')"; fi

# The working directory of a RUN through a symlink planted after WORKDIR
# created it: the container creates what is missing, inside its root.
fresh_host
build cwd "FROM bb
WORKDIR /w/sub
RUN cd / && rm -rf /w && ln -s $host /w
RUN pwd > /pwd"
rc=$?
if host_unchanged; then ok run-workdir-through-symlink-stays-inside; else bad run-workdir-through-symlink-stays-inside "rc=$rc host: $(ls "$host" | tr '\n' ' ')"; fi
XBUILD_SNAPSHOTTER=native XBUILD_ROOT=$t/store-native "$xb" import "$t/rootfs.tar" bb >/dev/null
fresh_host
build cwdnative "FROM bb
RUN ln -s $host /w && ln -s $host /m
WORKDIR /w/sub2
RUN --mount=type=tmpfs,target=/m/stub pwd
RUN --mount=type=bind,source=.,target=/m/stubdir/deeper true" 
rc=$?
if host_unchanged; then ok mount-stubs-through-symlinks-stay-inside; else bad mount-stubs-through-symlinks-stay-inside "rc=$rc host: $(ls "$host" | tr '\n' ' ')"; fi
# The same on the native snapshotter (bind roots: stubs are made in the root and removed afterwards).
fresh_host
XBUILD_SNAPSHOTTER=native XBUILD_ROOT=$t/store-native build cwdnative2 "$(cat "$t/ctx-cwdnative/Dockerfile")"
rc=$?
if host_unchanged; then ok mount-stubs-through-symlinks-stay-inside-native; else bad mount-stubs-through-symlinks-stay-inside-native "rc=$rc host: $(ls "$host" | tr '\n' ' ')"; fi

# CVE-2024-23652: the RUN swaps a stub's parent for a symlink to the host
# while its mounts are up; removing the stubs afterwards must not follow it.
# Native snapshotter (a bind root: overlayfs refuses the rename with EXDEV).
fresh_host; mkdir "$host/stub"; : > "$host/file"
XBUILD_SNAPSHOTTER=native XBUILD_ROOT=$t/store-native build stubswap "FROM bb
RUN --mount=type=tmpfs,target=/m/stub --mount=type=bind,source=Dockerfile,target=/m/file sh -c 'mv /m /m.old && ln -s $host /m'"
rc=$?
if [ $rc -eq 0 ] && [ -d "$host/stub" ] && [ -f "$host/file" ]; then ok stub-cleanup-does-not-follow-planted-symlink
else bad stub-cleanup-does-not-follow-planted-symlink "rc=$rc host: $(ls "$host" | tr '\n' ' ') $(tail -2 "$t/log-stubswap")"; fi

# CVE-2024-21626: a working directory through a leaked fd of the builder.
fresh_host
exec 7< "$host"
build leaky 'FROM bb
WORKDIR /proc/self/fd/7
RUN cat secret ../secret > /leak 2>/dev/null; ls > /listing; true'
rc=$?
exec 7<&-
if ! image_has_secret leaky; then ok workdir-through-leaked-fd-refused; else bad workdir-through-leaked-fd-refused "rc=$rc"; fi

# --- The container -----------------------------------------------------------
fresh_host
exec 8< "$host/secret" 9< "$host"
build fds 'FROM bb
RUN ls /proc/self/fd | tr "\n" " " > /fds
RUN ls -l /proc/self/fd/ > /fds-long'
rc=$?
exec 8<&- 9<&-
fds=$(cat "$t/out-fds/fds" 2>/dev/null)
if [ $rc -eq 0 ] && [ "$fds" = "0 1 2 3 " ]; then ok run-sees-only-stdio-fds; else bad run-sees-only-stdio-fds "rc=$rc fds=[$fds]"; fi

touch "$t/host-marker-$$"
fresh_host
build proc1 "FROM bb
RUN test ! -e /proc/1/root$t/host-marker-$$ && test \"\$(readlink /proc/1/root)\" = / && echo contained > /r
RUN test ! -e /proc/1/cwd$t/host-marker-$$"
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$t/out-proc1/r" 2>/dev/null)" = contained ]; then ok proc1-root-is-the-container; else bad proc1-root-is-the-container "rc=$rc"; fi

fresh_host
build mnt 'FROM bb
RUN mkdir /m && if mount -t tmpfs none /m 2>/dev/null; then echo MOUNTED; exit 1; fi
RUN if mount --bind / /m 2>/dev/null; then exit 1; fi
RUN if unshare -m true 2>/dev/null; then exit 1; fi
RUN if unshare -U true 2>/dev/null; then exit 1; fi
RUN if mknod /dev/sda1 b 8 1 2>/dev/null && head -c1 /dev/sda1 >/dev/null 2>&1; then exit 1; fi
RUN test "$(grep CapEff /proc/self/status | cut -f2)" = 00000000a80425fb
RUN if echo 1 > /proc/sys/kernel/sysrq 2>/dev/null; then exit 1; fi; if touch /sys/x 2>/dev/null; then exit 1; fi'
rc=$?
if [ $rc -eq 0 ]; then ok run-cannot-mount-or-gain-privileges; else bad run-cannot-mount-or-gain-privileges "$(tail -5 "$t/log-mnt")"; fi

# --- Base image layers -----------------------------------------------------------
python3 - "$t/evil.tar" "$host" <<'PY'
import io, sys, tarfile
out, host = sys.argv[1], sys.argv[2]
with tarfile.open("rootfs.tar" if False else out, "w") as tf:
    def add(name, data=b"x", **kw):
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644
        for k, v in kw.items(): setattr(ti, k, v)
        tf.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    add("../../../../../../../.." + host + "/dotdot")
    add(host + "/absolute")
    add("out", type=tarfile.SYMTYPE, linkname=host, size=0)
    add("out/through-symlink")
    add("up", type=tarfile.SYMTYPE, linkname="../../../../../../../../..", size=0)
    add("up" + host + "/through-relative-symlink")
    add("hl", type=tarfile.LNKTYPE, linkname="../../../../../../../.." + host + "/secret", size=0)
    add("hl2", type=tarfile.LNKTYPE, linkname=host + "/secret", size=0)
    add("sub/.wh.secret", size=0)
    add(".wh.." + host.split("/")[1], size=0)
PY
"$xb" import "$t/evil.tar" evil >/dev/null 2>"$t/log-import"
fresh_host
build layer 'FROM evil
RUN cat /hl /hl2 > /leak 2>/dev/null; true'
rc=$?
"$xb" run --rm evil true >/dev/null 2>&1
if host_unchanged && ! image_has_secret layer; then ok base-layer-cannot-write-outside-snapshot; else bad base-layer-cannot-write-outside-snapshot "rc=$rc host: $(ls "$host" | tr '\n' ' ')"; fi

"$xb" fsck > "$t/fsck" 2>&1 && ok store-consistent-after-attacks || bad store-consistent-after-attacks "$(cat "$t/fsck")"
[ $fails -eq 0 ]
