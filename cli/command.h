// The xbuild command table. Each command lives in its own cli/cmd_*.cc and
// registers itself with XBUILD_COMMAND, so adding one touches no shared file.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace xb::cli {

// Options that apply to every command, taken from the environment and the
// words before the command name.
struct Globals {
  std::filesystem::path root;         // --root or $XBUILD_ROOT or the default store
  std::filesystem::path config_file;  // $XBUILD_CONFIG or the default, may not exist
  bool debug = false;                 // --debug: errors show their kind
};

// A command gets the words after its name; returns the process exit code.
// It reports usage mistakes by throwing Error(ErrorKind::usage, …) and
// everything else as Error of another kind; main() prints and maps them.
using CommandFn = int (*)(const Globals& globals, const std::vector<std::string>& args);

struct Command {
  const char* name;
  const char* summary;  // one line for `xbuild --help`
  CommandFn run;
};

struct CommandRegistration {
  explicit CommandRegistration(Command command);
};

const std::vector<Command>& commands();
const Command* find_command(const std::string& name);

}  // namespace xb::cli

#define XBUILD_COMMAND_CONCAT2(a, b) a##b
#define XBUILD_COMMAND_CONCAT(a, b)  XBUILD_COMMAND_CONCAT2(a, b)
// XBUILD_COMMAND("images", "List images in the local store", run_images);
#define XBUILD_COMMAND(name, summary, fn)                                            \
  static const ::xb::cli::CommandRegistration XBUILD_COMMAND_CONCAT(xbuild_command_, \
                                                                    __LINE__)(::xb::cli::Command{name, summary, fn})
