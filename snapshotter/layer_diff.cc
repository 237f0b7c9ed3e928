// Diffing a snapshot into an OCI layer tar. With overlay, the upper dir IS
// the change set (whiteout char devices → ".wh." entries, the opaque xattr →
// ".wh..wh..opq"), so only the changed files are ever visited; the native
// driver compares two full trees. Entries are written in a fixed order
// (parents first, names sorted bytewise) with numeric owners only, so that
// the same tree always gives the same bytes and diff ID.
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "common/error.h"
#include "common/tar.h"
#include "snapshotter/internal.h"

namespace xb::snapshotter::detail {

namespace fs = std::filesystem;

std::vector<std::string> sorted_names(int dirfd, const std::string& what) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("open", what);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    throw_errno("fdopendir", what);
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    names.emplace_back(de->d_name);
  }
  int err = errno;
  ::closedir(d);
  if (err) throw_errno("readdir", what, err);
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

std::vector<std::string> sorted_names_at(const fs::path& dir) {
  UniqueFd fd = open_or_throw(dir, O_PATH | O_DIRECTORY);
  return sorted_names(fd.get(), dir.string());
}

std::optional<struct stat> lstat_opt(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) return st;
  if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
  throw_errno("lstat", p.string());
}

std::string child_rel(const std::string& rel, const std::string& name) { return rel.empty() ? name : rel + "/" + name; }

struct Change {
  enum Kind { add, whiteout, opaque } kind;
  std::string rel;  // path in the layer
  fs::path abs;     // for add: where the file is now
  struct stat st {};
};

class TarWriter {
 public:
  TarWriter(const ByteSink& sink, const DiffOptions& options) : sink_(sink), options_(options) {
    if (archive_write_open(a_.get(), this, nullptr, write_cb, nullptr) != ARCHIVE_OK) raise("open");
    entry_ = archive_entry_new();
  }
  ~TarWriter() {
    // First: freeing an unclosed writer flushes into write_cb, which needs sha_.
    a_.reset();
    archive_entry_free(entry_);
  }

  void write(const Change& c) {
    archive_entry_clear(entry_);
    if (c.kind != Change::add) {
      std::string name = c.kind == Change::opaque ? child_rel(c.rel, ".wh..wh..opq") : c.rel;
      archive_entry_set_pathname(entry_, name.c_str());
      archive_entry_set_filetype(entry_, AE_IFREG);
      archive_entry_set_perm(entry_, 0);
      archive_entry_set_size(entry_, 0);
      archive_entry_set_mtime(entry_, 0, 0);
      header(name);
      return;
    }
    const struct stat& st = c.st;
    std::string name = S_ISDIR(st.st_mode) ? c.rel + "/" : c.rel;
    archive_entry_set_pathname(entry_, name.c_str());
    archive_entry_set_uid(entry_, st.st_uid);
    archive_entry_set_gid(entry_, st.st_gid);
    archive_entry_set_perm(entry_, st.st_mode & 07777);
    int64_t mtime = st.st_mtim.tv_sec;
    long nsec = st.st_mtim.tv_nsec;
    if (options_.source_date_epoch && mtime >= *options_.source_date_epoch) {
      mtime = *options_.source_date_epoch;
      nsec = 0;
    }
    // Whole seconds: what every tar reader keeps, and no pax header per file.
    (void)nsec;
    archive_entry_set_mtime(entry_, mtime, 0);
    add_xattrs(c.abs);
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = hardlinks_.find(key);
      if (it != hardlinks_.end()) {
        archive_entry_set_filetype(entry_, AE_IFREG);
        archive_entry_set_hardlink(entry_, it->second.c_str());
        archive_entry_set_size(entry_, 0);
        header(name);
        return;
      }
      hardlinks_.emplace(key, c.rel);
    }
    switch (st.st_mode & S_IFMT) {
      case S_IFDIR:
        archive_entry_set_filetype(entry_, AE_IFDIR);
        header(name);
        return;
      case S_IFLNK: {
        char buf[PATH_MAX + 1];
        ssize_t n = ::readlink(c.abs.c_str(), buf, PATH_MAX);
        if (n < 0) throw_errno("readlink", c.abs.string());
        buf[n] = 0;
        archive_entry_set_filetype(entry_, AE_IFLNK);
        archive_entry_set_symlink(entry_, buf);
        header(name);
        return;
      }
      case S_IFCHR:
      case S_IFBLK:
      case S_IFIFO:
        archive_entry_set_filetype(entry_, st.st_mode & S_IFMT);
        archive_entry_set_rdev(entry_, st.st_rdev);
        header(name);
        return;
      case S_IFSOCK: return;  // not representable; Docker skips them too
      case S_IFREG: {
        UniqueFd fd = open_or_throw(c.abs, O_RDONLY | O_NOFOLLOW);
        archive_entry_set_filetype(entry_, AE_IFREG);
        archive_entry_set_size(entry_, st.st_size);
        header(name);
        std::vector<char>& buf = buf_;
        off_t left = st.st_size;
        while (left > 0) {
          ssize_t n = ::read(fd.get(), buf.data(), std::min<off_t>(left, static_cast<off_t>(buf.size())));
          if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("read", c.abs.string());
          }
          if (n == 0) break;  // shrank while we read: libarchive pads with zeros
          if (archive_write_data(a_.get(), buf.data(), static_cast<size_t>(n)) < 0) raise("write " + name);
          left -= n;
        }
        return;
      }
    }
  }

  LayerResult finish() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) raise("close");
    rethrow();
    return LayerResult{sha_.finish(), size_};
  }

 private:
  static la_ssize_t write_cb(archive*, void* data, const void* buf, size_t n) {
    auto* self = static_cast<TarWriter*>(data);
    try {
      self->sink_(buf, n);
    } catch (...) {
      self->sink_error_ = std::current_exception();
      return -1;
    }
    self->sha_.update(buf, n);
    self->size_ += n;
    return static_cast<la_ssize_t>(n);
  }

  void rethrow() {
    if (sink_error_) std::rethrow_exception(sink_error_);
  }

  [[noreturn]] void raise(const std::string& what) {
    rethrow();
    fail(ErrorKind::io, "write layer tar: " + what + ": " + tar::error(a_.get()));
  }

  void header(const std::string& name) {
    if (tar::write_header(a_.get(), entry_) < ARCHIVE_OK) raise("entry " + name);
  }

  void add_xattrs(const fs::path& p) {
    char names[8192];
    ssize_t n = ::llistxattr(p.c_str(), names, sizeof names);
    if (n <= 0) return;
    std::vector<std::string> list;
    for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) list.emplace_back(names + i);
    std::sort(list.begin(), list.end());
    for (const auto& x : list) {
      if (is_overlay_xattr(x.c_str())) continue;
      char value[65536];
      ssize_t vn = ::lgetxattr(p.c_str(), x.c_str(), value, sizeof value);
      if (vn < 0) continue;
      archive_entry_xattr_add_entry(entry_, x.c_str(), value, static_cast<size_t>(vn));
    }
  }

  const ByteSink& sink_;
  const DiffOptions& options_;
  tar::Archive a_ = tar::writer();
  archive_entry* entry_;
  Sha256 sha_;
  uint64_t size_ = 0;
  std::exception_ptr sink_error_;
  std::map<std::pair<dev_t, ino_t>, std::string> hardlinks_;
  std::vector<char> buf_ = std::vector<char>(256 * 1024);
};

// --- overlay ---------------------------------------------------------------

class OverlayDiff {
 public:
  OverlayDiff(const fs::path& upper, const std::vector<fs::path>& lowers) : upper_(upper), lowers_(lowers) {}

  void walk(const std::string& rel, std::vector<Change>& out) {
    fs::path dir = rel.empty() ? upper_ : upper_ / rel;
    for (const auto& name : sorted_names_at(dir)) {
      std::string crel = child_rel(rel, name);
      fs::path abs = dir / name;
      struct stat st {};
      if (::lstat(abs.c_str(), &st) < 0) throw_errno("lstat", abs.string());
      if (is_whiteout(st)) {
        out.push_back({Change::whiteout, child_rel(rel, ".wh." + name), {}, {}});
        continue;
      }
      if (!S_ISDIR(st.st_mode)) {
        out.push_back({Change::add, crel, abs, st});
        continue;
      }
      char v[4];
      bool opaque = ::lgetxattr(abs.c_str(), opaque_xattr(), v, sizeof v) == 1 && v[0] == 'y';
      std::optional<struct stat> lower = lower_stat(crel);
      if (opaque || !lower || !S_ISDIR(lower->st_mode)) {
        out.push_back({Change::add, crel, abs, st});
        if (opaque && lower && S_ISDIR(lower->st_mode)) out.push_back({Change::opaque, crel, {}, {}});
        walk(crel, out);
        continue;
      }
      // A directory that overlayfs copied up only to hold changes below it:
      // it is part of the layer only if its own metadata changed or as the
      // parent of changed entries.
      std::vector<Change> children;
      walk(crel, children);
      bool same = (lower->st_mode == st.st_mode) && lower->st_uid == st.st_uid && lower->st_gid == st.st_gid;
      if (!same || !children.empty()) {
        out.push_back({Change::add, crel, abs, st});
        for (auto& c : children) out.push_back(std::move(c));
      }
    }
  }

 private:
  // The entry a lower layer shows at rel, or nullopt if none does.
  std::optional<struct stat> lower_stat(const std::string& rel) {
    for (const auto& l : lowers_) {
      auto st = lstat_opt(l / rel);
      if (!st) continue;
      if (is_whiteout(*st)) return std::nullopt;
      return st;
    }
    return std::nullopt;
  }

  fs::path upper_;
  std::vector<fs::path> lowers_;
};

// --- two trees (native) ------------------------------------------------------

// Every xattr and its value, sorted: changing only an xattr (setcap,
// setfattr) leaves mtime alone but is a change.
std::map<std::string, std::string> xattrs_of(const fs::path& p) {
  std::map<std::string, std::string> out;
  char names[8192];
  ssize_t n = ::llistxattr(p.c_str(), names, sizeof names);
  for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) {
    char value[65536];
    ssize_t vn = ::lgetxattr(p.c_str(), names + i, value, sizeof value);
    if (vn >= 0) out[names + i] = std::string(value, static_cast<size_t>(vn));
  }
  return out;
}

bool same_entry(const fs::path& a, const struct stat& sa, const fs::path& b, const struct stat& sb) {
  if (sa.st_mode != sb.st_mode || sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid) return false;
  if (xattrs_of(a) != xattrs_of(b)) return false;
  if (S_ISDIR(sa.st_mode)) return true;
  if (sa.st_size != sb.st_size || sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)
    return false;
  if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) return sa.st_rdev == sb.st_rdev;
  if (S_ISLNK(sa.st_mode)) {
    char x[PATH_MAX + 1], y[PATH_MAX + 1];
    ssize_t nx = ::readlink(a.c_str(), x, PATH_MAX), ny = ::readlink(b.c_str(), y, PATH_MAX);
    return nx == ny && nx >= 0 && std::memcmp(x, y, static_cast<size_t>(nx)) == 0;
  }
  return true;
}

void add_all(const fs::path& abs, const std::string& rel, std::vector<Change>& out) {
  for (const auto& name : sorted_names_at(abs)) {
    fs::path p = abs / name;
    struct stat st {};
    if (::lstat(p.c_str(), &st) < 0) throw_errno("lstat", p.string());
    out.push_back({Change::add, child_rel(rel, name), p, st});
    if (S_ISDIR(st.st_mode)) add_all(p, child_rel(rel, name), out);
  }
}

void compare(const fs::path& cur, const fs::path& base, const std::string& rel, std::vector<Change>& out) {
  std::vector<std::string> a = sorted_names_at(cur);
  std::vector<std::string> b = base.empty() ? std::vector<std::string>{} : sorted_names_at(base);
  // Merge the two sorted lists; deletions are emitted where the name sorts.
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j >= b.size() || (i < a.size() && a[i] < b[j])) {
      fs::path p = cur / a[i];
      struct stat st {};
      if (::lstat(p.c_str(), &st) < 0) throw_errno("lstat", p.string());
      out.push_back({Change::add, child_rel(rel, a[i]), p, st});
      if (S_ISDIR(st.st_mode)) add_all(p, child_rel(rel, a[i]), out);
      ++i;
    } else if (i >= a.size() || b[j] < a[i]) {
      out.push_back({Change::whiteout, child_rel(rel, ".wh." + b[j]), {}, {}});
      ++j;
    } else {
      fs::path p = cur / a[i], q = base / b[j];
      struct stat sa {
      }, sb{};
      if (::lstat(p.c_str(), &sa) < 0) throw_errno("lstat", p.string());
      if (::lstat(q.c_str(), &sb) < 0) throw_errno("lstat", q.string());
      std::string crel = child_rel(rel, a[i]);
      if (S_ISDIR(sa.st_mode) && S_ISDIR(sb.st_mode)) {
        std::vector<Change> children;
        compare(p, q, crel, children);
        if (!same_entry(p, sa, q, sb) || !children.empty()) {
          out.push_back({Change::add, crel, p, sa});
          for (auto& c : children) out.push_back(std::move(c));
        }
      } else if (!same_entry(p, sa, q, sb)) {
        out.push_back({Change::add, crel, p, sa});
        if (S_ISDIR(sa.st_mode)) add_all(p, crel, out);
      }
      ++i;
      ++j;
    }
  }
}

LayerResult write_changes(const std::vector<Change>& changes, const ByteSink& sink, const DiffOptions& options) {
  TarWriter w(sink, options);
  for (const auto& c : changes) w.write(c);
  return w.finish();
}

}  // namespace

LayerResult diff_overlay(const fs::path& upper, const std::vector<fs::path>& lowers, const ByteSink& sink,
                         const DiffOptions& options) {
  std::vector<Change> changes;
  OverlayDiff(upper, lowers).walk("", changes);
  return write_changes(changes, sink, options);
}

LayerResult diff_trees(const fs::path& current, const fs::path& base, const ByteSink& sink,
                       const DiffOptions& options) {
  std::vector<Change> changes;
  compare(current, base, "", changes);
  return write_changes(changes, sink, options);
}

}  // namespace xb::snapshotter::detail

namespace xb::snapshotter {

LayerResult tar_tree(const std::filesystem::path& dir, const ByteSink& sink) {
  return detail::diff_trees(dir, {}, sink, {});
}

}  // namespace xb::snapshotter
