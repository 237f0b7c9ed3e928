// The seccomp filter against Docker's default profile (docs/dev/executor.md,
// "seccomp against Docker's profile"): calls the profile denies fail with
// EPERM under the filter even for root with every capability, and succeed
// (or fail otherwise) without it, so each case shows the filter at work.
#include "executor/seccomp.h"

#include <gtest/gtest.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

namespace xb::executor {
namespace {

// Runs call in a child (in its own UTS namespace, so sethostname stays
// there), with or without the filter; its errno, 0 on success.
int errno_of(const std::function<long()>& call, bool filtered) {
  const auto& prog = detail::default_seccomp_program();
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWUTS) < 0) ::_exit(200);
    sock_fprog f{static_cast<unsigned short>(prog.size()), const_cast<sock_filter*>(prog.data())};
    if (filtered &&
        (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &f) < 0))
      ::_exit(201);
    ::_exit(call() < 0 ? errno : 0);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

TEST(Seccomp, DeniesWhatDockersProfileDeniesEvenToRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the calls must succeed without the filter)";
  struct Case {
    const char* name;
    std::function<long()> call;
  } cases[] = {
      {"sethostname", [] { return static_cast<long>(::sethostname("xb", 2)); }},
      {"clone(CLONE_NEWNS)",
       [] {
         long r = ::syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
         if (r == 0) ::_exit(0);
         if (r > 0) ::waitpid(static_cast<pid_t>(r), nullptr, 0);
         return r;
       }},
      {"migrate_pages", [] { return ::syscall(SYS_migrate_pages, 0, 0, nullptr, nullptr); }},
      {"personality(ADDR_NO_RANDOMIZE)", [] { return static_cast<long>(::personality(0x0040000)); }},
      {"personality(PER_SVR4)", [] { return static_cast<long>(::personality(0x0068)); }},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(errno_of(c.call, true), EPERM) << c.name;
    EXPECT_NE(errno_of(c.call, false), EPERM) << c.name << " fails without the filter: the case proves nothing";
  }
  // socket(AF_VSOCK): EPERM, whatever the kernel says without the filter.
  EXPECT_EQ(errno_of([] { return static_cast<long>(::socket(AF_VSOCK, SOCK_STREAM, 0)); }, true), EPERM);
  // Allowed by Docker's profile, so allowed here.
  EXPECT_NE(errno_of([] { return static_cast<long>(::socket(AF_UNIX, SOCK_STREAM, 0)); }, true), EPERM);
  for (unsigned long persona : {0x0UL, 0x8UL, 0x20000UL, 0x20008UL, 0xffffffffUL})
    EXPECT_EQ(errno_of([persona] { return static_cast<long>(::personality(persona)); }, true), 0) << persona;
}

}  // namespace
}  // namespace xb::executor
