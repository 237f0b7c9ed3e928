#!/bin/bash
# tests/tools/imgdiff, the comparison every conformance case and
# bench/real_world.sh rely on: file capabilities (security.capability xattrs)
# count as a difference, and --ignore / --ignore-apt set aside only what they
# name. Two tiny docker archives written by Python's tarfile; no root needed.
set -u
command -v python3 >/dev/null || { echo "skip: python3 is not installed"; exit 77; }
XBUILD_BINARY=${XBUILD_BINARY:-none}
. "$XBUILD_SOURCE_DIR/tests/support/script_lib.sh"
imgdiff=$src/tests/tools/imgdiff
# archive OUT CAP LOG: /bin/ping with capability value CAP (hex; empty: none),
# /var/log/apt/history.log with LOG, /etc/motd the same in both.
archive() {
  python3 - "$@" <<'PY'
import io, json, sys, tarfile
out, cap, log = sys.argv[1], sys.argv[2], sys.argv[3]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data, pax=None):
        i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o755
        if pax: i.pax_headers = pax
        t.addfile(i, io.BytesIO(data))
    for d in ("bin", "etc", "var", "var/log", "var/log/apt"):
        i = tarfile.TarInfo(d); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
    pax = {"SCHILY.xattr.security.capability": bytes.fromhex(cap).decode("utf-8", "surrogateescape")} if cap else None
    add("bin/ping", b"ping", pax)
    add("etc/motd", b"hello\n")
    add("var/log/apt/history.log", log.encode())
cfg = json.dumps({"config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers"}}).encode()
with tarfile.open(out, "w") as t:
    for name, data in (("layer.tar", layer.getvalue()), ("config.json", cfg),
                       ("manifest.json", json.dumps([{"Config": "config.json", "Layers": ["layer.tar"]}]).encode())):
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
PY
}
cap=0100000200200000000000000000000000000000   # cap_net_raw=ep, as iputils-ping sets it
archive "$t/a.tar" "$cap" "Start-Date: 1"
archive "$t/same.tar" "$cap" "Start-Date: 1"
archive "$t/nocap.tar" "" "Start-Date: 1"
archive "$t/log.tar" "$cap" "Start-Date: 2"

"$imgdiff" "$t/a.tar" "$t/same.tar" >/dev/null; check "identical images compare equal" 0 $?
out=$("$imgdiff" "$t/a.tar" "$t/nocap.tar"); rc=$?
check "a missing file capability is a difference (exit 1)" 1 $rc
contains "the difference names the file and its xattrs" "fs /bin/ping: xattrs" "$out"
"$imgdiff" --ignore-apt "$t/a.tar" "$t/nocap.tar" >/dev/null; check "--ignore-apt keeps file capabilities compared" 1 $?
"$imgdiff" "$t/a.tar" "$t/log.tar" >/dev/null; check "an apt log differs without options" 1 $?
out=$("$imgdiff" --ignore-apt "$t/a.tar" "$t/log.tar"); rc=$?
check "--ignore-apt sets the apt log aside" 0 $rc
contains "the summary counts what was set aside" "2 vs 2 paths set aside" "$out"
"$imgdiff" --ignore '/var/log/*' "$t/a.tar" "$t/log.tar" >/dev/null; check "--ignore GLOB sets aside what it matches" 0 $?
"$imgdiff" --ignore=/var/log/apt/history.log "$t/a.tar" "$t/log.tar" >/dev/null; check "--ignore=PATH form" 0 $?
"$imgdiff" --ignore '/etc/*' "$t/a.tar" "$t/log.tar" >/dev/null; check "--ignore of another path leaves the log compared" 1 $?
dump=$("$imgdiff" --dump "$t/a.tar")
contains "--dump shows the capability as hex" "\"security.capability\": \"$cap\"" "$dump"
exit $((fails > 0))
