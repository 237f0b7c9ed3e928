#include "fileop/rootfs.h"

#include <dirent.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/error.h"
#include "fileop/pattern.h"

namespace xb::fileop {

namespace {

// The record getdents64 fills (glibc declares no such type).
struct linux_dirent64 {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

}  // namespace

std::string join_rel(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  std::string s(a);
  s += '/';
  s += b;
  return s;
}

RootDir::RootDir(const std::filesystem::path& host_path, std::string display) : display_(std::move(display)) {
  fd_ = open_or_throw(host_path, O_RDONLY | O_DIRECTORY);
}

RootDir::RootDir(UniqueFd fd, std::string display) : fd_(std::move(fd)), display_(std::move(display)) {}

std::string RootDir::display(const std::vector<std::string>& parts, size_t count) const {
  std::string s = display_;
  for (size_t i = 0; i < count; ++i) s += "/" + parts[i];
  return s.empty() ? "/" : s;
}

std::string RootDir::display(std::string_view rel) const {
  std::string s = display_;
  if (!rel.empty()) {
    s += '/';
    s += rel;
  }
  return s.empty() ? "/" : s;
}

UniqueFd open_subdir(int dirfd, const std::string& name, std::string_view shown) {
  int fd;
  do fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno("open", shown);
  return UniqueFd(fd);
}

RootDir::Resolved RootDir::resolve(std::string_view path, bool follow_last) const {
  return lookup_in_root(fd_.get(), path, follow_last, InRoot::chroot, display_);
}

UniqueFd RootDir::open_dir(const std::vector<std::string>& parts, size_t count) const {
  UniqueFd cur(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!cur) throw_errno("dup", display(parts, 0));
  for (size_t i = 0; i < count; ++i) cur = open_subdir(cur.get(), parts[i], display(parts, i + 1));
  return cur;
}

UniqueFd RootDir::mkdir_all(std::string_view path, mode_t mode, Owner owner,
                            std::vector<std::string>* canonical) const {
  Resolved r = resolve(path, true);
  if (r.exists() && !r.parts.empty() && !S_ISDIR(r.st.st_mode)) {
    fail(ErrorKind::failed_precondition, "mkdir " + display(r.parts, r.parts.size()) + ": not a directory");
  }
  UniqueFd cur = open_dir(r.parts, r.existing);
  for (size_t i = r.existing; i < r.parts.size(); ++i) {
    const std::string& name = r.parts[i];
    std::string shown = display(r.parts, i + 1);
    if (::mkdirat(cur.get(), name.c_str(), 0700) < 0 && errno != EEXIST) throw_errno("mkdir", shown);
    UniqueFd next = open_subdir(cur.get(), name, shown);
    if (::fchown(next.get(), owner.uid, owner.gid) < 0) throw_errno("chown", shown);
    if (::fchmod(next.get(), mode) < 0) throw_errno("chmod", shown);
    cur = std::move(next);
  }
  if (canonical) *canonical = r.parts;
  return cur;
}

std::vector<std::string> list_dir(int dirfd, std::string_view shown) {
  // getdents64 straight on the directory fd: opendir would cost an openat,
  // an fstat, an fcntl and a close per directory, which a warm context hash
  // (one fstatat per file, nothing read) notices.
  if (::lseek(dirfd, 0, SEEK_SET) < 0) throw_errno("lseek", shown);
  std::vector<std::string> names;
  alignas(8) char buf[32768];
  for (;;) {
    long n = ::syscall(SYS_getdents64, dirfd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("getdents64", shown);
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct linux_dirent64*>(buf + off);
      std::string_view name = d->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
      off += d->d_reclen;
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

void remove_all_at(int dirfd, const std::string& name, std::string_view shown) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    throw_errno("lstat", shown);
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd sub = open_subdir(dirfd, name, shown);
    for (const auto& child : list_dir(sub.get(), shown)) {
      remove_all_at(sub.get(), child, std::string(shown) + "/" + child);
    }
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0) throw_errno("rmdir", shown);
  } else if (::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT) {
    throw_errno("unlink", shown);
  }
}

}  // namespace xb::fileop
