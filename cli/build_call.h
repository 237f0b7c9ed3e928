// buildx's --call (and --check, --print): instead of building, ask the
// Dockerfile frontend a question — BuildKit's subrequests `lint` (check),
// `outline` and `targets` — and print the answer as buildx does.
#pragma once

#include <optional>
#include <string>

#include "cli/command.h"
#include "solver/solver.h"

namespace xb::cli {

struct CallSpec {
  std::string name = "build";  // build, check, outline, targets
  bool json = false;           // format=json
  bool ignore_status = false;  // ignorestatus=true: exit 0 even with findings
};

// "check", "outline,format=json", "targets", "check,ignorestatus=true";
// throws Error(usage) naming what is wrong.
CallSpec parse_call(const std::string& text);

// Runs a call other than "build": prints to stdout, returns the exit code
// (check: 1 when a rule reported something, as buildx).
int run_call(const Globals& globals, const CallSpec& call, solver::BuildOptions options);

}  // namespace xb::cli
