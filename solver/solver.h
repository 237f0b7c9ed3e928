// solver/: turns a Dockerfile and a context into an image (docs/dev/solver.md).
//
// build() parses the Dockerfile (frontend), dispatches the stages that the
// target needs into a graph of vertices (Source for FROM, Exec for RUN, File
// for COPY/ADD/WORKDIR; config-only instructions change the image config and
// history only), computes each vertex's cache key from its operation and its
// inputs' keys (for COPY/ADD, from the content of exactly the files it
// reads), runs what misses the cache on snapshots (snapshotter) in
// containers (executor), and writes the image into the store. Independent
// stages run in parallel. Everything a step does is reported to a
// ProgressSink, which the CLI renders (tty, plain, json).
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
#include "store/store.h"

namespace xb::solver {

enum class PullPolicy { missing, always };
enum class NetworkMode { host, none };

struct SecretSource {
  std::string id;
  std::filesystem::path file;  // src=PATH
  std::string env;             // env=VAR (read from xbuild's environment)
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
  int step = 0;          // vertex number, stable within a build (1-based); 0 for info
  std::string name;      // "[2/5] RUN apt-get update" or "[internal] load metadata for …"
  std::string text;      // step_log: the bytes; step_failed/info: the message
  std::string output;    // step_failed: the step's last lines of output (up to 20)
  bool stderr_stream = false;
  std::chrono::steady_clock::duration elapsed{};  // step_cached/done/failed
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // Called from several threads; implementations serialize.
  virtual void event(const ProgressEvent& event) = 0;
};

struct BuildOptions {
  std::filesystem::path context_dir;
  std::filesystem::path dockerfile;  // default: context_dir/Dockerfile
  std::string dockerfile_display;    // how errors name it; default: as given
  std::map<std::string, std::string> build_args;
  std::string target;                // stage name; empty: the last stage
  std::map<std::string, std::string> labels;  // --label, added to the final image
  bool no_cache = false;
  PullPolicy pull = PullPolicy::missing;
  NetworkMode network = NetworkMode::host;
  std::optional<uint64_t> memory_bytes;  // --memory, every RUN
  std::optional<double> cpus;            // --cpus, every RUN
  std::vector<SecretSource> secrets;
  bool allow_insecure = false;           // --allow security.insecure: RUN --security=insecure may run
  bool allow_network_host = false;       // --allow network.host (or --network host): RUN --network=host may run
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

struct BuildResult {
  store::Descriptor manifest;  // the image's manifest in the store
  Digest image_id;             // the config digest (docker's IMAGE ID)
  uint64_t size = 0;           // sum of the layers' sizes
  int steps = 0;
  int cached_steps = 0;
  std::shared_ptr<cache::CacheExport> cache;  // for export_cache()
};

// Builds the image and puts its blobs (layers, config, manifest) into the
// store; tagging and exporting are the caller's (see exporter/). Errors
// carry the Dockerfile location of the failing instruction.
BuildResult build(store::Store& store, const BuildOptions& options);

// Exports the build cache of `result` to every registry and local spec in
// options.cache_to (docs/dev/cache.md). Layers the store lacks (results
// that came from a remote cache) are fetched first. A failure throws, naming
// the destination, unless the spec says ignore-error=true (then a warning).
void export_cache(store::Store& store, const BuildResult& result, const BuildOptions& options);

}  // namespace xb::solver
