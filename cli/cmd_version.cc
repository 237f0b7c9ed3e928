#include <cstdio>

#include "cli/command.h"

namespace {
int run_version(const xb::cli::Globals&, const std::vector<std::string>&) {
  std::printf("xbuild version %s\n", XBUILD_VERSION);
  return 0;
}
}  // namespace

XBUILD_COMMAND("version", "Print the version", run_version);
