// Private to executor/: a container's cgroup, on v2, v1 or hybrid hosts
// (detected at runtime from /proc/self/mountinfo). Owned by scope: the
// destructor kills what is left inside and removes the directories.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/fs.h"
#include "executor/executor.h"

namespace xb::executor::detail {

class CgroupDir {
 public:
  // Creates xbuild/<name> in every hierarchy that has a controller the
  // limits need, and writes the limits. With restrict_devices, the
  // container may open only Docker's default devices (null, zero, full,
  // random, urandom, tty, console, ptmx, pts) and create (mknod) any: the
  // BPF device program on the cgroup2 hierarchy where there is one (v2 and
  // hybrid hosts), else the v1 devices controller. XBUILD_DEVICE_CGROUP=v1
  // or =bpf forces one of the two (tests use it to try both on one host).
  CgroupDir(const std::string& name, const Limits& limits, bool restrict_devices);
  ~CgroupDir();
  CgroupDir(const CgroupDir&) = delete;
  CgroupDir& operator=(const CgroupDir&) = delete;

  // Open cgroup.procs files of the v1 hierarchies; the child writes "0" to
  // each to join.
  const std::vector<int>& procs_fds() const { return procs_fd_ints_; }
  // The cgroup2 directory (or -1): the child is cloned into it
  // (clone3 CLONE_INTO_CGROUP).
  int v2_dir_fd() const { return v2_dir_fd_.get(); }
  // Whether the memory controller killed something (memory.events or
  // memory.oom_control oom_kill > 0).
  bool oom_killed() const;
  // SIGKILLs every process still inside, then removes the dirs (retrying
  // while the kernel finishes the exits).
  void destroy() noexcept;
  // Which way restrict_devices took: "v1", "bpf", or "" (not restricted).
  const char* devices_mode() const { return devices_mode_; }

 private:
  std::vector<std::filesystem::path> dirs_;
  std::filesystem::path memory_dir_;
  bool v2_ = false;
  const char* devices_mode_ = "";
  UniqueFd v2_dir_fd_;
  std::vector<UniqueFd> procs_fds_;
  std::vector<int> procs_fd_ints_;
};

}  // namespace xb::executor::detail
