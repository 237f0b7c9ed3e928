// buildx's --call (and --check, --print): instead of building, ask the
// Dockerfile frontend a question — BuildKit's subrequests `lint` (check),
// `outline` and `targets` — and print the answer as buildx does.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "convert/convert.h"
#include "frontend/frontend.h"

namespace xb::cli {

struct CallSpec {
  std::string name = "build";  // build, check, outline, targets
  bool json = false;           // format=json
  bool ignore_status = false;  // ignorestatus=true: exit 0 even with findings
};

// "check", "outline,format=json", "targets", "check,ignorestatus=true";
// throws Error(usage) naming what is wrong.
CallSpec parse_call(const std::string& text);

// Prints what convert::check() found as --call=check does (report or
// result.json to stdout, the error to stderr); returns the exit code: 1
// when a rule reported something (unless ignorestatus) or check=error=true
// made the findings fail, as buildx.
int print_check(const CallSpec& call, const frontend::Dockerfile& df, const convert::Checked& checked);

// Answers --call=outline or targets for `df` (the build's target and build
// args): prints to stdout, returns the exit code.
int run_query(const CallSpec& call, const frontend::Dockerfile& df, const std::string& target,
              const std::map<std::string, std::string>& build_args);

}  // namespace xb::cli
