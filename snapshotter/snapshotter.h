// snapshotter/: file-system snapshots in containerd's vocabulary, and the
// layer operations on them (apply an OCI layer tar, diff to an OCI layer tar).
//
// Lifecycle (as in containerd):
//
//   prepare(key, parent) ─► active snapshot "key": writable, its mounts make a
//                           root file system of parent + its own changes
//   apply(key, layer)    ─► unpack a layer tar into an active snapshot
//   (run things on its mounts: the executor consumes the Mount values)
//   diff(key, sink)      ─► the changes of "key" against its parent, as a tar
//   commit(name, key)    ─► "key" becomes the committed, read-only snapshot
//                           "name"; "key" no longer exists. Only committed
//                           snapshots may be parents.
//   view(key, parent)    ─► a read-only active snapshot of parent (never
//                           committed; remove it when done)
//   remove(key)          ─► drops an active snapshot, or a committed one that
//                           no other snapshot names as parent
//
// Parents form chains: a committed snapshot's parent is whatever its active
// snapshot was prepared on. Keys and names share one namespace; a committed
// name is typically a layer chain ID ("sha256:…") or a cache key.
//
// Drivers: "overlay" (kernel overlayfs: each snapshot stores only its own
// changes; a mount stacks the parent chain as lowerdirs) and "native" (each
// snapshot is a full copy of its parent; for hosts without overlayfs).
// open_snapshotter() picks overlay when the kernel can mount it on the root's
// file system, else native; XBUILD_SNAPSHOTTER=overlay|native overrides.
//
// On disk: $XBUILD_ROOT/snapshots/{metadata.json,lock,<id>/fs,<id>/work}
// (docs/dev/snapshotter.md). Several xbuild processes may share a root: every
// operation takes the lock file, and metadata is replaced atomically.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/mount.h"

namespace xb::store {
class Store;
}

namespace xb::snapshotter {

enum class Kind { view, active, committed };
std::string_view to_string(Kind kind);

using Labels = std::map<std::string, std::string>;

struct Info {
  std::string name;    // the key (active, view) or name (committed)
  std::string parent;  // empty for a snapshot without parent
  Kind kind = Kind::active;
  int64_t created_unix = 0;  // seconds
  Labels labels;
};

struct Usage {
  uint64_t size = 0;  // bytes of this snapshot's own files (not its parents')
  uint64_t inodes = 0;
};

// Pulls up to `size` bytes into buf; returns how many, 0 at the end.
// Throws xb::Error on failure (the error travels out of apply()).
using ByteSource = std::function<size_t(void* buf, size_t size)>;
// Takes the next bytes of a stream; throws xb::Error on failure.
using ByteSink = std::function<void(const void* data, size_t size)>;

struct LayerResult {
  Digest diff_id;     // sha256 of the uncompressed tar
  uint64_t size = 0;  // bytes of the uncompressed tar
};

struct DiffOptions {
  // Clamp every entry's mtime to at most this (SOURCE_DATE_EPOCH), for
  // reproducible layers.
  std::optional<int64_t> source_date_epoch;
};

class Snapshotter {
 public:
  virtual ~Snapshotter() = default;

  // "overlay" or "native".
  virtual std::string_view driver() const = 0;
  // $XBUILD_ROOT/snapshots.
  virtual const std::filesystem::path& dir() const = 0;

  // A new writable snapshot "key" on top of committed "parent" ("" for an
  // empty one). Returns the mounts that make its root file system (one
  // mount; target "/"). Throws already_exists if key is taken, not_found if
  // parent is not a committed snapshot.
  virtual std::vector<Mount> prepare(const std::string& key, const std::string& parent, const Labels& labels = {}) = 0;
  // A read-only snapshot "key" of committed "parent": the mounts are "ro".
  virtual std::vector<Mount> view(const std::string& key, const std::string& parent, const Labels& labels = {}) = 0;
  // The mounts of an existing active snapshot or view.
  virtual std::vector<Mount> mounts(const std::string& key) = 0;
  // Active "key" becomes committed "name" (atomically, key disappears).
  // Throws already_exists if name is taken: a concurrent process that
  // committed the same content first wins; the caller may then remove key
  // and use name.
  virtual void commit(const std::string& name, const std::string& key, const Labels& labels = {}) = 0;
  // Removes a snapshot and its files. Throws failed_precondition if it is
  // the parent of another snapshot, not_found if it does not exist.
  virtual void remove(const std::string& key) = 0;
  // nullopt if there is no snapshot of that name.
  virtual std::optional<Info> stat(const std::string& key) = 0;
  // Every snapshot, sorted by name.
  virtual std::vector<Info> list() = 0;
  // Disk use of the snapshot's own files.
  virtual Usage usage(const std::string& key) = 0;

  // Housekeeping for `xbuild prune` and `xbuild fsck`. Entries under dir()
  // that no snapshot owns (a crash between mkdir and the metadata write, an
  // interrupted remove's "rm-" dir, a probe dir, a temporary metadata file):
  // their paths, removed when `remove` is true.
  virtual std::vector<std::filesystem::path> orphans(bool remove) = 0;
  // Consistency problems, one line each (a parent that does not exist, a
  // snapshot whose directory is missing); empty when all is well.
  virtual std::vector<std::string> check() = 0;

  // Unpacks an OCI layer (tar; gzip, zstd or uncompressed, detected from the
  // bytes) into active snapshot "key": whiteouts and opaque directories
  // delete what the parents have, hardlinks, symlinks, modes (setuid,
  // setgid, sticky), owners, xattrs, device nodes, mtimes. Nothing is ever
  // written outside the snapshot: "..", absolute names and symlinks are
  // resolved inside its root as a chroot would. Returns the diff ID.
  virtual LayerResult apply(const std::string& key, const ByteSource& layer) = 0;
  LayerResult apply_fd(const std::string& key, int fd);
  // apply() of a layer blob of the store, verified as it streams (a blob
  // whose bytes no longer match its digest is that error, naming the blob
  // and `xbuild fsck --repair`, even when the corrupt bytes fail the
  // unpack first).
  LayerResult apply_blob(const std::string& key, const store::Store& st, const Digest& blob);

  // The changes of "key" (active or committed) against its parent as an
  // uncompressed OCI layer tar streamed into sink: new and changed files,
  // deletions as ".wh." whiteouts, replaced directories as opaque, hardlinks
  // as hardlinks, entries sorted by path. Returns the diff ID and size.
  virtual LayerResult diff(const std::string& key, const ByteSink& sink, const DiffOptions& options = {}) = 0;
};

// An active snapshot or view owned by a scope: removed when the owner goes
// (errors ignored: the snapshot is then an orphan for `xbuild prune`),
// unless it was committed through the owner. Replaces hand-written guards.
class ScopedSnapshot {
 public:
  static ScopedSnapshot prepare(Snapshotter& snap, std::string key, const std::string& parent,
                                const Labels& labels = {});
  static ScopedSnapshot view(Snapshotter& snap, std::string key, const std::string& parent, const Labels& labels = {});
  ScopedSnapshot(ScopedSnapshot&& other) noexcept;
  ScopedSnapshot& operator=(ScopedSnapshot&&) = delete;
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  ~ScopedSnapshot();

  const std::string& key() const { return key_; }
  // As prepare() or view() returned them.
  const std::vector<Mount>& mounts() const { return mounts_; }
  // Commits the snapshot as `name`; it is then no longer this owner's to
  // remove. Throws as Snapshotter::commit; on already_exists (another
  // process committed the same content first) it stays owned and goes at
  // scope end.
  void commit(const std::string& name, const Labels& labels = {});
  // Removes it now, throwing as Snapshotter::remove (for callers that report
  // the failure); afterwards the owner holds nothing.
  void remove();

 private:
  ScopedSnapshot(Snapshotter& snap, std::string key, std::vector<Mount> mounts)
      : snap_(&snap), key_(std::move(key)), mounts_(std::move(mounts)) {}
  Snapshotter* snap_;  // null once committed, removed or moved from
  std::string key_;
  std::vector<Mount> mounts_;
};

// The identity of a stack of layers (OCI image spec, config.md "Layer
// ChainID"): ChainID(L0) = DiffID(L0) and
// ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln)).
// It names the committed snapshot of those layers unpacked, shared by every
// build and `xbuild run`, and enters the cache key of a FROM image, so that
// the same layers are the same file system whatever manifest carried them.
class ChainId {
 public:
  // The chain of one layer.
  explicit ChainId(const Digest& bottom_diff_id) : digest_(bottom_diff_id) {}
  // The chain of the layers bottom up; nullopt for no layers.
  static std::optional<ChainId> of(std::span<const Digest> diff_ids);
  // This chain with one more layer on top.
  ChainId then(const Digest& diff_id) const;

  const Digest& digest() const { return digest_; }
  const std::string& str() const { return digest_.str(); }
  // The committed snapshot that holds the chain unpacked: "layer-<hex>".
  std::string snapshot_name() const;

  auto operator<=>(const ChainId&) const = default;

 private:
  Digest digest_;
};

// Every prefix's chain ID, bottom up: result[i] is the chain of layers 0..i.
std::vector<ChainId> chain_ids(std::span<const Digest> diff_ids);

// A layer of an image as unpacking needs it: its blob in the store and the
// diff ID the image config promises for it.
struct LayerBlob {
  Digest blob;
  Digest diff_id;
};

// The indices of the layers whose snapshot (by chain ID) does not exist
// yet: those unpack_chain() will apply, whose blobs must be in the store.
std::vector<size_t> missing_layers(Snapshotter& snap, std::span<const LayerBlob> layers);

// Committed snapshots of an image's layers, bottom up, named by chain ID
// (ChainId::snapshot_name()), reusing those that exist: each missing one is
// prepared on the one below, its blob applied (verified against its digest
// and the diff ID) and committed. When another process commits the same
// layer first, theirs is used. before_apply(i), if given, runs before layer
// i is applied (to bring its blob into the store). Returns the top
// snapshot's name, "" for no layers. A diff ID mismatch is data_loss naming
// the blob.
std::string unpack_chain(Snapshotter& snap, const store::Store& st, std::span<const LayerBlob> layers,
                         const std::function<void(size_t i)>& before_apply = {});

enum class Driver { automatic, overlay, native };

// Opens (creating if needed) the snapshots under root/snapshots. With
// Driver::automatic: XBUILD_SNAPSHOTTER if set, else the driver the root
// was created with, else overlay if the kernel can mount it there, else
// native. Throws failed_precondition when a root created by one driver is
// opened with the other, or overlay is asked for and cannot work.
std::unique_ptr<Snapshotter> open_snapshotter(const std::filesystem::path& root, Driver driver = Driver::automatic);

// A whole directory tree (not the directory itself) as an uncompressed tar,
// written as diff() writes layers: entries sorted, numeric owners, whole
// seconds, so that the same tree gives the same bytes and digest. For
// RUN --mount=type=cache contents leaving the machine (docs/dev/cache.md).
LayerResult tar_tree(const std::filesystem::path& dir, const ByteSink& sink);

// Mounts `mounts` (as returned by prepare/view/mounts) on a private
// directory visible only to a helper thread with its own mount namespace,
// calls fn(root) on that thread, and lets the namespace (and so the mount)
// die with the thread: nothing is ever mounted on the host. For file
// operations (COPY, ADD) that need the merged view of a snapshot.
void with_mounted(const std::vector<Mount>& mounts, const std::function<void(const std::filesystem::path& root)>& fn);

}  // namespace xb::snapshotter
