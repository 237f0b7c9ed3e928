#include "common/in_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <new>

#include "common/error.h"
#include "common/fs.h"
#include "common/pattern.h"

namespace xb {

namespace {

// Linux's own limit on symlinks followed in one lookup is 40; BuildKit's
// RootPath allows 255. Either way a loop ends with ELOOP.
constexpr int kMaxSymlinks = 255;

uint64_t resolve_flags(InRoot mode) {
  switch (mode) {
    case InRoot::chroot: return RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    case InRoot::beneath: return RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    case InRoot::no_symlinks: return RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  }
  return RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
}

void split_into(std::string_view path, std::deque<std::string>& out, bool front) {
  std::vector<std::string_view> parts = split_path(path);
  if (front) out.insert(out.begin(), parts.begin(), parts.end());
  else out.insert(out.end(), parts.begin(), parts.end());
}

int read_link(int dirfd, const std::string& name, std::string& out) {
  out.assign(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, name.c_str(), out.data(), out.size());
    if (n < 0) return errno;
    if (static_cast<size_t>(n) < out.size()) {
      out.resize(static_cast<size_t>(n));
      return 0;
    }
    out.resize(out.size() * 2);
  }
}

int open_dir_at(int dirfd, const char* name) {
  int fd;
  do fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  return fd;
}

// The walk behind lookup_in_root and open_in_root's fallback: 0, or an
// errno with `at` naming the element where it stopped ("/a/b").
int walk(int rootfd, std::string_view path, bool follow_last, InRoot mode, InRootPath& r, std::string& at) {
  std::deque<std::string> pending;
  if (mode != InRoot::chroot && path.starts_with('/')) {
    at = "/";
    return EXDEV;
  }
  split_into(path, pending, false);
  // dirs[i] is the open directory of parts[0..i); dirs[0] is the root.
  std::vector<UniqueFd> dirs;
  dirs.emplace_back(::fcntl(rootfd, F_DUPFD_CLOEXEC, 0));
  if (!dirs.back()) return errno;
  auto shown = [&](const std::string& part) {
    std::string s;
    for (const auto& p : r.parts) s += "/" + p;
    return s + "/" + part;
  };
  int links = 0;
  bool missing = false;  // an element did not exist: the rest is lexical
  while (!pending.empty()) {
    std::string part = std::move(pending.front());
    pending.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      if (r.parts.empty()) {
        if (mode == InRoot::chroot) continue;
        at = "/..";
        return EXDEV;
      }
      r.parts.pop_back();
      if (r.existing > r.parts.size()) r.existing = r.parts.size();
      if (dirs.size() > r.parts.size() + 1) dirs.pop_back();
      if (r.existing == r.parts.size()) missing = false;
      continue;
    }
    if (missing) {
      r.parts.push_back(std::move(part));
      continue;
    }
    int dirfd = dirs.back().get();
    struct stat st;
    if (::fstatat(dirfd, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) {
        at = shown(part);
        return errno;
      }
      missing = true;
      r.parts.push_back(std::move(part));
      continue;
    }
    bool last = pending.empty();
    if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
      at = shown(part);
      if (mode == InRoot::no_symlinks || ++links > kMaxSymlinks) return ELOOP;
      std::string target;
      if (int err = read_link(dirfd, part, target)) return err;
      if (target.starts_with('/')) {
        if (mode != InRoot::chroot) return EXDEV;
        r.parts.clear();
        r.existing = 0;
        dirs.resize(1);
      }
      split_into(target, pending, true);
      continue;
    }
    r.parts.push_back(part);
    r.existing = r.parts.size();
    if (last) {
      r.st = st;
      break;
    }
    if (!S_ISDIR(st.st_mode)) {
      at = r.str();
      return ENOTDIR;
    }
    int sub = open_dir_at(dirfd, part.c_str());
    if (sub < 0) {
      at = r.str();
      return errno;
    }
    dirs.emplace_back(sub);
  }
  if (r.parts.empty()) {
    if (::fstat(rootfd, &r.st) < 0) return errno;
  } else if (r.exists() && r.st.st_ino == 0 && r.st.st_mode == 0) {
    // The path ended with ".." or "." after an existing element: stat it.
    if (::fstatat(dirs[r.parts.size() - 1].get(), r.parts.back().c_str(), &r.st, AT_SYMLINK_NOFOLLOW) < 0) {
      at = r.str();
      return errno;
    }
  }
  return 0;
}

}  // namespace

// open_in_root without openat2: the walk, then each canonical element opened
// with O_NOFOLLOW (a directory swapped for a symlink since the walk fails).
int detail::open_walked(int rootfd, const char* rel, int flags, InRoot mode) {
  InRootPath r;
  std::string at;
  bool follow_last = !(flags & O_NOFOLLOW);
  if (int err = walk(rootfd, rel, follow_last, mode, r, at)) {
    errno = err;
    return -1;
  }
  if (r.parts.empty()) return ::openat(rootfd, ".", flags | O_CLOEXEC);
  bool create = (flags & O_CREAT) && r.existing + 1 == r.parts.size();
  if (!r.exists() && !create) {
    errno = ENOENT;
    return -1;
  }
  UniqueFd dir(::fcntl(rootfd, F_DUPFD_CLOEXEC, 0));
  for (size_t i = 0; dir && i + 1 < r.parts.size(); ++i) dir = UniqueFd(open_dir_at(dir.get(), r.parts[i].c_str()));
  if (!dir) return -1;
  if (mode == InRoot::no_symlinks && r.exists() && S_ISLNK(r.st.st_mode) &&
      !((flags & O_PATH) && (flags & O_NOFOLLOW))) {
    errno = ELOOP;
    return -1;
  }
  return ::openat(dir.get(), r.parts.back().c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600);
}

std::string InRootPath::str() const {
  std::string s;
  for (const auto& p : parts) s += "/" + p;
  return s.empty() ? "/" : s;
}

int open_in_root(int rootfd, const char* rel, int flags, InRoot mode, bool fallback) noexcept {
  if (!rel || !*rel) rel = ".";
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = resolve_flags(mode);
  // O_CREAT needs a mode; nobody creates through here with other bits.
  if (flags & O_CREAT) how.mode = 0600;
  for (;;) {
    long fd = ::syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno != ENOSYS || !fallback) return -1;
    try {
      return detail::open_walked(rootfd, rel, flags, mode);
    } catch (const std::bad_alloc&) {
      errno = ENOMEM;
    } catch (...) {
      errno = EIO;
    }
    return -1;
  }
}

InRootPath lookup_in_root(int rootfd, std::string_view path, bool follow_last, InRoot mode, std::string_view display) {
  InRootPath r;
  std::string at;
  if (int err = walk(rootfd, path, follow_last, mode, r, at)) {
    std::string shown = std::string(display) + at;
    if (err == EXDEV) {
      fail(ErrorKind::invalid_argument,
           "`" + shown + "` leads out of `" + (display.empty() ? std::string("/") : std::string(display)) + "`");
    }
    throw_errno("resolve", shown, err);
  }
  return r;
}

}  // namespace xb
