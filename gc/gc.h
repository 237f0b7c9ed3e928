// gc/: housekeeping of a store, `xbuild prune`, `xbuild du`, `xbuild fsck`
// (docs/dev/hardening.md). The roots of a store are its tagged images (every
// entry of index.json, ours or another tool's) and the build cache records;
// what no root reaches is garbage. gc orchestrates and holds the GC lock;
// each module finds and removes its own leftovers (store temporaries, cache
// records and directories, snapshots, cgroups, secret files) through its
// own interface.
//
// prune takes the store's GC lock exclusively (store::Store::gc_lock), so it
// waits for running builds and never sweeps what one of them has written but
// not yet referenced.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace xb::gc {

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

}  // namespace xb::gc
