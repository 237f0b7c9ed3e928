// Running shell commands from tests: the peers (skopeo, umoci, podman, tar)
// and xbuild itself, the way a user would.
#pragma once

#include <filesystem>
#include <string>

namespace xb::testing {

struct ShellResult {
  int code;         // the exit status; -1 when killed by a signal
  std::string out;  // stdout and stderr, interleaved
};

// Runs `cmd` with /bin/sh and waits for it.
ShellResult sh(const std::string& cmd);

// `p` single-quoted for the shell (test paths hold no single quotes).
inline std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace xb::testing
