# Sourced by the end-to-end scripts in tests/scripts/ after their own skip
# checks: xb (the binary), src (the source tree), a temporary directory $t
# removed at exit with the store $XBUILD_ROOT=$t/store in it, and reporters
# that print one `ok NAME` or `FAIL NAME: why` line per claim and count the
# failures in $fails.
xb=${XBUILD_BINARY:?}
src=${XBUILD_SOURCE_DIR:?}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
export XBUILD_ROOT=$t/store
fails=0
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected [$2] got [$3]"; fi; }  # name expected actual
contains() { case "$3" in *"$2"*) ok "$1" ;; *) bad "$1" "no [$2] in: $3" ;; esac; }   # name needle haystack
lacks() { case "$3" in *"$2"*) bad "$1" "[$2] found in: $3" ;; *) ok "$1" ;; esac; }
# The test base image: tests/tools/make-busybox-rootfs written to $t/rootfs.tar
# (kept there for the peers) and imported into the store as NAME.
import_busybox() {
  sh "$src/tests/tools/make-busybox-rootfs" "$t/rootfs.tar" && "$xb" import "$t/rootfs.tar" "$1" >/dev/null
}
# A registry:2 (Debian's docker-registry) on a free port of 127.0.0.1:
# sets $reg (host:port) and $reg_pid (the caller's trap stops it).
start_registry() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$t/registry.yml" <<C
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $t/registry}}
http: {addr: 127.0.0.1:$port}
C
  docker-registry serve "$t/registry.yml" >"$t/registry.log" 2>&1 &
  reg_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  reg=127.0.0.1:$port
}
