#include "common/fs.h"

#include "common/interrupt.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include "common/error.h"
#include "common/random.h"

namespace xb {

namespace fs = std::filesystem;

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

UniqueFd open_or_throw(const fs::path& path, int flags, mode_t mode) {
  int fd;
  do fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno("open", path.string());
  return UniqueFd(fd);
}

void read_chunks(int fd, std::string_view what, const std::function<void(std::string_view)>& sink) {
  std::string buf(1 << 20, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", std::string(what));
    }
    if (n == 0) return;
    check_interrupt();  // a signal stops compression, archives and copies here
    sink(std::string_view(buf.data(), static_cast<size_t>(n)));
  }
}

std::string read_file(const fs::path& path) {
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void write_all(int fd, std::string_view data, std::string_view what_path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", what_path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void fsync_dir(const fs::path& dir) {
  UniqueFd fd = open_or_throw(dir.empty() ? fs::path(".") : dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(fd.get()) < 0 && errno != EINVAL) throw_errno("fsync", dir.string());
}

AtomicFile::AtomicFile(fs::path dest, mode_t mode) : dest_(std::move(dest)) {
  // The temporary name starts with ".tmp-" so that scans of a directory
  // (and prune) can tell unfinished files from finished ones.
  for (int attempt = 0;; ++attempt) {
    temp_ = dest_.parent_path() / (".tmp-" + dest_.filename().string() + "." + random_hex(16));
    int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0) {
      fd_.reset(fd);
      break;
    }
    if (errno != EEXIST || attempt > 10) throw_errno("create", temp_.string());
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::write(std::string_view data) { write_all(fd_.get(), data, temp_.string()); }

void AtomicFile::commit(bool durable) {
  if (durable && ::fsync(fd_.get()) < 0) throw_errno("fsync", temp_.string());
  fd_.reset();
  if (::rename(temp_.c_str(), dest_.c_str()) < 0) throw_errno("rename", dest_.string());
  committed_ = true;
  if (durable) fsync_dir(dest_.parent_path());
}

void write_file_atomic(const fs::path& dest, std::string_view data, mode_t mode, bool durable) {
  AtomicFile f(dest, mode);
  f.write(data);
  f.commit(durable);
}

FileLock::FileLock(const fs::path& path, Mode mode) {
  fd_ = open_or_throw(path, O_RDWR | O_CREAT, 0644);
  int op = mode == Mode::shared ? LOCK_SH : LOCK_EX;
  while (::flock(fd_.get(), op) < 0) {
    if (errno != EINTR) throw_errno("flock", path.string());
    check_interrupt();  // a signal ends the wait for another xbuild
  }
}

FileLock FileLock::try_lock(const fs::path& path, Mode mode) {
  FileLock lock;
  UniqueFd fd = open_or_throw(path, O_RDWR | O_CREAT, 0644);
  int op = (mode == Mode::shared ? LOCK_SH : LOCK_EX) | LOCK_NB;
  if (::flock(fd.get(), op) == 0) {
    lock.fd_ = std::move(fd);
  } else if (errno != EWOULDBLOCK) {
    throw_errno("flock", path.string());
  }
  return lock;
}

TempDir::TempDir(std::string_view prefix, const fs::path& parent) {
  fs::path base = parent;
  if (base.empty()) {
    const char* t = std::getenv("TMPDIR");
    base = t && *t ? t : "/tmp";
  }
  std::string tmpl = (base / (std::string(prefix) + ".XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw_errno("mkdtemp", tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path TempDir::release() {
  fs::path p = std::move(path_);
  path_.clear();
  return p;
}

uint64_t tree_size(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  uint64_t n = static_cast<uint64_t>(st.st_blocks) * 512;
  if (!S_ISDIR(st.st_mode)) return n;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (::lstat(it->path().c_str(), &st) == 0) n += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return n;
}

void remove_tree(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(p, ec))) {
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
    }
    ::chmod(p.c_str(), 0700);
  }
  fs::remove_all(p, ec);
  if (ec) throw_errno("remove", p.string(), ec.value());
}

}  // namespace xb
