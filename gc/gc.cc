// prune, du and fsck of a store (gc/gc.h). The roots of the store are its
// tagged images (every entry of index.json, ours or another tool's) and the
// build cache records; everything else that no root reaches is garbage, and
// so are the remains of killed processes (store temporaries, active
// snapshots, orphan snapshot dirs, cgroups, secret files, mounts), which
// each module sweeps through its own interface. docs/dev/hardening.md.
#include "gc/gc.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "cache/cache.h"
#include "common/fs.h"
#include "executor/executor.h"
#include "snapshotter/snapshotter.h"

namespace xb::gc {

namespace fs = std::filesystem;
using nlohmann::json;

uint64_t PruneReport::reclaimed() const {
  uint64_t n = 0;
  for (const auto& i : items) n += i.size;
  return n;
}

namespace {

using CacheRecord = cache::LocalCache::Entry;

struct Roots {
  std::set<Digest> image_blobs;
  std::set<std::string> image_layer_snapshots;  // layer-<chain hex> of tagged images
  std::vector<std::string> problems;            // for fsck
  uint64_t images = 0;
};

void walk_descriptor(const store::Store& st, const store::Descriptor& d, Roots& r, const std::string& who,
                     int depth = 0) {
  r.image_blobs.insert(d.digest);
  if (!st.has_blob(d.digest)) {
    // Another platform's manifest of a pulled index is not fetched: only the selected one must be there.
    if (depth == 0) r.problems.push_back(who + ": manifest " + d.digest.str() + " is missing");
    return;
  }
  if (depth > 4) return;
  try {
    if (store::is_index_media_type(d.media_type)) {
      store::Index idx = store::Index::parse(st.read_blob(d.digest));
      for (const auto& m : idx.manifests) walk_descriptor(st, m, r, who, depth + 1);
      return;
    }
    store::Manifest m = store::Manifest::parse(st.read_blob(d.digest));
    r.image_blobs.insert(m.config.digest);
    for (const auto& l : m.layers) {
      r.image_blobs.insert(l.digest);
      if (!st.has_blob(l.digest)) r.problems.push_back(who + ": layer " + l.digest.str() + " is missing");
    }
    if (!st.has_blob(m.config.digest)) {
      r.problems.push_back(who + ": config " + m.config.digest.str() + " is missing");
      return;
    }
    store::ImageConfig c = store::ImageConfig::parse(st.read_blob(m.config.digest));
    for (const auto& chain : snapshotter::chain_ids(c.diff_ids)) r.image_layer_snapshots.insert(chain.snapshot_name());
  } catch (const Error& e) {
    r.problems.push_back(who + ": " + e.what());
  }
}

Roots image_roots(const store::Store& st) {
  Roots r;
  json idx;
  try {
    idx = json::parse(read_file(st.root() / "index.json"));
  } catch (const std::exception& e) {
    r.problems.push_back(std::string("index.json: ") + e.what());
    return r;
  }
  if (!idx.contains("manifests") || !idx["manifests"].is_array()) return r;
  for (const auto& m : idx["manifests"]) {
    try {
      store::Descriptor d = store::Descriptor::from_json(m);
      std::string who = "image " + (d.annotations.count(std::string(store::ref_name_annotation))
                                        ? d.annotations.at(std::string(store::ref_name_annotation))
                                        : d.digest.str());
      ++r.images;
      walk_descriptor(st, d, r, who);
    } catch (const std::exception& e) {
      r.problems.push_back(std::string("index.json: an entry cannot be read: ") + e.what());
    }
  }
  return r;
}

// The plan: what prune removes (or, dry, would remove).
struct Sweep {
  store::Store& st;
  snapshotter::Snapshotter& snap;
  const PruneOptions& opts;
  bool exclusive;  // no other xbuild uses the store: in-flight things are leftovers
  PruneReport report;

  void add(std::string kind, std::string name, uint64_t size) {
    report.items.push_back(PruneItem{std::move(kind), std::move(name), size});
  }

  void leftovers() {
    // Mounts under the store in our namespace (none should ever exist: every
    // mount xbuild makes lives in a private namespace).
    std::ifstream mi("/proc/self/mountinfo");
    std::string line;
    std::vector<std::string> mps;
    std::string root = fs::absolute(st.root()).lexically_normal().string();
    while (std::getline(mi, line)) {
      std::istringstream in(line);
      std::string id, parent, dev, r, mp;
      in >> id >> parent >> dev >> r >> mp;
      if (mp.rfind(root + "/", 0) == 0) mps.push_back(mp);
    }
    std::sort(mps.rbegin(), mps.rend());  // deepest first
    for (const auto& mp : mps) {
      add("mount", mp, 0);
      if (!opts.dry_run) ::umount2(mp.c_str(), MNT_DETACH);
    }
    for (const auto& cg : executor::stale_cgroups(!opts.dry_run)) add("cgroup", cg, 0);
    for (const auto& sec : executor::stale_secrets(!opts.dry_run)) add("secret", sec.path.string(), sec.size);
    if (!exclusive) return;  // everything below may belong to a running build
    for (const auto& t : st.temporaries(!opts.dry_run)) add("temporary", t.path.string(), t.size);
    // Snapshots that are not committed: a build's or a run's working state.
    for (const auto& i : snap.list()) {
      if (i.kind == snapshotter::Kind::committed) continue;
      add("snapshot", i.name, snap.usage(i.name).size);
      if (!opts.dry_run) snap.remove(i.name);
    }
    for (const auto& p : snap.orphans(!opts.dry_run)) add("temporary", p.string(), opts.dry_run ? tree_size(p) : 0);
  }

  void caches() {
    cache::LocalCache recs(st);
    std::vector<CacheRecord> kept;
    std::map<std::string, snapshotter::Info> snaps;
    for (auto& i : snap.list()) snaps.emplace(i.name, i);
    for (auto& r : recs.entries()) {
      const std::string& snapshot = r.record.snapshot;
      if (r.invalid.empty() && !snapshot.empty()) {
        auto it = snaps.find(snapshot);
        if (it == snaps.end() || it->second.kind != snapshotter::Kind::committed)
          r.invalid = "snapshot " + snapshot + " is gone";
      }
      for (const auto& l : r.record.layers)
        if (r.invalid.empty() && !st.has_blob(l.blob)) r.invalid = "blob " + l.blob.str() + " is gone";
      if (!r.invalid.empty() || opts.all) {
        add("build cache", r.name, 0);
        if (!opts.dry_run) recs.remove(r.name);
        continue;
      }
      kept.push_back(std::move(r));
    }
    if (opts.keep_storage) {
      // Each record's own cost: its snapshot's files and the layer it added.
      std::vector<std::pair<CacheRecord*, uint64_t>> costs;
      uint64_t total = 0;
      for (auto& r : kept) {
        uint64_t c = 0;
        if (!r.record.snapshot.empty() && snaps.count(r.record.snapshot)) c += snap.usage(r.record.snapshot).size;
        if (!r.record.layers.empty()) c += st.blob_size(r.record.layers.back().blob).value_or(0);
        costs.emplace_back(&r, c);
        total += c;
      }
      std::stable_sort(costs.begin(), costs.end(),
                       [](const auto& a, const auto& b) { return a.first->last_used < b.first->last_used; });
      std::set<std::string> dropped;
      for (auto& [r, c] : costs) {
        if (total <= *opts.keep_storage) break;
        add("build cache", r->name, 0);
        if (!opts.dry_run) recs.remove(r->name);
        dropped.insert(r->name);
        total -= c;
      }
      std::erase_if(kept, [&](const CacheRecord& r) { return dropped.count(r.name) > 0; });
    }

    // The step index (what a miss is explained with) names records: an
    // entry whose record went goes too. Tiny files, not reported.
    recs.sweep_steps(opts.all, !opts.dry_run);

    // What stays reachable.
    Roots roots = image_roots(st);
    std::set<Digest> keep_blobs = roots.image_blobs;
    std::set<std::string> keep_snaps;
    for (const auto& r : kept) {
      if (!r.record.snapshot.empty()) keep_snaps.insert(r.record.snapshot);
      for (const auto& l : r.record.layers) keep_blobs.insert(l.blob);
    }
    if (!opts.all) keep_snaps.insert(roots.image_layer_snapshots.begin(), roots.image_layer_snapshots.end());
    // Other modules' records keep whatever blobs they name.
    std::set<Digest> named = st.digests_in_records("cache");
    keep_blobs.insert(named.begin(), named.end());
    // Parents of kept snapshots stay; only committed ones are candidates
    // (others were handled as leftovers, or belong to a running build).
    std::vector<std::string> stack(keep_snaps.begin(), keep_snaps.end());
    while (!stack.empty()) {
      std::string n = stack.back();
      stack.pop_back();
      auto it = snaps.find(n);
      if (it == snaps.end() || it->second.parent.empty()) continue;
      if (keep_snaps.insert(it->second.parent).second) stack.push_back(it->second.parent);
    }
    // Every non-committed snapshot's chain stays too (a running build's, when not exclusive).
    for (const auto& [n, i] : snaps) {
      if (i.kind == snapshotter::Kind::committed) continue;
      for (std::string p = i.parent; !p.empty() && keep_snaps.insert(p).second;) {
        auto it = snaps.find(p);
        p = it == snaps.end() ? "" : it->second.parent;
      }
    }
    // Remove children before parents.
    std::map<std::string, int> children;
    for (const auto& [n, i] : snaps)
      if (!i.parent.empty()) children[i.parent]++;
    std::vector<std::string> doomed;
    for (const auto& [n, i] : snaps)
      if (i.kind == snapshotter::Kind::committed && !keep_snaps.count(n)) doomed.push_back(n);
    bool progress = true;
    std::set<std::string> done;
    while (progress) {
      progress = false;
      for (const auto& n : doomed) {
        if (done.count(n) || children[n] > 0) continue;
        add(n.rfind("layer-", 0) == 0 ? "unpacked layer" : "snapshot", n, snap.usage(n).size);
        if (!opts.dry_run) snap.remove(n);
        done.insert(n);
        if (!snaps[n].parent.empty()) children[snaps[n].parent]--;
        progress = true;
      }
    }
    for (const auto& d : st.list_blobs()) {
      if (keep_blobs.count(d)) continue;
      add("blob", d.str(), st.blob_size(d).value_or(0));
      if (!opts.dry_run) st.remove_blob(d);
    }
    if (opts.all) {
      // What ADD <url> remembered for revalidation is build cache too (BuildKit's prune --all drops it).
      for (const auto& name : recs.url_records(!opts.dry_run)) add("build cache", name, 0);
      for (const auto& d : recs.dirs(!opts.dry_run)) add(d.kind, d.path.string(), d.size);
    }
  }
};

}  // namespace

PruneReport prune(store::Store& st, const PruneOptions& opts) {
  FileLock lock = st.gc_lock(false);
  if (!lock.owns() && !opts.dry_run) {
    if (opts.on_wait) opts.on_wait();
    lock = st.gc_lock(true);
  }
  auto snap = snapshotter::open_snapshotter(st.root());
  Sweep s{st, *snap, opts, lock.owns(), {}};
  s.leftovers();
  s.caches();
  return std::move(s.report);
}

std::vector<UsageRow> disk_usage(store::Store& st) {
  auto snap = snapshotter::open_snapshotter(st.root());
  PruneOptions dry;
  dry.dry_run = true;
  PruneReport would;
  {
    FileLock lock = st.gc_lock(false);
    Sweep s{st, *snap, dry, lock.owns(), {}};
    s.caches();
    would = std::move(s.report);
  }
  std::map<std::string, UsageRow> rows;
  for (const char* k : {"images", "blobs", "build cache", "unpacked layers", "cache mounts", "temporary"})
    rows[k].kind = k;
  Roots roots = image_roots(st);
  rows["images"].count = roots.images;
  for (const auto& d : roots.image_blobs) rows["images"].size += st.blob_size(d).value_or(0);
  for (const auto& d : st.list_blobs()) {
    rows["blobs"].count++;
    rows["blobs"].size += st.blob_size(d).value_or(0);
  }
  cache::LocalCache recs(st);
  rows["build cache"].count = recs.count();
  for (const auto& i : snap->list()) {
    UsageRow& r = rows[i.name.rfind("layer-", 0) == 0 && i.kind == snapshotter::Kind::committed ? "unpacked layers"
                                                                                                : "build cache"];
    if (&r == &rows["unpacked layers"]) r.count++;
    r.size += snap->usage(i.name).size;
  }
  for (const auto& d : recs.dirs(false)) {
    if (d.kind != "cache mount" || !fs::is_directory(d.path)) continue;
    rows["cache mounts"].count++;
    rows["cache mounts"].size += d.size;
  }
  for (const auto& t : st.temporaries(false)) {
    rows["temporary"].count++;
    rows["temporary"].size += t.size;
  }
  for (const auto& i : would.items) {
    if (i.kind == "blob") rows["blobs"].reclaimable += i.size;
    else if (i.kind == "unpacked layer") rows["unpacked layers"].reclaimable += i.size;
    else if (i.kind == "snapshot" || i.kind == "build cache") rows["build cache"].reclaimable += i.size;
  }
  rows["temporary"].reclaimable = rows["temporary"].size;
  std::vector<UsageRow> out;
  for (const char* k : {"images", "blobs", "build cache", "unpacked layers", "cache mounts", "temporary"})
    out.push_back(rows[k]);
  return out;
}

FsckReport fsck(store::Store& st, bool repair) {
  FsckReport rep;
  // Blobs: the content must hash to the name.
  std::vector<std::string> strays;
  for (const auto& d : st.list_blobs(&strays)) {
    ++rep.blobs;
    fs::path p = st.blob_path(d);
    Sha256 h;
    try {
      UniqueFd fd = st.open_blob(d);
      read_chunks(fd.get(), p.string(), [&](std::string_view chunk) { h.update(chunk.data(), chunk.size()); });
    } catch (const Error& e) {
      rep.problems.push_back("blob " + d.str() + ": " + e.what());
      continue;
    }
    Digest got = h.finish();
    if (got != d) {
      rep.problems.push_back("blob " + d.str() + ": content has digest " + got.str() + " (corrupt)");
      if (repair) {
        st.remove_blob(d);
        rep.repaired.push_back("removed corrupt blob " + d.str());
      }
    }
  }
  for (const auto& s : strays)  // temporaries are listed below
    if (s.rfind(".tmp-", 0) != 0) rep.problems.push_back("blobs/sha256/" + s + ": not a digest");
  Roots roots = image_roots(st);
  rep.images = roots.images;
  rep.problems.insert(rep.problems.end(), roots.problems.begin(), roots.problems.end());

  auto snap = snapshotter::open_snapshotter(st.root());
  for (const auto& p : snap->check()) rep.problems.push_back(p);
  std::map<std::string, snapshotter::Info> snaps;
  for (auto& i : snap->list()) {
    ++rep.snapshots;
    if (i.kind != snapshotter::Kind::committed)
      rep.leftovers.push_back("snapshot " + i.name + " (" + std::string(snapshotter::to_string(i.kind)) + ")");
    snaps.emplace(i.name, i);
  }
  for (const auto& p : snap->orphans(false)) rep.leftovers.push_back("orphan " + p.string());

  cache::LocalCache recs(st);
  for (const auto& r : recs.entries()) {
    ++rep.records;
    const std::string& key = r.name;
    const std::string& snapshot = r.record.snapshot;
    std::string bad = r.invalid;
    if (bad.empty() && !snapshot.empty()) {
      auto it = snaps.find(snapshot);
      if (it == snaps.end()) bad = "snapshot " + snapshot + " does not exist";
      else if (it->second.kind != snapshotter::Kind::committed) bad = "snapshot " + snapshot + " is not committed";
    }
    for (const auto& l : r.record.layers)
      if (bad.empty() && !st.has_blob(l.blob)) bad = "layer blob " + l.blob.str() + " is missing";
    if (bad.empty()) continue;
    rep.problems.push_back("cache record " + key + ": " + bad);
    if (repair) {
      recs.remove(key);
      rep.repaired.push_back("removed cache record " + key);
    }
  }
  for (const auto& t : st.temporaries(false)) rep.leftovers.push_back("temporary " + t.path.string());
  for (const auto& cg : executor::stale_cgroups(false)) rep.leftovers.push_back("cgroup " + cg);
  return rep;
}

}  // namespace xb::gc
