# Sourced by the registry benches (cache, pull, mountcache): a registry:2
# (Debian's docker-registry) on a free port of 127.0.0.1, with its config,
# storage and log under DIR. Sets $port and $reg_pid; the caller's EXIT
# trap stops it by PID.
bench_start_registry() { # DIR
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$1/config.yml" <<C
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $1/registry}}
http: {addr: 127.0.0.1:$port}
C
  docker-registry serve "$1/config.yml" >"$1/registry.log" 2>&1 &
  reg_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
}
