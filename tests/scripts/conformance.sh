#!/bin/bash
# Every image case of tests/conformance built by xbuild and compared with the
# image BuildKit built (expected.json), the way ../shared/tools/conformance-run
# does it: file systems, owners, modes, config and history as users see them.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building images needs root"; exit 77; }
command -v busybox >/dev/null || [ -x /bin/busybox ] || { echo "skip: busybox-static is not installed"; exit 77; }
xb=${XBUILD_BINARY:-}
src=${XBUILD_SOURCE_DIR:?}
[ -n "$xb" ] || xb=$(dirname "$0")/../../build/xbuild
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
# A copy, so the modes git cannot store are restored without touching the tree.
cp -a "$src/tests/conformance" "$t/conformance"
# First the modes a git checkout gives (0644; 0755 for directories and
# executables), whatever this tree's are: a read-only copy of the repository
# has 0444/0555, and BuildKit built from a checkout.
find "$t/conformance" -type d -exec chmod 755 {} +
find "$t/conformance" -type f -perm -u+x -exec chmod 755 {} +
find "$t/conformance" -type f ! -perm -u+x -exec chmod 644 {} +
grep -v '^#' "$src/tests/conformance/modes" | while read -r path mode; do
  [ -n "$path" ] && chmod "$mode" "$t/conformance/$path"
done
sh "$src/tests/tools/conformance-run" "$xb" "$t"/conformance/image-cases/*/
