#include "tests/support/shell.h"

#include <sys/wait.h>

#include <cstdio>

namespace xb::testing {

ShellResult sh(const std::string& cmd) {
  FILE* p = ::popen(("( " + cmd + " ) 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace xb::testing
