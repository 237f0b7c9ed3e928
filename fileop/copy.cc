// COPY/ADD with BuildKit's semantics (fsutil's copy.Copy as BuildKit's file
// backend drives it; docs/dev/copy.md). Every write in the target goes
// through RootDir, one path element at a time relative to an open directory.
#include "fileop/fileop.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
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
#include "common/passwd.h"
#include "common/tar.h"
#include "common/tar_extract.h"
#include "fileop/pattern.h"
#include "fileop/rootfs.h"
#include "fileop/select.h"

namespace xb::fileop {

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
  std::string shown;  // the source as the user wrote it
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
      : target_(target), opt_(opt), chown_(chown), excludes_(opt.excludes, "--exclude") {}

  void copy(const Item& item, const std::string& dest, bool dest_is_dir);
  void extract(int src_fd, const std::string& dest, const Item& item);
  // Waits for the file contents still being copied; rethrows their failure.
  void finish() { pool_.wait(); }
  const PatternMatcher& excludes() const { return excludes_; }

 private:
  struct Frame {
    std::string name;
    struct stat st {};
    UniqueFd src;  // the source directory
    UniqueFd dst;  // the target directory once materialized
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
  PatternMatcher excludes_;
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
    mode_t mode = opt_.chmod ? opt_.chmod->apply(st.st_mode) : (st.st_mode & 07777);
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
    auto job = [this, src = std::make_shared<UniqueFd>(std::move(src)),
                out = std::make_shared<UniqueFd>(std::move(out)), name, shown, st] {
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
  } else if (S_ISSOCK(st.st_mode)) {
    // A socket means nothing at rest, and a layer cannot hold one; BuildKit
    // (fsutil) copies it as an empty regular file with its permissions.
    int dfd = ::openat(dst, dst_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dfd < 0) throw_errno("create", shown);
    UniqueFd out(dfd);
    apply_info(dst, dst_name, out.get(), -1, st, shown);
    return;
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
    bool is_archive = false;
    {
      tar::Archive a = tar::reader(tar::Decompress::docker);
      struct archive_entry* entry;
      is_archive = archive_read_open_fd(a.get(), file.get(), 65536) == ARCHIVE_OK &&
                   tar::next_header(a.get(), &entry) == ARCHIVE_OK;
    }
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
        fail(ErrorKind::failed_precondition,
             "cannot copy to non-directory: " + target_.display(d.parts, d.parts.size()));
      }
      top.dst = target_.open_dir(d.parts);
      top.dst_parts = d.parts;
    } else {
      top.dst = target_.mkdir_all(d.str(), 0755, mkdir_owner, &top.dst_parts);
    }
    UniqueFd src_dir = item.root->open_dir(src.parts);
    PatternMatcher includes(item.include.empty() ? std::vector<std::string>{} : std::vector<std::string>{item.include},
                            "--parents");
    SelectFilter filter = *item.filter;
    filter.excludes = &excludes_;
    filter.includes = item.include.empty() ? nullptr : &includes;
    Visitor v(*this, frames);
    walk_selected(src_dir.get(), "", item.match.target_rel, filter, v, item.root->display(src.parts, src.parts.size()));
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
// spelling) by common/tar_extract.h, contained in it as BuildKit's unpack
// is (a name leading out with ".." is refused); owners from the archive
// unless --chown.
void Copier::extract(int src_fd, const std::string& dest, const Item& item) {
  Owner mkdir_owner = chown_.value_or(Owner{});
  std::vector<std::string> dest_parts;
  UniqueFd dest_fd = target_.mkdir_all(dest, 0755, mkdir_owner, &dest_parts);
  tar::ExtractOptions xo;
  xo.refuse_outside = true;
  if (chown_) xo.owner = std::pair{chown_->uid, chown_->gid};
  xo.what = "ADD " + item.shown + ": archive entry";
  xo.display = target_.display(dest_parts, dest_parts.size());
  if (xo.display == "/") xo.display.clear();
  tar::Extractor x(dest_fd.get(), std::move(xo));
  tar::Archive reader = tar::reader(tar::Decompress::docker);
  struct archive* a = reader.get();
  auto archive_fail = [&](std::string_view what) {
    fail(ErrorKind::invalid_argument, "ADD " + item.shown + ": " + std::string(what) + ": " + tar::error(a));
  };
  if (archive_read_open_fd(a, src_fd, 1 << 16) != ARCHIVE_OK) archive_fail("open");
  for (;;) {
    struct archive_entry* e;
    int r = tar::next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) archive_fail("read");
    x.entry(a, e);
  }
  x.finish();
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

uint32_t to_id(std::string_view s, std::string_view what) {
  std::optional<uint32_t> v = parse_id(s);
  if (!v) fail(ErrorKind::invalid_argument, "invalid " + std::string(what) + " \"" + std::string(s) + "\"");
  return *v;
}

}  // namespace

namespace {

// One pass of chmod(1)'s symbolic grammar over `text`: clauses separated by
// ',', each [ugoa]* then one or more of op ([+-=]) and perms ([rwxXst]* or
// one of [ugo]). With `mode` it applies them; without, it only validates.
bool symbolic_chmod(std::string_view text, uint32_t* mode) {
  if (text.empty()) return false;
  uint32_t m = mode ? *mode : 0;
  bool is_dir = S_ISDIR(m);
  size_t i = 0;
  while (true) {
    uint32_t who = 0;  // the classes' bits: u 04700|… as masks below
    bool any_who = false;
    for (; i < text.size() && std::strchr("ugoa", text[i]); ++i) {
      any_who = true;
      switch (text[i]) {
        case 'u': who |= 04700; break;
        case 'g': who |= 02070; break;
        case 'o': who |= 01007; break;
        default: who |= 07777; break;
      }
    }
    if (!any_who) who = 07777;
    if (i >= text.size() || !std::strchr("+-=", text[i])) return false;
    while (i < text.size() && std::strchr("+-=", text[i])) {
      char op = text[i++];
      uint32_t bits = 0;
      if (i < text.size() && std::strchr("ugo", text[i])) {
        // Copy another class's rwx: its bits, spread to every class.
        uint32_t shift = text[i] == 'u' ? 6 : text[i] == 'g' ? 3 : 0;
        uint32_t rwx = (m >> shift) & 07;
        bits = rwx << 6 | rwx << 3 | rwx;
        ++i;
      } else {
        for (; i < text.size() && std::strchr("rwxXst", text[i]); ++i) {
          switch (text[i]) {
            case 'r': bits |= 0444; break;
            case 'w': bits |= 0222; break;
            case 'x': bits |= 0111; break;
            case 'X':
              if (is_dir || (m & 0111)) bits |= 0111;
              break;
            case 's': bits |= 06000; break;
            default: bits |= 01000; break;
          }
        }
      }
      bits &= who;
      if (op == '+') m |= bits;
      else if (op == '-') m &= ~bits;
      else m = (m & ~who) | bits;
    }
    if (i == text.size()) break;
    if (text[i] != ',') return false;
    ++i;
  }
  if (mode) *mode = m;
  return true;
}

}  // namespace

uint32_t Chmod::apply(uint32_t mode) const {
  if (octal) return *octal & 07777;
  symbolic_chmod(symbolic, &mode);
  return mode & 07777;
}

Chmod parse_chmod(std::string_view text) {
  Chmod c;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 8);
  if (!text.empty() && ec == std::errc() && p == text.data() + text.size() && v <= 07777) {
    c.octal = v;
    return c;
  }
  bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (digits || !symbolic_chmod(text, nullptr)) {
    fail(ErrorKind::invalid_argument,
         "invalid chmod parameter: '" + std::string(text) + "'. it should be octal string and between 0 and 07777");
  }
  c.symbolic = std::string(text);
  return c;
}

Owner resolve_chown(const std::filesystem::path& target_root, std::string_view spec, bool unknown_is_root) {
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
  // name takes the uid and primary gid from passwd; a group then overrides
  // the gid. A name that is not found leaves 0 there; here it is an error
  // unless unknown_is_root (see copy.h).
  if (all_digits(user)) {
    o.uid = o.gid = to_id(user, "--chown user");
  } else if (!user.empty()) {
    auto users = parse_passwd(read_in_root(lookup_root(), "/etc/passwd"));
    auto f = std::find_if(users.begin(), users.end(), [&](const PasswdEntry& e) { return e.name == user; });
    if (f != users.end()) {
      o.uid = f->uid;
      o.gid = f->gid;
    } else if (!unknown_is_root && user != "root") {
      fail(ErrorKind::not_found, "--chown=" + std::string(spec) + ": unable to find user " + std::string(user) +
                                     ": no matching entries in passwd file");
    }
  }
  if (!group.empty()) {
    if (all_digits(group)) {
      o.gid = to_id(group, "--chown group");
    } else {
      auto groups = parse_group(read_in_root(lookup_root(), "/etc/group"));
      auto f = std::find_if(groups.begin(), groups.end(), [&](const GroupEntry& e) { return e.name == group; });
      if (f != groups.end()) {
        o.gid = f->gid;
      } else if (!unknown_is_root && group != "root") {
        fail(ErrorKind::not_found, "--chown=" + std::string(spec) + ": unable to find group " + std::string(group) +
                                       ": no matching entries in group file");
      }
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
  PatternMatcher excludes(options.excludes, "--exclude");
  std::vector<Item> items;
  for (const auto& s : sources) {
    auto filter = std::make_unique<SelectFilter>();
    std::string shown = s.pattern;
    bool is_url = s.pattern.starts_with("http://") || s.pattern.starts_with("https://");
    CopySource::Kind kind = s.kind == CopySource::Kind::path && is_url && options.add ? CopySource::Kind::url : s.kind;
    switch (kind) {
      case CopySource::Kind::url: {
        if (!options.add) fail(ErrorKind::invalid_argument, "source can't be a URL for COPY: " + s.pattern);
        // Fetched already for the cache key (s.root holds it), or now: then
        // it must be what the key was computed from (s.expected), or what
        // --checksum says.
        std::filesystem::path dir = s.root;
        if (dir.empty()) {
          if (options.checksum) temps.push_back(download_url(s.pattern, options.checksum));
          else if (s.expected)
            temps.push_back(
                download_url(s.pattern, s.expected, "changed on the server during the build (build again)"));
          else temps.push_back(download_url(s.pattern));
          dir = temps.back()->dir.path();
        }
        roots.push_back(std::make_unique<RootDir>(dir));
        SourcePattern p = SourcePattern::parse(url_file_name(s.pattern), false);
        for (auto& m : resolve_matches(*roots.back(), p, *filter, shown)) {
          items.push_back(
              {roots.back().get(), std::move(m), true, options.unpack.value_or(false), "", filter.get(), shown});
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
        for (auto& m :
             resolve_matches(*roots.back(), SourcePattern::parse(temps.back()->name, false), *filter, shown)) {
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
        // --parents selects below a pivot by an include pattern, which by
        // itself matches nothing quietly: a missing source must fail as
        // without --parents (BuildKit's testCopyParents).
        if (options.parents)
          (void)resolve_matches(*roots.back(), SourcePattern::parse(s.pattern, false), *filter, shown);
        for (auto& m : resolve_matches(*roots.back(), p, *filter, shown)) {
          items.push_back({roots.back().get(), std::move(m), s.from_context, options.unpack.value_or(true), p.include,
                           filter.get(), shown});
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

}  // namespace xb::fileop
