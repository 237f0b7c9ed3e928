// File-system helpers shared by several modules: owned descriptors, atomic
// writes (nothing half-written ever appears under a final name), locks and
// temporary directories. System effects only; no policy.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace xb {

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// open(2) that throws `open `path`: ENOENT (...)` on failure; O_CLOEXEC is added.
UniqueFd open_or_throw(const std::filesystem::path& path, int flags, mode_t mode = 0644);

// The whole content of a file.
std::string read_file(const std::filesystem::path& path);

// Reads fd to its end, handing each piece read (up to 1 MiB) to sink;
// retries on EINTR, throws `read what: …` on error.
void read_chunks(int fd, std::string_view what, const std::function<void(std::string_view)>& sink);

// Writes every byte, retrying on EINTR and short writes; throws on error.
void write_all(int fd, std::string_view data, std::string_view what_path);

// fsync(2) a directory, so that a rename inside it survives a crash.
void fsync_dir(const std::filesystem::path& dir);

// A file written under a temporary name in the destination's directory and
// renamed into place by commit(); destroyed without commit(), it is removed.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path dest, mode_t mode = 0644);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_.get(); }
  const std::filesystem::path& temp_path() const { return temp_; }
  void write(std::string_view data);
  // fsync (when durable), rename over dest, fsync the directory.
  void commit(bool durable = true);

 private:
  std::filesystem::path dest_;
  std::filesystem::path temp_;
  UniqueFd fd_;
  bool committed_ = false;
};

// write_file_atomic: AtomicFile in one call.
void write_file_atomic(const std::filesystem::path& dest, std::string_view data, mode_t mode = 0644,
                       bool durable = true);

// An flock(2) on a lock file, created if missing; released on destruction.
class FileLock {
 public:
  enum class Mode { shared, exclusive };
  FileLock(const std::filesystem::path& path, Mode mode);
  // Returns an unlocked FileLock (owns() false) if the lock is held elsewhere.
  static FileLock try_lock(const std::filesystem::path& path, Mode mode);
  bool owns() const { return static_cast<bool>(fd_); }

 private:
  FileLock() = default;
  UniqueFd fd_;
};

// A fresh directory (mkdtemp) removed with everything in it on destruction.
class TempDir {
 public:
  // Under `parent` (default: $TMPDIR or /tmp), named prefix.XXXXXX.
  explicit TempDir(std::string_view prefix = "xbuild", const std::filesystem::path& parent = {});
  ~TempDir();
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Keeps the directory: the caller owns it from now on.
  std::filesystem::path release();

 private:
  std::filesystem::path path_;
};

// The bytes a file or a directory tree takes on disk (st_blocks; symlinks
// not followed, unreadable entries skipped); 0 when path does not exist.
uint64_t tree_size(const std::filesystem::path& path);

// Removes a file or a directory tree, making read-only directories (blobs
// are 0444, snapshot trees may hold 0555 dirs) writable first. Throws
// `remove `path`: …` on failure.
void remove_tree(const std::filesystem::path& path);

}  // namespace xb
