// Contexts that are not a directory of the host: a git repository at one
// ref (cloned with the machine's git), and a tar archive (stdin, a file, a
// download) unpacked by the one extractor, common/tar_extract.h. Both end
// in a directory that the rest of the build reads like any context.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/interrupt.h"
#include "common/tar.h"
#include "common/tar_extract.h"
#include "fileop/fileop.h"

extern char** environ;

namespace xb::fileop {

namespace fs = std::filesystem;

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "https://user:token@host/x" → "https://host/x": credentials never reach a message.
std::string redact(std::string url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto at = url.find('@', scheme + 3);
  auto slash = url.find('/', scheme + 3);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) url.erase(scheme + 3, at + 1 - scheme - 3);
  return url;
}

struct GitResult {
  int status = 0;
  std::string output;  // stdout and stderr together
};

// Runs git with args in cwd, its output captured; waits interruptibly (an
// interrupt kills git, and the caller's TempDir removes what it left).
// Prompts are off: a repository that needs credentials fails at once.
GitResult run_git(const std::vector<std::string>& args, const fs::path& cwd) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (starts_with(v, "GIT_TERMINAL_PROMPT=") || starts_with(v, "GIT_ASKPASS=") || starts_with(v, "SSH_ASKPASS="))
      continue;
    env.emplace_back(v);
  }
  env.push_back("GIT_TERMINAL_PROMPT=0");
  env.push_back("GIT_ASKPASS=true");
  if (!std::getenv("GIT_SSH_COMMAND")) env.push_back("GIT_SSH_COMMAND=ssh -o BatchMode=yes -o ConnectTimeout=30");
  // A stalled transfer ends (bounded): less than 1 KB/s for a minute.
  if (!std::getenv("GIT_HTTP_LOW_SPEED_LIMIT")) env.push_back("GIT_HTTP_LOW_SPEED_LIMIT=1000");
  if (!std::getenv("GIT_HTTP_LOW_SPEED_TIME")) env.push_back("GIT_HTTP_LOW_SPEED_TIME=60");
  // The CAs an https download trusts (SSL_CERT_FILE, as Go's client) are git's too.
  if (const char* f = std::getenv("SSL_CERT_FILE"); f && *f && !std::getenv("GIT_SSL_CAINFO"))
    env.push_back(std::string("GIT_SSL_CAINFO=") + f);
  if (const char* d = std::getenv("SSL_CERT_DIR"); d && *d && !std::getenv("GIT_SSL_CAPATH"))
    env.push_back(std::string("GIT_SSL_CAPATH=") + d);
  env.push_back("LC_ALL=C");
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> full = {
      "git", "-c", "advice.detachedHead=false", "-c", "init.defaultBranch=main", "-c", "core.hooksPath=/dev/null"};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "git", &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc == ENOENT)
    fail(ErrorKind::failed_precondition,
         "git is not installed: a git context needs the git command (apt-get install git)");
  if (rc != 0) throw_errno("posix_spawn git", "", rc);
  wr.reset();
  GitResult out;
  char buf[4096];
  for (;;) {
    if (interrupted()) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      check_interrupt();
    }
    struct pollfd p = {rd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, 200);
    if (n < 0 && errno != EINTR) throw_errno("poll");
    if (n <= 0) continue;
    ssize_t r = ::read(rd.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (out.output.size() < (1 << 16)) out.output.append(buf, static_cast<size_t>(r));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

// git's last meaningful line ("fatal: …"), for a one-line message.
std::string last_line(const std::string& text) {
  std::string best;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find('\n', i);
    if (j == std::string::npos) j = text.size();
    std::string line = text.substr(i, j - i);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (starts_with(line, "fatal: ") || starts_with(line, "error: ")) return line.substr(line.find(' ') + 1);
    if (!line.empty()) best = line;
    i = j + 1;
  }
  return best;
}

bool is_hex_commit(std::string_view s) {
  return s.size() >= 7 && s.size() <= 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

std::optional<GitRef> GitRef::parse(std::string_view text) {
  std::string s(text);
  std::string fragment;
  if (auto hash = s.find('#'); hash != std::string::npos) {
    fragment = s.substr(hash + 1);
    s.resize(hash);
  }
  if (s.empty() || starts_with(s, "./") || starts_with(s, "../")) return std::nullopt;
  GitRef g;
  if (starts_with(s, "github.com/")) {
    g.remote = "https://" + s;
  } else if (starts_with(s, "git@") || starts_with(s, "git://") || starts_with(s, "ssh://") ||
             starts_with(s, "file://")) {
    g.remote = s;
  } else if (starts_with(s, "https://") || starts_with(s, "http://")) {
    // An http(s) URL is a repository when its path ends in .git (buildx,
    // BuildKit's gitutil); otherwise it is a file to download.
    std::string path = s;
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (path.size() < 4 || path.compare(path.size() - 4, 4, ".git") != 0) return std::nullopt;
    g.remote = s;
  } else {
    return std::nullopt;
  }
  auto colon = fragment.find(':');
  g.ref = fragment.substr(0, colon);
  if (colon != std::string::npos) g.subdir = fragment.substr(colon + 1);
  while (!g.subdir.empty() && g.subdir.front() == '/') g.subdir.erase(0, 1);
  while (!g.subdir.empty() && g.subdir.back() == '/') g.subdir.pop_back();
  if (g.subdir == ".") g.subdir.clear();
  return g;
}

std::string GitRef::str() const {
  std::string out = redact(remote);
  if (!ref.empty() || !subdir.empty()) out += "#" + ref;
  if (!subdir.empty()) out += ":" + subdir;
  return out;
}

std::string git_checkout(const GitRef& ref, const fs::path& dest, bool keep_git_dir) {
  const std::string shown = ref.str();
  for (const auto& part : fs::path(ref.subdir))
    if (part == "..")
      fail(ErrorKind::invalid_argument, "git context " + shown + ": the subdirectory may not contain \"..\"");
  // Everything happens in a temporary directory beside dest (removed on
  // any failure or interrupt); dest appears by a rename when complete.
  TempDir tmp(".xbuild-git", dest.parent_path());
  const fs::path work = tmp.path() / "checkout";
  auto git = [&](std::vector<std::string> args, const std::string& what) {
    GitResult r = run_git(args, tmp.path());
    if (r.status != 0) {
      std::string why = last_line(r.output);
      fail(ErrorKind::unavailable, "git context " + shown + ": " + what + ": " + (why.empty() ? "git failed" : why));
    }
    return r.output;
  };
  git({"init", "-q", work.string()}, "git init");
  git({"-C", work.string(), "remote", "add", "origin", ref.remote}, "git remote add");
  std::string want = ref.ref.empty() ? "HEAD" : ref.ref;
  // One ref, shallow. A commit the server does not advertise may need the
  // whole history: fetch everything once before giving up.
  GitResult r = run_git({"-C", work.string(), "fetch", "-q", "--depth=1", "--no-tags", "origin", want}, tmp.path());
  std::string checkout = "FETCH_HEAD";
  if (r.status != 0) {
    std::string why = last_line(r.output);
    if (!is_hex_commit(want) || why.find("couldn't find remote ref") == std::string::npos) {
      if (why.find("couldn't find remote ref") != std::string::npos)
        fail(ErrorKind::not_found, "git context " + shown + ": ref \"" + want +
                                       "\" not found in the repository (name a branch, a tag or a commit)");
      fail(ErrorKind::unavailable, "git context " + shown + ": fetch: " + (why.empty() ? "git failed" : why));
    }
    git({"-C", work.string(), "fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"}, "fetch");
    GitResult c = run_git({"-C", work.string(), "rev-parse", "--verify", "-q", want + "^{commit}"}, tmp.path());
    if (c.status != 0)
      fail(ErrorKind::not_found, "git context " + shown + ": ref \"" + want +
                                     "\" not found in the repository (name a branch, a tag or a commit)");
    checkout = last_line(c.output);
  }
  git({"-C", work.string(), "checkout", "-q", "--detach", checkout}, "checkout");
  std::string commit = last_line(git({"-C", work.string(), "rev-parse", "HEAD"}, "rev-parse"));
  fs::path result = work;
  if (!ref.subdir.empty()) {
    // The subdirectory itself, never through a symlink (it could lead out of the checkout).
    fs::path at = work;
    for (const auto& part : fs::path(ref.subdir)) {
      at /= part;
      struct stat st;
      if (::lstat(at.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
        fail(ErrorKind::not_found, "git context " + shown + ": subdirectory \"" + ref.subdir +
                                       "\" is not a directory of commit " + commit.substr(0, 12));
    }
    result = at;
  } else if (!keep_git_dir) {
    remove_tree(work / ".git");  // BuildKit removes .git unless keep-git-dir
  }
  if (::rename(result.c_str(), dest.c_str()) < 0) throw_errno("rename", dest.string());
  return commit;
}

std::optional<std::string> unpack_context(int fd, const fs::path& dir, const std::string& display) {
  // A tar archive (plain or compressed, as docker build accepts on stdin),
  // or else the Dockerfile itself. The stream is a file: it is read twice.
  bool is_archive = false;
  {
    tar::Archive a = tar::reader(tar::Decompress::docker);
    struct archive_entry* entry;
    is_archive = archive_read_open_fd(a.get(), fd, 65536) == ARCHIVE_OK &&
                 tar::next_header(a.get(), &entry) == ARCHIVE_OK;
  }
  if (::lseek(fd, 0, SEEK_SET) < 0) throw_errno("lseek", display);
  if (!is_archive) {
    std::string text;
    read_chunks(fd, display, [&](std::string_view piece) {
      if (text.size() > (size_t{8} << 20))
        fail(ErrorKind::invalid_argument, display + ": neither a tar archive nor a Dockerfile (over 8 MiB)");
      text.append(piece);
    });
    return text;
  }
  UniqueFd root = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
  tar::ExtractOptions xo;
  xo.whiteouts = tar::ExtractOptions::Whiteouts::none;
  // A name or link leading out of the context is refused, as ADD refuses it.
  xo.refuse_outside = true;
  xo.what = display + ": archive entry";
  tar::Extractor x(root.get(), std::move(xo));
  tar::Archive reader = tar::reader(tar::Decompress::docker);
  struct archive* a = reader.get();
  auto archive_fail = [&](std::string_view what) {
    fail(ErrorKind::invalid_argument, display + ": " + std::string(what) + ": " + tar::error(a));
  };
  if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) archive_fail("open");
  for (;;) {
    check_interrupt();
    struct archive_entry* e;
    int r = tar::next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) archive_fail("read");
    x.entry(a, e);
  }
  x.finish();
  return std::nullopt;
}

}  // namespace xb::fileop
