// with_mounted: a snapshot's merged view for code that is not a container
// (file operations, the overlay probe). The mount happens on a thread that
// has unshared its file-system context and mount namespace, so the mount is
// invisible to the rest of the process and to the host, and it disappears
// when the thread ends, whatever happens to fn.
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <exception>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "snapshotter/snapshotter.h"

namespace xb::snapshotter {

namespace fs = std::filesystem;

void with_mounted(const std::vector<Mount>& mounts, const std::function<void(const fs::path& root)>& fn) {
  if (mounts.empty()) fail(ErrorKind::invalid_argument, "with_mounted: no mounts");
  TempDir target("xbuild-mnt");
  std::exception_ptr error;
  bool may_not_mount = false;
  std::thread t([&] {
    try {
      if (::unshare(CLONE_FS | CLONE_NEWNS) < 0) {
        may_not_mount = errno == EPERM;
        throw_errno("unshare mount namespace");
      }
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) throw_errno("make / private");
      for (const auto& m : mounts) {
        fs::path where = target.path();
        if (!m.target.empty() && m.target != "/") where /= fs::path(m.target).relative_path();
        MountArgs a = mount_args(m);
        if (!a.chdir.empty() && ::chdir(a.chdir.c_str()) < 0) throw_errno("chdir", a.chdir);
        int r = a.bind ? ::mount(m.source.c_str(), where.c_str(), nullptr, MS_BIND | (a.flags & MS_REC), nullptr)
                       : ::mount(m.type.c_str(), where.c_str(), m.type.c_str(), a.flags,
                                 a.data.empty() ? nullptr : a.data.c_str());
        if (r < 0) throw_errno("mount " + m.type, a.bind ? m.source : where.string());
        unsigned long flags = a.flags;
        // A bind mount takes "ro" only on a remount.
        if (a.bind && (flags & MS_RDONLY) &&
            ::mount(nullptr, where.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) < 0)
          throw_errno("remount read-only", where.string());
      }
      fn(target.path());
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  // Where this process may not mount at all (chroot isolation inside an
  // unprivileged container), a native snapshot's view is its directory.
  if (may_not_mount && mounts.size() == 1 && mount_args(mounts[0]).bind &&
      (mounts[0].target.empty() || mounts[0].target == "/")) {
    fn(mounts[0].source);
    return;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace xb::snapshotter
