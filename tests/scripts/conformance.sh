#!/bin/bash
# Every image case of tests/conformance built by xbuild and compared with the
# image BuildKit v0.13 built (expected.json), the way ../shared/tools/conformance-run
# does it: file systems, owners, modes, config and history as users see them.
# conformance-run builds each case from the copy tests/tools/case-context
# makes (a checkout's modes, whatever this tree's are, then the case's
# `prepare`), so a read-only tree works too.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building images needs root"; exit 77; }
command -v busybox >/dev/null || [ -x /bin/busybox ] || { echo "skip: busybox-static is not installed"; exit 77; }
xb=${XBUILD_BINARY:-}
src=${XBUILD_SOURCE_DIR:?}
[ -n "$xb" ] || xb=$(dirname "$0")/../../build/xbuild
sh "$src/tests/tools/conformance-run" "$xb" "$src"/tests/conformance/image-cases/*/
