#include "cache/cache.h"
#include "cache/internal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "common/fs.h"
#include "common/json.h"
#include "common/options.h"
#include "common/parallel.h"
#include "common/size.h"
#include "exporter/exporter.h"
#include "registry/registry.h"
#include "store/blob_reader.h"

namespace xb::cache {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------------------
// CacheSpec

namespace {

// mounts=true|false (--cache-to: export the cache mounts, default false;
// --cache-from: restore them, default true) and mounts-max-size=SIZE
// (--cache-to with mounts=true).
void parse_mount_options(std::map<std::string, std::string>& o, CacheSpec& s, const std::string& where,
                         std::set<std::string>& allowed) {
  s.mounts = !s.to;
  if (s.type == CacheSpec::Type::inline_) return;
  allowed.insert("mounts");
  if (o.count("mounts")) {
    if (o["mounts"] != "true" && o["mounts"] != "false")
      fail(ErrorKind::usage, where + ": mounts=" + o["mounts"] + " (want true or false)");
    s.mounts = o["mounts"] == "true";
  }
  if (!s.to || !o.count("mounts-max-size")) return;
  allowed.insert("mounts-max-size");
  s.mounts_max_size = parse_size(o["mounts-max-size"], SizeUnits::binary);
  if (!s.mounts_max_size)
    fail(ErrorKind::usage, where + ": mounts-max-size=" + o["mounts-max-size"] + " is not a size (e.g. 500m)");
  if (!s.mounts) fail(ErrorKind::usage, where + ": mounts-max-size needs mounts=true");
}

}  // namespace

CacheSpec CacheSpec::parse(std::string_view flag, std::string_view text) {
  const bool to = flag == "--cache-to";
  const std::string where = std::string(flag) + " " + std::string(text);
  if (text.empty()) fail(ErrorKind::usage, std::string(flag) + ": empty value (want type=registry,ref=REF)");
  // buildx: a value without "=" is a registry reference.
  std::map<std::string, std::string> o;
  if (text.find('=') == std::string_view::npos) o = {{"type", "registry"}, {"ref", std::string(text)}};
  else o = parse_key_values(flag, text);
  CacheSpec s;
  s.to = to;
  std::string type = o.count("type") ? o["type"] : "registry";
  std::set<std::string> allowed = {"type"};
  if (type == "registry") {
    s.type = Type::registry;
    s.ref = o.count("ref") ? o["ref"] : "";
    if (s.ref.empty()) fail(ErrorKind::usage, where + ": needs ref=REGISTRY/NAME[:TAG]");
    auto r = store::ImageRef::try_parse(s.ref);
    if (!r) fail(ErrorKind::usage, where + ": ref \"" + s.ref + "\" is not an image reference");
    if (to && r->digest()) fail(ErrorKind::usage, where + ": ref must name a tag, not a digest");
    allowed.insert("ref");
  } else if (type == "local") {
    s.type = Type::local;
    std::string key = to ? "dest" : "src";
    if (!o.count(key) || o[key].empty()) fail(ErrorKind::usage, where + ": needs " + key + "=DIR");
    s.dir = o[key];
    if (o.count("tag")) s.tag = o["tag"];
    if (s.tag.empty()) fail(ErrorKind::usage, where + ": empty tag");
    allowed.insert(key);
    allowed.insert("tag");
  } else if (type == "inline") {
    s.type = Type::inline_;
  } else {
    fail(ErrorKind::usage, where + ": unknown type \"" + type + "\" (want registry, local or inline)");
  }
  if (to) {
    allowed.insert("ignore-error");
    if (s.type != Type::inline_) {
      allowed.insert("mode");
      allowed.insert("compression");
      allowed.insert("compression-level");
    }
    if (o.count("compression")) {
      const std::string& c = o["compression"];
      if (c == "gzip") s.compression = store::Compression::gzip;
      else if (c == "zstd") s.compression = store::Compression::zstd;
      else if (c == "uncompressed") s.compression = store::Compression::none;
      else fail(ErrorKind::usage, where + ": compression=" + c + " (want gzip, zstd or uncompressed)");
    }
    if (o.count("compression-level")) {
      const std::string& v = o["compression-level"];
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      const bool zstd = s.compression == store::Compression::zstd;
      const long lo = zstd ? 1 : 0, hi = zstd ? 22 : 9;
      if (v.empty() || *end || n < lo || n > hi || s.compression == store::Compression::none)
        fail(ErrorKind::usage, where + ": compression-level=" + v + " (want " + std::to_string(lo) + " to " +
                                   std::to_string(hi) + " for " + std::string(store::to_string(s.compression)) + ")");
      s.compression_level = static_cast<int>(n);
    }
    if (o.count("mode")) {
      if (o["mode"] == "max") s.mode = Mode::max;
      else if (o["mode"] != "min") fail(ErrorKind::usage, where + ": mode=" + o["mode"] + " (want min or max)");
    }
    if (o.count("ignore-error")) {
      if (o["ignore-error"] == "true") s.ignore_error = true;
      else if (o["ignore-error"] != "false")
        fail(ErrorKind::usage, where + ": ignore-error=" + o["ignore-error"] + " (want true or false)");
    }
  }
  parse_mount_options(o, s, where, allowed);
  for (const auto& [k, v] : o)
    if (!allowed.count(k)) fail(ErrorKind::usage, where + ": unknown option " + k);
  return s;
}

std::string CacheSpec::str() const {
  switch (type) {
    case Type::registry: return "type=registry,ref=" + ref;
    case Type::local: return std::string("type=local,") + (to ? "dest=" : "src=") + dir.string();
    case Type::inline_: return "type=inline";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// CacheMetadata

void CacheMetadata::add(const CacheKey& key, const std::vector<Layer>& chain) {
  std::vector<size_t> idx;
  for (const auto& l : chain) {
    auto it = std::find_if(layers.begin(), layers.end(), [&](const Layer& x) { return x.blob == l.blob; });
    if (it == layers.end()) {
      layers.push_back(l);
      idx.push_back(layers.size() - 1);
    } else {
      idx.push_back(static_cast<size_t>(it - layers.begin()));
    }
  }
  records.insert_or_assign(key, std::move(idx));
}

std::vector<Layer> CacheMetadata::chain(const CacheKey& key) const {
  std::vector<Layer> out;
  auto it = records.find(key);
  if (it == records.end()) return out;
  for (size_t i : it->second) out.push_back(layers.at(i));
  return out;
}

namespace {

json records_json(const std::map<CacheKey, std::vector<size_t>>& records) {
  json rs = json::array();
  for (const auto& [k, idx] : records) rs.push_back({{"key", k.str()}, {"layers", idx}});
  return rs;
}

void check_version(const json& j, std::string_view what) {
  if (!j.is_object()) fail(ErrorKind::invalid_argument, std::string(what) + " is not a JSON object");
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer())
    fail(ErrorKind::invalid_argument, std::string(what) + " has no \"version\"");
  if (*v != 1)  // compared as JSON: 2^32 + 1 is not 1
    fail(ErrorKind::failed_precondition,
         std::string(what) + " has format version " + v->dump() + ", this xbuild reads version 1 only");
}

// When each layer was first made (Layer::created), so that a build from
// this cache stamps the same history times and gets the same image ID as
// the build that filled it. Optional: older metadata has none.
json created_json(const std::vector<Layer>& layers) {
  json c = json::array();
  for (const auto& l : layers) c.push_back(l.created);
  return c;
}

void read_created(const json& j, CacheMetadata& m) {
  auto c = j.find("created");
  if (c == j.end() || !c->is_array() || c->size() != m.layers.size()) return;
  for (size_t i = 0; i < m.layers.size(); ++i)
    if ((*c)[i].is_string()) m.layers[i].created = (*c)[i].get<std::string>();
}

void read_records(const json& j, CacheMetadata& m, std::string_view what) {
  auto rs = j.find("records");
  if (rs == j.end() || !rs->is_array()) fail(ErrorKind::invalid_argument, std::string(what) + ": no \"records\" list");
  for (const auto& r : *rs) {
    try {
      CacheKey key = Digest::parse(r.at("key").get<std::string>());
      // Each index is checked before it is converted: a number beyond 2^64
      // parses as a double, and converting that to size_t is undefined
      // (cache_config_fuzz found it).
      const json& layers = r.at("layers");
      if (!layers.is_array())
        fail(ErrorKind::invalid_argument, std::string(what) + ": record " + key.str() + ": \"layers\" is not a list");
      std::vector<size_t> idx;
      for (const auto& n : layers) {
        const bool index = n.is_number_unsigned() || (n.is_number_integer() && n.get<int64_t>() >= 0);
        if (!index || n.get<uint64_t>() >= m.layers.size())
          fail(ErrorKind::invalid_argument, std::string(what) + ": record " + key.str() + " names layer " +
                                                dump_json(n) + " of " + std::to_string(m.layers.size()));
        idx.push_back(n.get<size_t>());
      }
      m.records.insert_or_assign(key, std::move(idx));
    } catch (const json::exception& e) {
      fail(ErrorKind::invalid_argument, std::string(what) + ": malformed record (" + e.what() + ")");
    }
  }
}

}  // namespace

std::string CacheMetadata::config_json() const {
  // Mount layers after the step layers, in diff_ids too: a reader without
  // mounts sees layers no record names, which it ignores.
  std::vector<Layer> all = layers;
  for (const auto& [id, l] : mounts) all.push_back(Layer{l.diff_id, l.blob, l.size, l.media_type, ""});
  json diff_ids = json::array();
  for (const auto& l : all) diff_ids.push_back(l.diff_id.str());
  json j = {{"version", 1}, {"diff_ids", diff_ids}, {"created", created_json(all)}, {"records", records_json(records)}};
  return dump_json(j);
}

std::vector<store::Descriptor> CacheMetadata::manifest_layers() const {
  std::vector<store::Descriptor> out;
  for (const auto& l : layers)
    out.push_back(store::Descriptor{l.media_type, l.blob, static_cast<int64_t>(l.size), {}, std::nullopt, {}, {}});
  for (const auto& [id, l] : mounts)
    out.push_back(store::Descriptor{l.media_type,
                                    l.blob,
                                    static_cast<int64_t>(l.size),
                                    {{std::string(kCacheMountAnnotation), id}},
                                    std::nullopt,
                                    {},
                                    {}});
  return out;
}

CacheMetadata CacheMetadata::from_config(const json& config, const std::vector<store::Descriptor>& layers) {
  check_version(config, "cache config");
  CacheMetadata m;
  auto d = config.find("diff_ids");
  if (d == config.end() || !d->is_array() || d->size() != layers.size())
    fail(ErrorKind::invalid_argument, "cache config: \"diff_ids\" must list one diff ID per manifest layer");
  for (size_t i = 0; i < layers.size(); ++i) {
    Digest diff_id = Digest::parse((*d)[i].is_string() ? (*d)[i].get<std::string>() : "");
    // An uncompressed layer is its own diff ID: a cheap check of the metadata.
    if (store::layer_compression(layers[i].media_type) == store::Compression::none && diff_id != layers[i].digest)
      fail(ErrorKind::invalid_argument,
           "cache config: layer " + layers[i].digest.str() + " is uncompressed but its diff ID is " + diff_id.str());
    m.layers.push_back(Layer{diff_id, layers[i].digest, static_cast<uint64_t>(layers[i].size), layers[i].media_type});
  }
  read_created(config, m);
  read_records(config, m, "cache config");
  // Cache mounts: layers annotated with their id (they stay in m.layers too,
  // so that the records' indices keep their meaning; no record names them).
  for (size_t i = 0; i < layers.size(); ++i) {
    auto a = layers[i].annotations.find(std::string(kCacheMountAnnotation));
    if (a != layers[i].annotations.end() && !a->second.empty()) m.mounts.emplace(a->second, m.layers[i]);
  }
  return m;
}

json CacheMetadata::inline_json() const {
  return {{"version", 1}, {"created", created_json(layers)}, {"records", records_json(records)}};
}

CacheMetadata CacheMetadata::from_inline(const json& field, const std::vector<store::Descriptor>& layers,
                                         const std::vector<Digest>& diff_ids) {
  check_version(field, "inline cache metadata");
  if (layers.size() != diff_ids.size())
    fail(ErrorKind::invalid_argument,
         "image has " + std::to_string(layers.size()) + " layers but " + std::to_string(diff_ids.size()) + " diff IDs");
  CacheMetadata m;
  for (size_t i = 0; i < layers.size(); ++i)
    m.layers.push_back(
        Layer{diff_ids[i], layers[i].digest, static_cast<uint64_t>(layers[i].size), layers[i].media_type});
  read_created(field, m);
  read_records(field, m, "inline cache metadata");
  return m;
}

// ---------------------------------------------------------------------------
// Sources

namespace {}  // namespace

std::shared_ptr<registry::Client> detail::make_client(const fs::path& registry_config) {
  registry::ClientOptions co;
  co.config = registry::RegistryConfig::load(registry_config);
  co.credentials.emplace();
  return std::make_shared<registry::Client>(std::move(co));
}

namespace {

class RegistrySource : public CacheSource {
 public:
  RegistrySource(std::shared_ptr<registry::Client> client, store::ImageRef ref)
      : client_(std::move(client)), ref_(std::move(ref)) {}
  std::string name() const override { return "registry " + ref_.str(); }
  void fetch(store::Store& store, const Layer& layer) override {
    store::Descriptor d{layer.media_type, layer.blob, static_cast<int64_t>(layer.size), {}, std::nullopt, {}, {}};
    try {
      client_->fetch_blob(store, ref_, d);
    } catch (Error& e) {
      e.with_context("cache " + ref_.str());
      throw;
    }
  }

 private:
  std::shared_ptr<registry::Client> client_;
  store::ImageRef ref_;
};

using detail::layout_blob;

// Copies a file into the store, verified by the writer against digest and size.
void copy_into_store(store::Store& store, const fs::path& file, const Digest& digest, std::optional<uint64_t> size) {
  UniqueFd fd = open_or_throw(file, O_RDONLY);
  store::BlobWriter w = store.write_blob(digest, size);
  read_chunks(fd.get(), file.string(), [&](std::string_view d) { w.write(d); });
  w.commit();
}

class LocalSource : public CacheSource {
 public:
  explicit LocalSource(fs::path dir) : dir_(std::move(dir)) {}
  std::string name() const override { return "local " + dir_.string(); }
  void fetch(store::Store& store, const Layer& layer) override {
    try {
      copy_into_store(store, layout_blob(dir_, layer.blob), layer.blob, layer.size);
    } catch (Error& e) {
      e.with_context("cache " + dir_.string());
      throw;
    }
  }

 private:
  fs::path dir_;
};

// Reads a blob of a local layout, verified.
std::string read_layout_blob(const fs::path& dir, const Digest& d) {
  fs::path p = layout_blob(dir, d);
  if (!fs::exists(p)) fail(ErrorKind::not_found, "blob " + d.str() + " is missing from " + dir.string());
  std::string bytes = read_file(p);
  if (Digest::of(bytes) != d) fail(ErrorKind::data_loss, "blob " + p.string() + " does not match its digest");
  return bytes;
}

// The metadata a manifest points at: a cache config, or an image config
// with inline metadata. read_config fetches a blob, verified.
CacheMetadata metadata_of(const store::Manifest& m,
                          const std::function<std::string(const store::Descriptor&)>& read_config,
                          const std::string& what) {
  std::string bytes = read_config(m.config);
  json cfg;
  try {
    cfg = json::parse(bytes);
  } catch (const json::exception&) {
    fail(ErrorKind::invalid_argument, what + ": its config is not JSON");
  }
  if (m.config.media_type == kCacheConfigMediaType) return CacheMetadata::from_config(cfg, m.layers);
  auto field = cfg.is_object() ? cfg.find(std::string(kInlineCacheField)) : cfg.end();
  if (field == cfg.end())
    fail(ErrorKind::not_found, what + " is neither an xbuild cache nor an image built with --cache-to type=inline");
  store::ImageConfig ic = store::ImageConfig::parse(bytes);
  return CacheMetadata::from_inline(*field, m.layers, ic.diff_ids);
}

std::pair<std::unique_ptr<CacheSource>, CacheMetadata> open_registry(store::Store& store,
                                                                     std::shared_ptr<registry::Client> client,
                                                                     const CacheSpec& spec) {
  store::ImageRef ref = store::ImageRef::parse(spec.ref);
  registry::ResolvedManifest top = client->resolve(ref);
  registry::ResolvedManifest man = top;
  if (store::is_index_media_type(top.descriptor.media_type)) {
    auto sel = store::Index::parse(top.bytes).select(store::Platform::host());
    if (!sel) fail(ErrorKind::not_found, ref.str() + " has no manifest for " + store::Platform::host().str());
    man = client->resolve(ref.with_digest(sel->digest));
  }
  store::Manifest m = store::Manifest::parse(man.bytes);
  auto read_config = [&](const store::Descriptor& d) {
    client->fetch_blob(store, ref, d);  // verified by digest and size
    return store.read_blob(d.digest);
  };
  CacheMetadata md = metadata_of(m, read_config, ref.str());
  return {std::make_unique<RegistrySource>(client, ref), std::move(md)};
}

std::optional<store::Descriptor> layout_entry(const fs::path& dir, const std::string& tag) {
  fs::path index = dir / "index.json";
  if (!fs::exists(index)) return std::nullopt;
  store::Index idx = store::Index::parse(read_file(index));
  for (const auto& d : idx.manifests) {
    auto a = d.annotations.find(std::string(store::ref_name_annotation));
    if (a != d.annotations.end() && a->second == tag) return d;
  }
  return std::nullopt;
}

std::pair<std::unique_ptr<CacheSource>, CacheMetadata> open_local(const CacheSpec& spec) {
  if (!fs::is_directory(spec.dir)) fail(ErrorKind::not_found, "directory " + spec.dir.string() + " does not exist");
  auto entry = layout_entry(spec.dir, spec.tag);
  if (!entry)
    fail(ErrorKind::not_found, spec.dir.string() + " has no cache tagged \"" + spec.tag + "\" in its index.json");
  store::Manifest m = store::Manifest::parse(read_layout_blob(spec.dir, entry->digest));
  auto read_config = [&](const store::Descriptor& d) { return read_layout_blob(spec.dir, d.digest); };
  CacheMetadata md = metadata_of(m, read_config, spec.dir.string());
  return {std::make_unique<LocalSource>(spec.dir), std::move(md)};
}

}  // namespace

// ---------------------------------------------------------------------------
// RemoteCache

RemoteCache::RemoteCache(store::Store& store, const std::vector<CacheSpec>& specs, const fs::path& registry_config,
                         const std::function<void(const std::string&)>& warn)
    : store_(store) {
  std::shared_ptr<registry::Client> client;
  for (const auto& spec : specs) {
    try {
      std::pair<std::unique_ptr<CacheSource>, CacheMetadata> c;
      if (spec.type == CacheSpec::Type::local) {
        c = open_local(spec);
      } else if (spec.type == CacheSpec::Type::registry) {
        if (!client) client = detail::make_client(registry_config);
        c = open_registry(store, client, spec);
      } else {
        continue;  // type=inline is for --cache-to; --cache-from names the image with type=registry
      }
      if (warn)
        warn("importing cache from " + c.first->name() + ": " + std::to_string(c.second.records.size()) + " steps, " +
             std::to_string(c.second.layers.size() - c.second.mounts.size()) + " layers" +
             (c.second.mounts.empty() ? "" : ", " + std::to_string(c.second.mounts.size()) + " cache mounts"));
      for (const auto& l : c.second.layers) blob_source_.emplace(l.blob, c.first.get());
      sources_.push_back(std::move(c.first));
      caches_.push_back(std::move(c.second));
      restore_mounts_.push_back(spec.mounts);
    } catch (const std::exception& e) {
      // As BuildKit: a cache that cannot be read only makes the build slower.
      if (warn) warn("WARNING: --cache-from " + spec.str() + ": " + e.what() + " (building without it)");
    }
  }
}

RemoteCache::RemoteCache(store::Store& store,
                         std::vector<std::pair<std::unique_ptr<CacheSource>, CacheMetadata>> caches)
    : store_(store) {
  for (auto& [src, md] : caches) {
    for (const auto& l : md.layers) blob_source_.emplace(l.blob, src.get());
    sources_.push_back(std::move(src));
    caches_.push_back(std::move(md));
    restore_mounts_.push_back(true);
  }
}

RemoteCache::~RemoteCache() = default;

std::optional<std::vector<Layer>> RemoteCache::lookup(const CacheKey& key) const {
  for (const auto& c : caches_) {
    if (!c.records.count(key)) continue;
    std::vector<Layer> s = c.chain(key);
    // A layer the store holds uncompressed (the base image's, typically) is
    // used as it is rather than fetched again in the cache's compression.
    for (auto& l : s)
      if (l.blob != l.diff_id && !store_.has_blob(l.blob) && store_.has_blob(l.diff_id))
        l = Layer{l.diff_id, l.diff_id, store_.blob_size(l.diff_id).value_or(0),
                  std::string(store::media_type::oci_layer), l.created};
    return s;
  }
  return std::nullopt;
}

void RemoteCache::ensure_blob(const Layer& layer) {
  if (store_.has_blob(layer.blob)) return;
  std::shared_ptr<std::mutex> lock;
  CacheSource* src = nullptr;
  {
    std::lock_guard g(mu_);
    auto it = blob_source_.find(layer.blob);
    if (it == blob_source_.end())
      fail(ErrorKind::not_found, "layer " + layer.blob.str() + " is neither in the store nor in any --cache-from");
    src = it->second;
    auto& l = blob_locks_[layer.blob];
    if (!l) l = std::make_shared<std::mutex>();
    lock = l;
  }
  std::lock_guard g(*lock);
  if (store_.has_blob(layer.blob)) return;
  src->fetch(store_, layer);
}

void RemoteCache::ensure_blobs(const std::vector<Layer>& layers) {
  std::vector<const Layer*> missing;
  for (const auto& l : layers)
    if (!store_.has_blob(l.blob)) missing.push_back(&l);
  parallel_for(missing.size(), 4, [&](size_t i, const std::atomic<bool>&) { ensure_blob(*missing[i]); });
}

std::optional<std::pair<Layer, std::string>> RemoteCache::mount(const std::string& id) const {
  for (size_t i = 0; i < caches_.size(); ++i) {
    if (!restore_mounts_[i]) continue;
    if (auto it = caches_[i].mounts.find(id); it != caches_[i].mounts.end())
      return std::pair{it->second, sources_[i]->name()};
  }
  return std::nullopt;
}

size_t RemoteCache::records() const {
  size_t n = 0;
  for (const auto& c : caches_) n += c.records.size();
  return n;
}

}  // namespace xb::cache
