// --cache-to: one pipeline for every kind (docs/dev/cache.md). select()
// decides which records a spec exports, write_*() where they go.
#include <algorithm>
#include <set>

#include "cache/cache.h"
#include "cache/internal.h"
#include "common/fs.h"
#include "exporter/exporter.h"
#include "registry/registry.h"
#include "store/blob_reader.h"

namespace xb::cache {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Writes blob `d` of the store into the layout at dir unless it is there.
void put_layout_blob(const store::Store& store, const fs::path& dir, const Digest& d) {
  fs::path dest = detail::layout_blob(dir, d);
  if (fs::exists(dest)) return;
  fs::create_directories(dest.parent_path());
  AtomicFile out(dest, 0444);
  store::read_blob_verified(store, d).pump([&](std::string_view bytes) { out.write(bytes); });
  out.commit(true);
}

// The cache as an OCI layout at dir: blobs added, index.json rewritten with
// the manifest under tag (other tags kept).
void write_layout(const store::Store& store, const fs::path& dir, const std::string& tag,
                  const store::Descriptor& manifest, const store::Manifest& m) {
  fs::create_directories(dir);
  for (const auto& l : m.layers) put_layout_blob(store, dir, l.digest);
  put_layout_blob(store, dir, m.config.digest);
  put_layout_blob(store, dir, manifest.digest);
  if (!fs::exists(dir / "oci-layout")) write_file_atomic(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  FileLock lock(dir / "index.json.lock", FileLock::Mode::exclusive);
  store::Index idx;
  idx.media_type = std::string(store::media_type::oci_index);
  if (fs::exists(dir / "index.json")) idx = store::Index::parse(read_file(dir / "index.json"));
  std::erase_if(idx.manifests, [&](const store::Descriptor& d) {
    auto a = d.annotations.find(std::string(store::ref_name_annotation));
    return a != d.annotations.end() && a->second == tag;
  });
  store::Descriptor entry = manifest;
  entry.annotations[std::string(store::ref_name_annotation)] = tag;
  idx.manifests.push_back(entry);
  write_file_atomic(dir / "index.json", idx.to_json());
}

// Layers as they go into a cache: uncompressed ones compressed as spec says
// (kept per diff ID and compression by the exporter, so the next export
// compresses nothing); compressed ones (pulled base layers) as they are.
// One layer at a time: compressed_layer spreads each over every core.
std::vector<Layer> compress_layers(store::Store& store, const std::vector<Layer>& layers, const CacheSpec& spec) {
  exporter::LayerOptions lo;
  lo.compression = spec.compression;
  lo.level = spec.compression_level;
  std::vector<Layer> out;
  for (const Layer& l : layers) {
    if (spec.compression == store::Compression::none ||
        store::layer_compression(l.media_type).value_or(store::Compression::none) != store::Compression::none) {
      out.push_back(l);
      continue;
    }
    store::Descriptor d = exporter::compressed_layer(
        store, store::Descriptor{l.media_type, l.blob, static_cast<int64_t>(l.size), {}, std::nullopt, {}, {}},
        l.diff_id, lo);
    out.push_back(Layer{l.diff_id, d.digest, static_cast<uint64_t>(d.size), d.media_type, l.created});
  }
  return out;
}

// The records spec exports, with their layers. Inline metadata can only
// describe the image's own layers: the final image's steps whose chain is a
// prefix of them. A registry or local cache carries its layers: mode=min
// the final image's steps, max every step, each only when its layers are
// here or in an imported cache (a layer nobody has leaves its step out).
CacheMetadata select(const store::Store& store, const CacheExport& cache, const CacheSpec& spec) {
  CacheMetadata m;
  if (spec.type == CacheSpec::Type::inline_) {
    const auto& image = cache.image_layers;
    m.layers = image;
    for (const auto& r : cache.records) {
      if (!r.final_chain || r.layers.size() > image.size()) continue;
      bool prefix = true;
      for (size_t i = 0; i < r.layers.size(); ++i) prefix = prefix && r.layers[i].blob == image[i].blob;
      if (!prefix) continue;
      std::vector<size_t> idx;
      for (size_t i = 0; i < r.layers.size(); ++i) idx.push_back(i);
      m.records.insert_or_assign(r.key, std::move(idx));
    }
    return m;
  }
  for (const auto& r : cache.records) {
    if (spec.mode == CacheSpec::Mode::min && !r.final_chain) continue;
    bool available = true;
    for (const auto& l : r.layers)
      if (!store.has_blob(l.blob) && !(cache.remote && cache.remote->can_fetch(l.blob))) available = false;
    if (available) m.add(r.key, r.layers);
  }
  return m;
}

// mounts=true: the build's cache mounts that were packed (or imported),
// each unless it is larger than mounts-max-size (a note says so).
std::map<std::string, Layer> select_mounts(const store::Store& store, const CacheExport& cache, const CacheSpec& spec,
                                           const ExportOptions& options) {
  std::map<std::string, Layer> out;
  if (!spec.mounts) return out;
  for (const auto& [id, m] : cache.mounts) {
    if (spec.mounts_max_size && m.bytes > *spec.mounts_max_size) {
      if (options.info)
        options.info("cache mount " + id + " (" + std::to_string(m.bytes) + " bytes) is larger than mounts-max-size=" +
                     std::to_string(*spec.mounts_max_size) + ": not exported to " + spec.str());
      continue;
    }
    if (!m.layer) continue;
    if (store.has_blob(m.layer->blob) || (cache.remote && cache.remote->can_fetch(m.layer->blob)))
      out.emplace(id, *m.layer);
  }
  return out;
}

// A registry or local cache: the layers fetched and compressed, the cache
// config and manifest put into the store, then pushed or written as a layout.
void write_manifest(store::Store& store, const CacheExport& cache, const CacheSpec& spec, const CacheMetadata& plain,
                    const ExportOptions& options) {
  std::vector<Layer> needed = plain.layers;
  for (const auto& [id, l] : plain.mounts) needed.push_back(l);
  if (cache.remote) cache.remote->ensure_blobs(needed);
  CacheMetadata md;
  md.layers = compress_layers(store, plain.layers, spec);
  md.records = plain.records;
  // A mount's tar is compressed as the layers are; unchanged contents give
  // the same tar, hence the remembered compressed blob, which a registry
  // already has (push checks with HEAD first): nothing is uploaded again.
  for (const auto& [id, l] : plain.mounts) md.mounts.emplace(id, compress_layers(store, {l}, spec).at(0));
  std::string config = md.config_json();
  Digest config_digest = store.put_blob(config);
  store::Manifest m{std::string(store::media_type::oci_manifest),
                    store::Descriptor{std::string(kCacheConfigMediaType),
                                      config_digest,
                                      static_cast<int64_t>(config.size()),
                                      {},
                                      std::nullopt,
                                      {},
                                      {}},
                    {},
                    {},
                    std::nullopt};
  m.layers = md.manifest_layers();
  std::string mj = m.to_json();
  Digest md_digest = store.put_blob(mj);
  store::Descriptor desc{m.media_type, md_digest, static_cast<int64_t>(mj.size()), {}, std::nullopt, {}, {}};
  if (spec.type == CacheSpec::Type::registry) {
    auto client = detail::make_client(options.registry_config);
    client->push(store, desc, store::ImageRef::parse(spec.ref));
  } else {
    write_layout(store, spec.dir, spec.tag, desc, m);
  }
  if (options.info)
    options.info("exported cache to " + spec.str() + ": " + std::to_string(md.records.size()) + " steps, " +
                 std::to_string(md.layers.size()) + " layers" +
                 (md.mounts.empty() ? "" : ", " + std::to_string(md.mounts.size()) + " cache mounts") + " (" +
                 md_digest.str() + ")");
}

}  // namespace

json export_cache(store::Store& store, const CacheExport& cache, const CacheSpec& spec, const ExportOptions& options) {
  try {
    try {
      CacheMetadata m = select(store, cache, spec);
      if (spec.type == CacheSpec::Type::inline_) return m.inline_json();
      m.mounts = select_mounts(store, cache, spec, options);
      write_manifest(store, cache, spec, m, options);
      return nullptr;
    } catch (const fs::filesystem_error& e) {
      fail(ErrorKind::io, "write " + e.path1().string() + ": " + e.code().message());
    }
  } catch (Error& e) {
    if (!spec.ignore_error) {
      e.with_context("--cache-to " + spec.str());
      throw;
    }
    if (options.info) options.info("WARNING: --cache-to " + spec.str() + ": " + e.what() + " (ignore-error=true)");
  }
  return nullptr;
}

}  // namespace xb::cache
