// xbuild build: flags → solver::BuildOptions, the progress display, and what
// happens to the image (tags in the store, an archive, a push).
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/progress.h"
#include "cli/store_cli.h"
#include "common/fs.h"
#include "common/options.h"
#include "executor/executor.h"
#include "exporter/exporter.h"
#include "registry/registry.h"
#include "solver/solver.h"
#include "store/store.h"

namespace xb::cli {

namespace {

namespace fs = std::filesystem;

const std::vector<FlagSpec> kBuildFlags = {
    {"file", 'f', true, false, "FILE  the Dockerfile (default: CONTEXT/Dockerfile)"},
    {"tag", 't', true, true, "NAME  name the image (repeatable)"},
    {"build-arg", 0, true, true, "K=V  set a build argument (repeatable)"},
    {"target", 0, true, false, "STAGE  build this stage (default: the last)"},
    {"no-cache", 0, false, false, "do not use the build cache"},
    {"pull", 0, false, false, "always pull base images"},
    {"push", 0, false, false, "tag the image and push it (same as -o type=image,push=true)"},
    {"output", 'o', true, true, "SPEC  type=image|oci|docker|local|tar|registry[,dest=FILE|DIR|-][,compression=gzip|zstd|uncompressed]"},
    {"progress", 0, true, false, "MODE  auto, plain, tty or json"},
    {"quiet", 'q', false, false, "print only the image ID"},
    {"iidfile", 0, true, false, "FILE  write the image ID to FILE"},
    {"label", 0, true, true, "K=V  add a label to the image (repeatable)"},
    {"secret", 0, true, true, "SPEC  id=ID,src=FILE or id=ID,env=VAR (repeatable)"},
    {"network", 0, true, false, "MODE  default, host or none for RUN steps"},
    {"memory", 'm', true, false, "SIZE  memory limit of every RUN step"},
    {"cpus", 0, true, false, "N  CPU limit of every RUN step"},
    {"platform", 0, true, false, "PLATFORM  only the host platform is supported"},
    {"allow", 0, true, true, "ENTITLEMENT  network.host (RUN --network=host), security.insecure (RUN --security=insecure)"},
    {"cache-from", 0, true, true, "SPEC  type=registry,ref=REF | type=local,src=DIR: use a build cache (repeatable)"},
    {"cache-to", 0, true, true, "SPEC  type=registry,ref=REF | type=local,dest=DIR | type=inline [,mode=min|max]"},
    {"provenance", 0, true, false, "SPEC  true, false, mode=min or mode=max: attach SLSA provenance (default: none)"},
    {"sbom", 0, true, false, "BOOL  true: attach an SPDX SBOM of the image's packages (default: false)"},
    {"attest", 0, true, true, "SPEC  type=provenance[,mode=min|max] | type=sbom | type=…,disabled=true (repeatable)"},
    authfile_flag(),
};

// --attest, --sbom, --provenance in the order buildx applies them (a later one of a type wins).
exporter::AttestOptions parse_attest(const ParsedArgs& a) {
  std::vector<std::pair<std::string, std::string>> flags;
  for (const auto& v : a.values("attest")) flags.emplace_back("attest", v);
  if (auto v = a.value("sbom")) flags.emplace_back("sbom", *v);
  if (auto v = a.value("provenance")) flags.emplace_back("provenance", *v);
  return exporter::parse_attest_flags(flags);
}

// What provenance records of this build: BuildKit's frontend attributes for
// the flags (build-arg:K, label:K, target, no-cache) and the build's facts.
exporter::ProvenanceInput provenance_input(const solver::BuildOptions& opts, const solver::BuildResult& r,
                                           const std::string& started, const std::string& finished) {
  exporter::ProvenanceInput in;
  in.dockerfile_name = opts.dockerfile.filename().string();
  in.dockerfile = r.record.dockerfile;
  in.dockerfile_digest = Digest::of(r.record.dockerfile);
  for (const auto& [k, v] : opts.build_args) in.args["build-arg:" + k] = v;
  for (const auto& [k, v] : opts.labels) in.args["label:" + k] = v;
  if (!opts.target.empty()) in.args["target"] = opts.target;
  if (opts.no_cache) in.args["no-cache"] = "";
  for (const auto& s : opts.secrets) in.secrets.push_back(s.id);
  for (const auto& im : r.record.images)
    in.images.push_back({store::ImageRef::parse(im.ref), im.digest, im.platform});
  for (const auto& u : r.record.urls) in.urls.push_back({u.url, u.digest});
  for (const auto& s : r.record.steps)
    in.steps.push_back({s.kind, s.name, s.line, s.identifier, s.args, s.env, s.cwd, s.inputs});
  in.network = r.record.network;
  in.started = started;
  in.finished = finished;
  in.tool = std::string("xbuild-") + XBUILD_VERSION;
  return in;
}

solver::SecretSource parse_secret(const std::string& text) {
  auto opts = parse_key_values("--secret", text);
  solver::SecretSource s;
  s.id = opts.count("id") ? opts["id"] : "";
  if (opts.count("src")) s.file = opts["src"];
  else if (opts.count("source")) s.file = opts["source"];
  if (opts.count("env")) s.env = opts["env"];
  if (s.id.empty()) fail(ErrorKind::usage, "--secret " + text + ": needs id=ID");
  if (s.file.empty() && s.env.empty()) {
    // docker's shorthand: id=X alone reads env X if set.
    s.env = s.id;
  }
  if (!s.file.empty() && !fs::exists(s.file))
    fail(ErrorKind::usage, "--secret " + text + ": file " + s.file.string() + " does not exist");
  return s;
}

int run_build(const Globals& globals, const std::vector<std::string>& args) {
  ParsedArgs a = parse_args("build", kBuildFlags, args);
  if (a.has("help")) {
    std::fputs(format_help("xbuild build [OPTIONS] CONTEXT",
                           "Build an image from a Dockerfile and a context directory.", kBuildFlags)
                   .c_str(),
               stdout);
    return 0;
  }
  if (a.positional().size() != 1)
    fail(ErrorKind::usage, a.positional().empty() ? "xbuild build: missing CONTEXT (e.g. xbuild build -t NAME .)"
                                                  : "xbuild build: exactly one CONTEXT, got " +
                                                        std::to_string(a.positional().size()));
  apply_authfile(a);
  solver::BuildOptions opts;
  opts.context_dir = a.positional()[0];
  if (auto f = a.value("file")) {
    opts.dockerfile = *f;
    opts.dockerfile_display = *f;
  } else {
    opts.dockerfile = opts.context_dir / "Dockerfile";
    opts.dockerfile_display = "Dockerfile";
    // BuildKit's dockerui falls back to the lower-case name.
    std::error_code ec;
    if (!fs::exists(opts.dockerfile, ec) && fs::exists(opts.context_dir / "dockerfile", ec)) {
      opts.dockerfile = opts.context_dir / "dockerfile";
      opts.dockerfile_display = "dockerfile";
    }
  }
  for (const auto& kv : a.values("build-arg")) {
    auto [k, v] = split_key_value(kv);
    if (k.empty()) fail(ErrorKind::usage, "--build-arg " + kv + ": want KEY=VALUE");
    if (v) {
      opts.build_args[k] = *v;
    } else if (const char* e = std::getenv(k.c_str())) {
      opts.build_args[k] = e;  // docker: --build-arg K takes K from the environment
    }
  }
  for (const auto& kv : a.values("label")) {
    auto [k, v] = split_key_value(kv);
    opts.labels[k] = v.value_or("");
  }
  opts.target = a.value_or("target", "");
  opts.no_cache = a.has("no-cache");
  opts.pull = a.has("pull") ? solver::PullPolicy::always : solver::PullPolicy::missing;
  std::string network = a.value_or("network", "default");
  if (network == "none") opts.network = solver::NetworkMode::none;
  else if (network == "host") opts.allow_network_host = true;  // as buildx: asking for host grants it
  else if (network != "default")
    fail(ErrorKind::usage, "--network " + network + ": want default, host or none");
  if (auto m = a.value("memory")) opts.memory_bytes = parse_size("--memory", *m);
  if (auto c = a.value("cpus")) opts.cpus = parse_cpus("--cpus", *c);
  for (const auto& s : a.values("secret")) opts.secrets.push_back(parse_secret(s));
  for (const auto& e : a.values("allow")) {
    if (e == "security.insecure") opts.allow_insecure = true;
    else if (e == "network.host") opts.allow_network_host = true;
    else fail(ErrorKind::usage, "--allow " + e + ": unknown entitlement (want network.host or security.insecure)");
  }
  if (auto p = a.value("platform")) {
    auto host = store::Platform::host();
    if (!host.matches(store::Platform::parse(*p)))
      fail(ErrorKind::usage, "--platform " + *p + ": building for another platform is not supported (this host is " +
                                 host.str() + ")");
  }
  for (const auto& c : a.values("cache-from")) opts.cache_from.push_back(solver::CacheSpec::parse("--cache-from", c));
  for (const auto& c : a.values("cache-to")) opts.cache_to.push_back(solver::CacheSpec::parse("--cache-to", c));
  // SOURCE_DATE_EPOCH from the environment, or as a build arg (what buildx
  // sends BuildKit; it wins, as the more explicit one).
  auto epoch = [&](const std::string& where, const std::string& value) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end || v < 0 || errno == ERANGE)
      fail(ErrorKind::usage, where + "SOURCE_DATE_EPOCH=" + value + ": want a number, seconds since 1970 (e.g. $(git log -1 --format=%ct))");
    opts.source_date_epoch = v;
  };
  if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde) epoch("", sde);
  if (auto it = opts.build_args.find("SOURCE_DATE_EPOCH"); it != opts.build_args.end() && !it->second.empty())
    epoch("--build-arg ", it->second);
  opts.registry_config = globals.config_file;

  std::vector<store::ImageRef> tags;
  for (const auto& t : a.values("tag")) tags.push_back(store::ImageRef::parse(t));
  std::vector<exporter::OutputSpec> outputs;
  for (const auto& o : a.values("output")) outputs.push_back(exporter::parse_output(o));
  // As docker build: --push keeps the image in the store too (type=image,push=true).
  if (a.has("push")) outputs.push_back(exporter::parse_output("type=image,push=true"));
  if (outputs.empty()) outputs.push_back(exporter::OutputSpec{});
  for (const auto& o : outputs)
    if ((o.type == exporter::OutputSpec::Type::registry || o.push) && tags.empty() && o.names.empty())
      fail(ErrorKind::usage, "--push needs a name: add -t REGISTRY/NAME:TAG");

  const exporter::AttestOptions attest = parse_attest(a);

  bool quiet = a.has("quiet");
  ProgressMode mode = quiet ? ProgressMode::quiet : parse_progress_mode(a.value_or("progress", "auto"));
  auto display = ProgressDisplay::create(mode, stderr);
  opts.progress = display.get();

  store::Store store = open_store(globals);
  const std::string started = store::rfc3339(std::chrono::system_clock::now());
  solver::BuildResult result = [&] {
    try {
      return solver::build(store, opts);
    } catch (...) {
      display->finish();
      throw;
    }
  }();

  registry::ClientOptions co;
  co.config = registry::RegistryConfig::load(globals.config_file);
  co.credentials.emplace();
  // Attestations are made once; each output attaches them to the image as it leaves.
  exporter::Attestations attestations;
  if (attest.any()) {
    try {
      const std::string finished = store::rfc3339(std::chrono::system_clock::now());
      std::vector<store::ImageRef> names = tags;
      for (const auto& o : outputs) names.insert(names.end(), o.names.begin(), o.names.end());
      attestations = exporter::make_attestations(store, result.manifest, attest,
                                                 provenance_input(opts, result, started, finished), names,
                                                 [&](const std::string& line) { display->message(line); });
    } catch (...) {
      display->finish();
      throw;
    }
  }
  for (const auto& o : outputs) {
    try {
      exporter::run_output(store, o, result.manifest, tags, co,
                           [&](const std::string& line) { display->message(line); }, &attestations);
    } catch (...) {
      display->finish();
      throw;
    }
  }
  try {
    solver::export_cache(store, result, opts);
  } catch (...) {
    display->finish();
    throw;
  }
  display->message("image " + result.image_id.str() + " (" + std::to_string(result.steps) + " steps, " +
                   std::to_string(result.cached_steps) + " cached)");
  display->finish();
  if (auto f = a.value("iidfile")) write_file_atomic(*f, result.image_id.str(), 0644, false);
  bool archive_on_stdout = false;
  for (const auto& o : outputs) archive_on_stdout = archive_on_stdout || o.dest == "-";
  // With dest=- stdout holds the archive: the ID must not be mixed into it.
  if (quiet && !archive_on_stdout) std::printf("%s\n", result.image_id.str().c_str());
  return 0;
}

}  // namespace

}  // namespace xb::cli

XBUILD_COMMAND("build", "Build an image from a Dockerfile", xb::cli::run_build);
