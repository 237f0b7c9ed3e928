// xbuild's entry point: global options, the command table, and the one place
// where errors become a message and an exit code (0 ok, 1 failure, 2 usage).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "cli/isolation.h"
#include "common/error.h"
#include "common/interrupt.h"
#include "executor/executor.h"

namespace xb::cli {

namespace {

std::vector<Command>& table() {
  static std::vector<Command> t;
  return t;
}

std::filesystem::path default_root() {
  if (const char* r = std::getenv("XBUILD_ROOT"); r && *r) return r;
  if (::geteuid() == 0) return "/var/lib/xbuild";
  if (const char* d = std::getenv("XDG_DATA_HOME"); d && *d) return std::filesystem::path(d) / "xbuild";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".local/share/xbuild";
  fail(ErrorKind::usage, "cannot place the store: set XBUILD_ROOT or HOME, or pass --root DIR");
}

std::filesystem::path default_config() {
  if (const char* c = std::getenv("XBUILD_CONFIG"); c && *c) return c;
  const char* home = std::getenv("HOME");
  std::filesystem::path user;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) user = std::filesystem::path(x) / "xbuild/config.json";
  else if (home && *home) user = std::filesystem::path(home) / ".config/xbuild/config.json";
  // An unreadable $HOME is "no user config", not an error: the error_code
  // overload, as the throwing one would reach the user as internal text.
  std::error_code ec;
  if (!user.empty() && std::filesystem::exists(user, ec)) return user;
  return "/etc/xbuild/config.json";
}

void print_help() {
  std::printf(
      "Usage: xbuild [--root DIR] COMMAND [ARGS...]\n"
      "       xbuild [build flags] CONTEXT     (same as xbuild build)\n\n"
      "A daemonless container image builder.\n\nCommands:\n");
  for (const auto& c : commands()) std::printf("  %-10s %s\n", c.name, c.summary);
  std::printf(
      "\nGlobal options:\n"
      "  --root DIR     the store (default $XBUILD_ROOT, /var/lib/xbuild for root,\n"
      "                 $XDG_DATA_HOME/xbuild (~/.local/share/xbuild) for other users)\n"
      "  --isolation auto|namespaces|chroot|none\n"
      "                 how RUN steps are isolated (default auto, $XBUILD_ISOLATION):\n"
      "                 namespaces (rootless: a user namespace), else chroot, else none\n"
      "  --debug        show error kinds\n"
      "  --version      print the version\n"
      "\nRun 'xbuild COMMAND --help' for a command's flags.\n");
}

int run_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Globals globals;
  std::optional<std::filesystem::path> root_flag;
  std::string isolation;
  if (const char* e = std::getenv("XBUILD_ISOLATION"); e && *e) isolation = e;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--root") {
      if (i + 1 >= args.size()) fail(ErrorKind::usage, "flag --root needs a value");
      root_flag = args[++i];
    } else if (a.rfind("--root=", 0) == 0) {
      root_flag = a.substr(7);
    } else if (a == "--isolation" || a.rfind("--isolation=", 0) == 0) {
      if (a == "--isolation" && i + 1 >= args.size()) fail(ErrorKind::usage, "flag --isolation needs a value");
      isolation = a == "--isolation" ? args[++i] : a.substr(12);
    } else if (a == "--debug") {
      globals.debug = true;
    } else if (a == "--version" || a == "-v") {
      std::printf("xbuild version %s\n", XBUILD_VERSION);
      return 0;
    } else if (a == "--help" || a == "-h" || a == "help") {
      if (a == "help" && i + 1 < args.size()) {
        // "xbuild help build" is "xbuild build --help".
        args = {args[i + 1], "--help"};
        i = 0;
        break;
      }
      print_help();
      return 0;
    } else {
      break;
    }
  }
  args.erase(args.begin(), args.begin() + static_cast<long>(i));
  globals.root = root_flag ? *root_flag : default_root();
  globals.config_file = default_config();
  if (args.empty()) {
    print_help();
    return 2;
  }
  // The store's place is decided above, before a rootless process becomes
  // uid 0 of its user namespace here.
  auto isolate = [&](const std::string& command, std::vector<std::string>& rest) {
    if (command == "build") {
      // `xbuild build --isolation=chroot .` as well as `xbuild --isolation=chroot build .`
      for (size_t k = 0; k < rest.size(); ++k) {
        if (rest[k] == "--") break;
        if (rest[k] == "--isolation" && k + 1 < rest.size()) {
          isolation = rest[k + 1];
          rest.erase(rest.begin() + static_cast<long>(k), rest.begin() + static_cast<long>(k) + 2);
          break;
        }
        if (rest[k].rfind("--isolation=", 0) == 0) {
          isolation = rest[k].substr(12);
          rest.erase(rest.begin() + static_cast<long>(k));
          break;
        }
      }
    }
    bool help = std::find(rest.begin(), rest.end(), "--help") != rest.end();
    if (needs_isolation(command) && !help)
      setup_isolation(isolation.empty() ? "auto" : isolation, command == "build" || command == "run");
  };
  if (const Command* c = find_command(args[0])) {
    std::vector<std::string> rest(args.begin() + 1, args.end());
    isolate(args[0], rest);
    return c->run(globals, rest);
  }
  // The default verb: `xbuild -t figlet .` is `xbuild build -t figlet .`.
  const Command* build = find_command("build");
  std::error_code ec;
  if (build && (args[0][0] == '-' || std::filesystem::is_directory(args[0], ec))) {
    isolate("build", args);
    return build->run(globals, args);
  }
  fail(ErrorKind::usage, "unknown command \"" + args[0] + "\" (see xbuild --help)");
}

}  // namespace

CommandRegistration::CommandRegistration(Command command) { table().push_back(command); }

const std::vector<Command>& commands() {
  auto& t = table();
  std::sort(t.begin(), t.end(), [](const Command& a, const Command& b) { return std::string(a.name) < b.name; });
  return t;
}

const Command* find_command(const std::string& name) {
  for (const auto& c : table())
    if (name == c.name) return &c;
  return nullptr;
}

}  // namespace xb::cli

int main(int argc, char** argv) {
  bool debug = false;
  for (int i = 1; i < argc && argv[i][0] == '-'; ++i)
    if (std::string(argv[i]) == "--debug") debug = true;
  // SIGINT/SIGTERM/SIGHUP: one stop flag for every command (common/interrupt.h);
  // running containers are killed at once, everything else notices the flag
  // and unwinds, so mounts, cgroups and temporary files are removed.
  xb::set_interrupt_hook(xb::executor::cancel_all);
  xb::install_interrupt_handlers();
  // The exit code of a command stopped by a signal, as a shell reports it.
  auto stopped = [] { return 128 + xb::interrupt_signal(); };
  try {
    int rc = xb::cli::run_main(argc, argv);
    if (xb::interrupted()) {
      std::fflush(stdout);
      try {
        xb::check_interrupt();
      } catch (const xb::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
      }
      return stopped();
    }
    return rc;
  } catch (const xb::Error& e) {
    std::fflush(stdout);
    if (xb::interrupted()) {
      // Whatever failed on the way out, the reason is the signal: one line.
      try {
        xb::check_interrupt();
      } catch (const xb::Error& stop) {
        std::fprintf(stderr, "error: %s\n", stop.what());
      }
      return stopped();
    }
    std::string kind = debug ? " [" + std::string(xb::to_string(e.kind())) + "]" : "";
    std::fprintf(stderr, "error%s: %s\n", kind.c_str(), e.render().c_str());
    return xb::exit_code_for(e);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    if (xb::interrupted()) return stopped();
    std::fprintf(stderr, "error: internal: %s\n", e.what());
    return 1;
  }
}
