#include "common/tar_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "common/in_root.h"
#include "common/userns.h"
#include "common/tar.h"

namespace xb::tar {

const char* overlay_opaque_xattr() { return in_user_namespace() ? "user.overlay.opaque" : "trusted.overlay.opaque"; }

bool is_overlay_xattr(const char* name) {
  return std::strncmp(name, "trusted.overlay.", 16) == 0 ||
         (in_user_namespace() && std::strncmp(name, "user.overlay.", 13) == 0);
}

namespace {

// The names in directory `dirfd`, without "." and "..".
std::vector<std::string> names_in(int dirfd, const std::string& shown) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("open", shown);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    throw_errno("opendir", shown);
  }
  std::vector<std::string> out;
  while (struct dirent* de = ::readdir(d)) {
    std::string_view n = de->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

// Removes `name` in `dirfd` and everything below it, never following a symlink.
void remove_all(int dirfd, const std::string& name, const std::string& shown) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    throw_errno("lstat", shown);
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) throw_errno("open", shown);
    for (const auto& child : names_in(sub.get(), shown)) remove_all(sub.get(), child, shown + "/" + child);
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0) throw_errno("rmdir", shown);
  } else if (::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT) {
    throw_errno("unlink", shown);
  }
}

std::string join(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

}  // namespace

struct Extractor::Impl {
  Impl(int rootfd, ExtractOptions options) : opt_(std::move(options)) {
    root_ = UniqueFd(::fcntl(rootfd, F_DUPFD_CLOEXEC, 0));
    if (!root_) throw_errno("dup", opt_.display);
  }

  void entry(archive* a, archive_entry* e) {
    const char* raw_name = archive_entry_pathname(e);
    std::vector<std::string> parts = components(raw_name ? raw_name : "", "");
    if (parts.empty()) return;  // the root itself: keep the root's own metadata
    const std::string base = parts.back();
    const std::string rel = join(parts, parts.size());

    if (opt_.whiteouts != ExtractOptions::Whiteouts::none && base.rfind(".wh.", 0) == 0) {
      whiteout(parts, base);
      return;
    }
    UniqueFd parent = open_parent(parts);
    const char* hardlink = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    created_.insert(rel);

    if (hardlink) {
      link(parent.get(), base, rel, hardlink);
      return;
    }
    struct stat st {};
    bool exists = ::fstatat(parent.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (type == AE_IFDIR) {
      if (exists && !S_ISDIR(st.st_mode)) remove_at(parent.get(), base, rel, st);
      if (!exists || !S_ISDIR(st.st_mode)) {
        if (::mkdirat(parent.get(), base.c_str(), 0700) < 0) throw_errno("mkdir", display(rel));
      }
      UniqueFd d(openat_checked(parent.get(), base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, rel));
      set_owner_mode_xattrs(d.get(), parent.get(), base, rel, e, false);
      dir_times_.emplace_back(rel, mtime(e));
      return;
    }
    if (exists) remove_at(parent.get(), base, rel, st);
    switch (type) {
      case AE_IFREG: {
        int fd = ::openat(parent.get(), base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) throw_errno("create", display(rel));
        UniqueFd f(fd);
        copy_data(a, f.get(), rel);
        set_owner_mode_xattrs(f.get(), parent.get(), base, rel, e, false);
        struct timespec ts[2] = {mtime(e), mtime(e)};
        if (::futimens(f.get(), ts) < 0) throw_errno("futimens", display(rel));
        return;
      }
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (::symlinkat(target ? target : "", parent.get(), base.c_str()) < 0) throw_errno("symlink", display(rel));
        set_owner_mode_xattrs(-1, parent.get(), base, rel, e, true);
        set_times_nofollow(parent.get(), base, mtime(e), rel);
        return;
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO: {
        mode_t m = static_cast<mode_t>(type) | (archive_entry_perm(e) & 07777);
        dev_t dev = type == AE_IFIFO ? 0 : archive_entry_rdev(e);
        if (::mknodat(parent.get(), base.c_str(), m, dev) < 0) {
          // Without CAP_MKNOD device nodes are skipped, as Docker does rootless.
          if (errno == EPERM && type != AE_IFIFO) return;
          throw_errno("mknod", display(rel));
        }
        set_owner_mode_xattrs(-1, parent.get(), base, rel, e, false);
        set_times_nofollow(parent.get(), base, mtime(e), rel);
        return;
      }
      case AE_IFSOCK: return;  // sockets cannot be recreated from a tar and mean nothing at rest
      default: fail(ErrorKind::invalid_argument, opt_.what + " " + rel + ": unsupported file type");
    }
  }

  // Directory mtimes last, deepest first, since creating children changes them.
  void finish() {
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
      UniqueFd d = resolve(it->first, O_RDONLY | O_DIRECTORY);
      if (!d) continue;
      struct timespec ts[2] = {it->second, it->second};
      if (::futimens(d.get(), ts) < 0) throw_errno("futimens", display(it->first));
    }
  }

 private:
  std::string display(const std::string& rel) const { return rel.empty() ? opt_.display : opt_.display + "/" + rel; }

  // The path inside the root that a tar name means: "./a/../b" → "b",
  // "/etc/x" → "etc/x"; "../../x" → "x" (".." stops at the root), or with
  // refuse_outside an error, as BuildKit refuses such a name in ADD.
  std::vector<std::string> components(std::string_view name, std::string_view link_of) const {
    std::vector<std::string> parts;
    bool outside = false;
    size_t i = 0;
    while (i <= name.size()) {
      size_t j = name.find('/', i);
      if (j == std::string_view::npos) j = name.size();
      std::string_view c = name.substr(i, j - i);
      if (c.empty() || c == ".") {
      } else if (c == "..") {
        if (parts.empty()) outside = true;
        else parts.pop_back();
      } else {
        parts.emplace_back(c);
      }
      i = j + 1;
    }
    if (outside && opt_.refuse_outside) {
      if (link_of.empty())
        fail(ErrorKind::invalid_argument, opt_.what + " \"" + std::string(name) + "\" is outside the extraction root");
      fail(ErrorKind::invalid_argument, opt_.what + " \"" + std::string(link_of) + "\": hard link to \"" +
                                            std::string(name) + "\" points outside the extraction root");
    }
    return parts;
  }

  static struct timespec mtime(archive_entry* e) {
    struct timespec ts {};
    if (archive_entry_mtime_is_set(e)) {
      ts.tv_sec = archive_entry_mtime(e);
      ts.tv_nsec = archive_entry_mtime_nsec(e);
    }
    return ts;
  }

  // Inside the root (common/in_root.h); an invalid fd for ENOENT.
  UniqueFd resolve(const std::string& rel, int flags) {
    UniqueFd fd(open_in_root(root_.get(), rel, flags));
    if (!fd && errno != ENOENT) throw_errno("openat2", display(rel));
    return fd;
  }

  int openat_checked(int dirfd, const std::string& base, int flags, const std::string& rel) {
    int fd = ::openat(dirfd, base.c_str(), flags | O_CLOEXEC);
    if (fd < 0) throw_errno("open", display(rel));
    return fd;
  }

  // The directory that holds parts.back(), created (0755, like tar) where missing.
  UniqueFd open_parent(const std::vector<std::string>& parts) {
    size_t n = parts.size() - 1;
    std::string prel = join(parts, n);
    if (UniqueFd fd = resolve(prel, O_PATH | O_DIRECTORY)) return fd;
    // Missing parents are made where a chroot's mkdir -p makes them: through
    // a symlink whose target does not exist yet, that target, in the root.
    InRootPath r = lookup_in_root(root_.get(), prel, true, InRoot::chroot, opt_.display);
    if (r.exists()) throw_errno("open", display(prel), ENOTDIR);
    UniqueFd cur(::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
    for (size_t i = 0; i < r.parts.size(); ++i) {
      std::string p = join(r.parts, i + 1);
      if (i >= r.existing) {
        // Implied parents: 0755 (no umask), root-owned, as tar and BuildKit make them.
        if (::mkdirat(cur.get(), r.parts[i].c_str(), 0755) < 0 && errno != EEXIST) throw_errno("mkdir", display(p));
        if (::fchmodat(cur.get(), r.parts[i].c_str(), 0755, 0) < 0) throw_errno("chmod", display(p));
      }
      UniqueFd next(::openat(cur.get(), r.parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next) throw_errno("open", display(p));
      cur = std::move(next);
    }
    return cur;
  }

  void remove_at(int parent, const std::string& base, const std::string& rel, const struct stat& st) {
    (void)st;
    remove_all(parent, base, display(rel));
  }

  void whiteout(const std::vector<std::string>& parts, const std::string& base) {
    UniqueFd parent = open_parent(parts);
    std::string dir_rel = join(parts, parts.size() - 1);
    if (base == ".wh..wh..opq") {
      if (opt_.whiteouts == ExtractOptions::Whiteouts::overlay) {
        UniqueFd d = resolve(dir_rel, O_RDONLY | O_DIRECTORY);
        if (!d) fail(ErrorKind::io, "opaque dir `" + display(dir_rel) + "` vanished");
        if (::fsetxattr(d.get(), overlay_opaque_xattr(), "y", 1, 0) < 0)
          throw_errno(std::string("setxattr ") + overlay_opaque_xattr(), display(dir_rel));
      } else {
        // Everything in the directory that this layer did not put there goes.
        for (const auto& name : names_in(parent.get(), display(dir_rel))) {
          std::string child = dir_rel.empty() ? name : dir_rel + "/" + name;
          if (created_.count(child)) continue;
          struct stat st {};
          if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
            remove_at(parent.get(), name, child, st);
        }
      }
      return;
    }
    std::string victim = base.substr(4);
    if (victim.empty() || victim == "." || victim == "..") return;
    std::string rel = dir_rel.empty() ? victim : dir_rel + "/" + victim;
    struct stat st {};
    if (::fstatat(parent.get(), victim.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
      remove_at(parent.get(), victim, rel, st);
    if (opt_.whiteouts == ExtractOptions::Whiteouts::overlay) {
      if (::mknodat(parent.get(), victim.c_str(), S_IFCHR | 0000, makedev(0, 0)) < 0)
        throw_errno("mknod whiteout", display(rel));
    }
  }

  void link(int parent, const std::string& base, const std::string& rel, const char* target_name) {
    std::vector<std::string> tparts = components(target_name, rel);
    if (tparts.empty()) fail(ErrorKind::invalid_argument, opt_.what + " " + rel + ": hardlink to the root");
    UniqueFd tparent = resolve(join(tparts, tparts.size() - 1), O_PATH | O_DIRECTORY);
    std::string trel = join(tparts, tparts.size());
    if (!tparent)
      fail(ErrorKind::invalid_argument, opt_.what + " " + rel + ": hardlink target " + trel + " does not exist");
    struct stat st {};
    if (::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      struct stat tst {};
      if (::fstatat(tparent.get(), tparts.back().c_str(), &tst, AT_SYMLINK_NOFOLLOW) == 0 && tst.st_ino == st.st_ino &&
          tst.st_dev == st.st_dev)
        return;
      remove_at(parent, base, rel, st);
    }
    if (::linkat(tparent.get(), tparts.back().c_str(), parent, base.c_str(), 0) < 0) {
      if (errno == ENOENT)
        fail(ErrorKind::invalid_argument,
             opt_.what + " " + rel + ": hardlink target " + trel + " is not in this layer");
      throw_errno("link", display(rel));
    }
  }

  void copy_data(archive* a, int fd, const std::string& rel) {
    const void* buf;
    size_t size;
    la_int64_t offset;
    off_t written = 0;
    for (;;) {
      int r = archive_read_data_block(a, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) fail(ErrorKind::data_loss, "read " + opt_.what + " " + rel + ": " + tar::error(a));
      // Sparse entries arrive with holes: seek over them.
      if (offset != written && ::lseek(fd, offset, SEEK_SET) < 0) throw_errno("lseek", display(rel));
      write_all(fd, std::string_view(static_cast<const char*>(buf), size), display(rel));
      written = offset + static_cast<off_t>(size);
    }
    off_t end = ::lseek(fd, 0, SEEK_CUR);
    if (end >= 0 && end < written && ::ftruncate(fd, written) < 0) throw_errno("ftruncate", display(rel));
  }

  void set_owner_mode_xattrs(int fd, int parent, const std::string& base, const std::string& rel, archive_entry* e,
                             bool symlink) {
    uid_t uid = opt_.owner ? opt_.owner->first : static_cast<uid_t>(archive_entry_uid(e));
    gid_t gid = opt_.owner ? opt_.owner->second : static_cast<gid_t>(archive_entry_gid(e));
    // Owner before mode: chown clears setuid and setgid bits.
    int r = fd >= 0 ? ::fchown(fd, uid, gid) : ::fchownat(parent, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
    if (r < 0 && errno != EPERM) throw_errno("chown", display(rel));
    if (!symlink) {
      mode_t mode = archive_entry_perm(e) & 07777;
      r = fd >= 0 ? ::fchmod(fd, mode) : ::fchmodat(parent, base.c_str(), mode, 0);
      if (r < 0) throw_errno("chmod", display(rel));
    }
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      // A layer must not fake overlay's own bookkeeping.
      if (is_overlay_xattr(name)) continue;
      if (fd >= 0) {
        r = ::fsetxattr(fd, name, value, size, 0);
      } else {
        std::string p = "/proc/self/fd/" + std::to_string(parent) + "/" + base;
        r = ::lsetxattr(p.c_str(), name, value, size, 0);
      }
      if (r < 0 && errno != ENOTSUP && errno != EPERM) throw_errno(std::string("setxattr ") + name, display(rel));
    }
  }

  void set_times_nofollow(int parent, const std::string& base, struct timespec t, const std::string& rel) {
    struct timespec ts[2] = {t, t};
    if (::utimensat(parent, base.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("utimensat", display(rel));
  }

  ExtractOptions opt_;
  UniqueFd root_;
  std::set<std::string> created_;
  std::vector<std::pair<std::string, struct timespec>> dir_times_;
};

Extractor::Extractor(int rootfd, ExtractOptions options) : impl_(std::make_unique<Impl>(rootfd, std::move(options))) {}
Extractor::~Extractor() = default;
void Extractor::entry(archive* a, archive_entry* e) { impl_->entry(a, e); }
void Extractor::finish() { impl_->finish(); }

}  // namespace xb::tar
