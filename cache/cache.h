// cache/: the build cache as data (docs/dev/cache.md). The local cache
// records (which step key yields which snapshot and layer chain), the
// remote caches of --cache-from and --cache-to (registry, local OCI layout,
// inline in the image config), and the other caches a build keeps in the
// store (RUN --mount=type=cache directories, the context stat caches).
//
// The module knows nothing of the graph that computes the keys: the solver
// hands it key digests, layer descriptors and records; gc asks it for its
// records and leftovers through this header.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/error.h"
#include "store/store.h"

namespace xb::cache {

// The cache key of a step: the digest of its operation, its content inputs
// and its inputs' keys (computed by the solver, solver/graph.h).
using CacheKey = Digest;

// One layer of a file system, as the exporter and the caches need it.
struct Layer {
  Digest diff_id;     // sha256 of the uncompressed tar
  Digest blob;        // the blob in the store (== diff_id for uncompressed layers)
  uint64_t size = 0;  // bytes of the blob
  std::string media_type;
  // When the step that made it first ran (RFC 3339), kept with the cache so
  // that a cached rebuild gives the same history times, hence the same image
  // ID, as BuildKit does; "" for a base image's layers (their history has it).
  std::string created;

  nlohmann::json to_json() const;
  static Layer from_json(const nlohmann::json& j);
  bool operator==(const Layer&) const = default;
};

// ---------------------------------------------------------------------------
// Local cache records

// What a step's key was made of, part by part, kept with its cache record so
// that a later miss of the same step can say which input changed (ninja's
// -d explain; docs/dev/cache.md, "Why a step missed"). Neutral data: convert/
// names the operation's parts ("instruction", "arg:NAME", "env:NAME", …),
// fileop/ lists the files a copy selects, the solver adds "parent", "base",
// "input:N". Never a secret's value.
struct StepInputs {
  // One selected file: its path in the context ('/' at the end for a
  // directory), mode (st_mode) and content fingerprint; with count > 0 a
  // summary of `count` entries under `path` (bounded lists, set_files).
  struct File {
    std::string path;
    uint32_t mode = 0;
    std::string content;
    uint32_t count = 0;
    bool operator==(const File&) const = default;
  };
  static constexpr size_t kMaxFiles = 256;  // per part; beyond, one summary per top-level directory
  static constexpr size_t kMaxText = 80;    // shown text, in bytes
  struct Part {
    std::string name;         // "instruction", "arg:VERSION", "files", "base", …
    std::string fingerprint;  // what is compared: a digest, or the value itself
    std::string text;         // what a change shows ("RUN make", an arg's value); may be ""
    bool weak = false;        // told only when no other part explains a change
    std::vector<File> files;  // a file set's entries, sorted by path
    bool operator==(const Part&) const = default;
  };
  std::vector<Part> parts;

  // Adds a part (text cut to kMaxText); returns it for files.
  Part& add(std::string name, std::string fingerprint, std::string text = {}, bool weak = false);
  // The files of a part, bounded: up to kMaxFiles entries as given, else one
  // summary entry per top-level directory (at most kMaxFiles).
  static void set_files(Part& part, std::vector<File> files);
  const Part* find(std::string_view name) const;
  bool empty() const { return parts.empty(); }
  nlohmann::json to_json() const;
  static StepInputs from_json(const nlohmann::json& j);  // throws on a malformed description
  bool operator==(const StepInputs&) const = default;
};

// Why a step whose inputs were `before` misses with `now`: its changed parts,
// in now's order, weak ones only when nothing else changed, in one line
// ("build arg V changed: 1 → 2; src/app.py: content changed"). "" when the
// descriptions are the same.
std::string explain_change(const StepInputs& before, const StepInputs& now);

// What one step yielded: the committed snapshot that holds its file system
// unpacked ("" when only the layers are known, e.g. a remote hit kept
// locally), and its layer chain from the bottom up. On disk as
// {"v":1,"snapshot":"build-<key hex>","layers":[Layer…]}, and, since issue
// 22, "step" and "inputs" when known: optional fields, so that records of
// earlier xbuilds read as before and earlier xbuilds still read these.
struct CacheRecord {
  static constexpr int kVersion = 1;
  std::string snapshot;
  std::vector<Layer> layers;
  std::string step;   // the step's identity (Dockerfile location and stage); "" if unknown
  StepInputs inputs;  // what its key was made of; empty if unknown

  nlohmann::json to_json() const;
  // Throws Error(failed_precondition, "unknown record version") for another
  // "v", and Error or nlohmann::json::exception for a malformed record.
  static CacheRecord from_json(const nlohmann::json& j);
  bool operator==(const CacheRecord&) const = default;
};

// RUN --mount=type=cache,id=ID: the directory of store_root that holds it
// (LocalCache::mount_dir, without creating anything).
std::filesystem::path cache_mount_path(const std::filesystem::path& store_root, std::string_view id);

// The local build cache of a store: records by key (store records "cache"),
// their last use (for prune --keep-storage), and the directories of
// RUN --mount=type=cache and the context stat caches.
class LocalCache {
 public:
  explicit LocalCache(store::Store& store);

  // The record of key; nullopt when absent, unreadable or of another version
  // (a miss: the step runs and the record is rewritten).
  std::optional<CacheRecord> get(const CacheKey& key) const;
  void put(const CacheKey& key, const CacheRecord& record);
  void touch(const CacheKey& key);  // used now (least recently used goes first)

  // The key last recorded for a step identity (what a miss is compared
  // with), one small file per identity in cache-steps/. sweep_steps()
  // removes the entries whose record is gone (all of them with all) and
  // returns their paths, for gc.
  std::optional<CacheKey> last_key(std::string_view step) const;
  void set_last_key(std::string_view step, const CacheKey& key);
  std::vector<std::string> sweep_steps(bool all, bool remove);

  // Every record, readable or not, for gc.
  struct Entry {
    std::string name;     // the key's hex, as stored
    CacheRecord record;   // when valid
    std::string invalid;  // why it cannot be used ("unknown record version", "unreadable: …"); "" if fine
    int64_t last_used = 0;
  };
  std::vector<Entry> entries() const;
  size_t count() const;
  void remove(const std::string& name);

  // RUN --mount=type=cache,id=ID: the directory shared by every build (its
  // parent is created; the directory is the caller's to make, with a lock).
  std::filesystem::path mount_dir(std::string_view id) const;
  // The stat cache of one context directory (named by its absolute path).
  std::filesystem::path stat_cache(const std::filesystem::path& context_dir) const;

  // What these caches hold beside the records, for `xbuild du` and
  // `xbuild prune --all`: kind is "cache mount" or "temporary" (a stat
  // cache). With remove, each is removed; size is measured before.
  struct Dir {
    std::string kind;
    std::filesystem::path path;
    uint64_t size = 0;
  };
  std::vector<Dir> dirs(bool remove) const;
  // What ADD <url> remembers for revalidation (fileop's UrlCache keeps it
  // here): build cache too, which prune --all drops. url_records() returns
  // "http <key>" for each record; with remove, removes it.
  store::Records urls() const;
  std::vector<std::string> url_records(bool remove) const;

 private:
  store::Store& store_;
  store::Records records_;
  std::filesystem::path steps_dir() const;
};

// ---------------------------------------------------------------------------
// --cache-from and --cache-to

// A --cache-from or --cache-to (docs/dev/cache.md). parse() takes the
// flag's value: type=registry,ref=REF[,mode=min|max][,ignore-error=true],
// type=local,dest=DIR|src=DIR[,tag=T][,mode=…], type=inline; registry and
// local exports also take compression=gzip|zstd|uncompressed and
// compression-level=N.
struct CacheSpec {
  enum class Type { registry, local, inline_ };
  enum class Mode { min, max };
  Type type = Type::registry;
  std::string ref;             // registry: the cache's image reference
  std::filesystem::path dir;   // local: the OCI layout directory (src= or dest=)
  std::string tag = "latest";  // local: the tag inside the layout
  Mode mode = Mode::min;       // --cache-to: which steps' results to export
  bool ignore_error = false;   // --cache-to: a failed export is a warning
  bool to = false;             // parsed for --cache-to (else --cache-from)
  // --cache-to: how built layers leave the machine (compression=gzip|zstd|uncompressed).
  store::Compression compression = store::Compression::gzip;
  std::optional<int> compression_level;  // compression-level=N
  // RUN --mount=type=cache contents (docs/dev/cache.md, "Cache mounts"):
  // --cache-to mounts=true exports them (default false); --cache-from
  // restores them unless mounts=false. mounts-max-size=SIZE (--cache-to)
  // leaves out, with a note, a mount of more bytes than that.
  bool mounts = false;
  std::optional<uint64_t> mounts_max_size;

  // flag is "--cache-from" or "--cache-to" (what the error names and which keys are allowed).
  static CacheSpec parse(std::string_view flag, std::string_view text);
  std::string str() const;  // "registry ref=…", "local dir", "inline", for messages
};

inline constexpr std::string_view kCacheConfigMediaType = "application/vnd.xbuild.cache.config.v1+json";
// The top-level field of an image config that holds inline cache metadata.
inline constexpr std::string_view kInlineCacheField = "xbuild.cache.v1";
// The annotation of a cache manifest's layer that holds a cache mount's
// contents: the mount's id (its whole identity: one directory per id).
inline constexpr std::string_view kCacheMountAnnotation = "org.xbuild.cache-mount.id";

// The metadata of one remote cache: layers (unique by blob), and per cache
// key the layer chain (indices into layers, bottom up) its step yields.
struct CacheMetadata {
  std::vector<Layer> layers;
  std::map<CacheKey, std::vector<size_t>> records;
  // Cache mount contents by id: a tar of the mount directory, listed after
  // `layers` in the manifest, annotated kCacheMountAnnotation.
  std::map<std::string, Layer> mounts;

  // Adds a record; its layers are added unless present (by blob digest).
  void add(const CacheKey& key, const std::vector<Layer>& chain);
  std::vector<Layer> chain(const CacheKey& key) const;

  // The cache config blob: {"version":1,"diff_ids":[…],"records":[…]};
  // layers[i] is the manifest's layers[i] (blob, size, media type), the
  // mounts follow (manifest_layers()).
  std::string config_json() const;
  std::vector<store::Descriptor> manifest_layers() const;
  // Reads a cache config against its manifest's layers. Throws
  // Error(invalid_argument) naming what is wrong, or (failed_precondition)
  // for a version this xbuild cannot read.
  static CacheMetadata from_config(const nlohmann::json& config, const std::vector<store::Descriptor>& layers);
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
  // Reads the metadata of every spec (manifest and config only), with the
  // registry settings in registry_config. A cache that cannot be read is
  // reported through info and skipped.
  RemoteCache(store::Store& store, const std::vector<CacheSpec>& specs, const std::filesystem::path& registry_config,
              const std::function<void(const std::string&)>& info);
  // For tests: caches already read.
  RemoteCache(store::Store& store, std::vector<std::pair<std::unique_ptr<CacheSource>, CacheMetadata>> caches);
  ~RemoteCache();

  // The layer chain of key in the first cache that has it. Nothing is fetched.
  std::optional<std::vector<Layer>> lookup(const CacheKey& key) const;
  // Fetches layer's blob into the store unless it is there, from a cache
  // that lists it. Throws Error(not_found) when none does. Thread-safe; a
  // blob is fetched once even when asked for concurrently.
  void ensure_blob(const Layer& layer);
  // ensure_blob for several layers, up to 4 at a time; the first error is thrown.
  void ensure_blobs(const std::vector<Layer>& layers);
  bool can_fetch(const Digest& blob) const { return blob_source_.count(blob) > 0; }
  size_t records() const;
  // The contents of cache mount `id` in the first cache that has them and
  // was not imported with mounts=false, and that cache's name. Nothing is fetched.
  std::optional<std::pair<Layer, std::string>> mount(const std::string& id) const;

 private:
  store::Store& store_;
  std::vector<std::unique_ptr<CacheSource>> sources_;
  std::vector<CacheMetadata> caches_;
  std::vector<bool> restore_mounts_;  // per cache: its spec did not say mounts=false
  std::map<Digest, CacheSource*> blob_source_;
  std::mutex mu_;
  std::map<Digest, std::shared_ptr<std::mutex>> blob_locks_;
};

// What a build knows for --cache-to: every step's key and layer chain, and
// whether the step is one of the final image's (mode=min and inline export
// only those), the final image's layers, and the imported caches (to fetch
// the layers of remote hits the store lacks).
struct CacheExport {
  struct Record {
    CacheKey key;
    std::vector<Layer> layers;
    bool final_chain = false;
  };
  std::vector<Record> records;
  std::vector<Layer> image_layers;
  std::shared_ptr<RemoteCache> remote;
  // Cache mounts by id, for mounts=true: the ids the build's RUN steps use
  // (filled by solve()) and, once packed (solver::export_cache), a tar of
  // each directory in the store, or an imported cache's layer of it.
  struct Mount {
    uint64_t bytes = 0;          // of the directory (the size cap compares these)
    std::optional<Layer> layer;  // none: empty, or larger than every cap (not packed)
  };
  std::vector<std::string> mount_ids;
  std::map<std::string, Mount> mounts;
};

struct ExportOptions {
  std::filesystem::path registry_config;         // XBUILD_CONFIG (mirrors, insecure registries)
  std::function<void(const std::string&)> info;  // "exported cache to …", warnings; may be empty
};

// Exports `cache` as spec says; one pipeline for every kind: the records
// are selected (inline: the final image's steps whose chain is a prefix of
// its layers; mode=min: the final image's steps; mode=max: all, each only
// when its layers are here or in an imported cache), then written (inline:
// returned, for the image config's kInlineCacheField; registry: pushed;
// local: an OCI layout). A failure throws, naming the destination, unless
// the spec says ignore-error=true (then a warning through info, and null).
nlohmann::json export_cache(store::Store& store, const CacheExport& cache, const CacheSpec& spec,
                            const ExportOptions& options);

// ---------------------------------------------------------------------------
// Cache mounts across machines (cache/mounts.cc)

// Whether a cache mount directory may be restored from a remote cache: it
// is absent or empty (a warmer local cache is never replaced).
bool mount_dir_empty(const std::filesystem::path& dir);

// Unpacks a cache mount's tar (layer, in the store) into the empty
// directory dir, contained (common/tar_extract.h): symlinks resolve inside
// dir, a name or hard link leading out with ".." is an error; nothing is
// written outside. The blob is verified.
void unpack_mount(const store::Store& store, const Layer& layer, const std::filesystem::path& dir);

}  // namespace xb::cache
