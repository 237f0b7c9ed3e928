// Chain IDs, unpacking an image's layers into snapshots, and the scoped
// owner of an active snapshot: what builds and `xbuild run` share.
#include "common/error.h"
#include "common/random.h"
#include "snapshotter/snapshotter.h"

namespace xb::snapshotter {

ScopedSnapshot ScopedSnapshot::prepare(Snapshotter& snap, std::string key, const std::string& parent,
                                       const Labels& labels) {
  std::vector<Mount> m = snap.prepare(key, parent, labels);
  return ScopedSnapshot(snap, std::move(key), std::move(m));
}

ScopedSnapshot ScopedSnapshot::view(Snapshotter& snap, std::string key, const std::string& parent,
                                    const Labels& labels) {
  std::vector<Mount> m = snap.view(key, parent, labels);
  return ScopedSnapshot(snap, std::move(key), std::move(m));
}

ScopedSnapshot::ScopedSnapshot(ScopedSnapshot&& other) noexcept
    : snap_(other.snap_), key_(std::move(other.key_)), mounts_(std::move(other.mounts_)) {
  other.snap_ = nullptr;
}

ScopedSnapshot::~ScopedSnapshot() {
  if (!snap_) return;
  try {
    snap_->remove(key_);
  } catch (...) {
    // Left for `xbuild prune`, which removes snapshots no build holds.
  }
}

void ScopedSnapshot::commit(const std::string& name, const Labels& labels) {
  snap_->commit(name, key_, labels);
  snap_ = nullptr;
}

void ScopedSnapshot::remove() {
  Snapshotter* s = snap_;
  snap_ = nullptr;
  if (s) s->remove(key_);
}

std::optional<ChainId> ChainId::of(std::span<const Digest> diff_ids) {
  if (diff_ids.empty()) return std::nullopt;
  ChainId c(diff_ids.front());
  for (size_t i = 1; i < diff_ids.size(); ++i) c = c.then(diff_ids[i]);
  return c;
}

ChainId ChainId::then(const Digest& diff_id) const { return ChainId(Digest::of(digest_.str() + " " + diff_id.str())); }

std::string ChainId::snapshot_name() const { return "layer-" + std::string(digest_.hex()); }

std::vector<ChainId> chain_ids(std::span<const Digest> diff_ids) {
  std::vector<ChainId> out;
  out.reserve(diff_ids.size());
  for (const auto& d : diff_ids) out.push_back(out.empty() ? ChainId(d) : out.back().then(d));
  return out;
}

namespace {

std::vector<ChainId> chain_of(std::span<const LayerBlob> layers) {
  std::vector<Digest> ids;
  ids.reserve(layers.size());
  for (const auto& l : layers) ids.push_back(l.diff_id);
  return chain_ids(ids);
}

}  // namespace

std::vector<size_t> missing_layers(Snapshotter& snap, std::span<const LayerBlob> layers) {
  std::vector<ChainId> chain = chain_of(layers);
  std::vector<size_t> out;
  for (size_t i = 0; i < chain.size(); ++i)
    if (!snap.stat(chain[i].snapshot_name())) out.push_back(i);
  return out;
}

std::string unpack_chain(Snapshotter& snap, const store::Store& st, std::span<const LayerBlob> layers,
                         const std::function<void(size_t i)>& before_apply) {
  std::vector<ChainId> chain = chain_of(layers);
  std::string parent;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string name = chain[i].snapshot_name();
    if (!snap.stat(name)) {
      ScopedSnapshot active = ScopedSnapshot::prepare(snap, "unpack-" + random_hex(16), parent);
      if (before_apply) before_apply(i);
      LayerResult r = snap.apply_blob(active.key(), st, layers[i].blob);
      if (r.diff_id != layers[i].diff_id)
        fail(ErrorKind::data_loss, "layer " + layers[i].blob.str() + ": diff ID " + r.diff_id.str() +
                                       " does not match the image config's " + layers[i].diff_id.str());
      try {
        active.commit(name);
      } catch (const Error& e) {
        // Another xbuild unpacked the same layer first: use theirs.
        if (e.kind() != ErrorKind::already_exists || !snap.stat(name)) throw;
      }
    }
    parent = name;
  }
  return parent;
}

}  // namespace xb::snapshotter
