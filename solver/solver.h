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

// A --cache-from or --cache-to (docs/dev/cache.md). parse() takes the
// flag's value: type=registry,ref=REF[,mode=min|max][,ignore-error=true],
// type=local,dest=DIR|src=DIR[,tag=T][,mode=…], type=inline; registry and
// local exports also take compression=gzip|zstd|uncompressed and
// compression-level=N.
struct CacheSpec {
  enum class Type { registry, local, inline_ };
  enum class Mode { min, max };
  Type type = Type::registry;
  std::string ref;           // registry: the cache's image reference
  std::filesystem::path dir; // local: the OCI layout directory (src= or dest=)
  std::string tag = "latest";  // local: the tag inside the layout
  Mode mode = Mode::min;     // --cache-to: which steps' results to export
  bool ignore_error = false; // --cache-to: a failed export is a warning
  bool to = false;           // parsed for --cache-to (else --cache-from)
  // --cache-to: how built layers leave the machine (compression=gzip|zstd|uncompressed).
  store::Compression compression = store::Compression::gzip;
  std::optional<int> compression_level;  // compression-level=N

  // flag is "--cache-from" or "--cache-to" (what the error names and which keys are allowed).
  static CacheSpec parse(std::string_view flag, std::string_view text);
  std::string str() const;  // "registry ref=…", "local dir", "inline", for messages
};

struct CacheExport;  // what a build knows for --cache-to (solver/remote_cache.h)

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
  std::vector<CacheSpec> cache_from;
  std::vector<CacheSpec> cache_to;
};

// What a build read and did, as facts (for provenance attestations, which
// the CLI makes with exporter/): the images it resolved, the URLs ADD
// fetched, the Dockerfile, and the steps of the target in order.
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
    std::string kind;  // "source", "exec", "file"
    std::string name;  // as the progress display shows it
    int line = 0;      // Dockerfile line, 0 if none
    std::string identifier;              // source: docker-image://REF@DIGEST
    std::vector<std::string> args, env;  // exec
    std::string cwd;                     // exec
    std::vector<size_t> inputs;          // indexes of earlier steps
  };
  std::vector<Image> images;
  std::vector<Url> urls;
  std::vector<Step> steps;
  std::string dockerfile;  // its text
  bool network = false;    // a RUN step ran with network access
};

struct BuildResult {
  store::Descriptor manifest;  // the image's manifest in the store
  Digest image_id;             // the config digest (docker's IMAGE ID)
  uint64_t size = 0;           // sum of the layers' sizes
  int steps = 0;
  int cached_steps = 0;
  std::shared_ptr<CacheExport> cache;  // for export_cache()
  BuildRecord record;
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

// ---------------------------------------------------------------------------
// Housekeeping of a store: `xbuild prune`, `xbuild du`, `xbuild fsck`
// (docs/dev/hardening.md). prune takes the store's GC lock exclusively
// (store::Store::gc_lock), so it waits for running builds and never sweeps
// what one of them has written but not yet referenced.

struct PruneOptions {
  // Also every build cache record, the unpacked layers of images, the cache
  // mounts and the stat caches (docker builder prune --all). Tagged images
  // and their blobs always stay.
  bool all = false;
  bool dry_run = false;  // report what would go, remove nothing
  // Then remove least recently used build cache until it takes at most this.
  std::optional<uint64_t> keep_storage;
  // Called once when running builds make prune wait for its lock.
  std::function<void()> on_wait;
};

struct PruneItem {
  // "temporary", "snapshot", "build cache", "unpacked layer", "blob",
  // "cache mount", "cgroup", "secret", "mount"
  std::string kind;
  std::string name;
  uint64_t size = 0;
};

struct PruneReport {
  std::vector<PruneItem> items;
  uint64_t reclaimed() const;
};

PruneReport prune(store::Store& store, const PruneOptions& options);

struct UsageRow {
  std::string kind;  // "images", "blobs", "build cache", "unpacked layers", "cache mounts", "temporary"
  uint64_t count = 0;
  uint64_t size = 0;
  uint64_t reclaimable = 0;  // what `xbuild prune` (without --all) would free
};
std::vector<UsageRow> disk_usage(store::Store& store);

struct FsckReport {
  uint64_t blobs = 0, images = 0, records = 0, snapshots = 0;
  std::vector<std::string> problems;   // corruption: a blob not matching its digest, a dangling reference
  std::vector<std::string> leftovers;  // harmless remains of killed processes, for `xbuild prune`
  std::vector<std::string> repaired;   // with repair: what was removed
};
// Verifies every blob's digest, every image's manifests, configs and layers,
// every cache record's snapshot and blobs, and the snapshots' metadata. With
// repair, removes corrupt blobs and dangling cache records (a later pull or
// build recreates them).
FsckReport fsck(store::Store& store, bool repair);

}  // namespace xb::solver
