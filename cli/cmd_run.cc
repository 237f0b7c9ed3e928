// xbuild run: an image's Entrypoint/Cmd (or the given command) in the same
// kind of container a RUN step gets, attached to this terminal. The image's
// layers are unpacked once into committed snapshots named by chain ID
// ("layer-<hex>", shared with the builder); the container writes into a
// fresh snapshot on top, which is always removed afterwards: xbuild has no
// container list to come back to, so keeping it would only leak disk
// (--rm is accepted for docker's muscle memory).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "cli/args.h"
#include "cli/store_cli.h"
#include "common/error.h"
#include "common/interrupt.h"
#include "common/random.h"
#include "executor/executor.h"
#include "snapshotter/snapshotter.h"

namespace xb::cli {

namespace {

// Committed snapshots for the image's layers, reusing those that exist.
std::string unpack_layers(snapshotter::Snapshotter& snap, const store::Store& st, const store::Image& img) {
  const auto& layers = img.manifest.layers;
  const auto& diff_ids = img.config.diff_ids;
  if (layers.size() != diff_ids.size())
    fail(ErrorKind::data_loss, "image " + img.id().short_hex() + ": " + std::to_string(layers.size()) + " layers but " +
                                   std::to_string(diff_ids.size()) + " diff IDs");
  std::vector<snapshotter::LayerBlob> blobs;
  for (size_t i = 0; i < layers.size(); ++i) blobs.push_back({layers[i].digest, diff_ids[i]});
  return snapshotter::unpack_chain(snap, st, blobs);
}

int run_run(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {
      {"rm", 0, false, false, "remove the container's changes afterwards (always done)"},
      {"env", 'e', true, true, "K=V  set an environment variable (K alone: take it from here)"},
      {"user", 'u', true, false, "USER  user[:group] to run as"},
      {"workdir", 'w', true, false, "DIR  working directory inside the container"},
      {"network", 0, true, false, "MODE  default|host|none"},
      {"memory", 'm', true, false, "BYTES  memory limit (e.g. 64m)"},
      {"cpus", 0, true, false, "N  CPU limit (e.g. 1.5)"},
      {"pids-limit", 0, true, false, "N  maximum number of processes"},
      {"security", 0, true, false, "MODE  sandbox (default) or insecure (all capabilities, no seccomp)"},
      {"entrypoint", 0, true, false,
       "CMD  run CMD instead of the image's Entrypoint (\"\" for none); the image's Cmd is then not used"},
      {"platform", 0, true, false,
       "OS/ARCH[/VARIANT]  the platform of a multi-platform image to run (another architecture's through binfmt_misc)"},
  };
  ParsedArgs a = parse_args("run", specs, args, true);
  if (a.has("help")) {
    std::cout << format_help("xbuild run [OPTIONS] IMAGE [COMMAND [ARG...]]",
                             "Run a command in a new container made from an image in the local store.", specs);
    return 0;
  }
  if (a.positional().empty()) fail(ErrorKind::usage, "xbuild run needs an IMAGE (see xbuild run --help)");

  executor::RunSpec spec;
  std::string net = a.value_or("network", "default");
  if (net == "default" || net == "host") spec.network = executor::Network::host;
  else if (net == "none") spec.network = executor::Network::none;
  else fail(ErrorKind::usage, "xbuild run: --network " + net + ": use default, host or none");
  std::string sec = a.value_or("security", "sandbox");
  if (sec == "insecure") spec.security = executor::Security::insecure;
  else if (sec != "sandbox") fail(ErrorKind::usage, "xbuild run: --security " + sec + ": use sandbox or insecure");
  if (auto m = a.value("memory")) spec.limits.memory_bytes = parse_size("--memory", *m);
  if (auto c = a.value("cpus")) {
    char* end = nullptr;
    double v = std::strtod(c->c_str(), &end);
    if (end == c->c_str() || *end || v <= 0) fail(ErrorKind::usage, "xbuild run: invalid --cpus \"" + *c + "\"");
    spec.limits.cpus = v;
  }
  if (auto p = a.value("pids-limit")) {
    char* end = nullptr;
    long long v = std::strtoll(p->c_str(), &end, 10);
    if (end == p->c_str() || *end || v <= 0) fail(ErrorKind::usage, "xbuild run: invalid --pids-limit \"" + *p + "\"");
    spec.limits.pids = v;
  }

  store::Store st = open_store(g);
  const std::string& name = a.positional()[0];
  store::Platform platform = a.value("platform") ? Platform::parse(*a.value("platform")) : Platform::host();
  store::Image img = st.image(name, platform);
  // Another architecture's programs run through binfmt_misc: said now, not as
  // an exec format error.
  if (a.value("platform") || img.config.architecture != platform.architecture) {
    Platform have = img.config.platform();
    executor::check_can_run(have.architecture.empty() ? platform : have);
  }
  const store::ContainerConfig& cfg = img.config.config;

  std::vector<std::string> cmd(a.positional().begin() + 1, a.positional().end());
  if (auto ep = a.value("entrypoint")) {
    // docker: the given entrypoint is one word, and replacing the
    // entrypoint drops the image's Cmd (it belonged to the old one).
    if (!ep->empty()) spec.args = {*ep};
  } else {
    if (cfg.entrypoint) spec.args = *cfg.entrypoint;
    if (cmd.empty() && cfg.cmd) cmd = *cfg.cmd;
  }
  spec.args.insert(spec.args.end(), cmd.begin(), cmd.end());
  if (spec.args.empty())
    fail(ErrorKind::usage, a.has("entrypoint")
                               ? "xbuild run: --entrypoint \"\" with no COMMAND: nothing to run"
                               : "xbuild run: image " + name + " has no Entrypoint or Cmd: give a command");

  spec.env = cfg.env;
  for (const auto& e : a.values("env")) {
    std::string kv = e;
    if (kv.find('=') == std::string::npos) {
      const char* v = std::getenv(kv.c_str());
      if (!v) continue;
      kv += std::string("=") + v;
    }
    std::string key = kv.substr(0, kv.find('='));
    std::erase_if(spec.env, [&](const std::string& x) { return x.substr(0, x.find('=')) == key; });
    spec.env.push_back(kv);
  }
  spec.user = a.value_or("user", cfg.user);
  spec.cwd = a.value_or("workdir", cfg.working_dir.empty() ? "/" : cfg.working_dir);
  std::string id = random_hex(12);
  spec.hostname = id;
  // docker run exports the container's hostname; a build's RUN does not (BuildKit).
  if (std::none_of(spec.env.begin(), spec.env.end(), [](const std::string& e) { return e.starts_with("HOSTNAME="); }))
    spec.env.push_back("HOSTNAME=" + id);
  spec.stdin_fd = 0;
  spec.stdout_fd = 1;
  spec.stderr_fd = 2;
  spec.tty = ::isatty(0) && ::isatty(1);

  auto snap = snapshotter::open_snapshotter(g.root);
  std::string top = unpack_layers(*snap, st, img);
  auto root = snapshotter::ScopedSnapshot::prepare(*snap, "run-" + id, top, {{"xbuild.image", name}});
  spec.root = root.mounts();

  // A signal (cli/main.cc) kills the container; main reports it and exits 128 + signal.
  executor::ExitStatus status = executor::run(spec);
  try {
    root.remove();
  } catch (const Error& e) {
    std::cerr << "xbuild run: " << e.what() << "\n";
  }
  if (status.cancelled) return 128 + interrupt_signal();
  if (status.oom_killed || status.timed_out || status.signal) std::cerr << "xbuild run: " << status.describe() << "\n";
  if (status.oom_killed) return 137;
  return status.shell_code();
}

}  // namespace

}  // namespace xb::cli

XBUILD_COMMAND("run", "Run a command in a new container from an image", xb::cli::run_run);
