// The local build cache: records, cache mounts, stat caches.
#include "cache/cache.h"

#include "common/error.h"
#include "common/fs.h"

namespace xb::cache {

namespace fs = std::filesystem;
using nlohmann::json;

json Layer::to_json() const {
  json j = {{"diff_id", diff_id.str()}, {"blob", blob.str()}, {"size", size}, {"media_type", media_type}};
  if (!created.empty()) j["created"] = created;
  return j;
}

Layer Layer::from_json(const json& j) {
  return Layer{Digest::parse(j.at("diff_id").get<std::string>()), Digest::parse(j.at("blob").get<std::string>()),
               j.at("size").get<uint64_t>(), j.at("media_type").get<std::string>(), j.value("created", std::string())};
}

json CacheRecord::to_json() const {
  json j = {{"v", kVersion}, {"snapshot", snapshot}, {"layers", json::array()}};
  for (const auto& l : layers) j["layers"].push_back(l.to_json());
  if (!step.empty()) j["step"] = step;
  if (!inputs.empty()) j["inputs"] = inputs.to_json();
  return j;
}

CacheRecord CacheRecord::from_json(const json& j) {
  // value() throws on a non-object: such a record is unreadable, not of another version.
  if (j.value("v", 0) != kVersion) fail(ErrorKind::failed_precondition, "unknown record version");
  CacheRecord r;
  r.snapshot = j.at("snapshot").get<std::string>();
  for (const auto& l : j.at("layers")) r.layers.push_back(Layer::from_json(l));
  r.step = j.value("step", std::string());
  if (auto it = j.find("inputs"); it != j.end()) r.inputs = StepInputs::from_json(*it);
  return r;
}

namespace {
constexpr std::string_view kUrlRecords = "http";
// The record file of a key: its hex digest (what every xbuild since the first wrote).
std::string name_of(const CacheKey& key) { return std::string(key.hex()); }
}  // namespace

LocalCache::LocalCache(store::Store& store) : store_(store), records_(store.records("cache")) {}

std::optional<CacheRecord> LocalCache::get(const CacheKey& key) const {
  try {
    auto j = records_.get_json(name_of(key));
    if (!j) return std::nullopt;
    return CacheRecord::from_json(*j);
  } catch (const std::exception&) {
    return std::nullopt;  // an unreadable record is a miss, and gets rewritten
  }
}

void LocalCache::put(const CacheKey& key, const CacheRecord& record) {
  records_.put_json(name_of(key), record.to_json());
}

void LocalCache::touch(const CacheKey& key) { records_.touch(name_of(key)); }

// The step index: one small file per identity under cache-steps/, named by
// the identity's digest (it holds paths and blanks). Written without fsync:
// a build writes one per step that runs, and a lost or torn entry only
// costs an explanation ("never built"), never a cache hit. The key is kept
// as bare hex, so that nothing takes it for a blob digest.
fs::path LocalCache::steps_dir() const { return store_.root() / "cache-steps"; }

std::optional<CacheKey> LocalCache::last_key(std::string_view step) const {
  try {
    json j = json::parse(read_file(steps_dir() / std::string(Digest::of(step).hex())));
    if (j.value("v", 0) != 1 || j.value("step", std::string()) != step) return std::nullopt;
    return Digest::parse("sha256:" + j.at("key").get<std::string>());
  } catch (const std::exception&) {
    return std::nullopt;  // absent or unreadable: as if never built
  }
}

void LocalCache::set_last_key(std::string_view step, const CacheKey& key) {
  fs::create_directories(steps_dir());
  json j = {{"v", 1}, {"step", std::string(step)}, {"key", std::string(key.hex())}};
  write_file_atomic(steps_dir() / std::string(Digest::of(step).hex()), j.dump(), 0644, false);
}

std::vector<std::string> LocalCache::sweep_steps(bool all, bool remove) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(steps_dir(), ec)) {
    std::string name = e.path().filename().string();
    bool gone = all || name.size() != 64;  // not an entry: a killed writer's temporary
    if (!gone) {
      try {
        json j = json::parse(read_file(e.path()));
        gone = !records_.get(j.at("key").get<std::string>());
      } catch (const std::exception&) {
        gone = true;
      }
    }
    if (!gone) continue;
    out.push_back(e.path().string());
    if (remove) fs::remove(e.path(), ec);
  }
  return out;
}

std::vector<LocalCache::Entry> LocalCache::entries() const {
  std::vector<Entry> out;
  for (const auto& name : records_.list()) {
    Entry e;
    e.name = name;
    e.last_used = records_.last_used(name).value_or(0);
    try {
      auto j = records_.get_json(name);
      if (!j) e.invalid = "gone";
      else e.record = CacheRecord::from_json(*j);
    } catch (const Error& err) {
      e.invalid = err.kind() == ErrorKind::failed_precondition ? err.what() : std::string("unreadable: ") + err.what();
    } catch (const std::exception& err) {
      e.invalid = std::string("unreadable: ") + err.what();
    }
    out.push_back(std::move(e));
  }
  return out;
}

size_t LocalCache::count() const { return records_.list().size(); }

void LocalCache::remove(const std::string& name) { records_.remove(name); }

fs::path cache_mount_path(const fs::path& store_root, std::string_view id) {
  return store_root / "cache-mounts" / std::string(Digest::of(id).hex());
}

fs::path LocalCache::mount_dir(std::string_view id) const {
  fs::path dir = cache_mount_path(store_.root(), id);
  fs::create_directories(dir.parent_path());
  return dir;
}

store::Records LocalCache::urls() const { return store_.records(kUrlRecords); }

fs::path LocalCache::stat_cache(const fs::path& context_dir) const {
  return store_.root() / "statcache" / (Xxh128::hex_of(fs::absolute(context_dir).lexically_normal().string()) + ".bin");
}

std::vector<LocalCache::Dir> LocalCache::dirs(bool remove) const {
  std::vector<Dir> out;
  std::error_code ec;
  for (const char* dir : {"cache-mounts", "statcache"}) {
    for (const auto& e : fs::directory_iterator(store_.root() / dir, ec)) {
      out.push_back(
          Dir{std::string(dir) == "cache-mounts" ? "cache mount" : "temporary", e.path(), tree_size(e.path())});
      if (remove) remove_tree(e.path());
    }
  }
  return out;
}

std::vector<std::string> LocalCache::url_records(bool remove) const {
  std::vector<std::string> out;
  store::Records http = urls();
  for (const auto& k : http.list()) {
    out.push_back("http " + k);
    if (remove) http.remove(k);
  }
  return out;
}

}  // namespace xb::cache
