// solver/: runs a build's neutral steps and makes an image of the result
// (docs/dev/solver.md).
//
// solve() takes a Definition (the steps: Source for an image, Exec for a
// command, File for copy and mkdir; convert/ makes them from a Dockerfile),
// computes each step's cache key from its operation and its inputs' keys
// (for copies from the context, from the content of exactly the files it
// reads), runs what misses the cache on snapshots (snapshotter) in
// containers (executor), and returns the target's layers; write_image()
// puts the image (config, manifest) into the store. Independent steps run in
// parallel. Everything a step does is reported to a ProgressSink, which the
// CLI renders (tty, plain, json).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "common/digest.h"
#include "common/error.h"
#include "solver/ops.h"
#include "store/store.h"

namespace xb::solver {

enum class PullPolicy { missing, always };

struct SecretSource {
  std::string id;
  std::filesystem::path file;  // src=PATH
  std::string env;             // env=VAR (read from xbuild's environment)
};

// --ssh ID[=SOCKET|KEY[,KEY…]]: what RUN --mount=type=ssh,id=ID reaches.
struct SshSource {
  std::string id;
  std::filesystem::path socket;             // an agent's socket (default: $SSH_AUTH_SOCK)
  std::vector<std::filesystem::path> keys;  // or key files, served by an agent of xbuild's
};

// What one step of the build did, as the progress display shows it.
struct ProgressEvent {
  enum class Kind {
    step_started,  // a vertex started running (or being looked up)
    step_cached,   // the vertex's result came from the cache
    step_done,     // the vertex ran and committed
    step_failed,   // the vertex failed (message says why)
    step_log,      // output of a running step (text may hold partial lines)
    info,          // a message about the build as a whole
  };
  Kind kind = Kind::info;
  // The step (Vertex::id, 1-based); 0 for info. cli/progress numbers steps
  // in the order they are first shown and replaces it with that number.
  int step = 0;
  std::string name;    // "[2/5] RUN apt-get update" or "[internal] load metadata for …"
  std::string text;    // step_log: the bytes; step_failed/info: the message
  std::string output;  // step_failed: the step's last lines of output (up to 20; cli/progress fills it)
  std::string reason;  // step_started: why it missed the cache, one line ("never built", "src/a: content changed")
  bool stderr_stream = false;
  std::chrono::steady_clock::duration elapsed{};  // step_cached/done/failed
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // Called from several threads; implementations serialize.
  virtual void event(const ProgressEvent& event) = 0;
};

// What a build runs: the steps, owned here, and the target's file system
// (null: the empty one).
struct Definition {
  std::vector<std::unique_ptr<Vertex>> vertices;
  Vertex* target = nullptr;
  int steps = 0;  // steps that may run (sources excluded)
};

struct BuildOptions {
  std::filesystem::path context_dir;
  // The context's .dockerignore: what copies, context keys and context
  // binds leave out (empty: nothing).
  IgnorePredicate ignored;
  SkipDirPredicate can_skip_dir;
  // false: a context made for this build only (a git checkout, an unpacked
  // tarball) keeps no stat cache in the store (its path is never seen again).
  bool stat_cache = true;
  bool no_cache = false;                  // no remote cache either (the steps say whether they use the local one)
  PullPolicy pull = PullPolicy::missing;  // resolve_image()
  std::optional<uint64_t> memory_bytes;   // --memory, every RUN
  std::optional<double> cpus;             // --cpus, every RUN
  std::vector<SecretSource> secrets;
  std::vector<SshSource> ssh;  // key files: their agent runs while the build does
  // SOURCE_DATE_EPOCH: image and history times, and layer mtimes clamped.
  std::optional<int64_t> source_date_epoch;
  std::filesystem::path registry_config;  // XBUILD_CONFIG (mirrors, insecure registries)
  ProgressSink* progress = nullptr;       // may be null
  // Remote caches: looked up after the local cache, in order; their metadata
  // is read up front, their layers only when a hit needs them. An import that
  // fails is a warning. type=inline in cache_to puts the metadata into the
  // image config; the other cache_to types are for export_cache().
  std::vector<cache::CacheSpec> cache_from;
  std::vector<cache::CacheSpec> cache_to;
};

// The image a step starts from: the store's, or pulled from its registry
// (always with PullPolicy::always), reported as "pulling REF"; for
// `platform` (an index resolves to its manifest for it).
store::Image resolve_image(store::Store& store, const store::ImageRef& ref, const BuildOptions& options,
                           const store::Platform& platform = store::Platform::host());

// What a build read and did, as facts (for provenance attestations, which
// the CLI makes with exporter/): the images it resolved, the URLs ADD
// fetched, and the steps of the target in order. The Dockerfile is not the
// solver's: the CLI has it from convert::load().
struct BuildRecord {
  struct Image {
    std::string ref;  // normalized reference as the Dockerfile names it
    Digest digest;    // what it resolved to (an index or a manifest)
    store::Platform platform;
  };
  struct Url {
    std::string url;
    Digest digest;  // of the downloaded bytes
  };
  struct Step {
    std::string kind;                    // "source", "exec", "file"
    std::string name;                    // as the progress display shows it
    int line = 0;                        // Dockerfile line, 0 if none
    std::string identifier;              // source: docker-image://REF@DIGEST
    std::vector<std::string> args, env;  // exec
    std::string cwd;                     // exec
    std::vector<size_t> inputs;          // indexes of earlier steps
  };
  std::vector<Image> images;
  std::vector<Url> urls;
  std::vector<Step> steps;
  bool network = false;  // a RUN step ran with network access
};

// What solve() yields: the target's layers, bottom up.
struct Solved {
  std::vector<Layer> layers;
  int steps = 0;
  int cached_steps = 0;
  std::shared_ptr<cache::CacheExport> cache;  // for write_image() and export_cache()
  BuildRecord record;                         // the target's steps, images and URLs
};

// Runs what misses the cache of definition's target and its inputs. The
// target's layers are in the store afterwards, even those of steps that
// came from a remote cache. Errors carry the location of the failing step.
Solved solve(store::Store& store, Definition& definition, const BuildOptions& options);
// Several targets of one definition solved together (a multi-platform build:
// one target per platform), each in parallel; a step whose cache key another
// target's step has (a `FROM --platform=$BUILDPLATFORM` stage) runs once.
// One Solved per target, in order; steps and cached_steps count the whole build.
std::vector<Solved> solve_targets(store::Store& store, Definition& definition, const std::vector<Vertex*>& targets,
                                  const BuildOptions& options);

struct BuildResult {
  store::Descriptor manifest;  // the image's manifest in the store
  Digest image_id;             // the config digest (docker's IMAGE ID)
  uint64_t size = 0;           // sum of the layers' sizes
  int steps = 0;
  int cached_steps = 0;
  std::shared_ptr<cache::CacheExport> cache;  // for export_cache()
  BuildRecord record;                         // for provenance (Solved::record)
};

// Puts the image into the store: `image` (its history already stamped,
// convert::stamp_history) with solved's layers as its diff IDs, and the
// inline cache metadata when cache_to asks for it; then its manifest.
// Tagging and exporting are the caller's (see exporter/).
BuildResult write_image(store::Store& store, store::ImageConfig image, const Solved& solved,
                        const BuildOptions& options);

// Exports the build cache of `result` to every registry and local spec in
// options.cache_to (docs/dev/cache.md). Layers the store lacks (results
// that came from a remote cache) are fetched first. A failure throws, naming
// the destination, unless the spec says ignore-error=true (then a warning).
void export_cache(store::Store& store, const BuildResult& result, const BuildOptions& options);

}  // namespace xb::solver
