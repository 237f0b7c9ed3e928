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

// Docker's default profile (moby profiles/seccomp/default.json) is an
// allow-list; this filter is the same list the other way round: every
// system call libseccomp knows (x86_64 and i386 names) that the profile does
// not allow for a container with Docker's default capabilities. Checked name
// by name against the profile; the differences left are in
// docs/dev/executor.md ("seccomp against Docker's profile").
const char* const kDenied[] = {
    // Need CAP_SYS_ADMIN: mounts, namespaces, BPF, perf, quotas, names.
    "bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount", "mount_setattr",
    "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
    "syslog", "umount", "umount2", "unshare", "pivot_root",
    // CAP_SYS_BOOT, CAP_SYS_MODULE, CAP_SYS_PACCT, CAP_SYS_PTRACE, CAP_SYS_RAWIO,
    // CAP_SYS_TIME, CAP_SYS_TTY_CONFIG, CAP_SYS_NICE, CAP_DAC_READ_SEARCH.
    "reboot", "kexec_load", "kexec_file_load", "create_module", "delete_module", "init_module", "finit_module",
    "query_module", "get_kernel_syms", "acct", "kcmp", "pidfd_getfd", "process_madvise", "iopl", "ioperm",
    "settimeofday", "stime", "clock_settime", "clock_settime64", "vhangup", "get_mempolicy", "mbind",
    "set_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages", "open_by_handle_at",
    // Not in the profile at all: keys, swap, sysctl, old and unimplemented calls.
    "add_key", "keyctl", "request_key", "swapon", "swapoff", "_sysctl", "sysfs", "uselib", "userfaultfd", "ustat",
    "nfsservctl", "vm86", "vm86old", "afs_syscall", "bdflush", "break", "ftime", "getpmsg", "gtty", "idle", "lock",
    "mpx", "nice", "oldfstat", "oldlstat", "oldolduname", "oldstat", "olduname", "prof", "profil", "putpmsg",
    "readdir", "security", "sgetmask", "ssetmask", "sigaction", "signal", "sigpending", "sigsuspend", "stty",
    "tuxcall", "ulimit", "vserver",
    // io_uring: allowed by profiles before Docker 25, denied since (moby#46762).
    "io_uring_setup", "io_uring_enter", "io_uring_register",
};

// clone with any namespace flag (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|
// NEWPID|NEWNET), as the profile's clone rule for callers without CAP_SYS_ADMIN.
constexpr uint64_t kCloneNamespaceFlags = 0x7E020000;
constexpr int kAfVsock = 40;

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
  // Each namespace flag alone: libseccomp cannot test "any of these bits".
  for (uint64_t bit = 1; bit <= kCloneNamespaceFlags; bit <<= 1) {
    if (!(kCloneNamespaceFlags & bit)) continue;
    int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit));
    if (r < 0 && r != -EEXIST) throw_errno("seccomp_rule_add", "clone", -r);
  }
  int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, kAfVsock));
  if (r < 0) throw_errno("seccomp_rule_add", "socket", -r);
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
