// xbuild pull · push · login · logout: the registry commands.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "cli/args.h"
#include "cli/store_cli.h"
#include "common/error.h"
#include "exporter/exporter.h"

namespace xb::cli {

namespace {

using Clock = std::chrono::steady_clock;

// Per-blob progress on stderr: redrawn lines with bytes and rate on a TTY,
// one line per state change otherwise.
class PullProgress {
 public:
  explicit PullProgress(bool quiet, bool push = false)
      : quiet_(quiet),
        tty_(::isatty(STDERR_FILENO) != 0),
        active_(push ? "Pushing" : "Downloading"),
        complete_(push ? "Pushed" : "Pull complete") {}

  void operator()(const registry::ProgressEvent& e) {
    using K = registry::ProgressEvent::Kind;
    if (quiet_) return;
    if (e.kind == K::resolved) {
      std::fprintf(stderr, "Resolved %s: %s\n", e.what.c_str(), e.message.c_str());
      return;
    }
    std::string id = e.what.size() > 19 ? e.what.substr(7, 12) : e.what;
    if (!tty_) {
      switch (e.kind) {
        case K::blob_exists: std::fprintf(stderr, "%s: Already exists\n", id.c_str()); break;
        case K::blob_start:
          std::fprintf(stderr, "%s: %s %s\n", id.c_str(), active_.c_str(), size(e.total).c_str());
          starts_[id] = Clock::now();
          break;
        case K::blob_done: {
          double secs = std::chrono::duration<double>(Clock::now() - starts_[id]).count();
          std::string rate = secs > 0.001
                                 ? " (" + size(static_cast<uint64_t>(static_cast<double>(e.total) / secs)) + "/s)"
                                 : "";
          std::fprintf(stderr, "%s: %s%s\n", id.c_str(), complete_.c_str(), rate.c_str());
          break;
        }
        case K::blob_mounted: std::fprintf(stderr, "%s: Mounted from %s\n", id.c_str(), e.message.c_str()); break;
        case K::blob_retry: std::fprintf(stderr, "%s: Retrying (%s)\n", id.c_str(), e.message.c_str()); break;
        default: break;
      }
      return;
    }
    auto it = rows_.find(id);
    if (it == rows_.end()) {
      order_.push_back(id);
      it = rows_.emplace(id, Row{}).first;
      it->second.start = Clock::now();
      std::fprintf(stderr, "\n");
    }
    Row& r = it->second;
    r.done = e.done;
    r.total = e.total;
    if (e.kind == K::blob_exists) r.state = "Already exists";
    else if (e.kind == K::blob_done) r.state = complete_;
    else if (e.kind == K::blob_mounted) r.state = "Mounted from " + e.message;
    else if (e.kind == K::blob_retry) r.state = "Retrying";
    else r.state = active_;
    redraw();
  }

 private:
  struct Row {
    std::string state;
    uint64_t done = 0, total = 0;
    Clock::time_point start;
  };
  static std::string size(uint64_t n) { return human_size(static_cast<double>(n)); }
  void redraw() {
    // Move up to the first row and rewrite every row.
    std::fprintf(stderr, "\x1b[%zuA", order_.size());
    for (const auto& id : order_) {
      const Row& r = rows_[id];
      std::string line = id + ": " + r.state;
      if (r.state == active_ || r.state == "Retrying") {
        double secs = std::chrono::duration<double>(Clock::now() - r.start).count();
        line += " " + size(r.done) + "/" + size(r.total);
        if (secs > 0.05) line += " " + size(static_cast<uint64_t>(static_cast<double>(r.done) / secs)) + "/s";
      }
      std::fprintf(stderr, "\r\x1b[2K%s\n", line.c_str());
    }
    std::fflush(stderr);
  }
  bool quiet_;
  bool tty_;
  std::string active_, complete_;
  std::map<std::string, Clock::time_point> starts_;
  std::vector<std::string> order_;
  std::map<std::string, Row> rows_;
};

int run_pull(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {{"platform", 0, true, false, "OS/ARCH[/VARIANT]  the platform to pull"},
                                 {"quiet", 'q', false, false, "no progress output"},
                                 authfile_flag()};
  ParsedArgs a = parse_args("pull", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild pull [--platform P] NAME[:TAG|@DIGEST]",
                             "Pull an image from a registry into the local store.", specs);
    return 0;
  }
  if (a.positional().size() != 1) fail(ErrorKind::usage, "xbuild pull needs one image reference");
  apply_authfile(a);
  store::ImageRef ref = store::ImageRef::parse(a.positional()[0]);
  store::Platform platform = a.value("platform") ? store::Platform::parse(*a.value("platform"))
                                                 : store::Platform::host();
  store::Store st = open_store(g);
  registry::ClientOptions o = registry_options(g);
  auto progress = std::make_shared<PullProgress>(a.has("quiet"));
  o.progress = [progress](const registry::ProgressEvent& e) { (*progress)(e); };
  registry::Client client(std::move(o));
  store::Descriptor d = client.pull(st, ref, platform);
  if (!a.has("quiet")) std::fprintf(stderr, "Digest: %s\n", d.digest.str().c_str());
  std::printf("%s\n", ref.str().c_str());
  return 0;
}

int run_push(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {{"quiet", 'q', false, false, "no progress output"}, authfile_flag()};
  ParsedArgs a = parse_args("push", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild push NAME[:TAG]", "Push an image from the local store to its registry.", specs);
    return 0;
  }
  if (a.positional().size() != 1) fail(ErrorKind::usage, "xbuild push needs one image reference");
  apply_authfile(a);
  store::ImageRef ref = store::ImageRef::parse(a.positional()[0]);
  store::Store st = open_store(g);
  store::Image img = st.image(a.positional()[0]);
  registry::ClientOptions o = registry_options(g);
  auto progress = std::make_shared<PullProgress>(a.has("quiet"), true);
  o.progress = [progress](const registry::ProgressEvent& e) { (*progress)(e); };
  // Layers leave the machine compressed (gzip, remembered per diff ID).
  Digest d = exporter::push_image(st, img.target, {ref}, exporter::LayerOptions{}, std::move(o), {}).digest;
  std::printf("%s@%s\n", ref.repository().c_str(), d.str().c_str());
  return 0;
}

// "https://host:5000/v2/" → "host:5000"; docker's default registry when empty.
std::string registry_host(std::string s) {
  if (s.empty()) return "docker.io";
  if (s.rfind("http://", 0) == 0) s = s.substr(7);
  else if (s.rfind("https://", 0) == 0) s = s.substr(8);
  s = s.substr(0, s.find('/'));
  if (s == "index.docker.io" || s == "registry-1.docker.io") s = "docker.io";
  return s;
}

int run_login(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {{"username", 'u', true, false, "USER  the user name"},
                                 {"password", 'p', true, false, "PASS  the password (prefer --password-stdin)"},
                                 {"password-stdin", 0, false, false, "read the password from standard input"},
                                 authfile_flag()};
  ParsedArgs a = parse_args("login", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild login [-u USER] [--password-stdin] [REGISTRY]",
                             "Check and store credentials for a registry (docker's config.json, or --authfile).",
                             specs);
    return 0;
  }
  if (a.positional().size() > 1) fail(ErrorKind::usage, "xbuild login takes at most one REGISTRY");
  apply_authfile(a);
  std::string host = registry_host(a.positional().empty() ? "" : a.positional()[0]);
  registry::Credentials creds;
  creds.username = a.value_or("username", "");
  if (a.has("password-stdin")) {
    if (a.has("password")) fail(ErrorKind::usage, "--password and --password-stdin are mutually exclusive");
    std::string pw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    creds.password = pw;
  } else {
    creds.password = a.value_or("password", "");
  }
  if (creds.username.empty() || creds.password.empty())
    fail(ErrorKind::usage, "xbuild login needs --username and a password (--password-stdin)");
  registry::CredentialStore cs;
  registry::login(registry::RegistryConfig::load(g.config_file), cs, host, creds);
  std::printf("Login Succeeded\n");
  return 0;
}

int run_logout(const Globals&, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {authfile_flag()};
  ParsedArgs a = parse_args("logout", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild logout [REGISTRY]", "Remove stored credentials for a registry.", specs);
    return 0;
  }
  if (a.positional().size() > 1) fail(ErrorKind::usage, "xbuild logout takes at most one REGISTRY");
  apply_authfile(a);
  std::string host = registry_host(a.positional().empty() ? "" : a.positional()[0]);
  registry::CredentialStore cs;
  if (cs.erase(host)) std::printf("Removing login credentials for %s\n", host.c_str());
  else std::printf("Not logged in to %s\n", host.c_str());
  return 0;
}

}  // namespace

}  // namespace xb::cli

XBUILD_COMMAND("pull", "Pull an image from a registry", xb::cli::run_pull);
XBUILD_COMMAND("push", "Push an image to a registry", xb::cli::run_push);
XBUILD_COMMAND("login", "Log in to a registry", xb::cli::run_login);
XBUILD_COMMAND("logout", "Log out from a registry", xb::cli::run_logout);
