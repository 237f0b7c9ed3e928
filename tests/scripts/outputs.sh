#!/bin/bash
# Issue 21's outputs and docker habits, each checked by its real consumer:
# --load into a Docker Engine (Debian's docker.io on a private socket) and
# into podman's API service; --metadata-file digests against what skopeo
# reads from registry:2 after --push; --annotation seen by skopeo inspect
# --raw and in an OCI archive; -o DIR / -o -; images/inspect/history
# --format; run --entrypoint.
set -u
[ "$(id -u)" -eq 0 ] || { echo "skip: building needs root"; exit 77; }
for tool in dockerd docker podman skopeo docker-registry python3 curl; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed (scripts/bootstrap installs it)"; exit 77; }
done
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
. "$src/tests/support/dockerd_lib.sh"
reg_pid="" podman_pid=""
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null
  [ -n "$podman_pid" ] && kill "$podman_pid" 2>/dev/null
  stop_dockerd
  wait 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

import_busybox busybox || { echo "cannot make the busybox base image"; exit 1; }
mkdir -p "$t/ctx"
echo "built-by-xbuild" > "$t/ctx/file"
cat > "$t/ctx/Dockerfile" <<'D'
FROM busybox
COPY file /file
ENV GREETING=hello
ENTRYPOINT ["echo", "entry"]
CMD ["from-cmd"]
D
iid() { "$xb" inspect --format '{{.Id}}' "$1"; }
"$xb" build -q -t app:1 "$t/ctx" >/dev/null || { echo "cannot build the test image"; exit 1; }

# --- --load without an engine: one line naming the socket and what to do
out=$(DOCKER_HOST=unix://$t/none.sock "$xb" build -q --load -t app:1 "$t/ctx" 2>&1); rc=$?
check load-no-engine-exit 1 "$rc"
contains load-no-engine-message "no Docker Engine at unix://$t/none.sock: connect: No such file or directory; start one, set DOCKER_HOST, or use -o type=docker,dest=FILE" "$out"
check load-no-engine-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
out=$(DOCKER_HOST=ssh://somewhere "$xb" build -q --load "$t/ctx" 2>&1); rc=$?
check load-ssh-usage 2 "$rc"
contains load-ssh-message "DOCKER_HOST=ssh://somewhere: ssh:// is not supported" "$out"

# --- --load into a Docker Engine, then run it there
if start_dockerd; then
  "$xb" build --progress=plain --load -t app:1 --metadata-file "$t/load.json" "$t/ctx" >"$t/load.log" 2>&1 \
    || { cat "$t/load.log"; bad load-docker "build failed"; }
  contains load-docker-says "Loaded image: app:1" "$(cat "$t/load.log")"
  check load-docker-run "entry built-by-xbuild" "$(docker run --rm --network host --entrypoint /bin/sh app:1 -c 'echo entry $(cat /file)')"
  check load-docker-tag "[app:1]" "$(docker image inspect --format '{{.RepoTags}}' app:1)"
  check load-docker-id "$(json 'd["containerimage.config.digest"]' < "$t/load.json")" "$(docker image inspect --format '{{.Id}}' app:1)"
  check load-docker-env "hello" "$(docker run --rm --network host --entrypoint /bin/sh app:1 -c 'echo $GREETING')"
  # A layer that fails verification while it streams: the request is
  # aborted, so the engine never loads a cut-off archive as an image.
  mkdir -p "$t/ctx2"; head -c 300000 /dev/urandom > "$t/ctx2/blob"
  printf 'FROM busybox\nCOPY blob /blob\n' > "$t/ctx2/Dockerfile"
  "$xb" build -q -t corrupt:1 "$t/ctx2" >/dev/null
  top=$("$xb" inspect --format '{{range .Layers}}{{.digest}} {{end}}' corrupt:1 | awk '{print $NF}')
  printf 'XXXXXXXX' | dd of="$XBUILD_ROOT/blobs/sha256/${top#sha256:}" bs=1 seek=200000 conv=notrunc 2>/dev/null
  out=$("$xb" build -q --load -t corrupt:1 "$t/ctx2" 2>&1); rc=$?
  check load-corrupt-exit 1 "$rc"
  contains load-corrupt-names-blob "$top" "$out"
  check load-corrupt-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
  docker image inspect corrupt:1 >/dev/null 2>&1; check load-corrupt-not-in-engine 1 "$?"
  stop_dockerd
else
  bad load-docker "dockerd did not start"
fi

# --- an engine that answers the ping, then refuses the load mid-stream:
# its message in one line, and no SIGPIPE death while the archive is written
cat > "$t/engine.py" <<'P'
import socket, sys
if sys.argv[1].startswith("tcp:"):
    s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1][4:])))
else:
    s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])
s.listen(4)
while True:
    c, _ = s.accept()
    head = c.recv(65536)
    if head.startswith(b"GET /_ping"):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
    else:
        body = b'{"message":"no space left on device"}'
        c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    c.close()
P
python3 "$t/engine.py" "$t/fake.sock" & fake_pid=$!
for _ in $(seq 100); do [ -S "$t/fake.sock" ] && break; sleep 0.1; done
mkdir -p "$t/ctx3"; head -c 4000000 /dev/urandom > "$t/ctx3/big"
printf 'FROM busybox\nCOPY big /big\n' > "$t/ctx3/Dockerfile"
out=$(DOCKER_HOST=unix://$t/fake.sock "$xb" build -q --load -t big:1 "$t/ctx3" 2>&1); rc=$?
kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null
check load-refused-exit 1 "$rc"
contains load-refused-names-engine "Docker Engine at unix://$t/fake.sock" "$out"
check load-refused-one-line 1 "$(printf '%s\n' "$out" | wc -l)"
# the same over plain tcp:// (DOCKER_HOST=tcp://HOST:PORT)
eport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$t/engine.py" "tcp:$eport" & fake_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$eport/_ping" >/dev/null && break; sleep 0.1; done
out=$(DOCKER_HOST=tcp://127.0.0.1:$eport "$xb" build -q --load -t big:1 "$t/ctx3" 2>&1); rc=$?
kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null
check load-tcp-exit 1 "$rc"
contains load-tcp-reaches-engine "Docker Engine at tcp://127.0.0.1:$eport" "$out"
lacks load-tcp-past-ping "no Docker Engine" "$out"

# --- --load into podman's Docker-compatible API service
p=$t/podman; mkdir -p "$p"
podman --root "$p/root" --runroot "$p/run" system service --time=0 "unix://$p/podman.sock" >"$p/log" 2>&1 &
podman_pid=$!
for _ in $(seq 100); do curl -sf --unix-socket "$p/podman.sock" http://d/_ping >/dev/null && break; sleep 0.1; done
DOCKER_HOST=unix://$p/podman.sock "$xb" build --progress=plain --load -t app:2 "$t/ctx" >"$t/podman.log" 2>&1 \
  || { cat "$t/podman.log" "$p/log"; bad load-podman "build failed"; }
check load-podman-listed "localhost/app:2 $(iid app:1 | cut -c8-19)" \
  "$(podman --root "$p/root" --runroot "$p/run" images --format '{{.Repository}}:{{.Tag}} {{.ID}}' localhost/app:2)"
kill "$podman_pid" 2>/dev/null; wait "$podman_pid" 2>/dev/null; podman_pid=""

# --- a registry:2 for --push, --metadata-file and annotations
start_registry

"$xb" build -q -t "$reg/app:1" --push --metadata-file "$t/md.json" \
  --annotation org.opencontainers.image.source=https://example.com/app \
  --annotation "manifest:com.example.stage=ci" \
  --annotation "manifest[linux/arm64]:com.example.arm=no" "$t/ctx" >/dev/null 2>"$t/push.log" \
  || { cat "$t/push.log"; bad push "build --push failed"; }
raw=$(skopeo inspect --tls-verify=false --raw "docker://$reg/app:1")
digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$reg/app:1")
check metadata-digest-is-registry "$digest" "$(json 'd["containerimage.digest"]' < "$t/md.json")"
check metadata-config-digest "$(echo "$raw" | json 'd["config"]["digest"]')" "$(json 'd["containerimage.config.digest"]' < "$t/md.json")"
check metadata-config-is-image-id "$(iid "$reg/app:1")" "$(json 'd["containerimage.config.digest"]' < "$t/md.json")"
check metadata-descriptor "$digest $(echo -n "$raw" | wc -c)" \
  "$(json 'd["containerimage.descriptor"]["digest"] + " " + str(d["containerimage.descriptor"]["size"])' < "$t/md.json")"
check metadata-image-name "$reg/app:1" "$(json 'd["image.name"]' < "$t/md.json")"
check annotation-default-is-manifest "https://example.com/app" "$(echo "$raw" | json 'd["annotations"]["org.opencontainers.image.source"]')"
check annotation-manifest "ci" "$(echo "$raw" | json 'd["annotations"]["com.example.stage"]')"
check annotation-other-platform-skipped "False" "$(echo "$raw" | json '"com.example.arm" in d["annotations"]')"
check annotation-keeps-image-id "$(iid app:1)" "$(iid "$reg/app:1")"

# index annotations on a lone manifest: refused as BuildKit refuses them
out=$("$xb" build -q --annotation index:a=b "$t/ctx" 2>&1); rc=$?
check annotation-index-single-exit 2 "$rc"
contains annotation-index-single-message "index annotations not supported for single platform export" "$out"
out=$("$xb" build -q --annotation "bogus:a=b" "$t/ctx" 2>&1); rc=$?
check annotation-bad-type-exit 2 "$rc"
contains annotation-bad-type-message 'unknown annotation type "bogus"' "$out"

# annotation.* output options, in an OCI archive (manifest and its descriptor in index.json)
"$xb" build -q -t app:oci --metadata-file "$t/oci.json" \
  -o "type=oci,dest=$t/app.tar,annotation.com.example.a=1,annotation-manifest-descriptor.com.example.d=2" "$t/ctx" >/dev/null \
  || bad oci-annotations "build failed"
mkdir -p "$t/ocix" && tar -xf "$t/app.tar" -C "$t/ocix"
mdigest=$(json 'd["manifests"][0]["digest"]' < "$t/ocix/index.json")
check oci-annotation-descriptor "2" "$(json 'd["manifests"][0]["annotations"]["com.example.d"]' < "$t/ocix/index.json")"
check oci-annotation-manifest "1" "$(json 'd["annotations"]["com.example.a"]' < "$t/ocix/blobs/sha256/${mdigest#sha256:}")"
check oci-skopeo-reads-it "1" "$(skopeo inspect --raw oci-archive:"$t/app.tar":oci | json 'd["annotations"]["com.example.a"]')"
check oci-metadata-digest "$mdigest" "$(json 'd["containerimage.digest"]' < "$t/oci.json")"

# --- -o DIR and -o -: buildx's shorthands for type=local and type=tar
"$xb" build -q -o "$t/outdir" "$t/ctx" >/dev/null 2>&1
check o-dir-is-local "built-by-xbuild" "$(cat "$t/outdir/file" 2>/dev/null)"
"$xb" build -q -o - "$t/ctx" > "$t/fs.tar" 2>/dev/null
check o-dash-is-tar "built-by-xbuild" "$(tar -xOf "$t/fs.tar" file 2>/dev/null)"

# --- images / inspect / history --format
check images-format "app:1 $(iid app:1 | cut -c8-19)" "$("$xb" images --format '{{.Repository}}:{{.Tag}} {{.ID}}' app:1)"
check images-format-Id "$(iid app:1 | cut -c8-19)" "$("$xb" images --format '{{.Id}}' app:1)"
check images-format-json "app 1" "$("$xb" images --format json app:1 | json 'd["Repository"] + " " + d["Tag"]')"
check images-format-table "REPOSITORY   TAG" "$("$xb" images --format 'table {{.Repository}}\t{{.Tag}}' app:1 | head -1)"
check inspect-format-env "[PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GREETING=hello]" \
  "$("$xb" inspect --format '{{.Config.Env}}' app:1)"
check inspect-format-unset-user "root" "$("$xb" inspect --format '{{if .Config.User}}{{.Config.User}}{{else}}root{{end}}' app:1)"
check inspect-format-json-config '["echo","entry"]' "$("$xb" inspect --format '{{json .Config.Entrypoint}}' app:1)"
check inspect-format-index "app:1" "$("$xb" inspect --format '{{index .RepoTags 0}}' app:1)"
check inspect-format-range "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|GREETING=hello|" \
  "$("$xb" inspect --format '{{range .Config.Env}}{{.}}|{{end}}' app:1)"
check inspect-format-json-array "$(iid app:1)" "$("$xb" inspect --format json app:1 | json 'd[0]["Id"]')"
out=$("$xb" inspect --format '{{.Nope}}' app:1 2>&1); rc=$?
check inspect-format-missing-exit 2 "$rc"
contains inspect-format-missing-message "can't evaluate field Nope" "$out"
out=$("$xb" inspect --format '{{printf "%s" .Id}}' app:1 2>&1); rc=$?
check inspect-format-unsupported-exit 2 "$rc"
contains inspect-format-unsupported-message 'function "printf" not supported' "$out"
h=$("$xb" history app:1)
contains history-header "IMAGE          CREATED" "$h"
contains history-columns "CREATED BY" "$h"
contains history-copy-step "COPY file /file" "$h"
check history-top-is-image "$(iid app:1 | cut -c8-19)" "$(echo "$h" | sed -n 2p | cut -d' ' -f1)"
check history-rows "6" "$(echo "$h" | wc -l)"
check history-format "ENTRYPOINT [\"echo\" \"entry\"]" "$("$xb" history --format '{{.CreatedBy}}' app:1 | sed -n 2p | sed 's/ # buildkit//; s/,/ /g')"
check history-no-trunc-id "$(iid app:1)" "$("$xb" history --no-trunc -q app:1 | head -1)"

# --- run --entrypoint: replaces the entrypoint and drops the image's Cmd
check run-default "entry from-cmd" "$("$xb" run --rm app:1 2>&1)"
check run-entrypoint "built-by-xbuild" "$("$xb" run --rm --entrypoint cat app:1 /file 2>&1)"
check run-entrypoint-no-cmd "" "$("$xb" run --rm --entrypoint echo app:1 2>&1)"
check run-entrypoint-empty "x" "$("$xb" run --rm --entrypoint "" app:1 echo x 2>&1)"

[ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
