#!/bin/bash
# Build contexts as buildx takes them (README, "Build contexts"): CONTEXT as
# `-` (a tar or a bare Dockerfile on stdin), a local tarball, an https URL
# of a tarball, a git URL (git daemon, git http-backend over https, file://)
# with #ref:subdir; -f -; --build-context NAME=VALUE (a directory,
# docker-image://, oci-layout://, git, https) for FROM, COPY --from and
# RUN --mount=from; ADD of a git repository with and without
# --keep-git-dir; the commit as the cache key; hostile archives contained;
# the errors a user can cause. Git repositories and servers are made here,
# on 127.0.0.1; the https server's CA is made with openssl.
set -u
[ -n "${CONTEXTS_DEBUG:-}" ] && set -x
[ "$(id -u)" -eq 0 ] || { echo "skip: building needs root"; exit 77; }
for tool in git python3 openssl; do
  command -v $tool >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done
[ -x "$(git --exec-path)/git-http-backend" ] || { echo "skip: git http-backend is not installed"; exit 77; }
. "${XBUILD_SOURCE_DIR:?}/tests/support/script_lib.sh"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; [ -n "${CONTEXTS_KEEP:-}" ] || rm -rf "$t"' EXIT
import_busybox busybox || { echo "FAIL: import busybox"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
export GIT_CONFIG_NOSYSTEM=1 HOME=$t/home
mkdir -p "$HOME"

# --- a repository: main has two commits, tag v1 the first; sub/ has its own Dockerfile.
w=$t/work
git init -q -b main "$w"
printf 'FROM scratch\nCOPY . /ctx/\n' > "$w/Dockerfile"
mkdir -p "$w/sub"
printf 'FROM scratch\nCOPY . /sub/\n' > "$w/sub/Dockerfile"
echo one > "$w/sub/file"
echo root > "$w/top"
git -C "$w" add -A && git -C "$w" commit -qm one && git -C "$w" tag v1
commit1=$(git -C "$w" rev-parse HEAD)
echo two > "$w/sub/file"
git -C "$w" commit -qam two
commit2=$(git -C "$w" rev-parse HEAD)
mkdir -p "$t/git"
git clone -q --bare "$w" "$t/git/repo.git"

# --- servers: git daemon; https (a test CA) serving files and git http-backend.
gport=$(free_port)
git daemon --reuseaddr --export-all --base-path="$t/git" --listen=127.0.0.1 --port="$gport" "$t/git" >"$t/daemon.log" 2>&1 &
pids+=($!)
c=$t/certs
mkdir -p "$c" "$t/www"
( cd "$c" && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca 2>/dev/null &&
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null &&
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > server.ext &&
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.crt 2>/dev/null )
hport=$(free_port)
cat > "$t/server.py" <<'P'
# Files under WWW, and /git/… through git http-backend (CGI), over TLS.
import http.server, os, ssl, subprocess, sys
port, www, gitroot, crt, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k): super().__init__(*a, directory=www, **k)
    def log_message(self, *a): pass
    def cgi(self):
        path, _, query = self.path.partition('?')
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        env = dict(os.environ, GIT_PROJECT_ROOT=gitroot, GIT_HTTP_EXPORT_ALL='1', PATH_INFO=path[4:],
                   QUERY_STRING=query, REQUEST_METHOD=self.command, CONTENT_TYPE=self.headers.get('Content-Type', ''),
                   CONTENT_LENGTH=str(len(body)), GIT_PROTOCOL=self.headers.get('Git-Protocol', ''), REMOTE_ADDR='127.0.0.1')
        out = subprocess.run(['git', 'http-backend'], input=body, env=env, capture_output=True).stdout
        head, _, rest = out.partition(b'\r\n\r\n')
        status, headers = 200, []
        for line in head.decode().split('\r\n'):
            k, _, v = line.partition(': ')
            if k.lower() == 'status': status = int(v.split()[0])
            elif k: headers.append((k, v))
        self.send_response(status)
        for k, v in headers: self.send_header(k, v)
        self.send_header('Content-Length', str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)
    def do_GET(self):
        if self.path.startswith('/git/'): return self.cgi()
        return super().do_GET()
    def do_POST(self): return self.cgi()
s = http.server.ThreadingHTTPServer(('127.0.0.1', port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(crt, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
P
python3 "$t/server.py" "$hport" "$t/www" "$t/git" "$c/server.crt" "$c/server.key" >"$t/https.log" 2>&1 &
pids+=($!)
# The test CA alone, as xbuild's downloads (and its git) read it: SSL_CERT_FILE.
unset SSL_CERT_DIR GIT_SSL_CAINFO GIT_SSL_CAPATH CURL_CA_BUNDLE
export SSL_CERT_FILE=$c/ca.crt
for _ in $(seq 100); do
  curl -sf --cacert "$c/ca.crt" "https://127.0.0.1:$hport/" >/dev/null && git ls-remote "git://127.0.0.1:$gport/repo.git" >/dev/null 2>&1 && break
  sleep 0.1
done
https=https://127.0.0.1:$hport

# build OUT ARGS…: a build whose rootfs goes to $t/out/OUT; $out its output, $rc its exit code.
build() { local o=$1; shift; rm -rf "$t/out/$o"; out=$("$xb" build --progress plain -o "type=local,dest=$t/out/$o" "$@" 2>&1); rc=$?; }
has() { [ -f "$t/out/$1" ] && cat "$t/out/$1"; }  # the content of a file in an output

# --- 1. CONTEXT -: a tar on stdin, and a bare Dockerfile on stdin.
ctx=$t/ctx
mkdir -p "$ctx/d"
echo a > "$ctx/a"
echo b > "$ctx/d/b"
printf 'FROM scratch\nCOPY . /in/\n' > "$ctx/Dockerfile"
build stdin-tar - < <(tar -C "$ctx" -cz .)
check stdin-tar-exit 0 $rc
check stdin-tar-file b "$(has stdin-tar/in/d/b)"
build stdin-dockerfile - < <(printf 'FROM scratch\nCOPY <<EOF /f\nfrom stdin\nEOF\n')
check stdin-dockerfile-exit 0 $rc
check stdin-dockerfile-file "from stdin" "$(has stdin-dockerfile/f)"
# -f -: the Dockerfile from stdin, the context a directory.
build f-stdin -f - "$ctx" < <(printf 'FROM scratch\nCOPY a /from-f-stdin\n')
check f-stdin-exit 0 $rc
check f-stdin-file a "$(has f-stdin/from-f-stdin)"
out=$("$xb" build -f - - </dev/null 2>&1); rc=$?
check stdin-twice-exit 2 $rc
contains stdin-twice-says "stdin cannot be both" "$out"

# --- 2. a local tarball, and an https URL of one (the test CA via SSL_CERT_FILE).
tar -C "$ctx" -czf "$t/ctx.tar.gz" .
build tarball "$t/ctx.tar.gz"
check tarball-exit 0 $rc
check tarball-file a "$(has tarball/in/a)"
cp "$t/ctx.tar.gz" "$t/www/ctx.tar.gz"
build https-tarball "$https/ctx.tar.gz"
check https-tarball-exit 0 $rc
check https-tarball-file b "$(has https-tarball/in/d/b)"
# -f in a tarball context names a file inside it.
mkdir -p "$ctx/alt" && printf 'FROM scratch\nCOPY a /alt-a\n' > "$ctx/alt/Build" && tar -C "$ctx" -czf "$t/ctx2.tar.gz" .
build tarball-f -f alt/Build "$t/ctx2.tar.gz"
check tarball-f-file a "$(has tarball-f/alt-a)"
out=$(SSL_CERT_FILE=/nonexistent-ca "$xb" build "$https/ctx.tar.gz" 2>&1); rc=$?
check https-untrusted-exit 1 $rc
out=$("$xb" build "$https/nosuch.tar.gz" 2>&1); rc=$?
check https-404-exit 1 $rc
contains https-404-says "build context $https/nosuch.tar.gz" "$out"
check https-404-one-line 1 "$(printf '%s\n' "$out" | grep -c .)"

# --- 3. git contexts: git daemon with #tag:subdir, https (http-backend) with a branch, file:// with a commit.
build git-daemon "git://127.0.0.1:$gport/repo.git#v1:sub"
check git-daemon-exit 0 $rc
check git-daemon-tag-subdir one "$(has git-daemon/sub/file)"
[ -e "$t/out/git-daemon/sub/Dockerfile" ] && ok git-daemon-subdir-is-context || bad git-daemon-subdir-is-context "$(ls -R "$t/out/git-daemon")"
build git-https "$https/git/repo.git#main"
check git-https-exit 0 $rc
[ $rc = 0 ] || echo "$out"
check git-https-branch two "$(has git-https/ctx/sub/file)"
[ -e "$t/out/git-https/ctx/.git" ] && bad git-context-strips-git "found .git" || ok git-context-strips-git
build git-file "file://$t/git/repo.git#$commit1"
check git-file-exit 0 $rc
check git-file-commit one "$(has git-file/ctx/sub/file)"
build git-keep --build-arg BUILDKIT_CONTEXT_KEEP_GIT_DIR=1 "file://$t/git/repo.git#main"
check git-keep-git-dir "$commit2" "$(git -C "$t/out/git-keep/ctx" rev-parse HEAD 2>&1)"
# git@HOST:PATH (scp-like ssh): ssh is a stand-in that runs git's command
# here (GIT_SSH_COMMAND, which xbuild's git honours as any git does).
printf '#!/bin/sh\nwhile [ $# -gt 1 ]; do shift; done\nexec sh -c "$1"\n' > "$t/fake-ssh" && chmod +x "$t/fake-ssh"
GIT_SSH_COMMAND=$t/fake-ssh build git-ssh "git@127.0.0.1:$t/git/repo.git#v1:sub"
check git-ssh-exit 0 $rc
check git-ssh-tag-subdir one "$(has git-ssh/sub/file)"
printf 'FROM scratch\nADD git@127.0.0.1:%s/git/repo.git#%s /r\n' "$t" "$commit1" > "$ctx/Dockerfile.addssh"
GIT_SSH_COMMAND=$t/fake-ssh build add-git-ssh -f "$ctx/Dockerfile.addssh" "$ctx"
check add-git-ssh-commit one "$(has add-git-ssh/r/sub/file)"
# -f names a file of the repository.
build git-f -f sub/Dockerfile "git://127.0.0.1:$gport/repo.git"
check git-f-dockerfile two "$(has git-f/sub/sub/file)"
out=$("$xb" build -f nosuch/Dockerfile "git://127.0.0.1:$gport/repo.git" 2>&1); rc=$?
check git-no-dockerfile-exit 1 $rc
contains git-no-dockerfile-names-context "git://127.0.0.1:$gport/repo.git has no nosuch/Dockerfile" "$out"
# Errors: an unknown ref, an unreachable server.
mkdir -p "$t/tmp"
out=$(TMPDIR=$t/tmp "$xb" build "git://127.0.0.1:$gport/repo.git#nosuch" 2>&1); rc=$?
check git-unknown-ref-exit 1 $rc
contains git-unknown-ref-says 'ref "nosuch" not found' "$out"
check git-unknown-ref-one-line 1 "$(printf '%s\n' "$out" | grep -c .)"
out=$(TMPDIR=$t/tmp "$xb" build "git://127.0.0.1:$(free_port)/repo.git" 2>&1); rc=$?
check git-unreachable-exit 1 $rc
contains git-unreachable-names-url "git://127.0.0.1:" "$out"
check git-failure-leaves-no-checkout "" "$(ls -A "$t/tmp")"

# A subdirectory may not lead out of the checkout: ".." and a symlink are refused.
mkdir -p "$t/hostdir" && printf 'FROM scratch\nCOPY . /\n' > "$t/hostdir/Dockerfile" && echo host > "$t/hostdir/secret"
e=$t/evil && git init -q -b main "$e" && ln -s "$t/hostdir" "$e/abs" && mkdir "$e/d" && echo x > "$e/d/x" &&
  git -C "$e" add -A && git -C "$e" commit -qm evil && git clone -q --bare "$e" "$t/git/evil.git"
build evil-subdir "file://$t/git/evil.git#main:abs"
check git-subdir-symlink-refused 1 $rc
contains git-subdir-symlink-says 'subdirectory "abs" is not a directory' "$out"
check git-subdir-symlink-reads-no-host-file "" "$(has evil-subdir/secret)"
out=$("$xb" build "file://$t/git/evil.git#main:d/../.." 2>&1); rc=$?
check git-subdir-dotdot-refused 1 $rc
contains git-subdir-dotdot-says 'may not contain ".."' "$out"

# Ctrl-C during a fetch from a server that never answers: git is stopped,
# the exit is 130 and the temporary checkout is gone.
sport=$(free_port)
python3 - "$sport" "$t/accepted" "$t/listening" <<'P' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(4)
open(sys.argv[3], 'w').close()
conns = []
while True:
    c, _ = s.accept(); conns.append(c); open(sys.argv[2], 'w').close()
P
pids+=($!)
mkdir -p "$t/tmp-int"
for _ in $(seq 300); do [ -e "$t/listening" ] && break; sleep 0.1; done
TMPDIR=$t/tmp-int "$xb" build "git://127.0.0.1:$sport/stall.git" >"$t/int.log" 2>&1 &
bpid=$!
for _ in $(seq 300); do [ -e "$t/accepted" ] && break; sleep 0.1; done
kill -INT $bpid; wait $bpid; rc=$?
check git-interrupt-exit 130 $rc
[ $rc = 130 ] || cat "$t/int.log"
check git-interrupt-leaves-nothing "" "$(ls -A "$t/tmp-int")"

# --- 4. the commit is the cache key: the same commit hits, a new one reruns.
printf 'FROM busybox\nADD git://127.0.0.1:%s/repo.git#main /repo\nRUN cat /repo/sub/file > /seen\n' "$gport" > "$ctx/Dockerfile.addgit"
build add-git -f "$ctx/Dockerfile.addgit" "$ctx"
check add-git-exit 0 $rc
check add-git-content two "$(has add-git/seen)"
[ -e "$t/out/add-git/repo/.git" ] && bad add-git-strips-git "found .git" || ok add-git-strips-git
build add-git-again -f "$ctx/Dockerfile.addgit" "$ctx"
contains add-git-same-commit-cached "CACHED" "$(printf '%s\n' "$out" | grep -A1 'RUN cat')"
echo three > "$w/sub/file" && git -C "$w" commit -qam three && git -C "$w" push -q "$t/git/repo.git" main
commit3=$(git -C "$w" rev-parse HEAD)
build add-git-new -f "$ctx/Dockerfile.addgit" "$ctx"
check add-git-new-commit-reruns three "$(has add-git-new/seen)"
lacks add-git-new-commit-not-cached "CACHED" "$(printf '%s\n' "$out" | grep -A1 'RUN cat')"
# The same for a git context: the same commit hits, the new one reruns the COPY.
build git-ctx-again "file://$t/git/repo.git#$commit2"
contains git-context-same-commit-cached "CACHED" "$(printf '%s\n' "$out" | grep -A1 'COPY')"
build git-ctx-new "file://$t/git/repo.git#main"
check git-context-new-commit three "$(has git-ctx-new/ctx/sub/file)"
lacks git-context-new-commit-reruns "CACHED" "$(printf '%s\n' "$out" | grep -A1 'COPY')"
printf 'FROM scratch\nADD --keep-git-dir=true %s/git/repo.git#v1 /repo\n' "$https" > "$ctx/Dockerfile.keep"
build add-git-keep -f "$ctx/Dockerfile.keep" "$ctx"
check add-git-keep-exit 0 $rc
[ $rc = 0 ] || echo "$out"
check add-git-keep-git-dir "$commit1" "$(git -C "$t/out/add-git-keep/repo" rev-parse HEAD 2>&1)"

# --- 5. --build-context NAME=VALUE.
named=$t/named
mkdir -p "$named"
echo from-dir > "$named/n"
echo secret > "$named/ignored"
echo ignored > "$named/.dockerignore"
printf 'FROM busybox\nCOPY --from=nd /n /copied\nRUN --mount=from=nd,target=/m cat /m/n > /mounted; ls /m > /listing\n' > "$ctx/Dockerfile.named"
stat_before=$(ls "$XBUILD_ROOT/statcache" | wc -l)
build named-dir -f "$ctx/Dockerfile.named" --build-context nd="$named" "$ctx"
check named-dir-exit 0 $rc
check named-dir-copy from-dir "$(has named-dir/copied)"
check named-dir-mount from-dir "$(has named-dir/mounted)"
lacks named-dir-own-dockerignore ignored "$(has named-dir/listing)"
# A named directory keeps a stat cache as the main context does (one file per directory).
check named-dir-stat-cache $((stat_before + 1)) "$(ls "$XBUILD_ROOT/statcache" | wc -l)"
printf 'FROM nd\n' > "$ctx/Dockerfile.fromdir"
build named-from-dir -f "$ctx/Dockerfile.fromdir" --build-context nd="$named" "$ctx"
check named-from-dir from-dir "$(has named-from-dir/n)"
# docker-image://: FROM alpine becomes busybox (the name as BuildKit looks it up, :latest or not).
printf 'FROM alpine:latest\nRUN echo $((6*7)) > /answer\n' > "$ctx/Dockerfile.image"
build named-image -f "$ctx/Dockerfile.image" --build-context alpine=docker-image://busybox "$ctx"
check named-image-exit 0 $rc
check named-image-runs 42 "$(has named-image/answer)"
# A stage of the same name is replaced by the context.
printf 'FROM busybox AS base\nRUN echo stage > /which\nFROM base\n' > "$ctx/Dockerfile.stage"
build named-stage -f "$ctx/Dockerfile.stage" --build-context base="$named" "$ctx"
check named-stage-replaced from-dir "$(has named-stage/n)"
# oci-layout://DIR:TAG: an OCI layout (xbuild save --format oci, unpacked).
"$xb" save --format oci -o "$t/bb.tar" busybox >/dev/null 2>&1
mkdir -p "$t/layout" && tar -C "$t/layout" -xf "$t/bb.tar"
tagname=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"].get("org.opencontainers.image.ref.name",""))' "$t/layout/index.json")
build named-layout -f "$ctx/Dockerfile.image" --build-context "alpine=oci-layout://$t/layout:$tagname" "$ctx"
check named-layout-exit 0 $rc
check named-layout-runs 42 "$(has named-layout/answer)"
# git, and an https file (BuildKit v0.13's: the file itself, named as ADD names it).
printf 'FROM scratch\nCOPY --from=g /sub/file /g\nCOPY --from=h /ctx.tar.gz /h.tar.gz\n' > "$ctx/Dockerfile.remote"
build named-remote -f "$ctx/Dockerfile.remote" --build-context "g=git://127.0.0.1:$gport/repo.git#$commit2" \
  --build-context "h=$https/ctx.tar.gz" "$ctx"
check named-remote-exit 0 $rc
check named-git two "$(has named-remote/g)"
cmp -s "$t/out/named-remote/h.tar.gz" "$t/ctx.tar.gz" && ok named-https-file || bad named-https-file "$out"
out=$("$xb" build --build-context nonsense "$ctx" 2>&1); rc=$?
check named-bad-syntax-exit 2 $rc
contains named-bad-syntax-says "want NAME=VALUE" "$out"
out=$("$xb" build --build-context x=ftp://h/x "$ctx" 2>&1); rc=$?
check named-bad-scheme-exit 2 $rc
out=$("$xb" build -f "$ctx/Dockerfile.named" --build-context nd="$t/nonexistent" "$ctx" 2>&1); rc=$?
check named-missing-dir-exit 1 $rc
contains named-missing-dir-says "is not a directory" "$out"

# --- 6. hostile archives on stdin: a name leading out with "..", an
# absolute name and a symlink leading out are refused or kept inside.
mkdir -p "$t/outside"
python3 - "$t/evil-dotdot.tar" "$t/evil-link.tar" "$t/outside" <<'P'
import io, sys, tarfile
def add(tf, name, data=b'x', **kw):
    ti = tarfile.TarInfo(name); ti.size = len(data); [setattr(ti, k, v) for k, v in kw.items()]
    tf.addfile(ti, io.BytesIO(data) if ti.isfile() else None)
df = b'FROM scratch\nCOPY . /\n'
with tarfile.open(sys.argv[1], 'w') as tf:
    add(tf, 'Dockerfile', df)
    add(tf, '../../../../../../' + sys.argv[3].lstrip('/') + '/dotdot')
with tarfile.open(sys.argv[2], 'w') as tf:
    add(tf, 'Dockerfile', df)
    l = tarfile.TarInfo('out'); l.type = tarfile.SYMTYPE; l.linkname = sys.argv[3]; tf.addfile(l)
    add(tf, 'out/vialink')
    add(tf, sys.argv[3] + '/absolute')
P
out=$("$xb" build - < "$t/evil-dotdot.tar" 2>&1); rc=$?
check hostile-dotdot-refused 1 $rc
contains hostile-dotdot-names-entry "dotdot" "$out"
"$xb" build - < "$t/evil-link.tar" >/dev/null 2>&1
check hostile-nothing-outside "" "$(ls -A "$t/outside")"

[ "$fails" -eq 0 ] || exit 1
