#include "executor/seccomp.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <linux/seccomp.h>

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
    "bpf",
    "fanotify_init",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "perf_event_open",
    "quotactl",
    "quotactl_fd",
    "setdomainname",
    "sethostname",
    "setns",
    "syslog",
    "umount",
    "umount2",
    "unshare",
    "pivot_root",
    // CAP_SYS_BOOT, CAP_SYS_MODULE, CAP_SYS_PACCT, CAP_SYS_PTRACE, CAP_SYS_RAWIO,
    // CAP_SYS_TIME, CAP_SYS_TTY_CONFIG, CAP_SYS_NICE, CAP_DAC_READ_SEARCH.
    "reboot",
    "kexec_load",
    "kexec_file_load",
    "create_module",
    "delete_module",
    "init_module",
    "finit_module",
    "query_module",
    "get_kernel_syms",
    "acct",
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    "iopl",
    "ioperm",
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "vhangup",
    "get_mempolicy",
    "mbind",
    "set_mempolicy",
    "set_mempolicy_home_node",
    "migrate_pages",
    "move_pages",
    "open_by_handle_at",
    // Not in the profile at all: keys, swap, sysctl, old and unimplemented calls.
    "add_key",
    "keyctl",
    "request_key",
    "swapon",
    "swapoff",
    "_sysctl",
    "sysfs",
    "uselib",
    "userfaultfd",
    "ustat",
    "nfsservctl",
    "vm86",
    "vm86old",
    "afs_syscall",
    "bdflush",
    "break",
    "ftime",
    "getpmsg",
    "gtty",
    "idle",
    "lock",
    "mpx",
    "nice",
    "oldfstat",
    "oldlstat",
    "oldolduname",
    "oldstat",
    "olduname",
    "prof",
    "profil",
    "putpmsg",
    "readdir",
    "security",
    "sgetmask",
    "ssetmask",
    "sigaction",
    "signal",
    "sigpending",
    "sigsuspend",
    "stty",
    "tuxcall",
    "ulimit",
    "vserver",
    // io_uring: allowed by profiles before Docker 25, denied since (moby#46762).
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
};

// clone with any namespace flag (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|
// NEWPID|NEWNET), as the profile's clone rule for callers without CAP_SYS_ADMIN.
constexpr uint64_t kCloneNamespaceFlags = 0x7E020000;
constexpr int kAfVsock = 40;

// personality(2) only with the profile's values: 0, PER_LINUX32, UNAME26,
// both, and 0xffffffff (query). libseccomp cannot test one argument against
// several values in a default-allow filter, so these instructions go in
// front of its program; every other call falls through to it. x86_64 (and
// its x32 and i386 entry points) only.
std::vector<sock_filter> personality_prefix() {
  std::vector<sock_filter> p;
#if defined(__x86_64__)
  constexpr uint32_t kAllowed[] = {0, 8, 0x20000, 0x20008, 0xffffffff};
  constexpr uint32_t kAuditArchX86_64 = 0xC000003E, kAuditArchI386 = 0x40000003;
  constexpr uint32_t kNrX86_64 = 135, kNrX32 = 0x40000000 | 135, kNrI386 = 136;
  // Jumps are patched once the targets are known: "check" (the argument
  // test), "deny" and "next" (the first instruction after this block).
  enum Target : uint8_t { none, check, deny, next };
  struct Jump {
    size_t at;
    Target jt, jf;
  };
  std::vector<Jump> jumps;
  auto ld = [&](uint32_t offset) { p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset)); };
  auto jeq = [&](uint32_t k, Target jt, Target jf) {
    jumps.push_back({p.size(), jt, jf});
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 0));
  };
  ld(offsetof(seccomp_data, arch));
  jumps.push_back({p.size(), none, none});  // x86_64: fall through to its nr test, else to i386's
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArchX86_64, 0, 3));
  ld(offsetof(seccomp_data, nr));
  jeq(kNrX86_64, check, none);
  jeq(kNrX32, check, next);
  jeq(kAuditArchI386, none, next);  // the accumulator still holds arch here
  ld(offsetof(seccomp_data, nr));
  jeq(kNrI386, check, next);
  size_t check_at = p.size();
  ld(offsetof(seccomp_data, args[0]) + 4);  // high half: must be 0
  jeq(0, none, deny);
  ld(offsetof(seccomp_data, args[0]));
  for (uint32_t v : kAllowed) jeq(v, next, none);
  size_t deny_at = p.size();
  p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
  size_t next_at = p.size();
  auto offset = [&](size_t from, Target t) -> uint8_t {
    size_t to = t == check ? check_at : t == deny ? deny_at : t == next ? next_at : from + 1;
    return static_cast<uint8_t>(to - from - 1);
  };
  for (const auto& j : jumps) {
    if (j.jt == none && j.jf == none) continue;  // the arch test, written by hand above
    p[j.at].jt = offset(j.at, j.jt);
    p[j.at].jf = offset(j.at, j.jf);
  }
#endif
  return p;
}

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
  std::vector<sock_filter> out = personality_prefix();
  out.insert(out.end(), prog.begin(), prog.end());
  return out;
}

}  // namespace

const std::vector<sock_filter>& default_seccomp_program() {
  static const std::vector<sock_filter> prog = build();
  return prog;
}

}  // namespace xb::executor::detail
