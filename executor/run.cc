// run(): one container. The parent prepares everything that allocates
// (strings, mount arguments, the seccomp program, cgroup fds) before
// clone3(); the child then only makes system calls, so it is safe even when
// the parent has other threads, and it reports a failure as (call, path,
// errno) over a close-on-exec pipe whose EOF means "exec succeeded".
//
// Child sequence (docs/dev/executor.md): (cloned into its cgroup2 cgroup)
// join v1 cgroups → private mount propagation → scratch tmpfs with
// hosts/resolv.conf/hostname → root mount → /proc, /dev (tmpfs + nodes),
// /dev/pts, /dev/shm, /sys (ro), Docker's read-only and masked paths, /etc
// binds, extra mounts → workdir → pivot_root → hostname, lo → stdio,
// session → no_new_privs, bounding set, groups/gid/uid, capabilities →
// seccomp → exec of xbuild-init (sealed memfd), which execs the command.
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/loop.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <grp.h>
#include <termios.h>
#include <unistd.h>

#include <sys/capability.h>

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <optional>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "common/error.h"
#include "common/fs.h"
#include "common/in_root.h"
#include "common/interrupt.h"
#include "common/userns.h"
#include "executor/cgroup.h"
#include "executor/exec_message.h"
#include "executor/executor.h"
#include "executor/init_binary.h"
#include "executor/seccomp.h"

namespace xb::executor {

namespace fs = std::filesystem;

namespace {

// Where the child mounts its scratch tmpfs and, below it, the root. It is
// only a mount point: everything mounted there lives in the container's
// mount namespace. Rootless (a user namespace) /run is not writable: a
// private directory under $XDG_RUNTIME_DIR or $TMPDIR serves instead.
constexpr const char* kScratch = "/run/xbuild-exec";

// Docker's default capability set (CapEff 00000000a80425fb).
constexpr uint64_t kDefaultCaps = (1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_FOWNER) |
                                  (1ull << CAP_FSETID) | (1ull << CAP_KILL) | (1ull << CAP_SETGID) |
                                  (1ull << CAP_SETUID) | (1ull << CAP_SETPCAP) | (1ull << CAP_NET_BIND_SERVICE) |
                                  (1ull << CAP_NET_RAW) | (1ull << CAP_SYS_CHROOT) | (1ull << CAP_MKNOD) |
                                  (1ull << CAP_AUDIT_WRITE) | (1ull << CAP_SETFCAP);

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// --- cancellation ------------------------------------------------------------

constexpr int kSlots = 256;
std::array<std::atomic<int>, kSlots> g_pidfds{};
std::array<std::atomic<bool>, kSlots> g_cancelled{};

struct Registration {
  int slot = -1;
  explicit Registration(int pidfd) {
    for (int i = 0; i < kSlots; ++i) {
      int expected = 0;
      if (g_pidfds[i].compare_exchange_strong(expected, pidfd + 1)) {
        g_cancelled[i] = false;
        slot = i;
        return;
      }
    }
  }
  ~Registration() {
    if (slot >= 0) g_pidfds[slot] = 0;
  }
  bool cancelled() const { return slot >= 0 && g_cancelled[slot]; }
};

// --- the child's plan: everything precomputed ---------------------------------

struct Step {
  // readonly: bind the path (inside the root) onto itself read-only; mask:
  // /dev/null over a file, an empty read-only tmpfs over a directory. Both
  // skip a path this kernel does not have.
  enum Kind { mount, mkdir_stub, file_stub, mknod, symlink, write_file, remount_ro, readonly, mask } kind;
  const char* a = nullptr;  // source / target / path
  const char* b = nullptr;  // target (mount), link target (symlink), content (write_file)
  const char* fstype = nullptr;
  unsigned long flags = 0;
  const char* data = nullptr;
  const char* chdir = nullptr;
  mode_t mode = 0;
  dev_t dev = 0;
  int stub = -1;                // index into stubs for stubs
  size_t parents_from = 0;      // stubs: create missing parents below this prefix length
  bool optional = false;        // failures are ignored (e.g. read-only roots)
  bool only_if_failed = false;  // done only when the step before failed (a fallback)
};

using Message = xb_exec_message;

struct Plan {
  std::deque<std::string> strings;  // owns every string the steps point to (stable addresses)
  std::vector<Step> steps;
  std::vector<std::string> stub_paths;  // relative to the root, for cleanup
  std::string root_dir;                 // kScratch + "/root"
  std::string hostname;
  std::string cwd;
  std::vector<std::string> exec_candidates;
  std::vector<char*> argv;
  std::vector<char*> envp;
  // xbuild-init's argv (init.c): msg fd, the candidates, then argv.
  std::vector<std::string> init_arg_storage;
  std::vector<char*> init_argv;
  int init_fd = -1;  // the sealed memfd holding xbuild-init
  std::vector<std::string> env_storage;
  std::vector<std::string> arg_storage;
  uint32_t uid = 0, gid = 0;
  std::vector<gid_t> groups;
  bool sandbox = true;
  bool chroot = false;           // Isolation::chroot
  bool userns = false;           // in a user namespace (rootless)
  uint64_t caps = kDefaultCaps;  // what uid 0 keeps (chroot: only those this process has)
  bool new_net = false;
  bool tty = false;
  int tty_sock = -1;  // the child sends its pty master here
  struct winsize ws {};
  bool have_ws = false;
  bool root_ro = false;
  int stdio[3] = {-1, -1, -1};
  std::vector<int> cgroup_fds;
  bool in_cgroup = false;
  sock_fprog seccomp{};
  std::vector<std::pair<int, struct rlimit>> rlimits;  // --ulimit, set before privileges drop
  std::vector<const char*> rlimit_names;               // parallel, for errors
  int last_cap = CAP_LAST_CAP;
  int msg_fd = -1;

  const char* keep(std::string s) {
    strings.push_back(std::move(s));
    return strings.back().c_str();
  }
};

[[noreturn]] void child_fail(const Plan& p, uint64_t stubs, const char* call, const char* path, int err) {
  Message m{};
  m.err = err ? err : EIO;
  m.stubs = stubs;
  std::strncpy(m.call, call, sizeof m.call - 1);
  if (path) std::strncpy(m.path, path, sizeof m.path - 1);
  (void)!::write(p.msg_fd, &m, sizeof m);
  ::_exit(127);
}

// Creates the missing directories of path (absolute, inside the root),
// recording each in stubs so that the parent can remove them again.
bool child_mkdirs(char* path, size_t root_len) {
  for (char* s = path + root_len + 1; *s; ++s) {
    if (*s != '/') continue;
    *s = 0;
    int r = ::mkdir(path, 0755);
    *s = '/';
    if (r < 0 && errno != EEXIST) return false;
  }
  return true;
}

// Paths inside the container's root are resolved as a chroot would (a
// symlink the image planted, absolute or "../..", cannot lead to a host
// path) and never through /proc magic links (CVE-2024-21626), by
// common/in_root.h without its allocating fallback: the child runs between
// clone and exec.
int child_in_root(int rootfd, const char* rel, int flags) {
  return open_in_root(rootfd, rel, flags, InRoot::chroot, /*fallback=*/false);
}

// mkdir -p of rel (relative, '/'-separated) inside the root at rootfd; buf
// is scratch space. Returns false with errno set.
bool child_mkdirs_in_root(int rootfd, const char* rel, char* buf, size_t size) {
  std::strncpy(buf, rel, size - 1);
  buf[size - 1] = 0;
  for (char* s = buf;; ++s) {
    if (*s != '/' && *s != 0) continue;
    char c = *s;
    *s = 0;
    if (*buf) {
      int fd = child_in_root(rootfd, buf, O_PATH | O_DIRECTORY);
      if (fd >= 0) {
        ::close(fd);
      } else {
        if (errno != ENOENT) return false;
        char* slash = std::strrchr(buf, '/');
        int pfd;
        const char* name = buf;
        if (slash) {
          *slash = 0;
          pfd = child_in_root(rootfd, buf, O_PATH | O_DIRECTORY);
          *slash = '/';
          name = slash + 1;
        } else {
          pfd = child_in_root(rootfd, ".", O_PATH | O_DIRECTORY);
        }
        if (pfd < 0) return false;
        int r = ::mkdirat(pfd, name, 0755);
        ::close(pfd);
        if (r < 0 && errno != EEXIST) return false;
      }
    }
    *s = c;
    if (c == 0) return true;
  }
}

// The directory that holds rel's last component, inside the root (created
// when mkdirs); *leaf is that component. An O_PATH fd, or -1 with errno.
int child_dir_in_root(int rootfd, const char* rel, bool mkdirs, char* buf, size_t size, const char** leaf) {
  const char* slash = std::strrchr(rel, '/');
  if (!slash) {
    *leaf = rel;
    return child_in_root(rootfd, ".", O_PATH | O_DIRECTORY);
  }
  *leaf = slash + 1;
  size_t n = std::min(static_cast<size_t>(slash - rel), size - 1);
  char dir[4096];
  std::memcpy(dir, rel, n);
  dir[n] = 0;
  if (mkdirs && !child_mkdirs_in_root(rootfd, dir, buf, size)) return -1;
  return child_in_root(rootfd, dir, O_PATH | O_DIRECTORY);
}

// The common end of both children: terminal, stdio, session, privileges,
// seccomp, and the exec of xbuild-init.
[[noreturn]] void child_exec(const Plan& p, uint64_t stubs) {
  char buf[64];
  (void)buf;
  int stdio[3] = {p.stdio[0], p.stdio[1], p.stdio[2]};
  if (p.tty) {
    // The terminal comes from the container's own devpts, as in Docker, so
    // that ttyname() and /dev/pts/N make sense inside.
    int master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) child_fail(p, stubs, "open", "/dev/ptmx", errno);
    int unlock = 0, n = 0;
    if (::ioctl(master, TIOCSPTLCK, &unlock) < 0 || ::ioctl(master, TIOCGPTN, &n) < 0)
      child_fail(p, stubs, "unlock pty", "/dev/ptmx", errno);
    char name[32];
    std::snprintf(name, sizeof name, "/dev/pts/%d", n);
    int slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) child_fail(p, stubs, "open", name, errno);
    if (p.have_ws) ::ioctl(slave, TIOCSWINSZ, &p.ws);
    if (::fchown(slave, p.uid, 5) < 0) child_fail(p, stubs, "chown", name, errno);
    char data = 't';
    struct iovec iov {
      &data, 1
    };
    char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr mh {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    struct cmsghdr* cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &master, sizeof(int));
    if (::sendmsg(p.tty_sock, &mh, 0) < 0) child_fail(p, stubs, "send pty", nullptr, errno);
    ::close(master);
    stdio[0] = stdio[1] = stdio[2] = slave;
  }
  // --ulimit: while the process still has CAP_SYS_RESOURCE (a hard limit
  // above xbuild's own), as runc sets the spec's rlimits before its exec.
  for (size_t i = 0; i < p.rlimits.size(); ++i)
    if (::setrlimit(static_cast<__rlimit_resource>(p.rlimits[i].first), &p.rlimits[i].second) < 0)
      child_fail(p, stubs, "setrlimit", p.rlimit_names[i], errno);
  if (::setsid() < 0) child_fail(p, stubs, "setsid", nullptr, errno);
  for (int i = 0; i < 3; ++i)
    if (::dup3(stdio[i], i, 0) < 0 && stdio[i] != i) child_fail(p, stubs, "dup2 stdio", nullptr, errno);
  for (int i = 0; i < 3; ++i) ::fcntl(i, F_SETFD, 0);
  if (p.tty && ::ioctl(0, TIOCSCTTY, 0) < 0) child_fail(p, stubs, "set controlling terminal", nullptr, errno);
  ::umask(022);

  if (p.sandbox) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(p, stubs, "prctl NO_NEW_PRIVS", nullptr, errno);
    for (int c = 0; c <= p.last_cap; ++c)
      if (!(kDefaultCaps & (1ull << c)) && ::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL &&
          !(p.chroot && errno == EPERM))
        child_fail(p, stubs, "drop capability from bounding set", nullptr, errno);
  }
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  // Insecure mode gives every capability to any user, as BuildKit does (all
  // of them bounding, permitted, inheritable and ambient): keep them across
  // setresuid, then make them ambient so that they survive exec.
  const bool all_caps_for_user = !p.sandbox && p.uid != 0;
  if (all_caps_for_user && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    child_fail(p, stubs, "prctl KEEPCAPS", nullptr, errno);
  // Raw system calls, not glibc's wrappers: those broadcast the change to every
  // thread glibc believes exists (the parent's, copied by clone3) and wait
  // forever for one the parent was still creating at clone time.
  if (::syscall(SYS_setgroups, p.groups.size(), p.groups.data()) < 0) child_fail(p, stubs, "setgroups", nullptr, errno);
  if (::syscall(SYS_setresgid, p.gid, p.gid, p.gid) < 0) child_fail(p, stubs, "setgid", nullptr, errno);
  // A non-root uid loses every capability here (no PR_SET_KEEPCAPS but in
  // insecure mode), as in Docker.
  if (::syscall(SYS_setresuid, p.uid, p.uid, p.uid) < 0) child_fail(p, stubs, "setuid", nullptr, errno);
  if (all_caps_for_user) {
    // "Every" is what this process has (BuildKit: cap.Current()).
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2] = {};
    if (::syscall(SYS_capget, &h, d) < 0) child_fail(p, stubs, "capget", nullptr, errno);
    for (auto& half : d) half.effective = half.inheritable = half.permitted;
    if (::syscall(SYS_capset, &h, d) < 0) child_fail(p, stubs, "capset", nullptr, errno);
    for (int c = 0; c <= p.last_cap; ++c)
      if ((d[c / 32].permitted & (1u << (c % 32))) && ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
        child_fail(p, stubs, "raise ambient capability", nullptr, errno);
  }
  if (p.sandbox && p.uid == 0) {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2] = {};
    d[0].effective = d[0].permitted = static_cast<uint32_t>(p.caps);
    d[1].effective = d[1].permitted = static_cast<uint32_t>(p.caps >> 32);
    if (::syscall(SYS_capset, &h, d) < 0) child_fail(p, stubs, "capset", nullptr, errno);
  }
  // Tell the parent which stubs exist; from here only exec can fail.
  {
    Message m{};
    m.stubs = stubs;
    if (::write(p.msg_fd, &m, sizeof m) != sizeof m) ::_exit(127);
  }
  if (p.sandbox && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p.seccomp, 0, 0) < 0)
    child_fail(p, stubs, "load seccomp filter", nullptr, errno);
  ::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
  // This process is still a copy of xbuild: its /proc/self/exe is the
  // host's binary, which a command whose interpreter is /proc/self/exe
  // would run (and could then try to overwrite: CVE-2019-5736). So the
  // command is executed by xbuild-init, from a sealed memfd; it reports a
  // failed exec on the message pipe, which it closes on success.
  if (::fcntl(p.msg_fd, F_SETFD, 0) < 0) child_fail(p, stubs, "fcntl", "message pipe", errno);
  ::syscall(SYS_execveat, p.init_fd, "", p.init_argv.data(), p.envp.data(), AT_EMPTY_PATH);
  child_fail(p, stubs, "exec", "xbuild-init", errno);
}

// Enters the step's working directory in the new root ("/" is already the
// container's): created if missing, resolved inside the root so that no
// planted symlink or magic link leads out. buf is scratch space.
void child_enter_cwd(const Plan& p, uint64_t stubs, char* buf, size_t size) {
  int newroot = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  const char* rel = p.cwd.c_str();
  while (*rel == '/') ++rel;
  if (newroot < 0 || (*rel && !child_mkdirs_in_root(newroot, rel, buf, size)))
    child_fail(p, stubs, "mkdir workdir", p.cwd.c_str(), errno);
  int cwdfd = child_in_root(newroot, *rel ? rel : ".", O_PATH | O_DIRECTORY);
  if (cwdfd < 0 || ::fchdir(cwdfd) < 0) child_fail(p, stubs, "chdir", p.cwd.c_str(), errno);
  ::close(cwdfd);
  ::close(newroot);
}

// Isolation::chroot: no namespace, no mount; the root is the snapshot's
// directory (native driver) and the parent has put /dev nodes and the
// generated /etc files in place.
int child_chroot_main(const Plan& p) {
  uint64_t stubs = 0;
  char buf[4096];
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_fail(p, stubs, "prctl PDEATHSIG", nullptr, errno);
  if (::chroot(p.root_dir.c_str()) < 0) child_fail(p, stubs, "chroot", p.root_dir.c_str(), errno);
  if (::chdir("/") < 0) child_fail(p, stubs, "chdir", "/", errno);
  child_enter_cwd(p, stubs, buf, sizeof buf);
  child_exec(p, stubs);
}

// Makes the mount at (dirfd, path) read-only, with `flags`' nosuid, nodev
// and noexec, and with `recursive` every mount below it too: an rbind
// carries the source's submounts, which a remount of the bind alone would
// leave writable. mount_setattr(AT_RECURSIVE) does all at once (crun and
// bubblewrap do the same); a kernel without it (before 5.12: ENOSYS) gets
// the per-mount remount of the top. An empty path means dirfd itself.
int child_make_ro(int dirfd, const char* path, unsigned long flags, bool recursive) {
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY | ((flags & MS_NOSUID) ? MOUNT_ATTR_NOSUID : 0) |
                  ((flags & MS_NODEV) ? MOUNT_ATTR_NODEV : 0) | ((flags & MS_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0);
  unsigned at = (recursive ? AT_RECURSIVE : 0) | (*path ? 0 : AT_EMPTY_PATH);
  if (::syscall(SYS_mount_setattr, dirfd, path, at, &attr, sizeof attr) == 0) return 0;
  if (errno != ENOSYS) return -1;
  char fdpath[64];
  if (!*path) {
    std::snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", dirfd);
    path = fdpath;
  }
  return ::mount(nullptr, path, nullptr,
                 MS_REMOUNT | MS_BIND | MS_RDONLY | (flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)), nullptr);
}

int child_main(const Plan& p) {
  uint64_t stubs = 0;
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_fail(p, stubs, "prctl PDEATHSIG", nullptr, errno);
  for (int fd : p.cgroup_fds)
    if (::write(fd, "0", 1) < 0) child_fail(p, stubs, "join cgroup", nullptr, errno);
  if (p.in_cgroup && ::unshare(CLONE_NEWCGROUP) < 0) child_fail(p, stubs, "unshare cgroup", nullptr, errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    child_fail(p, stubs, "make mounts private", "/", errno);

  char buf[4096];
  char fdpath[64];
  int rootfd = -1;  // the root mount, once it is mounted
  const size_t root_len = p.root_dir.size();
  // rel of a path inside the root ("etc/hosts" for root_dir/etc/hosts), or null.
  auto in_root = [&](const char* path) -> const char* {
    if (rootfd < 0 || !path || std::strncmp(path, p.root_dir.c_str(), root_len) != 0 || path[root_len] != '/')
      return nullptr;
    return path + root_len + 1;
  };
  bool prev_failed = false;
  for (const Step& s : p.steps) {
    if (s.only_if_failed && !prev_failed) continue;
    int r = 0;
    const char* call = "";
    const char* what = s.a;
    switch (s.kind) {
      case Step::mount: {
        call = "mount";
        what = s.b;
        if (s.chdir && ::chdir(s.chdir) < 0) child_fail(p, stubs, "chdir", s.chdir, errno);
        const char* target = s.b;
        const char* rel = in_root(s.b);
        int tfd = -1;
        if (rel) {
          // Mount on the object resolved inside the root, through its fd (runc's way).
          tfd = child_in_root(rootfd, rel, O_PATH);
          if (tfd < 0) {
            r = -1;
            break;
          }
          std::snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", tfd);
          target = fdpath;
        }
        r = ::mount(s.a, target, s.fstype, s.flags, s.data);
        if (tfd >= 0) ::close(tfd);
        if (r == 0 && (s.flags & MS_BIND) && (s.flags & MS_RDONLY)) {
          if (rel) {
            tfd = child_in_root(rootfd, rel, O_PATH);  // now the new mount's root
            if (tfd < 0) {
              r = -1;
              break;
            }
            std::snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", tfd);
          }
          r = tfd >= 0 ? child_make_ro(tfd, "", s.flags, s.flags & MS_REC)
                       : child_make_ro(AT_FDCWD, target, s.flags, s.flags & MS_REC);
          if (tfd >= 0) ::close(tfd);
        }
        if (r == 0 && !p.root_dir.empty() && rootfd < 0 && p.root_dir == s.b) {
          rootfd = ::open(s.b, O_PATH | O_DIRECTORY | O_CLOEXEC);
          if (rootfd < 0) child_fail(p, stubs, "open", s.b, errno);
        }
        break;
      }
      case Step::readonly:
      case Step::mask: {
        call = s.kind == Step::readonly ? "make read-only" : "mask";
        const char* rel = in_root(s.a);
        int tfd = rel ? child_in_root(rootfd, rel, O_PATH) : -1;
        if (tfd < 0) {
          if (rel && errno == ENOENT) break;  // not on this kernel: nothing to protect
          r = -1;
          break;
        }
        std::snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", tfd);
        struct stat st {};
        r = ::fstat(tfd, &st);
        if (r == 0 && s.kind == Step::mask) {
          r = S_ISDIR(st.st_mode)
                  ? ::mount("tmpfs", fdpath, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=0")
                  : ::mount("/dev/null", fdpath, nullptr, MS_BIND, nullptr);
        } else if (r == 0) {
          r = ::mount(fdpath, fdpath, nullptr, MS_BIND | MS_REC, nullptr);
          ::close(tfd);
          tfd = r == 0 ? child_in_root(rootfd, rel, O_PATH) : -1;  // the new mount's root
          if (r == 0 && tfd < 0) r = -1;
          if (r == 0) r = child_make_ro(tfd, "", MS_NOSUID | MS_NODEV | MS_NOEXEC, true);
        }
        if (tfd >= 0) ::close(tfd);
        break;
      }
      case Step::remount_ro:
        call = "remount read-only";
        r = ::mount(nullptr, s.a, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr);
        break;
      case Step::mkdir_stub:
      case Step::file_stub: {
        call = "create mount point";
        if (const char* rel = in_root(s.a)) {
          int fd = child_in_root(rootfd, rel, O_PATH | O_NOFOLLOW);
          if (fd >= 0) {
            ::close(fd);
            break;
          }
          const char* leaf = nullptr;
          int dfd = child_dir_in_root(rootfd, rel, s.parents_from != 0, buf, sizeof buf, &leaf);
          if (dfd < 0) {
            r = -1;
            break;
          }
          r = s.kind == Step::mkdir_stub ? ::mkdirat(dfd, leaf, 0755) : ::mknodat(dfd, leaf, S_IFREG | 0644, 0);
          ::close(dfd);
          if (r == 0 && s.stub >= 0) stubs |= 1ull << s.stub;
          if (r < 0 && errno == EEXIST) r = 0;
          break;
        }
        struct stat st {};
        if (::lstat(s.a, &st) == 0) break;
        if (!s.parents_from) {
          r = ::mkdir(s.a, 0755);
          break;
        }
        std::strncpy(buf, s.a, sizeof buf - 1);
        buf[sizeof buf - 1] = 0;
        if (!child_mkdirs(buf, s.parents_from)) {
          r = -1;
          break;
        }
        if (s.kind == Step::mkdir_stub) {
          r = ::mkdir(s.a, 0755);
        } else {
          r = ::mknod(s.a, S_IFREG | 0644, 0);
        }
        if (r == 0 && s.stub >= 0) stubs |= 1ull << s.stub;
        if (r < 0 && errno == EEXIST) r = 0;
        break;
      }
      case Step::mknod:
      case Step::symlink: {
        call = s.kind == Step::mknod ? "mknod" : "symlink";
        int dfd = AT_FDCWD;
        const char* name = s.a;
        if (const char* rel = in_root(s.a)) {
          dfd = child_dir_in_root(rootfd, rel, false, buf, sizeof buf, &name);
          if (dfd < 0) {
            r = -1;
            break;
          }
        }
        r = s.kind == Step::mknod ? ::mknodat(dfd, name, s.mode, s.dev) : ::symlinkat(s.b, dfd, name);
        // The inherited umask would turn 0666 into 0644, and then no
        // unprivileged user (apt's _apt) could write to /dev/null.
        if (r == 0 && s.kind == Step::mknod) r = ::fchmodat(dfd, name, s.mode & 07777, 0);
        if (dfd != AT_FDCWD) ::close(dfd);
        break;
      }
      case Step::write_file: {
        call = "write";
        int fd = ::open(s.a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
          r = -1;
          break;
        }
        size_t n = s.b ? std::strlen(s.b) : 0;
        r = n == 0 || ::write(fd, s.b, n) == static_cast<ssize_t>(n) ? 0 : -1;
        ::close(fd);
        break;
      }
    }
    if (r < 0 && !s.optional) child_fail(p, stubs, call, what, errno);
    prev_failed = r < 0;
  }
  if (rootfd >= 0) ::close(rootfd);

  if (::chdir(p.root_dir.c_str()) < 0) child_fail(p, stubs, "chdir", p.root_dir.c_str(), errno);
  if (::syscall(SYS_pivot_root, ".", ".") < 0) child_fail(p, stubs, "pivot_root", p.root_dir.c_str(), errno);
  if (::umount2(".", MNT_DETACH) < 0) child_fail(p, stubs, "detach old root", "/", errno);
  if (::chdir("/") < 0) child_fail(p, stubs, "chdir", "/", errno);
  // Cwd: created if missing (like runc's mkdir of the process cwd), after
  // pivot_root and through openat2, so that neither a symlink planted in the
  // image nor a /proc/self/fd/N magic link (an fd this process inherited:
  // CVE-2024-21626) can make it a host directory.
  {
    child_enter_cwd(p, stubs, buf, sizeof buf);
    // The kernel's getcwd says "(unreachable)" (or ENOENT) for a directory
    // outside our root: refuse to run there.
    long n = ::syscall(SYS_getcwd, buf, sizeof buf);
    if (n < 0 || buf[0] != '/') child_fail(p, stubs, "working directory outside the container", p.cwd.c_str(), ENOENT);
  }
  if (p.root_ro && ::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) < 0)
    child_fail(p, stubs, "remount root read-only", "/", errno);
  // An outer seccomp filter (podman's profile, for a container without
  // CAP_SYS_ADMIN) may deny sethostname even in our own UTS namespace: the
  // run then keeps the container's hostname (docs/dev/executor.md).
  if (::sethostname(p.hostname.c_str(), p.hostname.size()) < 0 && !(p.userns && errno == EPERM))
    child_fail(p, stubs, "sethostname", nullptr, errno);
  if (p.new_net) {
    int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr {};
    std::strcpy(ifr.ifr_name, "lo");
    if (sock < 0 || ::ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) child_fail(p, stubs, "get flags of", "lo", errno);
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) child_fail(p, stubs, "bring up", "lo", errno);
    ::close(sock);
  }

  child_exec(p, stubs);
}

// --- the parent's side ------------------------------------------------------------

std::string rootfs_file(const std::vector<Mount>& root, const std::string& rel) {
  // The root is not mounted in the parent: look through the layers as
  // overlayfs would (upper first, then the lowers, nearest first).
  if (root.empty()) return "";
  std::vector<std::string> dirs;
  const Mount& m = root.front();
  if (m.type == "overlay") {
    std::string upper, lower;
    for (const auto& o : m.options) {
      if (o.rfind("upperdir=", 0) == 0) upper = o.substr(9);
      if (o.rfind("lowerdir=", 0) == 0) lower = o.substr(9);
    }
    if (!upper.empty()) dirs.push_back(upper);
    size_t i = 0;
    while (i <= lower.size() && !lower.empty()) {
      size_t j = lower.find(':', i);
      if (j == std::string::npos) j = lower.size();
      dirs.push_back(lower.substr(i, j - i));
      i = j + 1;
    }
  } else {
    dirs.push_back(m.source);
  }
  for (const auto& d : dirs) {
    struct stat st {};
    fs::path p = fs::path(d) / rel;
    if (::lstat(p.c_str(), &st) < 0) continue;
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) return "";
    if (!S_ISREG(st.st_mode)) return "";
    try {
      return read_file(p);
    } catch (const Error&) {
      return "";
    }
  }
  return "";
}

// The directory where the root's own changes land (overlay upper or the
// bind source): mount-point stubs are removed from there after the run.
std::string writable_dir(const std::vector<Mount>& root) {
  if (root.empty()) return "";
  const Mount& m = root.front();
  if (m.type == "overlay") {
    for (const auto& o : m.options)
      if (o.rfind("upperdir=", 0) == 0) return o.substr(9);
    return "";
  }
  return m.source;
}

std::string normalize_target(const std::string& t) {
  fs::path p = fs::path("/") / t;
  return p.lexically_normal().string();
}

const std::string& scratch_dir() {
  static std::once_flag once;
  static std::string dir;
  std::call_once(once, [] {
    if (::mkdir(kScratch, 0700) == 0 || errno == EEXIST) {
      dir = kScratch;
      return;
    }
    if (errno != EACCES && errno != EPERM && errno != EROFS) throw_errno("mkdir", kScratch);
    const char* base = std::getenv("XDG_RUNTIME_DIR");
    if (!base || !*base || ::access(base, W_OK) != 0) base = std::getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    // mkdtemp: a fresh 0700 directory nobody else can have planted; removed
    // at exit (it is only ever a mount point, so it stays empty).
    std::string t = std::string(base) + "/xbuild-exec-XXXXXX";
    if (!::mkdtemp(t.data())) throw_errno("mkdtemp", t);
    dir = t;
    std::atexit([] { ::rmdir(dir.c_str()); });
  });
  return dir;
}

// Docker's default profile (moby oci/defaults.go, Docker 28): what a
// container may not change (kernel settings, IRQ affinity, sysrq) and what
// it may not read (kernel memory, keys of other users, timers and
// interrupts that leak what the host and its other tenants do).
const std::vector<std::string>& readonly_paths() {
  static const std::vector<std::string> paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                 "/proc/sysrq-trigger"};
  return paths;
}

const std::vector<std::string>& masked_paths() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> out = {"/proc/acpi",
                                    "/proc/asound",
                                    "/proc/interrupts",
                                    "/proc/kcore",
                                    "/proc/keys",
                                    "/proc/latency_stats",
                                    "/proc/sched_debug",
                                    "/proc/scsi",
                                    "/proc/timer_list",
                                    "/proc/timer_stats",
                                    "/sys/devices/virtual/powercap",
                                    "/sys/firmware"};
    // One thermal_throttle per CPU, as Docker lists them (moby#49560).
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/sys/devices/system/cpu", ec)) {
      std::string name = e.path().filename().string();
      if (name.size() > 3 && name.rfind("cpu", 0) == 0 &&
          name.find_first_not_of("0123456789", 3) == std::string::npos && fs::exists(e.path() / "thermal_throttle", ec))
        out.push_back((e.path() / "thermal_throttle").string());
    }
    return out;
  }();
  return paths;
}

// The first free loop device's number (LOOP_CTL_GET_FREE), 0 if unknown:
// insecure mode makes /dev/loop0 … that number + 7, as BuildKit does.
int free_loop_device() {
  int fd = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (fd < 0) return 0;
  int n = ::ioctl(fd, LOOP_CTL_GET_FREE);
  ::close(fd);
  return n < 0 ? 0 : std::min(n, 256);
}

// BuildKit's hosts file (executor/oci/hosts.go): the defaults, then one
// "IP\tHOST" line per --add-host, in order.
std::string hosts_file(const RunSpec& spec) {
  std::string s = "127.0.0.1\tlocalhost " + spec.hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  for (const auto& h : spec.extra_hosts) s += h.ip + "\t" + h.host + "\n";
  return s;
}

std::string resolv_file(const RunSpec& spec) {
  std::string host;
  try {
    host = read_file("/etc/resolv.conf");
  } catch (const Error&) {
  }
  if (spec.network == Network::none) return "";
  // A loopback resolver (systemd-resolved's 127.0.0.53) works with the host
  // network, which is the only network a build step gets besides none.
  return host;
}

struct Pipe {
  UniqueFd r, w;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("pipe");
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
};

class Runner {
 public:
  explicit Runner(const RunSpec& spec) : spec_(spec) {}

  ExitStatus run();

 private:
  void plan_mounts();
  void plan_process();
  void add_mount(const Mount& m, const std::string& where, bool optional = false);
  std::string in_root(const std::string& target) { return plan_.root_dir + normalize_target(target); }
  void remove_stubs(uint64_t mask);
  void prepare_chroot();
  void restore_chroot() noexcept;

  const RunSpec& spec_;
  Plan plan_;
  bool userns_ = false;  // rootless: no mknod, no sysfs for the host network, no device cgroup
  // Isolation::chroot: what prepare_chroot put into the root, to undo.
  struct Saved {
    std::string rel;  // "etc/hosts"
    std::string content;
    struct stat st {};
  };
  std::vector<Saved> saved_;
  std::vector<std::string> created_;  // in creation order
};

std::string read_fd(int fd, const std::string& what) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read", what);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// Opens rel below root without following any symlink (the RUN may have
// planted some): an fd, or -1.
int open_beneath(int root, const std::string& rel, int flags) {
  return open_in_root(root, rel, flags, InRoot::no_symlinks);
}

void Runner::prepare_chroot() {
  const Mount& m = spec_.root.front();
  if (m.type != "bind")
    fail(ErrorKind::failed_precondition, "isolation chroot needs the native snapshotter (this store uses " + m.type +
                                             "): use another --root or XBUILD_SNAPSHOTTER=native");
  if (!spec_.mounts.empty())
    fail(
        ErrorKind::failed_precondition,
        "RUN --mount (" + spec_.mounts.front().target +
            "): isolation chroot cannot mount anything; build where user namespaces are allowed (--isolation=namespaces)");
  if (spec_.tty) fail(ErrorKind::failed_precondition, "a terminal (-t) needs isolation namespaces");
  plan_.root_dir = m.source;
  plan_.chroot = true;
  UniqueFd root(::open(m.source.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("open", m.source);
  auto ensure_dir = [&](const std::string& rel) -> UniqueFd {
    int fd = open_beneath(root.get(), rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(root.get(), rel.c_str(), 0755) == 0) created_.push_back(rel);
      fd = open_beneath(root.get(), rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    return UniqueFd(fd);
  };
  // Devices: mknod where this process may (Docker keeps CAP_MKNOD), as in
  // the namespaced /dev; removed again after the run.
  if (UniqueFd dev = ensure_dir("dev")) {
    struct Node {
      const char* name;
      unsigned major, minor;
    };
    for (Node d : {Node{"null", 1, 3}, Node{"zero", 1, 5}, Node{"full", 1, 7}, Node{"random", 1, 8},
                   Node{"urandom", 1, 9}, Node{"tty", 5, 0}}) {
      struct stat st {};
      if (::fstatat(dev.get(), d.name, &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
      UniqueFd devdir(open_beneath(root.get(), "dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (devdir && ::mknodat(devdir.get(), d.name, S_IFCHR | 0666, makedev(d.major, d.minor)) == 0) {
        ::fchmodat(devdir.get(), d.name, 0666, 0);
        created_.push_back(std::string("dev/") + d.name);
      }
    }
  }
  // /etc/hosts and /etc/resolv.conf: the generated ones for the run, the
  // root's own (content, mode, owner, times) put back afterwards, so that
  // neither reaches a layer.
  if (UniqueFd etc = ensure_dir("etc")) {
    UniqueFd dir(open_beneath(root.get(), "etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (auto [name, text] : {std::pair<const char*, std::string>{"hosts", hosts_file(spec_)},
                              std::pair<const char*, std::string>{"resolv.conf", resolv_file(spec_)}}) {
      struct stat st {};
      std::string rel = std::string("etc/") + name;
      if (::fstatat(dir.get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISREG(st.st_mode)) continue;  // the root's symlink or whatever: left as it is
        UniqueFd f(::openat(dir.get(), name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!f) continue;
        Saved sv{rel, read_fd(f.get(), rel), st};
        UniqueFd w(::openat(dir.get(), name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC));
        if (!w) continue;
        saved_.push_back(std::move(sv));
        write_all(w.get(), text, rel);
      } else {
        UniqueFd w(::openat(dir.get(), name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!w) continue;
        created_.push_back(rel);
        write_all(w.get(), text, rel);
      }
    }
  }
}

void Runner::restore_chroot() noexcept {
  if (!plan_.chroot) return;
  UniqueFd root(::open(plan_.root_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return;
  for (const auto& sv : saved_) {
    UniqueFd w(open_beneath(root.get(), sv.rel, O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!w) continue;
    (void)!::write(w.get(), sv.content.data(), sv.content.size());
    (void)!::fchown(w.get(), sv.st.st_uid, sv.st.st_gid);
    (void)!::fchmod(w.get(), sv.st.st_mode & 07777);
    struct timespec ts[2] = {sv.st.st_atim, sv.st.st_mtim};
    (void)!::futimens(w.get(), ts);
  }
  for (size_t i = created_.size(); i-- > 0;) {
    fs::path rel(created_[i]);
    std::string parent = rel.parent_path().string();
    UniqueFd dir(open_beneath(root.get(), parent.empty() ? "." : parent, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) continue;
    std::string leaf = rel.filename().string();
    struct stat st {};
    if (::fstatat(dir.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    ::unlinkat(dir.get(), leaf.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);  // a dir only if still empty
  }
}

void Runner::add_mount(const Mount& m, const std::string& where, bool optional) {
  MountArgs a = mount_args(m);
  Step s{Step::mount};
  s.a = plan_.keep(a.bind ? m.source : (m.type == "overlay" ? "overlay" : m.type));
  s.b = plan_.keep(where);
  s.fstype = a.bind ? nullptr : plan_.keep(m.type);
  s.flags = a.flags;
  s.data = a.data.empty() ? nullptr : plan_.keep(a.data);
  s.chdir = a.chdir.empty() ? nullptr : plan_.keep(a.chdir);
  s.optional = optional;
  plan_.steps.push_back(s);
}

void Runner::plan_mounts() {
  const std::string& scratch = scratch_dir();
  plan_.root_dir = scratch + "/root";
  auto mount_fs = [&](const char* type, const std::string& where, unsigned long flags, const char* data) {
    Step s{Step::mount};
    s.a = plan_.keep(type);
    s.b = plan_.keep(where);
    s.fstype = plan_.keep(type);
    s.flags = flags;
    s.data = data ? plan_.keep(data) : nullptr;
    plan_.steps.push_back(s);
  };
  auto step = [&](Step::Kind k, const std::string& a, const std::string& b = "", bool optional = false) {
    Step s{k};
    s.a = plan_.keep(a);
    s.b = b.empty() ? nullptr : plan_.keep(b);
    s.optional = optional;
    plan_.steps.push_back(s);
  };
  auto stub = [&](Step::Kind k, const std::string& target) {
    Step s{k};
    s.a = plan_.keep(in_root(target));
    s.stub = static_cast<int>(plan_.stub_paths.size());
    s.parents_from = plan_.root_dir.size();
    s.optional = true;  // a read-only root may lack it: the mount then fails, reported there
    plan_.stub_paths.push_back(normalize_target(target).substr(1));
    plan_.steps.push_back(s);
  };

  // Scratch tmpfs: the generated /etc files and the root's mount point.
  mount_fs("tmpfs", scratch, MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m");
  step(Step::write_file, scratch + "/hosts", hosts_file(spec_));
  step(Step::write_file, scratch + "/resolv.conf", resolv_file(spec_));
  step(Step::write_file, scratch + "/hostname", spec_.hostname + "\n");
  step(Step::mkdir_stub, plan_.root_dir);

  if (spec_.root.empty()) fail(ErrorKind::invalid_argument, "run: no root mount");
  Mount root = spec_.root.front();
  MountArgs ra = mount_args(root);
  // A read-only root is mounted writable first (its mount points may need
  // creating) only when it is a bind; an overlay without upper is ro anyway.
  plan_.root_ro = (ra.flags & MS_RDONLY) != 0 && ra.bind;
  if (plan_.root_ro) {
    root.options.erase(std::remove(root.options.begin(), root.options.end(), "ro"), root.options.end());
  }
  // For an overlay root, every mount point the container needs comes from
  // one more lower layer on tmpfs, on top of the image's: nothing is created
  // in the upper dir (so nothing reaches a layer or needs removing, and no
  // slow metadata writes hit the snapshot's disk).
  if (root.type == "overlay") {
    std::string layer = scratch + "/stubs";
    step(Step::mkdir_stub, layer);
    auto layer_stub = [&](const std::string& target, bool dir) {
      Step s{dir ? Step::mkdir_stub : Step::file_stub};
      s.a = plan_.keep(layer + normalize_target(target));
      s.parents_from = layer.size();
      plan_.steps.push_back(s);
    };
    for (const char* d : {"/proc", "/dev", "/sys"}) layer_stub(d, true);
    for (const char* f : {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"})
      if (spec_.etc_hostname || std::string_view(f) != "/etc/hostname") layer_stub(f, false);
    for (const auto& m : spec_.mounts) {
      struct stat st {};
      layer_stub(m.target, m.type != "bind" || (::stat(m.source.c_str(), &st) == 0 && S_ISDIR(st.st_mode)));
    }
    for (auto& o : root.options)
      if (o.rfind("lowerdir=", 0) == 0) o.insert(9, layer + ":");
  }
  add_mount(root, plan_.root_dir);
  for (size_t i = 1; i < spec_.root.size(); ++i) add_mount(spec_.root[i], in_root(spec_.root[i].target));

  stub(Step::mkdir_stub, "/proc");
  mount_fs("proc", in_root("/proc"), MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  if (userns_) {
    // Inside a container, the kernel refuses a new proc to a user namespace
    // when the container's /proc has files masked by binds (a fresh one
    // would reveal them): the container's own /proc is bound instead (it
    // shows the container's processes, not the run's own).
    plan_.steps.back().optional = true;
    Mount b{"bind", "/proc", "", {"rbind", "nosuid", "nodev", "noexec"}};
    add_mount(b, in_root("/proc"));
    plan_.steps.back().only_if_failed = true;
  }
  stub(Step::mkdir_stub, "/dev");
  mount_fs("tmpfs", in_root("/dev"), MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  struct Dev {
    const char* name;
    unsigned major, minor;
  };
  auto node = [&](const std::string& name, mode_t type, unsigned major, unsigned minor) {
    if (userns_) {
      // No device node can be made in a user namespace: the host's is
      // bound onto an empty file, as runc does rootless.
      step(Step::file_stub, in_root("/dev/" + name));
      add_mount(Mount{"bind", "/dev/" + name, "", {"bind", "nosuid", "noexec"}}, in_root("/dev/" + name),
                type == S_IFBLK || name == "kmsg");
      return;
    }
    Step s{Step::mknod};
    s.a = plan_.keep(in_root("/dev/" + name));
    s.mode = type | 0666;
    s.dev = makedev(major, minor);
    plan_.steps.push_back(s);
  };
  for (Dev d : {Dev{"null", 1, 3}, Dev{"zero", 1, 5}, Dev{"full", 1, 7}, Dev{"random", 1, 8}, Dev{"urandom", 1, 9},
                Dev{"tty", 5, 0}})
    node(d.name, S_IFCHR, d.major, d.minor);
  if (spec_.security == Security::insecure) {
    // BuildKit's insecure mode adds these (security.WithInsecureSpec), and
    // no device rules keep them from being opened.
    for (Dev d : {Dev{"kmsg", 1, 11}, Dev{"cuse", 10, 203}, Dev{"fuse", 10, 229}, Dev{"kvm", 10, 232},
                  Dev{"loop-control", 10, 237}})
      node(d.name, S_IFCHR, d.major, d.minor);
    step(Step::mkdir_stub, in_root("/dev/net"));
    node("net/tun", S_IFCHR, 10, 200);
    const int loops = free_loop_device() + 7;
    for (int i = 0; i <= loops; ++i) node("loop" + std::to_string(i), S_IFBLK, 7, static_cast<unsigned>(i));
  }
  step(Step::symlink, in_root("/dev/fd"), "/proc/self/fd");
  step(Step::symlink, in_root("/dev/stdin"), "/proc/self/fd/0");
  step(Step::symlink, in_root("/dev/stdout"), "/proc/self/fd/1");
  step(Step::symlink, in_root("/dev/stderr"), "/proc/self/fd/2");
  step(Step::symlink, in_root("/dev/ptmx"), "pts/ptmx");
  step(Step::symlink, in_root("/dev/core"), "/proc/kcore", true);
  step(Step::mkdir_stub, in_root("/dev/pts"));
  step(Step::mkdir_stub, in_root("/dev/shm"));
  mount_fs("devpts", in_root("/dev/pts"), MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  mount_fs("tmpfs", in_root("/dev/shm"), MS_NOSUID | MS_NODEV | MS_NOEXEC,
           ("mode=1777,size=" + std::to_string(spec_.shm_bytes / 1024) + "k").c_str());
  stub(Step::mkdir_stub, "/sys");
  // BuildKit's insecure mode gives a writable sysfs and no masked or
  // read-only paths (security.WithInsecureSpec, oci.WithWriteableSysfs).
  const bool sandbox = spec_.security == Security::sandbox;
  if (userns_ && spec_.network != Network::none) {
    // sysfs belongs to the network namespace's owner (the host's), so a
    // user namespace may not mount it for the host network: bind the
    // host's, read-only unless insecure (runc's rootless way).
    add_mount(Mount{"bind", "/sys", "", {"rbind", sandbox ? "ro" : "rw", "nosuid", "nodev", "noexec"}},
              in_root("/sys"));
  } else {
    mount_fs("sysfs", in_root("/sys"), MS_NOSUID | MS_NODEV | MS_NOEXEC | (sandbox ? MS_RDONLY : 0), nullptr);
  }
  if (sandbox) {
    for (const auto& p : readonly_paths()) step(Step::readonly, in_root(p));
    for (const auto& p : masked_paths()) step(Step::mask, in_root(p));
  }

  for (const char* f : {"hosts", "resolv.conf", "hostname"}) {
    if (!spec_.etc_hostname && std::string_view(f) == "hostname") continue;
    std::string target = std::string("/etc/") + f;
    stub(Step::file_stub, target);
    Mount b{"bind", scratch + "/" + f, target, {"bind", "ro", "nosuid", "nodev", "noexec"}};
    add_mount(b, in_root(target), true);
  }

  for (const auto& m : spec_.mounts) {
    if (m.target.empty() || normalize_target(m.target) == "/")
      fail(ErrorKind::invalid_argument, "mount " + m.source + ": a target inside the container is needed");
    bool dir = true;
    if (m.type == "bind") {
      struct stat st {};
      if (::stat(m.source.c_str(), &st) < 0) throw_errno("bind mount source", m.source);
      dir = S_ISDIR(st.st_mode);
    }
    stub(dir ? Step::mkdir_stub : Step::file_stub, m.target);
    Mount mm = m;
    if (mm.type == "bind" && std::find(mm.options.begin(), mm.options.end(), "rbind") == mm.options.end())
      mm.options.emplace_back("rbind");
    add_mount(mm, in_root(m.target));
  }
  if (plan_.stub_paths.size() > 64) fail(ErrorKind::invalid_argument, "run: too many mounts");
}

void Runner::plan_process() {
  if (spec_.args.empty()) fail(ErrorKind::invalid_argument, "run: no command");
  User u = resolve_user(spec_.user, rootfs_file(spec_.root, "etc/passwd"), rootfs_file(spec_.root, "etc/group"));
  plan_.uid = u.uid;
  plan_.gid = u.gid;
  plan_.groups.assign(u.additional_gids.begin(), u.additional_gids.end());

  plan_.env_storage = spec_.env;
  auto has = [&](const char* k) {
    for (const auto& e : plan_.env_storage)
      if (e.rfind(std::string(k) + "=", 0) == 0) return true;
    return false;
  };
  if (!has("PATH")) plan_.env_storage.push_back(std::string("PATH=") + kDefaultPath);
  if (!has("HOME")) plan_.env_storage.push_back("HOME=" + u.home);
  if (spec_.tty && !has("TERM")) plan_.env_storage.emplace_back("TERM=xterm");
  std::string path = kDefaultPath;
  for (const auto& e : plan_.env_storage)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);

  plan_.arg_storage = spec_.args;
  for (auto& a : plan_.arg_storage) plan_.argv.push_back(a.data());
  plan_.argv.push_back(nullptr);
  for (auto& e : plan_.env_storage) plan_.envp.push_back(e.data());
  plan_.envp.push_back(nullptr);

  const std::string& cmd = spec_.args[0];
  if (cmd.find('/') != std::string::npos) {
    plan_.exec_candidates.push_back(cmd);
  } else {
    size_t i = 0;
    while (i <= path.size()) {
      size_t j = path.find(':', i);
      if (j == std::string::npos) j = path.size();
      std::string dir = path.substr(i, j - i);
      plan_.exec_candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + cmd);
      i = j + 1;
    }
  }
  plan_.cwd = normalize_target(spec_.cwd.empty() ? "/" : spec_.cwd);
  plan_.hostname = spec_.hostname;
  plan_.sandbox = spec_.security == Security::sandbox;
  plan_.new_net = spec_.network == Network::none;
  plan_.tty = spec_.tty;
  if (plan_.sandbox) {
    const auto& prog = detail::default_seccomp_program();
    plan_.seccomp.len = static_cast<unsigned short>(prog.size());
    plan_.seccomp.filter = const_cast<sock_filter*>(prog.data());
  }
  plan_.last_cap = static_cast<int>(cap_max_bits()) - 1;
  for (const auto& u : spec_.ulimits) {
    auto res = rlimit_resource(u.name);
    if (!res) fail(ErrorKind::invalid_argument, "ulimit " + u.name + ": unknown name");
    // -1 (unlimited) is RLIM_INFINITY as an unsigned value, as runc passes it.
    const struct rlimit rl = {static_cast<rlim_t>(u.soft), static_cast<rlim_t>(u.hard)};
    plan_.rlimits.emplace_back(*res, rl);
    plan_.rlimit_names.push_back(plan_.keep(u.name));
  }
}

void Runner::remove_stubs(uint64_t mask) {
  std::string dir = writable_dir(spec_.root);
  if (dir.empty() || !mask) return;
  int root = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return;
  // The RUN may have replaced a stub's parent with a symlink to a host path
  // (CVE-2024-23652): resolve without following any symlink, below the root.
  auto remove_at = [&](const fs::path& rel, bool dir_only) {
    std::string parent = rel.parent_path().string();
    int pfd = open_in_root(root, parent, O_PATH | O_DIRECTORY, InRoot::no_symlinks);
    if (pfd < 0) return false;
    std::string leaf = rel.filename().string();
    struct stat st {};
    bool ok = false;
    if (::fstatat(pfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!dir_only && S_ISREG(st.st_mode) && st.st_size == 0) ok = ::unlinkat(pfd, leaf.c_str(), 0) == 0;
      else if (S_ISDIR(st.st_mode)) ok = ::unlinkat(pfd, leaf.c_str(), AT_REMOVEDIR) == 0;  // only if still empty
    }
    ::close(pfd);
    return ok;
  };
  // Deepest first: files, then the directories created to hold them.
  for (size_t i = plan_.stub_paths.size(); i-- > 0;) {
    if (!(mask & (1ull << i))) continue;
    remove_at(plan_.stub_paths[i], false);
  }
  // Parent dirs that were created for a stub (e.g. /etc in an empty root)
  // are removed if they are empty now.
  for (const auto& rel : plan_.stub_paths) {
    fs::path p = fs::path(rel).parent_path();
    while (!p.empty() && remove_at(p, true)) p = p.parent_path();
  }
  ::close(root);
}

std::atomic<uint64_t> g_run_counter{0};

}  // namespace

std::optional<int> rlimit_resource(std::string_view name) {
  // go-units' ulimitNameMapping ("as" is left out there too).
  static const std::pair<std::string_view, int> table[] = {
      {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
      {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
      {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
      {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
      {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
      {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
      {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
      {"stack", RLIMIT_STACK}};
  for (const auto& [n, r] : table)
    if (n == name) return r;
  return std::nullopt;
}

namespace {

ExitStatus Runner::run() {
  auto trace_t0 = std::chrono::steady_clock::now();
  if (::geteuid() != 0) fail(ErrorKind::failed_precondition, "running a container needs root");
  const Isolation iso = isolation();
  if (iso == Isolation::none)
    fail(ErrorKind::failed_precondition,
         "cannot run `" + (spec_.args.empty() ? std::string() : spec_.args[0]) +
             "`: isolation none (this process may make no namespace and may not chroot; see the isolation line above); "
             "run xbuild where user namespaces are allowed or with CAP_SYS_CHROOT");
  const bool chroot_mode = iso == Isolation::chroot;
  userns_ = in_user_namespace();
  plan_.userns = userns_;
  if (!chroot_mode) plan_mounts();
  plan_process();
  if (chroot_mode) {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2] = {};
    if (::syscall(SYS_capget, &h, d) == 0) plan_.caps &= (static_cast<uint64_t>(d[1].permitted) << 32) | d[0].permitted;
  }
  struct Undo {
    Runner* r;
    ~Undo() { r->restore_chroot(); }
  } undo{this};
  if (chroot_mode) prepare_chroot();

  ExitStatus status;
  status.memory_limit = spec_.limits.memory_bytes;
  std::optional<detail::CgroupDir> cgroup;
  // Every sandboxed run gets a cgroup, limits or not: its device rules are
  // what keeps a RUN that mknods a host disk or /dev/kmsg from opening it.
  // In a user namespace no device node can be made and none but the bound
  // ones opened: the kernel is the allow-list (and no cgroup is writable).
  const bool restrict_devices = spec_.security == Security::sandbox && !userns_ && !chroot_mode;
  if (chroot_mode && (spec_.limits.memory_bytes || spec_.limits.pids || spec_.limits.cpus)) {
    static std::once_flag noted;
    std::call_once(noted, [] {
      std::fprintf(stderr, "note: --memory/--cpus/--pids-limit are not applied: isolation chroot makes no cgroup\n");
    });
  }
  const Limits& limits = spec_.limits;
  if (restrict_devices || ((limits.memory_bytes || limits.pids || limits.cpus) && !chroot_mode)) {
    try {
      cgroup.emplace(std::to_string(::getpid()) + "-" + std::to_string(g_run_counter++), limits, restrict_devices);
    } catch (Error& e) {
      if (!userns_ && !chroot_mode) {
        if (restrict_devices)
          e.with_context(
              "every container gets a cgroup for its device allow-list (run xbuild as root where the "
              "cgroup hierarchy is writable, e.g. a privileged container)");
        throw;
      }
      // Rootless: limits apply only where the hierarchy was delegated to
      // this user; elsewhere one note, and the run goes on without them.
      static std::once_flag noted;
      std::call_once(noted, [] {
        std::fprintf(stderr,
                     "note: --memory/--cpus/--pids-limit are not applied: rootless xbuild may not create cgroups "
                     "here (limits need a cgroup v2 subtree delegated to this user)\n");
      });
    }
    if (cgroup) {
      plan_.cgroup_fds = cgroup->procs_fds();
      plan_.in_cgroup = true;
    }
  }

  // stdio
  UniqueFd devnull = open_or_throw("/dev/null", O_RDWR);
  std::optional<Pipe> out_pipe, err_pipe;
  UniqueFd pty_master, tty_parent, tty_child;
  if (spec_.tty) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) throw_errno("socketpair");
    tty_parent.reset(sv[0]);
    tty_child.reset(sv[1]);
    plan_.tty_sock = sv[1];
    plan_.have_ws = spec_.stdout_fd >= 0 && ::ioctl(spec_.stdout_fd, TIOCGWINSZ, &plan_.ws) == 0;
    plan_.stdio[0] = plan_.stdio[1] = plan_.stdio[2] = devnull.get();
  } else {
    plan_.stdio[0] = spec_.stdin_fd >= 0 ? spec_.stdin_fd : devnull.get();
    auto out = [&](int fd, std::optional<Pipe>& pipe) {
      if (fd >= 0) return fd;
      if (!spec_.on_output) return devnull.get();
      pipe.emplace();
      return pipe->w.get();
    };
    plan_.stdio[1] = out(spec_.stdout_fd, out_pipe);
    plan_.stdio[2] = out(spec_.stderr_fd, err_pipe);
  }
  Pipe msg;
  plan_.msg_fd = msg.w.get();
  plan_.init_fd = detail::init_binary_fd();
  plan_.init_arg_storage = {"xbuild-init", std::to_string(plan_.msg_fd), std::to_string(plan_.exec_candidates.size())};
  plan_.init_arg_storage.insert(plan_.init_arg_storage.end(), plan_.exec_candidates.begin(),
                                plan_.exec_candidates.end());
  plan_.init_arg_storage.insert(plan_.init_arg_storage.end(), plan_.arg_storage.begin(), plan_.arg_storage.end());
  for (auto& a : plan_.init_arg_storage) plan_.init_argv.push_back(a.data());
  plan_.init_argv.push_back(nullptr);

  uint64_t flags = chroot_mode ? CLONE_PIDFD : CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_PIDFD;
  if (plan_.new_net && !chroot_mode) flags |= CLONE_NEWNET;
  int pidfd = -1;
  struct clone_args args {};
  args.flags = flags;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (cgroup && cgroup->v2_dir_fd() >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup->v2_dir_fd());
  }
  static const bool trace = std::getenv("XBUILD_EXEC_TRACE") != nullptr;
  auto tr = [&](const char* what) {
    if (trace)
      std::fprintf(stderr, "exec-trace %-12s %8.3f ms\n", what,
                   std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - trace_t0).count());
  };
  tr("planned");
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0 && errno == ENOSYS && !(args.flags & CLONE_INTO_CGROUP)) {
    // Docker's and podman's seccomp profiles answer clone3 with ENOSYS (so
    // that libc falls back to clone, whose flags a filter can see): do the
    // same. Without a stack, clone returns in the child like fork.
    pid = ::syscall(SYS_clone, static_cast<unsigned long>(args.flags) | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  }
  if (pid < 0) throw_errno(chroot_mode ? "clone" : "clone3 (new namespaces)");
  if (pid == 0) {
    if (chroot_mode) child_chroot_main(plan_);
    child_main(plan_);
  }
  UniqueFd pidfd_owner(pidfd);
  Registration reg(pidfd);
  tr("cloned");
  msg.w.reset();
  tty_child.reset();
  if (out_pipe) out_pipe->w.reset();
  if (err_pipe) err_pipe->w.reset();

  // Without a PID namespace (chroot) the tree is the command's session
  // (it called setsid): its process group goes too.
  auto kill_tree = [&] {
    ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    if (chroot_mode) ::kill(-static_cast<pid_t>(pid), SIGKILL);
  };
  // From here on, any exception must still reap the child and clean up.
  uint64_t stubs = 0;
  bool reaped = false;
  auto reap = [&] {
    if (reaped) return;
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) < 0 && errno == EINTR) {
    }
    reaped = true;
    if (info.si_code == CLD_EXITED) status.exit_code = info.si_status;
    else status.signal = info.si_status;
  };
  struct Cleanup {
    std::function<void()> fn;
    ~Cleanup() { fn(); }
  } cleanup{[&] {
    if (!reaped) {
      kill_tree();
      reap();
    }
    if (chroot_mode) ::kill(-static_cast<pid_t>(pid), SIGKILL);  // what the command left running
    if (cgroup) cgroup->destroy();
    remove_stubs(stubs);
    tr("cleaned up");
  }};

  // Raw terminal for the relay, restored on the way out.
  std::optional<termios> saved_tio;
  if (spec_.tty && spec_.stdin_fd >= 0 && ::isatty(spec_.stdin_fd)) {
    termios t{};
    if (::tcgetattr(spec_.stdin_fd, &t) == 0) {
      saved_tio = t;
      ::cfmakeraw(&t);
      ::tcsetattr(spec_.stdin_fd, TCSANOW, &t);
    }
  }
  struct RestoreTio {
    int fd;
    std::optional<termios>& tio;
    ~RestoreTio() {
      if (tio) ::tcsetattr(fd, TCSANOW, &*tio);
    }
  } restore{spec_.stdin_fd, saved_tio};

  Message m{};
  size_t msg_got = 0;
  bool msg_open = true, exec_error = false, setup_done = false;
  auto deadline = spec_.timeout.count() > 0 ? std::chrono::steady_clock::now() + spec_.timeout
                                            : std::chrono::steady_clock::time_point::max();
  bool stdin_open = spec_.tty && spec_.stdin_fd >= 0;
  char buf[65536];
  auto emit = [&](Stream s, const char* data, size_t n) {
    if (spec_.tty && spec_.stdout_fd >= 0) {
      write_all(spec_.stdout_fd, std::string_view(data, n), "stdout");
    } else if (spec_.on_output) {
      spec_.on_output(s, std::string_view(data, n));
    }
  };
  UniqueFd* outs[3] = {out_pipe ? &out_pipe->r : nullptr, err_pipe ? &err_pipe->r : nullptr,
                       spec_.tty ? &pty_master : nullptr};
  for (;;) {
    bool outputs_open = false;
    for (auto* o : outs) outputs_open |= o && *o;
    if (reaped && !outputs_open && !msg_open) break;
    std::vector<pollfd> pfds;
    std::vector<int> kinds;  // 0 msg, 1 out, 2 err, 3 pty, 4 pidfd, 5 stdin, 6 tty socket
    if (msg_open) pfds.push_back({msg.r.get(), POLLIN, 0}), kinds.push_back(0);
    for (int i = 0; i < 3; ++i)
      if (outs[i] && *outs[i]) pfds.push_back({outs[i]->get(), POLLIN, 0}), kinds.push_back(1 + i);
    if (!reaped) pfds.push_back({pidfd, POLLIN, 0}), kinds.push_back(4);
    if (tty_parent) pfds.push_back({tty_parent.get(), POLLIN, 0}), kinds.push_back(6);
    if (stdin_open && pty_master && !reaped) pfds.push_back({spec_.stdin_fd, POLLIN, 0}), kinds.push_back(5);
    int timeout_ms = 100;  // cancel_all() is polled: it may not allocate or lock
    auto now = std::chrono::steady_clock::now();
    if (deadline != std::chrono::steady_clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      if (left <= 0) {
        if (!reaped) {
          status.timed_out = true;
          kill_tree();
        }
        deadline = std::chrono::steady_clock::time_point::max();
        left = 0;
      }
      timeout_ms = static_cast<int>(std::min<long>(timeout_ms, left));
    }
    int n = ::poll(pfds.data(), pfds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) throw_errno("poll");
    if ((reg.cancelled() || interrupted()) && !reaped && !status.cancelled) {
      status.cancelled = true;
      kill_tree();
    }
    if (n <= 0) continue;
    for (size_t i = 0; i < pfds.size(); ++i) {
      if (!pfds[i].revents) continue;
      switch (kinds[i]) {
        case 0: {
          ssize_t r = ::read(msg.r.get(), reinterpret_cast<char*>(&m) + msg_got, sizeof m - msg_got);
          if (r <= 0) {
            tr("exec'd");
            msg_open = false;
            msg.r.reset();
            break;
          }
          tr("setup done");
          msg_got += static_cast<size_t>(r);
          if (msg_got == sizeof m) {
            stubs |= m.stubs;
            if (m.err) exec_error = true;
            else setup_done = true;
            if (exec_error) {
              msg_open = false;
              msg.r.reset();
            } else {
              msg_got = 0;
            }
          }
          break;
        }
        case 1:
        case 2:
        case 3: {
          UniqueFd& fd = *outs[kinds[i] - 1];
          ssize_t r = ::read(fd.get(), buf, sizeof buf);
          if (r < 0 && errno == EINTR) break;
          if (r <= 0) {
            fd.reset();
            break;
          }
          emit(kinds[i] == 2 ? Stream::stderr_stream : Stream::stdout_stream, buf, static_cast<size_t>(r));
          break;
        }
        case 4:
          reap();
          tr("reaped");
          // PID 1 is gone, so the kernel kills the rest of the namespace;
          // a pty master reports EIO once its last slave closes.
          break;
        case 6: {
          char data;
          struct iovec iov {
            &data, 1
          };
          char control[CMSG_SPACE(sizeof(int))] = {};
          struct msghdr mh {};
          mh.msg_iov = &iov;
          mh.msg_iovlen = 1;
          mh.msg_control = control;
          mh.msg_controllen = sizeof control;
          ssize_t r = ::recvmsg(tty_parent.get(), &mh, MSG_CMSG_CLOEXEC);
          struct cmsghdr* cm = r > 0 ? CMSG_FIRSTHDR(&mh) : nullptr;
          if (cm && cm->cmsg_type == SCM_RIGHTS) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(cm), sizeof fd);
            pty_master.reset(fd);
          }
          tty_parent.reset();
          break;
        }
        case 5: {
          ssize_t r = ::read(spec_.stdin_fd, buf, sizeof buf);
          if (r <= 0) {
            stdin_open = false;
            break;
          }
          write_all(pty_master.get(), std::string_view(buf, static_cast<size_t>(r)), "pty");
          break;
        }
      }
    }
  }
  tr("outputs closed");
  if (cgroup) status.oom_killed = cgroup->oom_killed();
  if (exec_error) {
    std::string call = m.call, path = m.path;
    if (call == "exec" && m.err == ENOENT)
      fail(ErrorKind::not_found, "exec `" + path + "`: not found (looked in $PATH of the container)");
    throw_errno(call, path, m.err);
  }
  if (!setup_done && !status.cancelled && !status.timed_out)
    fail(ErrorKind::internal, "container setup died before exec: " + status.describe());
  return status;
}

}  // namespace

ExitStatus run(const RunSpec& spec) {
  Runner r(spec);
  return r.run();
}

namespace {
std::atomic<Isolation> g_isolation{Isolation::namespaces};
}

void set_isolation(Isolation isolation) { g_isolation = isolation; }
Isolation isolation() { return g_isolation; }
const char* to_string(Isolation isolation) {
  switch (isolation) {
    case Isolation::namespaces: return "namespaces";
    case Isolation::chroot: return "chroot";
    case Isolation::none: return "none";
  }
  return "?";
}

void cancel_all() noexcept {
  for (int i = 0; i < kSlots; ++i) {
    int v = g_pidfds[i].load();
    if (v > 0) {
      g_cancelled[i] = true;
      ::syscall(SYS_pidfd_send_signal, v - 1, SIGKILL, nullptr, 0);
    }
  }
}

}  // namespace xb::executor
