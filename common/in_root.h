// Paths inside a directory tree that is not trusted (a snapshot, a build
// context, a COPY target, a container's root), resolved as a chroot would
// resolve them: a symlink (absolute or "../..") or a ".." can never lead out
// of the root, and /proc magic links are never followed. The one resolver
// of xbuild: the snapshotter's layer apply, the executor's mount targets, the
// solver's bind sources and WORKDIR, and fileop's RootDir all use it, so a
// fix here is a fix everywhere (docs/dev/hardening.md).
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>
#include <vector>

namespace xb {

enum class InRoot {
  chroot,       // openat2 RESOLVE_IN_ROOT: absolute symlinks and ".." stop at the root
  beneath,      // RESOLVE_BENEATH: a path, symlink or ".." leading out fails with EXDEV
  no_symlinks,  // RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: any symlink on the way fails with ELOOP
};

// openat2(rootfd, rel, flags | O_CLOEXEC) with `mode` (and always
// RESOLVE_NO_MAGICLINKS). "" and "." are the root itself. Returns an fd, or
// -1 with errno (EINTR and the EAGAIN of a concurrent rename are retried).
// On kernels without openat2 (before 5.6: ENOSYS) the same resolution is
// walked in user space (lookup_in_root, then an O_NOFOLLOW open of each
// canonical element) unless `fallback` is false: the executor's child runs
// between clone and exec of a threaded process and must not allocate.
int open_in_root(int rootfd, const char* rel, int flags, InRoot mode = InRoot::chroot, bool fallback = true) noexcept;
inline int open_in_root(int rootfd, const std::string& rel, int flags, InRoot mode = InRoot::chroot) noexcept {
  return open_in_root(rootfd, rel.c_str(), flags, mode);
}

namespace detail {
// open_in_root's fallback alone, so that tests hold it to openat2's cases.
int open_walked(int rootfd, const char* rel, int flags, InRoot mode);
}  // namespace detail

// A path looked up inside a root by walking it one element at a time.
struct InRootPath {
  std::vector<std::string> parts;  // canonical elements, free of symlinks (the last
                                   // one may be a symlink when not followed)
  size_t existing = 0;             // how many leading parts exist
  bool exists() const { return existing == parts.size(); }
  struct stat st {};        // of the final object when exists()
  std::string str() const;  // "/a/b"
};

// Resolves `path` (absolute, or relative to the root) in user space, with
// `mode`'s rules; what follows the first missing element is taken
// lexically, so callers can create it. Symlinks are followed in every
// element (and in the last when `follow_last`). Throws xb::Error naming
// `display` + the path on a symlink loop, a non-directory in the middle, or
// (beneath, no_symlinks) a way out. The canonical parts are what openat2
// cannot give: RootDir (fileop) builds on this to create and name paths.
InRootPath lookup_in_root(int rootfd, std::string_view path, bool follow_last, InRoot mode = InRoot::chroot,
                          std::string_view display = {});

}  // namespace xb
