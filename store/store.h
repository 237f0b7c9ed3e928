// store/: the local content store, image references and the OCI documents.
//
// The store at $XBUILD_ROOT is an OCI image layout (docs/dev/store.md):
//   oci-layout, index.json        readable by skopeo (oci:ROOT:REF) and umoci
//   blobs/sha256/<hex>            content by digest, written only by BlobWriter
//   ingest/                       blobs being written (temporary names)
//   records/<namespace>/<key>     small versioned records of other modules
// Several xbuild processes may share one store: blobs appear by rename,
// index.json is rewritten under an exclusive lock.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/fs.h"
#include "common/platform.h"

namespace xb::store {

// ---------------------------------------------------------------------------
// Identities

// An image reference, parsed and normalized exactly like docker's
// reference.ParseNormalizedNamed + TagNameOnly:
//   "figlet"               → docker.io/library/figlet:latest
//   "localhost:5000/a/b"   → localhost:5000/a/b:latest
//   "busybox@sha256:…"     → docker.io/library/busybox@sha256:… (no tag added)
// parse() throws Error(invalid_argument) with docker's reason
// ("invalid reference format: repository name must be lowercase").
class ImageRef {
 public:
  static ImageRef parse(std::string_view text);
  static std::optional<ImageRef> try_parse(std::string_view text);
  // Like parse(), but a reference without tag or digest stays without one
  // (for `xbuild pull -a`-like uses and for repository-only names).
  static ImageRef parse_repository(std::string_view text);

  const std::string& domain() const { return domain_; }  // "docker.io", "localhost:5000"
  const std::string& path() const { return path_; }      // "library/busybox"
  const std::optional<std::string>& tag() const { return tag_; }
  const std::optional<Digest>& digest() const { return digest_; }

  // "docker.io/library/busybox"
  std::string repository() const;
  // The full normalized form: "docker.io/library/busybox:latest",
  // "host:5000/x@sha256:…", "docker.io/library/x:1@sha256:…". parse(str()) == *this.
  std::string str() const;
  // What docker shows: "busybox:latest", "quay.io/x/y:1".
  std::string familiar() const;
  std::string familiar_repository() const;  // "busybox"
  // The manifest reference for the registry API: the digest if any, else the tag.
  std::string reference() const;

  ImageRef with_tag(std::string_view tag) const;     // validates; drops the digest
  ImageRef with_digest(const Digest& digest) const;  // keeps the tag

  auto operator<=>(const ImageRef&) const = default;

 private:
  ImageRef() = default;
  std::string domain_;
  std::string path_;
  std::optional<std::string> tag_;
  std::optional<Digest> digest_;
};

// The one platform type (common/platform.h).
using Platform = xb::Platform;

// ---------------------------------------------------------------------------
// OCI documents: one type each, one JSON serializer each. from_json/parse
// throw Error(invalid_argument) naming what is wrong.

namespace media_type {
inline constexpr std::string_view oci_layout_version = "1.0.0";
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view oci_layer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view oci_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view oci_layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view docker_layer_gzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view docker_layer_foreign =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}  // namespace media_type

inline constexpr std::string_view ref_name_annotation = "org.opencontainers.image.ref.name";

enum class Compression { none, gzip, zstd };
std::string_view to_string(Compression c);
// The compression a layer media type declares; nullopt if it is no layer type we know.
std::optional<Compression> layer_compression(std::string_view media_type);
bool is_manifest_media_type(std::string_view media_type);  // OCI or docker schema2 manifest
bool is_index_media_type(std::string_view media_type);     // OCI index or docker manifest list
// The compression the first bytes of a blob show (gzip 1f 8b, zstd 28 b5 2f fd).
Compression sniff_compression(std::string_view head);

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  std::vector<std::string> urls;
  std::string artifact_type;

  nlohmann::json to_json() const;
  static Descriptor from_json(const nlohmann::json& j);
  bool operator==(const Descriptor&) const = default;
};

// An image manifest, OCI (application/vnd.oci.image.manifest.v1+json) or
// docker schema2 (media_type tells which; the JSON is the same shape).
struct Manifest {
  std::string media_type;  // may be empty in OCI manifests that omit it
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
  std::optional<Descriptor> subject;

  static Manifest parse(std::string_view json);
  std::string to_json() const;  // compact, as pushed and as hashed
};

// An OCI image index or a docker manifest list.
struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;

  static Index parse(std::string_view json);
  std::string to_json() const;
  // The manifest for `want` (the first that matches), or nullopt.
  std::optional<Descriptor> select(const Platform& want) const;
};

struct HealthConfig {
  std::vector<std::string> test;  // ["CMD-SHELL", "…"], ["NONE"], …
  int64_t interval = 0;           // nanoseconds, 0 = inherit
  int64_t timeout = 0;
  int64_t start_period = 0;
  int64_t start_interval = 0;
  int retries = 0;
  bool operator==(const HealthConfig&) const = default;
};

// The runtime part ("config") of an image config, with every field docker
// uses. Optional fields distinguish "unset" from "set to empty" as docker does.
struct ContainerConfig {
  std::string user;
  std::vector<std::string> env;  // "K=V"
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::string working_dir;
  std::vector<std::string> exposed_ports;  // "80/tcp", sorted, unique
  std::vector<std::string> volumes;        // sorted, unique
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  std::optional<HealthConfig> healthcheck;
  std::optional<std::vector<std::string>> shell;
  std::vector<std::string> on_build;
  bool args_escaped = false;
  nlohmann::json extra = nlohmann::json::object();  // fields not modelled above, kept as read
  bool operator==(const ContainerConfig&) const = default;
};

// A time as image configs carry it: RFC 3339, UTC, nanoseconds without
// trailing zeros, as Go's time.Time marshals ("2026-11-23T14:01:02.5Z").
std::string rfc3339(std::chrono::system_clock::time_point t);

struct HistoryEntry {
  std::string created;  // RFC 3339
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
  nlohmann::json extra = nlohmann::json::object();
  bool operator==(const HistoryEntry&) const = default;
};

// An image config (application/vnd.oci.image.config.v1+json or docker's
// container.image.v1). Fields not modelled here survive parse → to_json.
struct ImageConfig {
  std::string created;  // RFC 3339, may be empty
  std::string author;
  std::string architecture;
  std::string os;
  std::string variant;
  std::string os_version;
  ContainerConfig config;
  std::vector<Digest> diff_ids;  // rootfs.diff_ids, rootfs.type is always "layers"
  std::vector<HistoryEntry> history;
  nlohmann::json extra = nlohmann::json::object();

  static ImageConfig parse(std::string_view json);
  std::string to_json() const;  // compact
  Platform platform() const;
  bool operator==(const ImageConfig&) const = default;
};

// ---------------------------------------------------------------------------
// The content store

class Store;

// Writes one blob: bytes go to a temporary file under ingest/; commit()
// checks the size and digest (against the expected ones when given),
// fsyncs and renames into blobs/sha256/. Destroyed without commit(), the
// temporary file is removed. A blob that is already present is not rewritten.
class BlobWriter {
 public:
  BlobWriter(BlobWriter&&) noexcept;
  BlobWriter& operator=(BlobWriter&&) noexcept;
  ~BlobWriter();

  void write(const void* data, size_t size);
  void write(std::string_view data) { write(data.data(), data.size()); }
  uint64_t size() const;
  // Throws Error(data_loss) "blob sha256:… : digest mismatch (got sha256:…)" or
  // "…: size mismatch (expected N bytes, got M)"; the temporary file is removed.
  Digest commit();
  // For a writer from Store::write_blob_hashed_by_caller: commits the bytes
  // under `digest`, which the caller computed over exactly what it wrote.
  Digest commit_as(const Digest& digest);
  // Drops everything written so far (e.g. before a retry that starts over).
  void reset();

 private:
  friend class Store;
  struct Impl;
  explicit BlobWriter(std::unique_ptr<Impl> impl);
  Digest finish(const Digest& digest);
  std::unique_ptr<Impl> impl_;
};

// A small record store for other modules' metadata (cache records, the
// compressed blob of a diff ID, …): one file per key, written atomically,
// prefixed with a format version line ("xbuild-record 1"). Keys are any
// non-empty strings (escaped for the file system).
class Records {
 public:
  std::optional<std::string> get(std::string_view key) const;
  void put(std::string_view key, std::string_view value);
  std::optional<nlohmann::json> get_json(std::string_view key) const;
  void put_json(std::string_view key, const nlohmann::json& value);
  bool remove(std::string_view key);  // false if absent
  // The record file's mtime: when it was written or last touch()ed (for
  // least-recently-used pruning). nullopt if absent.
  std::optional<int64_t> last_used(std::string_view key) const;
  void touch(std::string_view key);  // best effort
  std::vector<std::string> list() const;  // keys, sorted

 private:
  friend class Store;
  explicit Records(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

// A tagged image in index.json.
struct ImageEntry {
  ImageRef ref;
  Descriptor target;  // the manifest (or index) descriptor
};

// A resolved image: manifest and config, read from the store.
struct Image {
  Descriptor target;        // what the reference points at
  Descriptor manifest_desc;  // the platform manifest (== target unless target is an index)
  Manifest manifest;
  ImageConfig config;
  Digest id() const { return manifest.config.digest; }  // docker's IMAGE ID
};

class Store {
 public:
  // Opens (and creates when missing) the layout at root.
  explicit Store(std::filesystem::path root);
  const std::filesystem::path& root() const { return root_; }

  // Blobs
  bool has_blob(const Digest& digest) const;
  std::optional<uint64_t> blob_size(const Digest& digest) const;
  std::filesystem::path blob_path(const Digest& digest) const;  // whether or not it exists
  // An fd open for reading; throws Error(not_found) "blob sha256:… not in the store ROOT".
  UniqueFd open_blob(const Digest& digest) const;
  // The whole blob, verified against its digest (for manifests and configs).
  std::string read_blob(const Digest& digest) const;
  Digest put_blob(std::string_view data, const std::optional<Digest>& expected = std::nullopt);
  BlobWriter write_blob(std::optional<Digest> expected = std::nullopt,
                        std::optional<uint64_t> expected_size = std::nullopt);
  // A writer that does not hash: for a producer that already computes the
  // sha256 of the very bytes it writes (an uncompressed layer's diff ID is
  // its digest), committed with commit_as(). Halves the hashing of a layer.
  BlobWriter write_blob_hashed_by_caller();
  // Removes a blob (callers decide what is unreferenced); false if absent.
  bool remove_blob(const Digest& digest);
  // Every blob under blobs/sha256/ whose name is a digest, sorted; other
  // names there are returned in `strays` when it is given.
  std::vector<Digest> list_blobs(std::vector<std::string>* strays = nullptr) const;

  // Garbage collection and sharing (docs/dev/store.md): every xbuild process
  // that writes to the store holds a shared lease (on gc.lock) while it runs;
  // prune takes the lock exclusively, so it never sweeps what a running
  // build has written but not yet referenced. A lease blocks while a prune runs.
  FileLock lease() const;
  // The exclusive lock; owns() is false when a lease is held elsewhere and
  // wait is false.
  FileLock gc_lock(bool wait) const;
  // What killed writers leave (docs/dev/store.md): the ingest area's entries
  // and the ".tmp-" files of atomic writes (in the root, blobs/sha256/ and
  // every records namespace). Remove only under gc_lock: a running writer's
  // look the same. With remove, each is removed; size is measured before.
  struct Temporary {
    std::filesystem::path path;
    uint64_t size = 0;
  };
  std::vector<Temporary> temporaries(bool remove) const;
  // The blobs named by the records of every namespace but `except`: another
  // module's records keep the blobs they mention (a "sha256:<hex>" string
  // anywhere in a JSON record, or a word of a text record).
  std::set<Digest> digests_in_records(std::string_view except) const;

  // Image references (index.json)
  void set_image(const ImageRef& ref, const Descriptor& target);
  std::optional<Descriptor> resolve(const ImageRef& ref) const;
  std::vector<ImageEntry> list_images() const;
  bool remove_image(const ImageRef& ref);  // false if absent

  // Resolves text as users type it: a reference ("busybox"), or an image ID
  // or unique prefix of one ("sha256:3f5e…", "3f5e12"). Throws Error(not_found)
  // "image \"busybox\" not found in the store ROOT" when nothing matches.
  Image image(std::string_view name_or_id, const Platform& platform = Platform::host()) const;
  Image image(const Descriptor& target, const Platform& platform = Platform::host()) const;

  // The named record namespace ("cache", "layers", …), created when missing.
  Records records(std::string_view name_space) const;

 private:
  std::filesystem::path root_;
};

}  // namespace xb::store
