// store/: the local content store, image references and the OCI documents.
// This is the module's public header: the identities (ImageRef, Platform)
// are in store/reference.h and the OCI documents in store/oci.h, both
// included here; this file holds the store itself.
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
#include "store/oci.h"
#include "store/reference.h"

namespace xb::store {

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
  void touch(std::string_view key);       // best effort
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
  Descriptor target;         // what the reference points at
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
