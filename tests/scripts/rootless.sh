#!/bin/bash
# Rootless: a user created here, with a subordinate id range, builds (RUN,
# COPY --chown, a deleted file, multi-stage), runs and pushes as root does.
# The image equals (imgdiff) the one root builds from the same input: files
# of uid 0 are uid 0 in the layers, not the user's uid, and whiteouts are
# right. The store defaults to ~/.local/share/xbuild; --memory without a
# delegated cgroup is one note, not a failure.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: creating a test user needs root"; exit 77; }
for tool in useradd userdel newuidmap newgidmap setpriv docker-registry curl python3; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/bootstrap installs it)"; exit 77; }
done
[ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)" -gt 0 ] || { echo "skip: user namespaces are off"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
chmod 755 "$t"
user=xbrl$$
reg_pid=""
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  userdel "$user" 2>/dev/null
  sed -i "/^$user:/d" /etc/subuid /etc/subgid
  wait 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT
useradd -M -d "$t/home" -s /bin/sh "$user" || { echo "FAIL useradd"; exit 1; }
# useradd gives a new user subordinate ranges (SUB_UID_* in login.defs);
# where it does not, a range of 65536 ids that no other line uses.
if ! grep -q "^$user:" /etc/subuid; then
  start=$(( (4000 + $$ % 1000) * 65536 ))
  echo "$user:$start:65536" >> /etc/subuid
  echo "$user:$start:65536" >> /etc/subgid
fi
start=$(grep "^$user:" /etc/subuid | head -1 | cut -d: -f2)
[ "$(grep "^$user:" /etc/subuid | head -1 | cut -d: -f3)" -ge 65536 ] || { echo "skip: the subordinate range is short"; exit 77; }
mkdir -p "$t/home" && chown "$user:" "$t/home"
cp "$xb" "$t/xbuild" && chmod 755 "$t/xbuild"
as_user() { # the user's own environment, nothing of root's
  setpriv --reuid="$user" --regid="$user" --init-groups --reset-env env HOME="$t/home" USER="$user" \
    PATH=/usr/local/bin:/usr/bin:/bin SOURCE_DATE_EPOCH=1700000000 "$@"
}

start_registry

sh "$src/tests/tools/make-busybox-rootfs" "$t/rootfs.tar" || exit 1
chmod 644 "$t/rootfs.tar"
mkdir -p "$t/ctx"
echo content > "$t/ctx/file.txt"
cat > "$t/ctx/Dockerfile" <<'D'
FROM busybox AS base
RUN mkdir -p /data /gone && echo hi > /data/hi && chown 1234:1234 /data/hi && touch /gone/x && rm /bin/vi
COPY --chown=1234:2345 file.txt /data/file.txt
RUN rm -rf /gone && mkdir /data/sub && chown 65534:65534 /data/sub
FROM busybox
COPY --from=base /data /data
RUN rm /bin/vi && stat -c '%A %u %g %s %n' /data/* > /listing
CMD ["cat", "/data/hi"]
D
chmod -R a+rX "$t/ctx"
export SOURCE_DATE_EPOCH=1700000000

# root, as the reference
"$xb" --root "$t/rootstore" import "$t/rootfs.tar" busybox >/dev/null
"$xb" --root "$t/rootstore" build -q -o type=oci,dest="$t/root.tar" "$t/ctx" >/dev/null 2>"$t/root.err"
check "root builds" 0 $?

# the user, with the default store
as_user "$t/xbuild" import "$t/rootfs.tar" busybox >/dev/null 2>"$t/import.err"
check "rootless import" 0 $?
cat "$t/import.err"
as_user "$t/xbuild" build -t img -o type=oci,dest="$t/home/rootless.tar" "$t/ctx" >"$t/build.out" 2>"$t/build.err"
rc=$?
check "rootless build" 0 $rc
[ $rc -eq 0 ] || tail -20 "$t/build.err"
contains "the isolation is said once" "isolation: namespaces, rootless (a user namespace: uid 0 is $user, 1-65536 are $start-" "$(cat "$t/build.err")"
check "said once" 1 "$(grep -c '^isolation:' "$t/build.err")"
store=$t/home/.local/share/xbuild
check "store defaults to ~/.local/share/xbuild" yes "$([ -d "$store/blobs" ] && echo yes || echo no)"
check "store belongs to the user" "$user" "$(stat -c %U "$store")"
check "snapshots on overlayfs" overlay "$(python3 -c "import json; print(json.load(open('$store/snapshots/metadata.json'))['driver'])" 2>/dev/null)"
# A file of uid 1234 in the image is subordinate id start+1234 on the host.
sub=$(find "$store/snapshots" -name hi -path '*/data/hi' | head -1)
check "uid 1234 is a subordinate id on the host" "$((start + 1233))" "$(stat -c %u "$sub" 2>/dev/null)"

"$src/tests/tools/imgdiff" "$t/root.tar" "$t/home/rootless.tar" > "$t/imgdiff.out" 2>&1
check "rootless image equals root's (imgdiff)" 0 $?
cat "$t/imgdiff.out" | head -20
"$src/tests/tools/imgdiff" --dump "$t/home/rootless.tar" > "$t/dump.json"
contains "busybox is root's in the layer" '"/bin/busybox"' "$(grep -A6 '"/bin/busybox"' "$t/dump.json" | head -1)"
python3 - "$t/dump.json" > "$t/owners" <<'P'
import json, sys
d = json.load(open(sys.argv[1]))
files = d["fs"]
def owner(p):
    e = files[p]
    return "%s:%s" % (e.get("uid"), e.get("gid"))
for p in ["/bin/busybox", "/data/hi", "/data/file.txt", "/data/sub"]:
    try: print(p, owner(p))
    except Exception as ex: print(p, "?", ex)
print("/gone" , "present" if "/gone" in files else "absent")
print("/bin/vi", "present" if "/bin/vi" in files else "absent")
P
check "owners in the image" "/bin/busybox 0:0
/data/hi 1234:1234
/data/file.txt 1234:2345
/data/sub 65534:65534
/gone absent
/bin/vi absent" "$(cat "$t/owners")"

# the native driver (where overlayfs is refused): the same image (its
# COPY --from failed with ENOENT before: the solver removed the input's
# view before using it, which only the native driver's own copy showed)
as_user env XBUILD_SNAPSHOTTER=native XBUILD_ROOT="$t/home/native" "$t/xbuild" import "$t/rootfs.tar" busybox >/dev/null 2>&1
as_user env XBUILD_SNAPSHOTTER=native XBUILD_ROOT="$t/home/native" "$t/xbuild" build -q -o type=oci,dest="$t/home/native.tar" "$t/ctx" >/dev/null 2>"$t/native.err"
rc=$?; check "rootless build, native driver" 0 $rc; [ $rc -eq 0 ] || tail -5 "$t/native.err"
"$src/tests/tools/imgdiff" "$t/root.tar" "$t/home/native.tar" > "$t/imgdiff2.out" 2>&1
check "native driver's image equals root's (imgdiff)" 0 $?

# xbuild run, as root of the container
as_user "$t/xbuild" build -q -t img "$t/ctx" >/dev/null 2>&1
check "rootless run" hi "$(as_user "$t/xbuild" run --rm img 2>/dev/null)"
check "uid 0 inside" "0 0" "$(as_user "$t/xbuild" run --rm img sh -c 'echo $(id -u) $(id -g)' 2>/dev/null)"
check "network none" "1" "$(as_user "$t/xbuild" run --rm --network none img sh -c 'ls /sys/class/net | wc -l' 2>/dev/null)"
out=$(as_user "$t/xbuild" run --rm --memory 64m img true 2>&1)
check "--memory without a delegated cgroup still runs" 0 $?
contains "--memory: one note" "note: --memory/--cpus/--pids-limit are not applied" "$out"

# push
as_user "$t/xbuild" build -q --push -t "$reg/rootless/img:1" "$t/ctx" >/dev/null 2>"$t/push.err"
check "rootless push" 0 $?
check "the registry has it" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/rootless/img/manifests/1")"

# prune, as the user, removes snapshots of subordinate ids
# A config directory the user may not read (XDG_CONFIG_HOME under root's
# 0700 home) is "no user config", not an internal filesystem error.
out=$(as_user env XDG_CONFIG_HOME=/root/.config "$t/xbuild" images 2>&1)
lacks "unreadable config dir is no error" "internal" "$out"
contains "unreadable config dir: images lists" "REPOSITORY" "$out"
as_user "$t/xbuild" rmi img >/dev/null 2>&1
as_user "$t/xbuild" prune -a >/dev/null 2>"$t/prune.err" || as_user "$t/xbuild" prune >/dev/null 2>"$t/prune.err"
check "rootless prune" 0 $?
[ $fails -eq 0 ]
