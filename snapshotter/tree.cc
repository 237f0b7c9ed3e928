// Whole-tree helpers: copy (the native driver's prepare), remove, usage.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>
#include <system_error>

#include "common/error.h"
#include "snapshotter/internal.h"

namespace xb::snapshotter::detail {

namespace fs = std::filesystem;

namespace {

void copy_xattrs(const fs::path& src, const fs::path& dest) {
  char names[8192];
  ssize_t n = ::llistxattr(src.c_str(), names, sizeof names);
  for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) {
    char value[65536];
    ssize_t vn = ::lgetxattr(src.c_str(), names + i, value, sizeof value);
    if (vn < 0) continue;
    if (::lsetxattr(dest.c_str(), names + i, value, static_cast<size_t>(vn), 0) < 0 && errno != ENOTSUP &&
        errno != EPERM)
      throw_errno(std::string("setxattr ") + (names + i), dest.string());
  }
}

void copy_meta(const fs::path& dest, const struct stat& st) {
  if (::lchown(dest.c_str(), st.st_uid, st.st_gid) < 0 && errno != EPERM) throw_errno("chown", dest.string());
  if (!S_ISLNK(st.st_mode) && ::chmod(dest.c_str(), st.st_mode & 07777) < 0) throw_errno("chmod", dest.string());
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(AT_FDCWD, dest.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("utimensat", dest.string());
}

void copy_file(const fs::path& src, const fs::path& dest, const struct stat& st) {
  UniqueFd in = open_or_throw(src, O_RDONLY | O_NOFOLLOW);
  UniqueFd out = open_or_throw(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, static_cast<size_t>(left), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("copy_file_range", dest.string());
    }
    if (n == 0) break;
    left -= n;
  }
}

struct Copier {
  std::map<std::pair<dev_t, ino_t>, fs::path> links;

  void copy_dir(const fs::path& src, const fs::path& dest) {
    UniqueFd d = open_or_throw(src, O_PATH | O_DIRECTORY);
    for (const auto& name : sorted_names(d.get(), src.string())) {
      fs::path s = src / name, t = dest / name;
      struct stat st {};
      if (::lstat(s.c_str(), &st) < 0) throw_errno("lstat", s.string());
      if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        auto key = std::make_pair(st.st_dev, st.st_ino);
        if (auto it = links.find(key); it != links.end()) {
          if (::link(it->second.c_str(), t.c_str()) < 0) throw_errno("link", t.string());
          continue;
        }
        links.emplace(key, t);
      }
      switch (st.st_mode & S_IFMT) {
        case S_IFDIR:
          if (::mkdir(t.c_str(), 0700) < 0) throw_errno("mkdir", t.string());
          copy_dir(s, t);
          break;
        case S_IFREG: copy_file(s, t, st); break;
        case S_IFLNK: {
          char buf[PATH_MAX + 1];
          ssize_t n = ::readlink(s.c_str(), buf, PATH_MAX);
          if (n < 0) throw_errno("readlink", s.string());
          buf[n] = 0;
          if (::symlink(buf, t.c_str()) < 0) throw_errno("symlink", t.string());
          break;
        }
        default:
          if (::mknod(t.c_str(), st.st_mode, st.st_rdev) < 0) throw_errno("mknod", t.string());
      }
      copy_xattrs(s, t);
      copy_meta(t, st);
    }
  }
};

}  // namespace

void copy_tree(const fs::path& src, const fs::path& dest) {
  Copier c;
  c.copy_dir(src, dest);
  struct stat st {};
  if (::lstat(src.c_str(), &st) < 0) throw_errno("lstat", src.string());
  copy_xattrs(src, dest);
  copy_meta(dest, st);
}

void remove_tree(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (!ec) return;
  // Without CAP_DAC_OVERRIDE, read-only directories block their entries'
  // removal: open them up and retry.
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  }
  ::chmod(path.c_str(), 0700);
  fs::remove_all(path, ec);
  if (ec) throw_errno("remove", path.string(), ec.value());
}

Usage disk_usage(const fs::path& path) {
  Usage u;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::error_code ec;
  auto count = [&](const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) < 0) return;
    if (!seen.insert({st.st_dev, st.st_ino}).second) return;
    u.inodes++;
    u.size += static_cast<uint64_t>(st.st_blocks) * 512;
  };
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    count(it->path());
  if (ec) throw_errno("walk", path.string(), ec.value());
  return u;
}

}  // namespace xb::snapshotter::detail
