#include "executor/seccomp.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "common/fs.h"

namespace xb::executor::detail {

namespace {

// What Docker's default profile denies to a container without CAP_SYS_ADMIN,
// CAP_SYS_MODULE, CAP_SYS_TIME, CAP_SYS_BOOT, CAP_SYS_RAWIO, CAP_SYS_PTRACE…
const char* const kDenied[] = {
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
    "finit_module", "get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp",
    "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount", "move_pages",
    "name_to_handle_at", "nfsservctl", "open_by_handle_at", "perf_event_open", "pivot_root",
    "process_vm_readv", "process_vm_writev", "query_module", "quotactl", "reboot", "request_key",
    "set_mempolicy", "setns", "settimeofday", "stime", "swapon", "swapoff", "sysfs", "_sysctl",
    "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "syslog", "vhangup", "lookup_dcookie",
    "fanotify_init", "quotactl_fd", "pidfd_getfd",
};

std::vector<sock_filter> build() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) fail(ErrorKind::internal, "seccomp_init failed");
  struct Free {
    scmp_filter_ctx c;
    ~Free() { seccomp_release(c); }
  } guard{ctx};
  // 32-bit entry points get the same rules (an x86 binary cannot dodge them).
  seccomp_arch_add(ctx, SCMP_ARCH_X86);
  seccomp_arch_add(ctx, SCMP_ARCH_X32);
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (r < 0 && r != -EEXIST && r != -EDOM) throw_errno("seccomp_rule_add", name, -r);
  }
  int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                           SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
  if (r < 0) throw_errno("seccomp_rule_add", "clone", -r);
  r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (r < 0 && r != -EDOM) throw_errno("seccomp_rule_add", "clone3", -r);
  int fd = ::memfd_create("xbuild-seccomp", MFD_CLOEXEC);
  if (fd < 0) throw_errno("memfd_create");
  UniqueFd mem(fd);
  r = seccomp_export_bpf(ctx, fd);
  if (r < 0) throw_errno("seccomp_export_bpf", "", -r);
  off_t size = ::lseek(fd, 0, SEEK_END);
  std::vector<sock_filter> prog(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(fd, prog.data(), static_cast<size_t>(size), 0) != size) throw_errno("read seccomp program");
  return prog;
}

}  // namespace

const std::vector<sock_filter>& default_seccomp_program() {
  static const std::vector<sock_filter> prog = build();
  return prog;
}

}  // namespace xb::executor::detail
