// Remote build caches (private to solver/; format in docs/dev/cache.md):
// --cache-from imports the metadata of a cache (which cache key yields which
// layer chain) from a registry, a local OCI layout or an image config
// (inline), and fetches a layer only when a hit needs it; --cache-to
// exports the keys and layers of a build the same ways.
//
// The solver stays ignorant of where a cache lives: BuildEngine asks
// RemoteCache::lookup() after a local miss and ensure_blob() before it
// unpacks a layer; build() collects the records with collect_records().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "solver/graph.h"
#include "solver/solver.h"
#include "store/store.h"

namespace xb::solver {

inline constexpr std::string_view kCacheConfigMediaType = "application/vnd.xbuild.cache.config.v1+json";
// The top-level field of an image config that holds inline cache metadata.
inline constexpr std::string_view kInlineCacheField = "xbuild.cache.v1";

// The metadata of one cache: layers (unique by blob), and per cache key the
// layer chain (indices into layers, bottom up) its step yields.
struct CacheMetadata {
  std::vector<Layer> layers;
  std::map<CacheKey, std::vector<size_t>> records;

  // Adds a record; its layers are added unless present (by blob digest).
  void add(const CacheKey& key, const std::vector<Layer>& chain);
  std::vector<Layer> chain(const CacheKey& key) const;

  // The cache config blob: {"version":1,"diff_ids":[…],"records":[…]};
  // layers[i] is the manifest's layers[i] (blob, size, media type).
  std::string config_json() const;
  // Reads a cache config against its manifest's layers. Throws
  // Error(invalid_argument) naming what is wrong, or (failed_precondition)
  // for a version this xbuild cannot read.
  static CacheMetadata from_config(const nlohmann::json& config,
                                   const std::vector<store::Descriptor>& layers);
  // Inline: {"version":1,"records":[…]} in an image config whose layers are
  // the image's (manifest layers + rootfs.diff_ids).
  nlohmann::json inline_json() const;
  static CacheMetadata from_inline(const nlohmann::json& field, const std::vector<store::Descriptor>& layers,
                                   const std::vector<Digest>& diff_ids);
};

// Where a cache's blobs come from.
class CacheSource {
 public:
  virtual ~CacheSource() = default;
  virtual std::string name() const = 0;  // "registry localhost:5000/cache", "local /dir"
  // Puts the blob into the store, verified against its digest and size.
  virtual void fetch(store::Store& store, const Layer& layer) = 0;
};

// The imported caches of one build.
class RemoteCache {
 public:
  // Reads the metadata of every spec (manifest and config only). A cache
  // that cannot be read is reported through warn and skipped.
  RemoteCache(store::Store& store, const BuildOptions& options, std::function<void(const std::string&)> warn);
  // For tests: caches already read.
  RemoteCache(store::Store& store,
              std::vector<std::pair<std::unique_ptr<CacheSource>, CacheMetadata>> caches);
  ~RemoteCache();

  // The layer chain of key in the first cache that has it. Nothing is fetched.
  std::optional<FsState> lookup(const CacheKey& key) const;
  // Fetches layer's blob into the store unless it is there, from a cache
  // that lists it. Throws Error(not_found) when none does. Thread-safe; a
  // blob is fetched once even when asked for concurrently.
  void ensure_blob(const Layer& layer);
  // ensure_blob for several layers, up to 4 at a time; the first error is thrown.
  void ensure_blobs(const std::vector<Layer>& layers);
  bool can_fetch(const Digest& blob) const { return blob_source_.count(blob) > 0; }
  size_t records() const;
  int fetched() const;  // blobs fetched so far

 private:
  store::Store& store_;
  std::vector<std::unique_ptr<CacheSource>> sources_;
  std::vector<CacheMetadata> caches_;
  std::map<Digest, CacheSource*> blob_source_;
  std::mutex mu_;
  std::map<Digest, std::shared_ptr<std::mutex>> blob_locks_;
  int fetched_ = 0;
};

// What a build knows for --cache-to: every step's key and layer chain, and
// whether the step is one of the final image's (mode=min exports only those).
struct CacheExport {
  struct Record {
    CacheKey key;
    std::vector<Layer> layers;
    bool final_chain = false;
  };
  std::vector<Record> records;
  std::shared_ptr<RemoteCache> remote;  // to fetch the layers of remote hits the store lacks
};

// The records of every step the target depends on (parents and COPY --from
// / RUN --mount inputs), each with its layer chain: as `known` says (the
// results of this build, the local and the remote caches), else derived
// from a step above it on the same chain (each step adds exactly one
// layer). Steps whose chain nobody knows are left out.
std::vector<CacheExport::Record> collect_records(
    Graph& graph, Vertex* target,
    const std::function<std::optional<std::vector<Layer>>(const CacheKey&)>& known);

// The metadata of the final image's steps, for the image config
// (type=inline): only records whose chain is a prefix of the image's layers.
nlohmann::json inline_metadata(const std::vector<CacheExport::Record>& records,
                               const std::vector<Layer>& image_layers);

}  // namespace xb::solver
