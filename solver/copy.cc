// COPY/ADD with BuildKit's semantics (fsutil's copy.Copy as BuildKit's file
// backend drives it; docs/dev/copy.md). Every write in the target goes
// through RootDir, one path element at a time relative to an open directory.
#include "solver/copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <functional>
#include <thread>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "common/error.h"
#include "common/parallel.h"
#include "solver/pattern.h"
#include "solver/rootfs.h"
#include "solver/select.h"

// libarchive may have no message for an error (found by layer_apply_fuzz).
static inline const char* xb_archive_error(struct archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown archive error";
}

namespace xb {

namespace {

std::string dirname_of(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

// Copies the bytes of `src` into `dst`: copy_file_range where the kernel can
// (it also reflinks on file systems that share extents), else sendfile (a
// context on ext4 into an overlay mount: no trip through user space), else
// read and write.
void copy_data(int src, int dst, std::string_view shown_src, std::string_view shown_dst) {
  bool use_cfr = true, use_sendfile = true;
  for (;;) {
    if (use_cfr) {
      ssize_t n = ::copy_file_range(src, nullptr, dst, nullptr, 1 << 30, 0);
      if (n > 0) continue;
      if (n == 0) return;
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF) {
        use_cfr = false;
        continue;
      }
      throw_errno("copy_file_range", shown_dst);
    }
    if (use_sendfile) {
      ssize_t n = ::sendfile(dst, src, nullptr, 1 << 30);
      if (n > 0) continue;
      if (n == 0) return;
      if (errno == EINTR) continue;
      if (errno == EINVAL || errno == ENOSYS) {
        use_sendfile = false;
        continue;
      }
      throw_errno("sendfile", shown_dst);
    }
    static thread_local std::string buf(1 << 20, '\0');
    ssize_t n = ::read(src, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", shown_src);
    }
    if (n == 0) return;
    write_all(dst, std::string_view(buf.data(), static_cast<size_t>(n)), shown_dst);
  }
}

// Best effort, as BuildKit's copy ignores xattr errors (it only logs them).
void copy_xattrs(int src, int dst) {
  ssize_t len = ::flistxattr(src, nullptr, 0);
  if (len <= 0) return;
  std::string names(static_cast<size_t>(len), '\0');
  len = ::flistxattr(src, names.data(), names.size());
  if (len <= 0) return;
  names.resize(static_cast<size_t>(len));
  for (size_t i = 0; i < names.size();) {
    const char* name = names.c_str() + i;
    i += std::strlen(name) + 1;
    ssize_t vlen = ::fgetxattr(src, name, nullptr, 0);
    if (vlen < 0) continue;
    std::string value(static_cast<size_t>(vlen), '\0');
    vlen = ::fgetxattr(src, name, value.data(), value.size());
    if (vlen < 0) continue;
    (void)::fsetxattr(dst, name, value.data(), static_cast<size_t>(vlen), 0);
  }
}

struct Item {
  const RootDir* root;
  SourceMatch match;
  bool reset_owner;     // context, heredoc, URL: owners become 0:0
  bool may_unpack;      // ADD of a local file
  std::string include;  // --parents pattern
  const SelectFilter* filter;
  std::string shown;    // the source as the user wrote it
};

// File contents are copied on worker threads while the walk goes on and
// creates the next files: on a large context the walk's metadata system
// calls and the data copies overlap on the cores. A job owns its fds.
unsigned data_copy_workers() {
  unsigned n = std::thread::hardware_concurrency();
  return n > 1 ? n - 1 : 1;
}

constexpr off_t kAsyncCopyMin = 64 * 1024;

class Copier {
 public:
  Copier(const RootDir& target, const CopyOptions& opt, std::optional<Owner> chown)
      : target_(target), opt_(opt), chown_(chown), excludes_(opt.excludes) {}

  void copy(const Item& item, const std::string& dest, bool dest_is_dir);
  void extract(int src_fd, const std::string& dest, const Item& item);
  // Waits for the file contents still being copied; rethrows their failure.
  void finish() { pool_.wait(); }
  const PathPatterns& excludes() const { return excludes_; }

 private:
  struct Frame {
    std::string name;
    struct stat st {};
    UniqueFd src;                  // the source directory
    UniqueFd dst;                  // the target directory once materialized
    std::vector<std::string> dst_parts;
    bool materialized = false;
    bool top = false;
  };

  class Visitor;
  Owner owner_for(const struct stat& st) const {
    if (chown_) return *chown_;
    if (reset_owner_) return Owner{};
    return Owner{st.st_uid, st.st_gid};
  }
  // copyFileInfo: owner, mode (or --chmod), xattrs, times.
  void apply_info(int dirfd, const std::string& name, int fd, int src_fd, const struct stat& st,
                  std::string_view shown) const;
  void copy_leaf(int src_dirfd, const std::string& name, const struct stat& st, Frame& into,
                 const std::string& dst_name);
  void materialize(std::vector<Frame>& frames);

  const RootDir& target_;
  const CopyOptions& opt_;
  std::optional<Owner> chown_;
  PathPatterns excludes_;
  bool reset_owner_ = false;
  // Hard links within one source stay hard links (fsutil's inode map).
  std::map<std::pair<dev_t, ino_t>, std::vector<std::string>> inodes_;
  JobQueue pool_{data_copy_workers(), 64};  // 64 queued: bounds the open fds
};

void Copier::apply_info(int dirfd, const std::string& name, int fd, int src_fd, const struct stat& st,
                        std::string_view shown) const {
  Owner o = owner_for(st);
  bool link = S_ISLNK(st.st_mode);
  int rc = fd >= 0 ? ::fchown(fd, o.uid, o.gid) : ::fchownat(dirfd, name.c_str(), o.uid, o.gid, AT_SYMLINK_NOFOLLOW);
  if (rc < 0) throw_errno("chown", shown);
  if (!link) {
    mode_t mode = opt_.chmod ? (*opt_.chmod & 07777) : (st.st_mode & 07777);
    rc = fd >= 0 ? ::fchmod(fd, mode) : ::fchmodat(dirfd, name.c_str(), mode, 0);
    if (rc < 0) throw_errno("chmod", shown);
  }
  if (fd >= 0 && src_fd >= 0) copy_xattrs(src_fd, fd);
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  rc = fd >= 0 ? ::futimens(fd, ts) : ::utimensat(dirfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
  if (rc < 0) throw_errno("utimensat", shown);
}

void Copier::materialize(std::vector<Frame>& frames) {
  size_t first = 0;
  while (first < frames.size() && frames[first].materialized) ++first;
  for (size_t i = first; i < frames.size(); ++i) {
    Frame& parent = frames[i - 1];  // frames[0] (the destination) is always materialized
    Frame& f = frames[i];
    f.dst_parts = parent.dst_parts;
    f.dst_parts.push_back(f.name);
    std::string shown = target_.display(f.dst_parts, f.dst_parts.size());
    struct stat cur;
    if (::fstatat(parent.dst.get(), f.name.c_str(), &cur, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!S_ISDIR(cur.st_mode)) fail(ErrorKind::failed_precondition, "cannot copy to non-directory: " + shown);
    } else if (errno != ENOENT) {
      throw_errno("lstat", shown);
    } else if (::mkdirat(parent.dst.get(), f.name.c_str(), 0700) < 0) {
      throw_errno("mkdir", shown);
    }
    f.dst = open_subdir(parent.dst.get(), f.name, shown);
    f.materialized = true;
  }
}

void Copier::copy_leaf(int src_dirfd, const std::string& name, const struct stat& st, Frame& into,
                       const std::string& dst_name) {
  std::vector<std::string> parts = into.dst_parts;
  parts.push_back(dst_name);
  std::string shown = target_.display(parts, parts.size());
  int dst = into.dst.get();
  struct stat cur;
  if (::fstatat(dst, dst_name.c_str(), &cur, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(cur.st_mode)) {
      fail(ErrorKind::failed_precondition, "cannot replace directory " + shown + " with a file");
    }
    if (::unlinkat(dst, dst_name.c_str(), 0) < 0) throw_errno("unlink", shown);
  } else if (errno != ENOENT) {
    throw_errno("lstat", shown);
  }
  if (S_ISREG(st.st_mode)) {
    if (st.st_nlink > 1) {
      auto it = inodes_.find({st.st_dev, st.st_ino});
      if (it != inodes_.end()) {
        const auto& first = it->second;
        UniqueFd first_dir = target_.open_dir(first, first.size() - 1);
        if (::linkat(first_dir.get(), first.back().c_str(), dst, dst_name.c_str(), 0) < 0) {
          throw_errno("link", shown);
        }
        return;
      }
      inodes_[{st.st_dev, st.st_ino}] = parts;
    }
    int sfd = ::openat(src_dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0) throw_errno("open", name);
    UniqueFd src(sfd);
    int dfd = ::openat(dst, dst_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dfd < 0) throw_errno("create", shown);
    UniqueFd out(dfd);
    // Small files cost more to hand over than to copy.
    if (st.st_size < kAsyncCopyMin || !pool_.enabled()) {
      copy_data(src.get(), out.get(), name, shown);
      apply_info(dst, dst_name, out.get(), src.get(), st, shown);
      return;
    }
    // Contents, then owner, mode and times through the fd (the name is
    // not needed, and writing the data last would change the mtime).
    auto job = [this, src = std::make_shared<UniqueFd>(std::move(src)), out = std::make_shared<UniqueFd>(std::move(out)),
                name, shown, st] {
      copy_data(src->get(), out->get(), name, shown);
      apply_info(-1, {}, out->get(), src->get(), st, shown);
    };
    pool_.submit(std::move(job));
    return;
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 256) + 1, '\0');
    for (;;) {
      ssize_t n = ::readlinkat(src_dirfd, name.c_str(), target.data(), target.size());
      if (n < 0) throw_errno("readlink", name);
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        break;
      }
      target.resize(target.size() * 2);
    }
    if (::symlinkat(target.c_str(), dst, dst_name.c_str()) < 0) throw_errno("symlink", shown);
  } else {
    if (::mknodat(dst, dst_name.c_str(), st.st_mode & (S_IFMT | 07777), st.st_rdev) < 0) {
      throw_errno("mknod", shown);
    }
  }
  apply_info(dst, dst_name, -1, -1, st, shown);
}

class Copier::Visitor : public WalkVisitor {
 public:
  Visitor(Copier& c, std::vector<Frame>& frames) : c_(c), frames_(frames) {}
  void enter_dir(const WalkEntry& e, int fd, bool included) override {
    Frame f;
    f.name = e.name;
    f.st = e.st;
    f.src = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    frames_.push_back(std::move(f));
    if (included) c_.materialize(frames_);
  }
  void leave_dir(const WalkEntry&, bool) override {
    Frame& f = frames_.back();
    if (f.materialized) {
      int rfd = ::openat(f.dst.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      UniqueFd self(rfd);
      std::string shown = c_.target_.display(f.dst_parts, f.dst_parts.size());
      if (rfd < 0) throw_errno("open", shown);
      c_.apply_info(-1, f.name, self.get(), f.src.get(), f.st, shown);
    }
    frames_.pop_back();
  }
  void leaf(const WalkEntry& e) override {
    c_.materialize(frames_);
    c_.copy_leaf(e.dirfd, e.name, e.st, frames_.back(), e.name);
  }

 private:
  Copier& c_;
  std::vector<Frame>& frames_;
};

void Copier::copy(const Item& item, const std::string& dest, bool dest_is_dir) {
  reset_owner_ = item.reset_owner;
  inodes_.clear();
  Owner mkdir_owner = chown_.value_or(Owner{});
  const RootDir::Resolved& src = item.match.target;
  const struct stat& sst = src.st;

  // Copy(): the destination's parent (or the destination itself when it ends
  // with '/') exists before anything else, owned like --chown says.
  target_.mkdir_all(dest_is_dir ? dest : dirname_of(dest), 0755, mkdir_owner);
  RootDir::Resolved d = target_.resolve(dest, true);

  if (opt_.add && item.may_unpack && S_ISREG(sst.st_mode)) {
    UniqueFd parent = item.root->open_dir(src.parts, src.parts.size() - 1);
    int fd = ::openat(parent.get(), src.parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_errno("open", item.root->display(src.parts, src.parts.size()));
    UniqueFd file(fd);
    struct archive* a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    struct archive_entry* entry;
    bool is_archive = archive_read_open_fd(a, file.get(), 65536) == ARCHIVE_OK &&
                      archive_read_next_header(a, &entry) == ARCHIVE_OK;
    archive_read_free(a);
    if (is_archive) {
      if (::lseek(file.get(), 0, SEEK_SET) < 0) throw_errno("lseek", item.shown);
      extract(file.get(), d.str(), item);
      return;
    }
  }

  std::vector<Frame> frames(1);
  Frame& top = frames[0];
  top.materialized = true;
  top.top = true;
  if (S_ISDIR(sst.st_mode)) {
    // The directory-contents rule: a directory's contents go into dest.
    if (d.exists()) {
      if (!S_ISDIR(d.st.st_mode)) {
        fail(ErrorKind::failed_precondition, "cannot copy to non-directory: " + target_.display(d.parts, d.parts.size()));
      }
      top.dst = target_.open_dir(d.parts);
      top.dst_parts = d.parts;
    } else {
      top.dst = target_.mkdir_all(d.str(), 0755, mkdir_owner, &top.dst_parts);
    }
    UniqueFd src_dir = item.root->open_dir(src.parts);
    PathPatterns includes(item.include.empty() ? std::vector<std::string>{}
                                               : std::vector<std::string>{item.include});
    SelectFilter filter = *item.filter;
    filter.excludes = &excludes_;
    filter.includes = item.include.empty() ? nullptr : &includes;
    Visitor v(*this, frames);
    walk_selected(src_dir.get(), "", item.match.target_rel, filter, v,
                  item.root->display(src.parts, src.parts.size()));
    // fsutil restores the top directory's times from the source directory
    // (not its mode or owner, which stay those of the existing or created dir).
    Frame& done = frames[0];  // `top` may dangle: the walk grew `frames`
    struct timespec ts[2] = {sst.st_atim, sst.st_mtim};
    if (::futimens(done.dst.get(), ts) < 0) {
      throw_errno("utimensat", target_.display(done.dst_parts, done.dst_parts.size()));
    }
    return;
  }

  // A single non-directory: into dest when dest is a directory, else as dest.
  std::string name;
  if (d.exists() && S_ISDIR(d.st.st_mode)) {
    top.dst_parts = d.parts;
    name = item.match.name;
  } else {
    if (d.parts.empty()) fail(ErrorKind::invalid_argument, "cannot copy " + item.shown + " over the root directory");
    top.dst_parts.assign(d.parts.begin(), d.parts.end() - 1);
    name = d.parts.back();
  }
  top.dst = target_.mkdir_all(RootDir::Resolved{top.dst_parts, 0, {}}.str(), 0755, mkdir_owner, &top.dst_parts);
  UniqueFd src_parent = item.root->open_dir(src.parts, src.parts.size() - 1);
  copy_leaf(src_parent.get(), src.parts.back(), sst, top, name);
}

// ADD of a local archive: unpacked into dest (a directory, whatever its
// spelling), contained in it like BuildKit's os.Root extraction; owners
// from the archive unless --chown.
void Copier::extract(int src_fd, const std::string& dest, const Item& item) {
  Owner mkdir_owner = chown_.value_or(Owner{});
  std::vector<std::string> dest_parts;
  UniqueFd dest_fd = target_.mkdir_all(dest, 0755, mkdir_owner, &dest_parts);
  RootDir root(std::move(dest_fd), target_.display(dest_parts, dest_parts.size()) == "/"
                                       ? std::string()
                                       : target_.display(dest_parts, dest_parts.size()));
  struct archive* a = archive_read_new();
  struct Closer {
    struct archive* a;
    ~Closer() { archive_read_free(a); }
  } closer{a};
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_format_tar(a);
  auto archive_fail = [&](std::string_view what) {
    const char* err = xb_archive_error(a);
    fail(ErrorKind::invalid_argument,
         "ADD " + item.shown + ": " + std::string(what) + ": " + (err ? err : "unreadable archive"));
  };
  if (archive_read_open_fd(a, src_fd, 1 << 16) != ARCHIVE_OK) archive_fail("open");
  struct DirTime {
    std::vector<std::string> parts;
    struct timespec mtime;
  };
  std::vector<DirTime> dirs;
  for (;;) {
    struct archive_entry* e;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) archive_fail("read");
    const char* raw = archive_entry_pathname(e);
    if (!raw) continue;
    std::string name = clean_path(std::string_view(raw).substr(std::string_view(raw).find_first_not_of('/') ==
                                                                         std::string_view::npos
                                                                     ? std::strlen(raw)
                                                                     : std::string_view(raw).find_first_not_of('/')));
    if (name == ".") continue;
    if (name == ".." || name.starts_with("../")) {
      fail(ErrorKind::invalid_argument,
           "ADD " + item.shown + ": archive path \"" + std::string(raw) + "\" is outside the extraction root");
    }
    mode_t type = archive_entry_filetype(e);
    const char* hardlink = archive_entry_hardlink(e);
    bool is_dir = type == AE_IFDIR && !hardlink;
    RootDir::Resolved res = root.resolve(name, is_dir);
    if (res.parts.empty()) continue;  // resolved to the extraction root itself
    // Implied parents: 0755, root-owned (BuildKit's applyRootArchive).
    UniqueFd parent = root.open_dir(res.parts, std::min(res.existing, res.parts.size() - 1));
    for (size_t i = res.existing; i + 1 < res.parts.size(); ++i) {
      std::string shown = root.display(res.parts, i + 1);
      if (::mkdirat(parent.get(), res.parts[i].c_str(), 0755) < 0 && errno != EEXIST) throw_errno("mkdir", shown);
      UniqueFd next = open_subdir(parent.get(), res.parts[i], shown);
      if (::fchown(next.get(), 0, 0) < 0) throw_errno("chown", shown);
      if (::fchmod(next.get(), 0755) < 0) throw_errno("chmod", shown);
      parent = std::move(next);
    }
    const std::string& leaf = res.parts.back();
    std::string shown = root.display(res.parts, res.parts.size());
    struct stat cur;
    if (::fstatat(parent.get(), leaf.c_str(), &cur, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!S_ISDIR(cur.st_mode) || !is_dir) remove_all_at(parent.get(), leaf, shown);
    }
    Owner o = chown_ ? *chown_
                     : Owner{static_cast<uint32_t>(archive_entry_uid(e)), static_cast<uint32_t>(archive_entry_gid(e))};
    mode_t perm = archive_entry_perm(e) & 07777;
    struct timespec mtime = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    struct timespec ts[2] = {mtime, mtime};
    if (hardlink) {
      std::string link = clean_path(std::string_view(hardlink).substr(
          std::min(std::string_view(hardlink).find_first_not_of('/'), std::strlen(hardlink))));
      if (link == "." || link == ".." || link.starts_with("../")) {
        fail(ErrorKind::invalid_argument,
             "ADD " + item.shown + ": archive hard link \"" + std::string(raw) + "\" points outside the extraction root");
      }
      RootDir::Resolved lr = root.resolve(link, false);
      if (!lr.exists()) {
        fail(ErrorKind::invalid_argument, "ADD " + item.shown + ": archive hard link \"" + std::string(raw) +
                                              "\" to missing \"" + std::string(hardlink) + "\"");
      }
      UniqueFd lparent = root.open_dir(lr.parts, lr.parts.size() - 1);
      if (::linkat(lparent.get(), lr.parts.back().c_str(), parent.get(), leaf.c_str(), 0) < 0) {
        throw_errno("link", shown);
      }
      continue;
    }
    switch (type) {
      case AE_IFDIR: {
        if (::mkdirat(parent.get(), leaf.c_str(), 0700) < 0 && errno != EEXIST) throw_errno("mkdir", shown);
        UniqueFd dir = open_subdir(parent.get(), leaf, shown);
        if (::fchown(dir.get(), o.uid, o.gid) < 0) throw_errno("chown", shown);
        if (::fchmod(dir.get(), perm) < 0) throw_errno("chmod", shown);
        dirs.push_back({res.parts, mtime});
        break;
      }
      case AE_IFREG: {
        int fd = ::openat(parent.get(), leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) throw_errno("create", shown);
        UniqueFd out(fd);
        const void* buf;
        size_t size;
        la_int64_t offset;
        for (;;) {
          int rr = archive_read_data_block(a, &buf, &size, &offset);
          if (rr == ARCHIVE_EOF) break;
          if (rr != ARCHIVE_OK && rr != ARCHIVE_WARN) archive_fail("read " + name);
          // A short write is retried for the rest: its errno (a full disk
          // says ENOSPC on the next call) is only set by a failing call.
          for (size_t done = 0; done < size;) {
            ssize_t n = ::pwrite(out.get(), static_cast<const char*>(buf) + done, size - done,
                                 offset + static_cast<la_int64_t>(done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw_errno("write", shown, n == 0 ? ENOSPC : errno);
            done += static_cast<size_t>(n);
          }
        }
        if (::ftruncate(out.get(), archive_entry_size(e)) < 0) throw_errno("truncate", shown);
        if (::fchown(out.get(), o.uid, o.gid) < 0) throw_errno("chown", shown);
        if (::fchmod(out.get(), perm) < 0) throw_errno("chmod", shown);
        if (::futimens(out.get(), ts) < 0) throw_errno("utimensat", shown);
        break;
      }
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (::symlinkat(target ? target : "", parent.get(), leaf.c_str()) < 0) throw_errno("symlink", shown);
        if (::fchownat(parent.get(), leaf.c_str(), o.uid, o.gid, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("chown", shown);
        if (::utimensat(parent.get(), leaf.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("utimensat", shown);
        break;
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO: {
        dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        if (::mknodat(parent.get(), leaf.c_str(), type | perm, dev) < 0) throw_errno("mknod", shown);
        if (::fchownat(parent.get(), leaf.c_str(), o.uid, o.gid, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("chown", shown);
        if (::fchmodat(parent.get(), leaf.c_str(), perm, 0) < 0) throw_errno("chmod", shown);
        if (::utimensat(parent.get(), leaf.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) throw_errno("utimensat", shown);
        break;
      }
      default:
        fail(ErrorKind::invalid_argument,
             "ADD " + item.shown + ": unsupported archive entry \"" + std::string(raw) + "\"");
    }
  }
  // Directory times last, deepest first, since filling them changed them.
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    UniqueFd dir = root.open_dir(it->parts);
    struct timespec ts[2] = {it->mtime, it->mtime};
    if (::futimens(dir.get(), ts) < 0) throw_errno("utimensat", root.display(it->parts, it->parts.size()));
  }
}

// ── ADD <url> ──────────────────────────────────────────────────────────────

// The file name BuildKit gives a download: the URL path's last element
// (percent-decoded, as Go's url.Parse does), or "__unnamed__".
std::string url_file_name(std::string_view url) {
  std::string_view rest = url;
  size_t scheme = rest.find("://");
  if (scheme != std::string_view::npos) rest.remove_prefix(scheme + 3);
  size_t end = rest.find_first_of("?#");
  if (end != std::string_view::npos) rest = rest.substr(0, end);
  size_t slash = rest.find('/');
  std::string path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  std::string decoded;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() + 0 && std::isxdigit(static_cast<unsigned char>(path[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
      decoded += static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      decoded += path[i];
    }
  }
  auto parts = split_path(decoded);
  if (parts.empty() || parts.back() == "." || parts.back() == "..") return "__unnamed__";
  return std::string(parts.back());
}

struct Download {
  TempDir dir{"xbuild-add"};
  std::string name;
};

std::unique_ptr<Download> download(const std::string& url, const std::optional<Digest>& checksum) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  auto dl = std::make_unique<Download>();
  dl->name = url_file_name(url);
  std::filesystem::path file = dl->dir.path() / dl->name;
  UniqueFd out = open_or_throw(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  struct Sink {
    int fd;
    Sha256 sha;
    std::string path;
    int err = 0;
  } sink{out.get(), Sha256(), file.string()};
  CURL* curl = curl_easy_init();
  if (!curl) fail(ErrorKind::internal, "ADD " + url + ": curl_easy_init failed");
  struct Cleanup {
    CURL* c;
    ~Cleanup() { curl_easy_cleanup(c); }
  } cleanup{curl};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "xbuild");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
        auto* s = static_cast<Sink*>(user);
        size_t len = size * n;
        try {
          write_all(s->fd, std::string_view(data, len), s->path);
        } catch (...) {
          s->err = errno ? errno : EIO;
          return 0;
        }
        s->sha.update(data, len);
        return len;
      });
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
      fail(status == 404 ? ErrorKind::not_found : (status == 401 || status == 403) ? ErrorKind::permission_denied
                                                                                    : ErrorKind::unavailable,
           "ADD " + url + ": HTTP " + std::to_string(status));
    }
    if (sink.err) throw_errno("write", sink.path, sink.err);
    fail(ErrorKind::unavailable, "ADD " + url + ": " + (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc)));
  }
  Digest got = sink.sha.finish();
  if (checksum && got != *checksum) {
    fail(ErrorKind::data_loss,
         "ADD " + url + ": checksum mismatch: expected " + checksum->str() + ", got " + got.str());
  }
  // mtime from Last-Modified when the server sends it, as BuildKit does.
  curl_off_t filetime = -1;
  curl_easy_getinfo(curl, CURLINFO_FILETIME_T, &filetime);
  if (filetime >= 0) {
    struct timespec ts[2] = {{static_cast<time_t>(filetime), 0}, {static_cast<time_t>(filetime), 0}};
    if (::futimens(out.get(), ts) < 0) throw_errno("utimensat", sink.path);
  }
  return dl;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// Reads /etc/passwd or /etc/group inside the target root; "" when absent
// (BuildKit then treats the name as not found).
std::string read_in_root(const RootDir& root, std::string_view path) {
  RootDir::Resolved r;
  try {
    r = root.resolve(path, true);
  } catch (const Error&) {
    return {};
  }
  if (!r.exists() || !S_ISREG(r.st.st_mode)) return {};
  UniqueFd parent = root.open_dir(r.parts, r.parts.size() - 1);
  int fd = ::openat(parent.get(), r.parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw_errno("open", path);
  UniqueFd f(fd);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Finds `name` in passwd/group text: the fields of its line, or empty.
std::vector<std::string_view> find_entry(std::string_view text, std::string_view name) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    std::vector<std::string_view> fields;
    size_t i = 0;
    for (;;) {
      size_t c = line.find(':', i);
      fields.push_back(line.substr(i, c == std::string_view::npos ? std::string_view::npos : c - i));
      if (c == std::string_view::npos) break;
      i = c + 1;
    }
    if (fields.size() >= 3 && fields[0] == name) return fields;
  }
  return {};
}

uint32_t to_id(std::string_view s, std::string_view what) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    fail(ErrorKind::invalid_argument, "invalid " + std::string(what) + " \"" + std::string(s) + "\"");
  }
  return v;
}

}  // namespace

uint32_t parse_chmod(std::string_view text) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 8);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v > 07777) {
    fail(ErrorKind::invalid_argument, "invalid chmod parameter: '" + std::string(text) +
                                          "'. it should be octal string and between 0 and 07777");
  }
  return v;
}

Owner resolve_chown(const std::filesystem::path& target_root, std::string_view spec) {
  size_t colon = spec.find(':');
  std::string_view user = spec.substr(0, colon);
  std::string_view group = colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  if (spec.empty() || (colon != std::string_view::npos && group.empty())) {
    fail(ErrorKind::invalid_argument, "invalid --chown value \"" + std::string(spec) + "\"");
  }
  Owner o;
  std::optional<RootDir> root;
  auto lookup_root = [&]() -> const RootDir& {
    if (!root) root.emplace(target_root);
    return *root;
  };
  // BuildKit (solver/llbsolver/file/user_linux.go): a number N means N:N; a
  // name takes the uid and primary gid from passwd; a name that is not found
  // leaves 0 (no error); a group then overrides the gid when it is found.
  if (all_digits(user)) {
    o.uid = o.gid = to_id(user, "--chown user");
  } else if (!user.empty()) {
    std::string passwd = read_in_root(lookup_root(), "/etc/passwd");
    auto f = find_entry(passwd, user);
    if (f.size() >= 4) {
      o.uid = to_id(f[2], "uid in /etc/passwd");
      o.gid = to_id(f[3], "gid in /etc/passwd");
    }
  }
  if (!group.empty()) {
    if (all_digits(group)) {
      o.gid = to_id(group, "--chown group");
    } else {
      std::string groups = read_in_root(lookup_root(), "/etc/group");
      auto f = find_entry(groups, group);
      if (f.size() >= 3) o.gid = to_id(f[2], "gid in /etc/group");
    }
  }
  return o;
}

std::string resolve_dest_path(std::string_view dest, std::string_view workdir) {
  std::string p(dest);
  if (p.empty() || p == ".") p = "./";
  bool dir = p.ends_with('/') || p.ends_with("/.");
  std::string joined = p.starts_with('/') ? p : std::string(workdir.empty() ? "/" : workdir) + "/" + p;
  std::string out = clean_path(joined);
  if (!out.starts_with('/')) out = "/" + out;
  if (dir && out != "/") out += '/';
  return out;
}

void copy_files(const std::filesystem::path& target_root, const std::vector<CopySource>& sources,
                const CopyOptions& options) {
  RootDir target(target_root);
  std::string dest = resolve_dest_path(options.dest, options.workdir);
  std::optional<Owner> chown;
  if (!options.chown.empty()) chown = resolve_chown(target_root, options.chown);

  // Temporary roots for heredocs and downloads live as long as the copy.
  std::vector<std::unique_ptr<Download>> temps;
  std::vector<std::unique_ptr<RootDir>> roots;
  std::vector<std::unique_ptr<SelectFilter>> filters;
  PathPatterns excludes(options.excludes);
  std::vector<Item> items;
  for (const auto& s : sources) {
    auto filter = std::make_unique<SelectFilter>();
    std::string shown = s.pattern;
    bool is_url = s.pattern.starts_with("http://") || s.pattern.starts_with("https://");
    CopySource::Kind kind = s.kind == CopySource::Kind::path && is_url && options.add ? CopySource::Kind::url : s.kind;
    switch (kind) {
      case CopySource::Kind::url: {
        if (!options.add) fail(ErrorKind::invalid_argument, "source can't be a URL for COPY: " + s.pattern);
        temps.push_back(download(s.pattern, options.checksum));
        roots.push_back(std::make_unique<RootDir>(temps.back()->dir.path()));
        SourcePattern p = SourcePattern::parse(temps.back()->name, false);
        for (auto& m : resolve_matches(*roots.back(), p, *filter, shown)) {
          items.push_back({roots.back().get(), std::move(m), true, false, "", filter.get(), shown});
        }
        break;
      }
      case CopySource::Kind::content: {
        auto dl = std::make_unique<Download>();
        auto parts = split_path(s.pattern);
        dl->name = parts.empty() ? "__unnamed__" : std::string(parts.back());
        write_file_atomic(dl->dir.path() / dl->name, s.content, 0644, false);
        ::chmod((dl->dir.path() / dl->name).c_str(), 0644);  // no umask: BuildKit's Mkfile(0644)
        temps.push_back(std::move(dl));
        roots.push_back(std::make_unique<RootDir>(temps.back()->dir.path()));
        for (auto& m : resolve_matches(*roots.back(), SourcePattern::parse(temps.back()->name, false), *filter,
                                       shown)) {
          items.push_back({roots.back().get(), std::move(m), true, false, "", filter.get(), shown});
        }
        break;
      }
      case CopySource::Kind::path: {
        if (is_url) {
          fail(ErrorKind::invalid_argument, "source can't be a URL for COPY: " + s.pattern);
        }
        roots.push_back(std::make_unique<RootDir>(s.root));
        filter->ignored = s.ignored ? &s.ignored : nullptr;
        filter->can_skip_dir = s.can_skip_dir ? &s.can_skip_dir : nullptr;
        filter->excludes = &excludes;
        SourcePattern p = SourcePattern::parse(s.pattern, options.parents);
        for (auto& m : resolve_matches(*roots.back(), p, *filter, shown)) {
          items.push_back({roots.back().get(), std::move(m), s.from_context, true, p.include, filter.get(), shown});
        }
        break;
      }
    }
    filters.push_back(std::move(filter));
  }

  // A destination ending in '/' is a directory; so is one that receives more
  // than one source (BuildKit would overwrite one file with the next; the
  // Dockerfile reference requires a directory: docs/dev/copy.md).
  bool dest_is_dir = dest.ends_with('/') || items.size() > 1;
  if (dest_is_dir && !dest.ends_with('/')) dest += '/';
  Copier copier(target, options, chown);
  for (const auto& item : items) {
    try {
      copier.copy(item, dest, dest_is_dir);
      copier.finish();
    } catch (Error& e) {
      if (e.message().find(item.shown) == std::string::npos) e.with_context("copy " + item.shown + " to " + dest);
      throw;
    }
  }
}

}  // namespace xb
