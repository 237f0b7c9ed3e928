// prune, du and fsck of a store. The roots of the store are its tagged
// images (every entry of index.json, ours or another tool's) and the build
// cache records; everything else that no root reaches is garbage, and so are
// the remains of killed processes (ingest files, active snapshots, orphan
// snapshot dirs, cgroups, secret files, mounts). docs/dev/hardening.md.
#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "common/fs.h"
#include "executor/executor.h"
#include "snapshotter/snapshotter.h"
#include "solver/graph.h"
#include "solver/solver.h"

namespace xb::solver {

namespace fs = std::filesystem;
using nlohmann::json;

uint64_t PruneReport::reclaimed() const {
  uint64_t n = 0;
  for (const auto& i : items) n += i.size;
  return n;
}

namespace {

uint64_t tree_size(const fs::path& p) {
  uint64_t n = 0;
  std::error_code ec;
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  if (!S_ISDIR(st.st_mode)) return static_cast<uint64_t>(st.st_blocks) * 512;
  n += static_cast<uint64_t>(st.st_blocks) * 512;
  for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (::lstat(it->path().c_str(), &st) == 0) n += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return n;
}

void remove_path(const fs::path& p) {
  std::error_code ec;
  // Blobs are 0444 and snapshot trees may hold read-only dirs: make them writable first.
  if (fs::is_directory(fs::symlink_status(p, ec))) {
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
    }
    ::chmod(p.c_str(), 0700);
  }
  fs::remove_all(p, ec);
  if (ec) throw_errno("remove", p.string(), ec.value());
}

bool pid_alive(pid_t pid) { return !(::kill(pid, 0) < 0 && errno == ESRCH); }

// A parsed cache record ({"v":1,"snapshot":…,"layers":[…]}, written by the
// BuildEngine in build.cc).
struct CacheRecord {
  std::string key;
  std::string snapshot;
  std::vector<Layer> layers;
  std::string invalid;  // why it cannot be used; empty when fine
  int64_t last_used = 0;
};

CacheRecord read_record(const store::Records& recs, const std::string& key) {
  CacheRecord r;
  r.key = key;
  r.last_used = recs.last_used(key).value_or(0);
  try {
    auto j = recs.get_json(key);
    if (!j) {
      r.invalid = "gone";
      return r;
    }
    if (j->value("v", 0) != 1) {
      r.invalid = "unknown record version";
      return r;
    }
    r.snapshot = j->at("snapshot").get<std::string>();
    for (const auto& l : j->at("layers")) r.layers.push_back(Layer::from_json(l));
  } catch (const std::exception& e) {
    r.invalid = std::string("unreadable: ") + e.what();
  }
  return r;
}

// Every digest mentioned anywhere in a JSON value ("sha256:<64 hex>"
// strings): records of other modules keep the blobs they name.
void collect_digests(const json& j, std::set<Digest>& out) {
  if (j.is_string()) {
    if (auto d = Digest::try_parse(j.get<std::string>())) out.insert(*d);
  } else if (j.is_array() || j.is_object()) {
    for (const auto& v : j) collect_digests(v, out);
  }
}

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
    // Secret directories of killed builds (/dev/shm/xbuild-secret-<pid>-build.<random>; files of
    // older versions directly there).
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/dev/shm", ec)) {
      std::string name = e.path().filename().string();
      if (name.rfind("xbuild-secret-", 0) != 0) continue;
      pid_t pid = 0;
      try {
        pid = static_cast<pid_t>(std::stol(name.substr(14)));
      } catch (...) {
        continue;
      }
      if (pid > 0 && pid_alive(pid)) continue;
      add("secret", e.path().string(), tree_size(e.path()));
      if (!opts.dry_run) remove_path(e.path());
    }
    if (!exclusive) return;  // everything below may belong to a running build
    for (const auto& e : fs::directory_iterator(st.root() / "ingest", ec)) {
      add("temporary", e.path().string(), tree_size(e.path()));
      if (!opts.dry_run) remove_path(e.path());
    }
    auto tmp_files = [&](const fs::path& dir) {
      std::error_code ec2;
      for (const auto& e : fs::directory_iterator(dir, ec2)) {
        if (e.path().filename().string().rfind(".tmp-", 0) != 0) continue;
        add("temporary", e.path().string(), tree_size(e.path()));
        if (!opts.dry_run) remove_path(e.path());
      }
    };
    tmp_files(st.root());
    tmp_files(st.root() / "blobs" / "sha256");
    for (const auto& e : fs::directory_iterator(st.root() / "records", ec)) tmp_files(e.path());
    // Snapshots that are not committed: a build's or a run's working state.
    for (const auto& i : snap.list()) {
      if (i.kind == snapshotter::Kind::committed) continue;
      add("snapshot", i.name, snap.usage(i.name).size);
      if (!opts.dry_run) snap.remove(i.name);
    }
    for (const auto& p : snap.orphans(!opts.dry_run)) add("temporary", p.string(), opts.dry_run ? tree_size(p) : 0);
  }

  void caches() {
    store::Records recs = st.records("cache");
    std::vector<CacheRecord> kept;
    std::map<std::string, snapshotter::Info> snaps;
    for (auto& i : snap.list()) snaps.emplace(i.name, i);
    for (const auto& key : recs.list()) {
      CacheRecord r = read_record(recs, key);
      if (r.invalid.empty() && !r.snapshot.empty()) {
        auto it = snaps.find(r.snapshot);
        if (it == snaps.end() || it->second.kind != snapshotter::Kind::committed)
          r.invalid = "snapshot " + r.snapshot + " is gone";
      }
      for (const auto& l : r.layers)
        if (r.invalid.empty() && !st.has_blob(l.blob)) r.invalid = "blob " + l.blob.str() + " is gone";
      if (!r.invalid.empty() || opts.all) {
        add("build cache", key, 0);
        if (!opts.dry_run) recs.remove(key);
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
        if (!r.snapshot.empty() && snaps.count(r.snapshot)) c += snap.usage(r.snapshot).size;
        if (!r.layers.empty()) c += st.blob_size(r.layers.back().blob).value_or(0);
        costs.emplace_back(&r, c);
        total += c;
      }
      std::stable_sort(costs.begin(), costs.end(),
                       [](const auto& a, const auto& b) { return a.first->last_used < b.first->last_used; });
      std::set<std::string> dropped;
      for (auto& [r, c] : costs) {
        if (total <= *opts.keep_storage) break;
        add("build cache", r->key, 0);
        if (!opts.dry_run) recs.remove(r->key);
        dropped.insert(r->key);
        total -= c;
      }
      std::erase_if(kept, [&](const CacheRecord& r) { return dropped.count(r.key) > 0; });
    }

    // What stays reachable.
    Roots roots = image_roots(st);
    std::set<Digest> keep_blobs = roots.image_blobs;
    std::set<std::string> keep_snaps;
    for (const auto& r : kept) {
      if (!r.snapshot.empty()) keep_snaps.insert(r.snapshot);
      for (const auto& l : r.layers) keep_blobs.insert(l.blob);
    }
    if (!opts.all) keep_snaps.insert(roots.image_layer_snapshots.begin(), roots.image_layer_snapshots.end());
    // Other modules' records keep whatever blobs they name.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(st.root() / "records", ec)) {
      std::string ns = e.path().filename().string();
      if (ns == "cache" || !e.is_directory()) continue;
      store::Records other = st.records(ns);
      for (const auto& k : other.list()) {
        try {
          if (auto j = other.get_json(k)) collect_digests(*j, keep_blobs);
        } catch (const Error&) {
          if (auto v = other.get(k)) {
            std::istringstream in(*v);
            std::string w;
            while (in >> w)
              if (auto d = Digest::try_parse(w)) keep_blobs.insert(*d);
          }
        }
      }
    }
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
      store::Records http = st.records("http");
      for (const auto& k : http.list()) {
        add("build cache", "http " + k, 0);
        if (!opts.dry_run) http.remove(k);
      }
      for (const char* dir : {"cache-mounts", "statcache"}) {
        for (const auto& e : fs::directory_iterator(st.root() / dir, ec)) {
          add(std::string(dir) == "cache-mounts" ? "cache mount" : "temporary", e.path().string(),
              tree_size(e.path()));
          if (!opts.dry_run) remove_path(e.path());
        }
      }
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
  rows["build cache"].count = st.records("cache").list().size();
  for (const auto& i : snap->list()) {
    UsageRow& r = rows[i.name.rfind("layer-", 0) == 0 && i.kind == snapshotter::Kind::committed ? "unpacked layers"
                                                                                                   : "build cache"];
    if (&r == &rows["unpacked layers"]) r.count++;
    r.size += snap->usage(i.name).size;
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(st.root() / "cache-mounts", ec)) {
    if (!e.is_directory()) continue;
    rows["cache mounts"].count++;
    rows["cache mounts"].size += tree_size(e.path());
  }
  for (const auto& e : fs::directory_iterator(st.root() / "ingest", ec)) {
    rows["temporary"].count++;
    rows["temporary"].size += tree_size(e.path());
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
      char buf[1 << 16];
      for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
          if (errno == EINTR) continue;
          throw_errno("read", p.string());
        }
        if (n == 0) break;
        h.update(buf, static_cast<size_t>(n));
      }
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
  for (const auto& s : strays)
    if (s.rfind(".tmp-", 0) == 0) rep.leftovers.push_back("temporary file blobs/sha256/" + s);
    else rep.problems.push_back("blobs/sha256/" + s + ": not a digest");
  Roots roots = image_roots(st);
  rep.images = roots.images;
  rep.problems.insert(rep.problems.end(), roots.problems.begin(), roots.problems.end());

  auto snap = snapshotter::open_snapshotter(st.root());
  for (const auto& p : snap->check()) rep.problems.push_back(p);
  std::map<std::string, snapshotter::Info> snaps;
  for (auto& i : snap->list()) {
    ++rep.snapshots;
    if (i.kind != snapshotter::Kind::committed) rep.leftovers.push_back("snapshot " + i.name + " (" +
                                                                       std::string(snapshotter::to_string(i.kind)) + ")");
    snaps.emplace(i.name, i);
  }
  for (const auto& p : snap->orphans(false)) rep.leftovers.push_back("orphan " + p.string());

  store::Records recs = st.records("cache");
  for (const auto& key : recs.list()) {
    ++rep.records;
    CacheRecord r = read_record(recs, key);
    std::string bad = r.invalid;
    if (bad.empty() && !r.snapshot.empty()) {
      auto it = snaps.find(r.snapshot);
      if (it == snaps.end()) bad = "snapshot " + r.snapshot + " does not exist";
      else if (it->second.kind != snapshotter::Kind::committed) bad = "snapshot " + r.snapshot + " is not committed";
    }
    for (const auto& l : r.layers)
      if (bad.empty() && !st.has_blob(l.blob)) bad = "layer blob " + l.blob.str() + " is missing";
    if (bad.empty()) continue;
    rep.problems.push_back("cache record " + key + ": " + bad);
    if (repair) {
      recs.remove(key);
      rep.repaired.push_back("removed cache record " + key);
    }
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(st.root() / "ingest", ec))
    rep.leftovers.push_back("temporary " + e.path().string());
  for (const auto& cg : executor::stale_cgroups(false)) rep.leftovers.push_back("cgroup " + cg);
  return rep;
}

}  // namespace xb::solver
