// A directory tree addressed the way a chroot sees it, private to fileop/:
// paths are resolved by common/in_root.h's lookup_in_root (symlinks followed
// with absolute targets starting at the root, ".." stopping there), so that
// no path given to it can reach outside. Every system call takes one
// canonical path element relative to a directory fd with O_NOFOLLOW.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/fs.h"
#include "common/in_root.h"
#include "fileop/fileop.h"

namespace xb::fileop {

class RootDir {
 public:
  // Opens `host_path`; `display` prefixes paths in messages ("" → paths show as "/a/b").
  explicit RootDir(const std::filesystem::path& host_path, std::string display = {});
  RootDir(UniqueFd fd, std::string display);

  int fd() const { return fd_.get(); }

  // The canonical path common/in_root.h's walk gives.
  using Resolved = InRootPath;
  // Resolves `path` (absolute, or relative to the root). Symlinks are
  // followed in every element (and in the last when `follow_last`); throws
  // on a symlink loop or a non-directory in the middle.
  Resolved resolve(std::string_view path, bool follow_last) const;

  // Opens the directory formed by the first `count` canonical parts.
  UniqueFd open_dir(const std::vector<std::string>& parts, size_t count) const;
  UniqueFd open_dir(const std::vector<std::string>& parts) const { return open_dir(parts, parts.size()); }

  // mkdir -p of `path` inside the root (symlinks followed). Directories it
  // creates get exactly `mode` (no umask) and `owner`. Returns the final
  // directory, opened, and its canonical parts in `canonical` if given.
  UniqueFd mkdir_all(std::string_view path, mode_t mode, Owner owner,
                     std::vector<std::string>* canonical = nullptr) const;

  // What to show the user for a canonical path.
  std::string display(const std::vector<std::string>& parts, size_t count) const;
  std::string display(std::string_view rel) const;

 private:
  UniqueFd fd_;
  std::string display_;
};

// openat(dirfd, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW) that throws naming `shown`.
UniqueFd open_subdir(int dirfd, const std::string& name, std::string_view shown);

// Removes `name` in `dirfd` and, for a directory, everything below it.
void remove_all_at(int dirfd, const std::string& name, std::string_view shown);

// The names in a directory, sorted (as Go's os.ReadDir gives them).
std::vector<std::string> list_dir(int dirfd, std::string_view shown);

// Joins "a/b" + "c" → "a/b/c" ("" + "c" → "c").
std::string join_rel(std::string_view a, std::string_view b);

}  // namespace xb::fileop
