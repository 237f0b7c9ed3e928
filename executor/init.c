/* xbuild-init: the first program of every container. The executor's child
 * sets the container up as a copy of xbuild, then executes this program
 * from a sealed memfd (run.cc, init_binary_fd), which executes the
 * container's command. So no process in the container ever has the host's
 * xbuild binary as its /proc/self/exe: a command whose interpreter is
 * "/proc/self/exe" (CVE-2019-5736) reaches only this sealed copy, which
 * cannot be written and does nothing but exec.
 *
 * argv: xbuild-init MSG_FD N CANDIDATE_1 … CANDIDATE_N ARGV0 ARGS…
 * The candidates are the $PATH lookups of ARGV0 that the executor prepared;
 * the environment is the container's. On failure, one xb_exec_message with
 * call "exec" goes to MSG_FD. Static, no interpreter: the container's root
 * may have no dynamic loader. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor/exec_message.h"

static int usage(void) {
  static const char msg[] = "xbuild-init: starts a container's command; it is not a command itself\n";
  (void)!write(2, msg, sizeof msg - 1);
  return 127;
}

int main(int argc, char** argv, char** envp) {
  if (argc < 5) return usage();
  char* end = NULL;
  long fd = strtol(argv[1], &end, 10);
  if (*end || fd < 3) return usage();
  long n = strtol(argv[2], &end, 10);
  if (*end || n < 1 || n > argc - 4) return usage();
  /* Closed by a successful exec: the parent reads EOF. */
  if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0) return usage();
  char** args = argv + 3 + n;
  int err = ENOENT;
  for (long i = 0; i < n; ++i) {
    execve(argv[3 + i], args, envp);
    if (errno != ENOENT && errno != ENOTDIR) err = errno;
  }
  struct xb_exec_message m;
  memset(&m, 0, sizeof m);
  m.err = err;
  strncpy(m.call, "exec", sizeof m.call - 1);
  strncpy(m.path, args[0], sizeof m.path - 1);
  (void)!write((int)fd, &m, sizeof m);
  return 127;
}
