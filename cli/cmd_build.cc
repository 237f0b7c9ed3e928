// xbuild build: flags → the conversion's and the solver's options; then
// parse → convert → solve → image (or, with --call, parse → check or query),
// the progress display, and what happens to the image (tags in the store, an
// archive, a push).
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "cli/args.h"
#include "cli/build_call.h"
#include "cli/build_context.h"
#include "cli/command.h"
#include "cli/progress.h"
#include "cli/run_inputs.h"
#include "cli/store_cli.h"
#include "common/fs.h"
#include "common/options.h"
#include "convert/convert.h"
#include "executor/executor.h"
#include "exporter/exporter.h"
#include "registry/registry.h"
#include "solver/solver.h"
#include "store/store.h"

namespace xb::cli {

namespace {

namespace fs = std::filesystem;

const std::vector<FlagSpec> kBuildFlags = {
    {"file", 'f', true, false, "FILE  the Dockerfile (default: CONTEXT/Dockerfile; -: stdin)"},
    {"build-context", 0, true, true,
     "NAME=VALUE  a named context: DIR, docker-image://REF, oci-layout://DIR[:TAG], a git or https URL"},
    {"tag", 't', true, true, "NAME  name the image (repeatable)"},
    {"build-arg", 0, true, true, "K=V  set a build argument (repeatable)"},
    {"target", 0, true, false, "STAGE  build this stage (default: the last)"},
    {"no-cache", 0, false, false, "do not use the build cache"},
    {"pull", 0, false, false, "always pull base images"},
    {"push", 0, false, false, "tag the image and push it (same as -o type=image,push=true)"},
    {"output", 'o', true, true,
     "SPEC  type=image|oci|docker|local|tar|registry[,dest=FILE|DIR|-][,compression=gzip|zstd|uncompressed]; DIR alone: type=local; -: type=tar to stdout"},
    {"load", 0, false, false, "load the image into the Docker Engine at $DOCKER_HOST (same as -o type=docker)"},
    {"metadata-file", 0, true, false, "FILE  write the build result's metadata (digests, names) as JSON to FILE"},
    {"annotation", 0, true, true,
     "[TYPE:]K=V  annotate the image (TYPE: manifest, manifest-descriptor, index, index-descriptor[, [os/arch]])"},
    {"progress", 0, true, false, "MODE  auto, plain, tty or json"},
    {"quiet", 'q', false, false, "print only the image ID"},
    {"iidfile", 0, true, false, "FILE  write the image ID to FILE"},
    {"label", 0, true, true, "K=V  add a label to the image (repeatable)"},
    {"secret", 0, true, true, "SPEC  id=ID,src=FILE or id=ID,env=VAR (repeatable)"},
    {"network", 0, true, false, "MODE  default, host or none for RUN steps"},
    {"memory", 'm', true, false, "SIZE  memory limit of every RUN step"},
    {"cpus", 0, true, false, "N  CPU limit of every RUN step"},
    {"platform", 0, true, false,
     "P[,P…]  the platforms to build for (e.g. linux/amd64,linux/arm64; default: the host's); several make an image index"},
    {"allow", 0, true, true,
     "ENTITLEMENT  network.host (RUN --network=host), security.insecure (RUN --security=insecure)"},
    {"cache-from", 0, true, true, "SPEC  type=registry,ref=REF | type=local,src=DIR: use a build cache (repeatable)"},
    {"cache-to", 0, true, true, "SPEC  type=registry,ref=REF | type=local,dest=DIR | type=inline [,mode=min|max]"},
    {"provenance", 0, true, false, "SPEC  true, false, mode=min or mode=max: attach SLSA provenance (default: none)"},
    {"sbom", 0, true, false, "BOOL  true: attach an SPDX SBOM of the image's packages (default: false)"},
    {"attest", 0, true, true, "SPEC  type=provenance[,mode=min|max] | type=sbom | type=…,disabled=true (repeatable)"},
    authfile_flag(),
    {"call", 0, true, false,
     "CALL  build (default), check, outline or targets [,format=json]: ask instead of building"},
    {"check", 0, false, false, "run the build checks only (same as --call=check); exit 1 if a rule reports"},
    {"print", 0, true, false, "CALL  same as --call (buildx 0.13's name)"},
    // What every RUN gets (cli/run_inputs.h).
    {"add-host", 0, true, true, "HOST:IP  an /etc/hosts line in every RUN (IP may be host-gateway; repeatable)"},
    {"ulimit", 0, true, true, "NAME=SOFT[:HARD]  a resource limit of every RUN (nofile, nproc, core, …; repeatable)"},
    {"shm-size", 0, true, false, "SIZE  the size of every RUN's /dev/shm (default 64m)"},
    {"ssh", 0, true, true, "default|ID[=SOCKET|KEY[,KEY]]  an SSH agent for RUN --mount=type=ssh (repeatable)"},
    {"no-cache-filter", 0, true, true, "STAGE[,STAGE]  do not use the cache for these stages' steps"},
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
// the flags (build-arg:K, label:K, target, no-cache), the Dockerfile as
// convert::load() read it, and the solver's record of the build.
exporter::ProvenanceInput provenance_input(const convert::DispatchOptions& conv, const solver::BuildOptions& opts,
                                           const fs::path& dockerfile, const std::string& dockerfile_text,
                                           const solver::BuildResult& r, const std::string& started,
                                           const std::string& finished) {
  exporter::ProvenanceInput in;
  in.dockerfile_name = dockerfile.filename().string();
  in.dockerfile = dockerfile_text;
  in.dockerfile_digest = Digest::of(dockerfile_text);
  for (const auto& [k, v] : conv.build_args) in.args["build-arg:" + k] = v;
  for (const auto& [k, v] : conv.labels) in.args["label:" + k] = v;
  if (!conv.target.empty()) in.args["target"] = conv.target;
  if (opts.no_cache) in.args["no-cache"] = "";
  for (const auto& s : opts.secrets) in.secrets.push_back(s.id);
  for (const auto& im : r.record.images) in.images.push_back({store::ImageRef::parse(im.ref), im.digest, im.platform});
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

// The images FROM names, for the conversion: the store's, or pulled.
class StoreImages : public convert::ImageResolver {
 public:
  StoreImages(store::Store& store, const solver::BuildOptions& opts) : store_(store), opts_(opts) {}
  store::Image resolve(const store::ImageRef& ref, const Platform& platform) override {
    store::Image img = solver::resolve_image(store_, ref, opts_, platform);
    // A single-platform image of another platform would give the build an
    // image of one platform labelled as another.
    Platform have = img.config.platform();
    if (!have.architecture.empty() && !platform.matches(have))
      fail(ErrorKind::not_found, "image " + ref.str() + " is for " + have.str() + ", not " + platform.str() +
                                     ": add that platform's image (xbuild pull --platform " + platform.str() +
                                     ", or xbuild import --platform " + platform.str() + " ROOTFS.tar " +
                                     ref.familiar() + ")");
    return img;
  }

 private:
  store::Store& store_;
  const solver::BuildOptions& opts_;
};

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
    fail(ErrorKind::usage,
         a.positional().empty()
             ? "xbuild build: missing CONTEXT (e.g. xbuild build -t NAME ., or -, a tarball, a git or https URL)"
             : "xbuild build: exactly one CONTEXT, got " + std::to_string(a.positional().size()));
  apply_authfile(a);
  solver::BuildOptions opts;      // what the solver needs
  convert::DispatchOptions conv;  // what the conversion needs
  for (const auto& kv : a.values("build-arg")) {
    auto [k, v] = split_key_value(kv);
    if (k.empty()) fail(ErrorKind::usage, "--build-arg " + kv + ": want KEY=VALUE");
    if (v) {
      conv.build_args[k] = *v;
    } else if (const char* e = std::getenv(k.c_str())) {
      conv.build_args[k] = e;  // docker: --build-arg K takes K from the environment
    }
  }
  for (const auto& kv : a.values("label")) {
    auto [k, v] = split_key_value(kv);
    conv.labels[k] = v.value_or("");
  }
  conv.target = a.value_or("target", "");
  opts.no_cache = conv.no_cache = a.has("no-cache");
  opts.pull = a.has("pull") ? solver::PullPolicy::always : solver::PullPolicy::missing;
  std::string network = a.value_or("network", "default");
  if (network == "none") conv.network = "none";
  else if (network == "host") conv.allow_network_host = true;  // as buildx: asking for host grants it
  else if (network != "default") fail(ErrorKind::usage, "--network " + network + ": want default, host or none");
  if (auto m = a.value("memory")) opts.memory_bytes = parse_size("--memory", *m);
  if (auto c = a.value("cpus")) opts.cpus = parse_cpus("--cpus", *c);
  for (const auto& s : a.values("secret")) opts.secrets.push_back(parse_secret(s));
  apply_run_inputs(a, conv, opts);
  for (const auto& e : a.values("allow")) {
    if (e == "security.insecure") conv.allow_insecure = true;
    else if (e == "network.host") conv.allow_network_host = true;
    else fail(ErrorKind::usage, "--allow " + e + ": unknown entitlement (want network.host or security.insecure)");
  }
  std::vector<Platform> platforms;
  if (auto p = a.value("platform")) platforms = parse_platform_list(*p);
  if (platforms.empty()) platforms.push_back(Platform::host());
  for (const auto& c : a.values("cache-from")) opts.cache_from.push_back(cache::CacheSpec::parse("--cache-from", c));
  for (const auto& c : a.values("cache-to")) opts.cache_to.push_back(cache::CacheSpec::parse("--cache-to", c));
  // SOURCE_DATE_EPOCH from the environment, or as a build arg (what buildx
  // sends BuildKit; it wins, as the more explicit one).
  auto epoch = [&](const std::string& where, const std::string& value) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end || v < 0 || errno == ERANGE)
      fail(ErrorKind::usage, where + "SOURCE_DATE_EPOCH=" + value +
                                 ": want a number, seconds since 1970 (e.g. $(git log -1 --format=%ct))");
    opts.source_date_epoch = v;
  };
  if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde) epoch("", sde);
  if (auto it = conv.build_args.find("SOURCE_DATE_EPOCH"); it != conv.build_args.end() && !it->second.empty())
    epoch("--build-arg ", it->second);
  opts.registry_config = globals.config_file;
  for (const auto& c : a.values("build-context"))  // NAME=VALUE syntax before any fetch
    if (c.find('=') == std::string::npos || c.front() == '=' || c.back() == '=')
      fail(ErrorKind::usage, "--build-context " + c +
                                 ": want NAME=VALUE (a directory, docker-image://REF, "
                                 "oci-layout://DIR[:TAG], a git URL or an https URL)");
  // CONTEXT (a directory, -, a tarball, a git or https URL) and -f (a path or -).
  auto keep_git = conv.build_args.find("BUILDKIT_CONTEXT_KEEP_GIT_DIR");
  BuildInputs inputs = resolve_inputs(
      a.positional()[0], a.value("file"),
      keep_git != conv.build_args.end() && (keep_git->second == "1" || keep_git->second == "true"));
  opts.context_dir = inputs.context_dir;
  opts.stat_cache = !inputs.temporary;
  const fs::path& dockerfile = inputs.dockerfile;
  const std::string& dockerfile_display = inputs.dockerfile_display;
  auto named_contexts = [&](store::Store& store) {
    for (const auto& c : a.values("build-context")) conv.contexts.insert(parse_build_context(c, store, inputs));
  };

  CallSpec call;
  if (auto c = a.value("print")) call = parse_call(*c);
  if (auto c = a.value("call")) call = parse_call(*c);
  if (a.has("check")) call.name = "check";
  if (call.name != "build") {
    // A question instead of a build: the answer is printed, nothing runs
    // (check dispatches every stage, so it may pull their base images).
    convert::Source source = convert::load(opts.context_dir, dockerfile, dockerfile_display);
    if (call.name != "check") return run_query(call, source.dockerfile, conv.target, conv.build_args);
    store::Store store = open_store(globals);
    named_contexts(store);
    StoreImages images(store, opts);
    return print_check(call, source.dockerfile, convert::check(source, conv, images));
  }

  std::vector<store::ImageRef> tags;
  for (const auto& t : a.values("tag")) tags.push_back(store::ImageRef::parse(t));
  std::vector<exporter::OutputSpec> outputs;
  for (const auto& o : a.values("output")) outputs.push_back(exporter::parse_output(o));
  // As docker build: --push keeps the image in the store too (type=image,push=true).
  if (a.has("push")) outputs.push_back(exporter::parse_output("type=image,push=true"));
  // As buildx: --load is -o type=docker (without dest: into the engine).
  if (a.has("load")) outputs.push_back(exporter::parse_output("type=docker"));
  if (outputs.empty()) outputs.push_back(exporter::OutputSpec{});
  // An unusable DOCKER_HOST is said before the build, not after it.
  for (const auto& o : outputs)
    if (o.type == exporter::OutputSpec::Type::docker && o.dest.empty()) exporter::EngineEndpoint::from_environment();
  // As buildx: every --annotation goes to every output.
  std::vector<exporter::Annotation> annotations;
  for (const auto& text : a.values("annotation"))
    for (auto& an : exporter::parse_annotation_flag(text)) annotations.push_back(std::move(an));
  for (auto& o : outputs) o.annotations.insert(o.annotations.end(), annotations.begin(), annotations.end());
  for (const auto& o : outputs)
    if ((o.type == exporter::OutputSpec::Type::registry || o.push) && tags.empty() && o.names.empty())
      fail(ErrorKind::usage, "--push needs a name: add -t REGISTRY/NAME:TAG");

  const exporter::AttestOptions attest = parse_attest(a);
  if (attest.any() && platforms.size() > 1)
    fail(ErrorKind::usage,
         "--provenance/--sbom/--attest: attestations of a multi-platform build are not supported yet; "
         "build one --platform at a time to attest");

  bool quiet = a.has("quiet");
  ProgressMode mode = quiet ? ProgressMode::quiet : parse_progress_mode(a.value_or("progress", "auto"));
  auto display = ProgressDisplay::create(mode, stderr);
  opts.progress = conv.progress = display.get();

  store::Store store = open_store(globals);
  std::vector<frontend::CheckFinding> warnings;  // the build checks', for buildx's summary
  const std::string started = store::rfc3339(std::chrono::system_clock::now());
  std::string dockerfile_text;  // for provenance
  // What the build made: one image, or (several platforms) an index of one
  // image per platform; `result` is the first platform's.
  std::optional<store::Descriptor> built;
  std::string image_id;
  solver::BuildResult result = [&] {
    try {
      convert::Source source = convert::load(opts.context_dir, dockerfile, dockerfile_display);
      dockerfile_text = source.text;
      opts.ignored = source.ignored();
      opts.can_skip_dir = source.can_skip_dir();
      named_contexts(store);
      StoreImages images(store, opts);
      // Each platform converted on its own into one graph (solver::solve_targets
      // runs a step shared by several, e.g. a FROM --platform=$BUILDPLATFORM
      // stage, once); the build checks' warnings are reported once.
      conv.name_platform = platforms.size() > 1;
      solver::Definition graph;
      std::vector<solver::Vertex*> targets;
      std::vector<store::ImageConfig> configs;
      for (size_t i = 0; i < platforms.size(); ++i) {
        conv.platform = platforms[i];
        if (i > 0) conv.progress = nullptr;
        convert::Dispatched converted = convert::convert(source, conv, images);
        if (i == 0) warnings = std::move(converted.findings);
        targets.push_back(converted.definition.target);
        graph.steps += converted.definition.steps;
        for (auto& v : converted.definition.vertices) graph.vertices.push_back(std::move(v));
        configs.push_back(std::move(converted.image));
      }
      conv.progress = display.get();
      for (size_t i = 0; i < graph.vertices.size(); ++i) graph.vertices[i]->id = static_cast<int>(i) + 1;
      graph.target = targets.front();
      // A RUN for another architecture needs a binfmt_misc handler: said
      // before the first step, not as an exec format error in the middle.
      std::set<std::string> exec_platforms;
      for (const auto& v : graph.vertices)
        if (const auto* e = dynamic_cast<const solver::ExecVertex*>(v.get()); e && !e->platform.empty())
          exec_platforms.insert(e->platform);
      for (const auto& p : exec_platforms) executor::check_can_run(Platform::parse(p));
      std::vector<solver::Solved> solved = solver::solve_targets(store, graph, targets, opts);
      std::vector<solver::BuildResult> results;
      for (size_t i = 0; i < platforms.size(); ++i) {
        convert::stamp_history(configs[i], solved[i].layers, opts.source_date_epoch,
                               store::rfc3339(std::chrono::system_clock::now()));
        results.push_back(solver::write_image(store, std::move(configs[i]), solved[i], opts));
      }
      solver::BuildResult first = results.front();
      built = first.manifest;
      image_id = first.image_id.str();
      if (platforms.size() > 1) {
        // An OCI index of the platforms' manifests, each named by its platform.
        std::vector<exporter::AttestedManifest> manifests;
        for (size_t i = 0; i < platforms.size(); ++i) {
          store::Descriptor d = results[i].manifest;
          d.platform = platforms[i];
          manifests.push_back({d, {}});
        }
        built = exporter::write_attested_index(store, manifests);
        image_id = built->digest.str();  // as buildx's --iidfile: the index
        // One remote cache for every platform: their keys differ (a RUN's
        // holds its platform), the steps they share are one record.
        auto merged = std::make_shared<cache::CacheExport>(*first.cache);
        std::set<std::string> keys;
        for (const auto& r : merged->records) keys.insert(r.key.str());
        for (size_t i = 1; i < results.size(); ++i)
          for (const auto& r : results[i].cache->records)
            if (keys.insert(r.key.str()).second) merged->records.push_back(r);
        first.cache = merged;
      }
      return first;
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
      attestations = exporter::make_attestations(
          store, result.manifest, attest,
          provenance_input(conv, opts, dockerfile, dockerfile_text, result, started, finished), names,
          [&](const std::string& line) { display->message(line); });
    } catch (...) {
      display->finish();
      throw;
    }
  }
  // The exporters' responses merged, as buildx writes them to --metadata-file.
  nlohmann::json metadata = nlohmann::json::object();
  for (const auto& o : outputs) {
    try {
      metadata.update(exporter::run_output(
          store, o, *built, tags, co, [&](const std::string& line) { display->message(line); }, &attestations));
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
  display->message((platforms.size() > 1 ? "image index " : "image ") + image_id + " (" + std::to_string(result.steps) +
                   " steps, " + std::to_string(result.cached_steps) + " cached)");
  display->finish();
  // buildx's summary of the build checks' warnings, after the progress.
  if (!quiet && mode != ProgressMode::json) std::fputs(frontend::format_warning_summary(warnings).c_str(), stderr);
  if (auto f = a.value("iidfile")) write_file_atomic(*f, image_id, 0644, false);
  if (auto f = a.value("metadata-file")) write_file_atomic(*f, metadata.dump(2) + "\n", 0644, false);
  bool archive_on_stdout = false;
  for (const auto& o : outputs) archive_on_stdout = archive_on_stdout || o.dest == "-";
  // With dest=- stdout holds the archive: the ID must not be mixed into it.
  if (quiet && !archive_on_stdout) std::printf("%s\n", image_id.c_str());
  return 0;
}

}  // namespace

}  // namespace xb::cli

XBUILD_COMMAND("build", "Build an image from a Dockerfile", xb::cli::run_build);
