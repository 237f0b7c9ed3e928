// setup_isolation (cli/isolation.h). Entering the user namespace is done
// in-process, as buildah and rootlesskit's "unshare" mode do: this process
// unshares a user and a mount namespace, and a forked helper, still outside,
// writes its id maps (newuidmap/newgidmap for a user with subordinate ids,
// the maps themselves for root in a container). From then on everything
// (snapshotter, executor, store) runs as uid 0 of that namespace, so the
// files in layers have the owners a root build gives them.
#include "cli/isolation.h"

#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/userns.h"
#include "executor/executor.h"

extern char** environ;

namespace xb::cli {

namespace {

bool has_cap(int cap) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2] = {};
  if (::syscall(SYS_capget, &h, d) < 0) return false;
  return (d[cap / 32].effective & (1u << (cap % 32))) != 0;
}

struct Range {
  unsigned long start = 0, count = 0;
};

// The first range of /etc/subuid or /etc/subgid for this user (by name or uid).
std::optional<Range> subordinate(const char* file, const std::string& name, unsigned long id) {
  std::ifstream f(file);
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string who, start, count;
    if (!std::getline(in, who, ':') || !std::getline(in, start, ':') || !std::getline(in, count)) continue;
    if (who != name && who != std::to_string(id)) continue;
    try {
      Range r{std::stoul(start), std::stoul(count)};
      if (r.count > 0) return r;
    } catch (...) {
    }
  }
  return std::nullopt;
}

std::string errno_text(int e) { return std::string(::strerrordesc_np(e) ? ::strerrordesc_np(e) : "error"); }

// Whether a user namespace can be made and mounted in, tried in a child
// (a process that unshares cannot go back): "" or why not.
std::string probe_user_namespace() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return "pipe: " + errno_text(errno);
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  pid_t pid = ::fork();
  if (pid < 0) return "fork: " + errno_text(errno);
  if (pid == 0) {
    ::close(fds[0]);
    auto report = [&](const char* what) {
      char msg[256];
      int n = std::snprintf(msg, sizeof msg, "%s: %s", what, errno_text(errno).c_str());
      (void)!::write(fds[1], msg, static_cast<size_t>(n));
      ::_exit(1);
    };
    auto put = [&](const char* file, const char* text) {
      int fd = ::open(file, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, text, std::strlen(text)) < 0) report(file);
      ::close(fd);
    };
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) report("unshare(CLONE_NEWUSER)");
    char map[64];
    put("/proc/self/setgroups", "deny");
    std::snprintf(map, sizeof map, "0 %u 1", uid);
    put("/proc/self/uid_map", map);
    std::snprintf(map, sizeof map, "0 %u 1", gid);
    put("/proc/self/gid_map", map);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) report("mount in a user namespace");
    if (::mount("tmpfs", "/", "tmpfs", 0, "size=4k") < 0) report("mount in a user namespace");
    ::_exit(0);
  }
  ::close(fds[1]);
  char msg[256] = {};
  ssize_t n = ::read(fds[0], msg, sizeof msg - 1);
  ::close(fds[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return "";
  return n > 0 ? std::string(msg, static_cast<size_t>(n)) : "the probe died";
}

int run_tool(const std::vector<std::string>& argv) {
  std::vector<char*> a;
  a.reserve(argv.size() + 1);
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid;
  if (::posix_spawnp(&pid, a[0], nullptr, nullptr, a.data(), environ) != 0) return 127;
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// This process's own id map, to hand on as an identity map (root inside a
// container: the new namespace maps every id the container has).
std::string identity_of(const char* file) {
  std::ifstream f(file);
  std::string out;
  unsigned long inside, outside, count;
  while (f >> inside >> outside >> count)
    out += std::to_string(inside) + " " + std::to_string(inside) + " " + std::to_string(count) + "\n";
  return out;
}

// Enters a user and mount namespace; returns a description of the map.
std::string enter_user_namespace() {
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  std::string name;
  if (struct passwd* pw = ::getpwuid(uid)) name = pw->pw_name;
  std::optional<Range> su, sg;
  const bool root = uid == 0;
  if (!root) {
    su = subordinate("/etc/subuid", name, uid);
    sg = subordinate("/etc/subgid", name, gid);
  }
  const bool helper_maps = root || (su && sg);
  std::string uid_map_text = identity_of("/proc/self/uid_map"), gid_map_text = identity_of("/proc/self/gid_map");

  int go[2];
  if (::pipe2(go, O_CLOEXEC) < 0) throw_errno("pipe");
  const pid_t self = ::getpid();
  pid_t helper = -1;
  if (helper_maps) {
    helper = ::fork();
    if (helper < 0) throw_errno("fork");
    if (helper == 0) {
      ::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(3);
      const std::string p = std::to_string(self);
      if (root) {
        auto put = [&](const std::string& file, const std::string& text) {
          int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
          bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
          if (fd >= 0) ::close(fd);
          return ok;
        };
        ::_exit(put("/proc/" + p + "/uid_map", uid_map_text) && put("/proc/" + p + "/gid_map", gid_map_text) ? 0 : 4);
      }
      int r = run_tool(
          {"newuidmap", p, "0", std::to_string(uid), "1", "1", std::to_string(su->start), std::to_string(su->count)});
      if (r == 0)
        r = run_tool(
            {"newgidmap", p, "0", std::to_string(gid), "1", "1", std::to_string(sg->start), std::to_string(sg->count)});
      ::_exit(r == 0 ? 0 : 5);
    }
  }
  ::close(go[0]);
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
    int e = errno;
    ::close(go[1]);
    if (helper > 0) ::waitpid(helper, nullptr, 0);
    throw_errno("unshare user namespace", "", e);
  }
  if (helper_maps) {
    (void)!::write(go[1], "g", 1);
    ::close(go[1]);
    int st = 0;
    while (::waitpid(helper, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      fail(ErrorKind::failed_precondition,
           root ? "cannot map ids into a user namespace (writing uid_map needs CAP_SETUID and CAP_SETGID)"
                : "newuidmap/newgidmap failed for " + name +
                      " (install Debian's uidmap package; check /etc/subuid and /etc/subgid)");
  } else {
    ::close(go[1]);
    auto put = [](const char* file, const std::string& text) {
      int fd = ::open(file, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, text.data(), text.size()) < 0) throw_errno("write", file);
      ::close(fd);
    };
    put("/proc/self/setgroups", "deny");
    put("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
    put("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
  }
  if (::setresgid(0, 0, 0) < 0) throw_errno("setresgid in the user namespace");
  if (::setresuid(0, 0, 0) < 0) throw_errno("setresuid in the user namespace");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) throw_errno("make mounts private", "/");
  note_user_namespace();
  if (root) return "uid 0 is root of the container, which has no CAP_SYS_ADMIN";
  std::string d = "uid 0 is " + (name.empty() ? std::to_string(uid) : name);
  if (su)
    d += ", 1-" + std::to_string(su->count) + " are " + std::to_string(su->start) + "-" +
         std::to_string(su->start + su->count - 1);
  else d += " and no other id: no /etc/subuid range, so only files of root can be made";
  return d;
}

}  // namespace

bool needs_isolation(const std::string& command) {
  return command != "parse" && command != "version" && command != "login" && command != "logout";
}

void setup_isolation(const std::string& mode, bool announce) {
  using executor::Isolation;
  if (mode != "auto" && mode != "namespaces" && mode != "chroot" && mode != "none")
    fail(ErrorKind::usage, "--isolation=" + mode + ": use auto, namespaces, chroot or none");
  const bool root = ::geteuid() == 0;
  auto say = [&](const std::string& line) {
    if (announce) std::fprintf(stderr, "isolation: %s\n", line.c_str());
  };
  auto use_chroot = [&](const std::string& why) {
    if (!has_cap(CAP_SYS_CHROOT)) return false;
    executor::set_isolation(Isolation::chroot);
    ::setenv("XBUILD_SNAPSHOTTER", "native", 0);
    say("chroot (" + why +
        "): RUN steps run chrooted into a copy of the snapshot with Docker's capabilities, no_new_privs and seccomp "
        "filter, but in xbuild's own PID, network, IPC and mount namespaces, without /proc and /sys");
    return true;
  };
  auto use_none = [&](const std::string& why) {
    executor::set_isolation(Isolation::none);
    ::setenv("XBUILD_SNAPSHOTTER", "native", 0);
    say("none (" + why + "): RUN steps cannot run here; COPY, ADD and the other steps work");
  };
  // Root with CAP_SYS_ADMIN (the host, a privileged container): the
  // namespaces as they have always been, nothing to say.
  const bool privileged = root && has_cap(CAP_SYS_ADMIN) && !in_user_namespace();
  if (mode == "none") return use_none("as asked");
  if (mode == "chroot") {
    if (!use_chroot("as asked"))
      fail(ErrorKind::failed_precondition,
           "--isolation=chroot: this process may not chroot (no CAP_SYS_CHROOT); use --isolation=none or auto");
    return;
  }
  if (privileged || (root && in_user_namespace() && has_cap(CAP_SYS_ADMIN))) {
    executor::set_isolation(Isolation::namespaces);
    return;
  }
  std::string why = probe_user_namespace();
  if (why.empty()) {
    std::string map = enter_user_namespace();
    executor::set_isolation(Isolation::namespaces);
    if (root) say("namespaces, in a user namespace (" + map + ")");
    else say("namespaces, rootless (a user namespace: " + map + ")");
    return;
  }
  if (mode == "namespaces")
    fail(ErrorKind::failed_precondition,
         "--isolation=namespaces: no user namespace can be made here (" + why +
             "); use --isolation=chroot or auto, or allow unshare (e.g. a seccomp profile that permits it)");
  if (use_chroot("no user namespace can be made here: " + why)) return;
  use_none("no user namespace (" + why + ") and no CAP_SYS_CHROOT");
}

}  // namespace xb::cli
