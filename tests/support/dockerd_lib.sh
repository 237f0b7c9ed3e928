# Sourced after script_lib.sh by end-to-end scripts that need a real Docker
# Engine (Debian's docker.io): start_dockerd starts one on a private socket
# and data root under $t (no iptables, no bridge: only host networking), sets
# DOCKER_HOST; the caller's EXIT trap calls stop_dockerd (a trap set here
# would replace the caller's, and its registry and podman outlived the
# test). Returns 1 (callers skip with 77) when dockerd is not installed.
start_dockerd() {
  command -v dockerd >/dev/null || return 1
  d=$t/dockerd; mkdir -p "$d"
  dockerd --data-root "$d/root" --exec-root "$d/exec" --pidfile "$d/pid" \
    --host "unix://$d/docker.sock" --iptables=false --ip6tables=false --bridge=none \
    --containerd-namespace xbuild-test --containerd-plugins-namespace xbuild-test-plugins \
    >"$d/log" 2>&1 &
  dockerd_pid=$!
  export DOCKER_HOST="unix://$d/docker.sock"
  for _ in $(seq 1 200); do
    docker version >/dev/null 2>&1 && return 0
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "dockerd did not start:"; tail -20 "$d/log"
  return 1
}
stop_dockerd() {
  [ -n "${dockerd_pid:-}" ] || return 0
  kill "$dockerd_pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$dockerd_pid" 2>/dev/null
  # the managed containerd dockerd started, if it outlived its parent
  [ -f "$t/dockerd/exec/containerd/containerd.pid" ] && kill "$(cat "$t/dockerd/exec/containerd/containerd.pid")" 2>/dev/null
  umount -R "$t/dockerd/root" 2>/dev/null
  # the network namespace dockerd mounted for its host-network containers
  umount "$t/dockerd/exec/netns/default" 2>/dev/null
  dockerd_pid=""
}
