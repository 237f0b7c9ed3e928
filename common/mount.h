// A mount as a value: what the snapshotter hands out (the root of a
// container) and what the executor mounts. Kept in common/ because both
// modules speak it and neither may depend on the other (containerd's
// mount.Mount plays the same part).
#pragma once

#include <string>
#include <vector>

namespace xb {

struct Mount {
  // The file-system type given to mount(2): "overlay", "bind", "tmpfs".
  std::string type;
  // Host path for "bind" and the lower/upper dirs' owner for "overlay"
  // (informational there: the dirs are named in options); "tmpfs" ignores it.
  std::string source;
  // Where it goes inside the container ("/" or empty for a root mount).
  std::string target;
  // mount(8)-style options: "ro", "rw", "rbind", "nosuid", "nodev",
  // "noexec", "size=64m", "mode=1777" and, for overlay,
  // "lowerdir=A:B", "upperdir=U", "workdir=W" (lowerdir lists the nearest
  // parent first, as overlayfs does).
  std::vector<std::string> options;

  bool operator==(const Mount&) const = default;
};

// What mount(2) gets for a Mount: the flags ("ro", "nosuid", "bind", …), the
// data string (the rest, comma-separated) and, for overlays whose data would
// not fit in a page (long lowerdir chains), the directory to chdir to first
// so that the dirs can be named relative to it (containerd does the same).
struct MountArgs {
  unsigned long flags = 0;
  bool bind = false;
  std::string data;
  std::string chdir;  // empty: absolute paths in data
};
MountArgs mount_args(const Mount& mount);

}  // namespace xb
