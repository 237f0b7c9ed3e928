// Layer compression for export and push (docs/dev/exporter.md): every layer
// is cut into fixed-size chunks that all cores compress at once, each chunk
// a complete gzip member (ISA-L's igzip at levels 1-3, libdeflate above) or
// zstd frame, written in order. A
// multi-member gzip file is one valid gzip stream to every reader (RFC 1952
// §2.2; eStargz layers are built the same way), and since the chunking does
// not depend on the number of threads the bytes, hence the digests, are the
// same on every machine.
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <unistd.h>
#include <zstd.h>

#include <archive.h>
#include <archive_entry.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "common/json.h"
#include "common/parallel.h"
#include "common/fs.h"
#include "exporter/exporter.h"
#include "store/blob_reader.h"

namespace xb::exporter {

namespace fs = std::filesystem;
using store::Compression;
using store::Descriptor;
namespace mt = store::media_type;

namespace {

constexpr size_t kGzipChunk = 1 << 20;  // deflate's window is 32 KiB: cutting every 1 MiB costs ~0.1%
constexpr size_t kZstdChunk = 4 << 20;
constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";

unsigned cores() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 2;
}

// Levels 1-3 are ISA-L's igzip levels 1-3: hand-vectorised deflate, 2.5-3x
// libdeflate's level-4 speed (docs/dev/exporter.md has the numbers). Levels
// 0 and 4-9 are libdeflate's. igzip needs the whole member to fit its output
// buffer in one call; input it cannot shrink enough falls back to libdeflate.
bool igzip_chunk(int level, std::string_view in, std::string& out) {
  static constexpr size_t kLevelBuf[] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT};
  thread_local std::string level_buf;
  level_buf.resize(kLevelBuf[level]);
  isal_zstream s;
  isal_deflate_init(&s);
  s.level = static_cast<uint32_t>(level);
  s.level_buf = reinterpret_cast<uint8_t*>(level_buf.data());
  s.level_buf_size = static_cast<uint32_t>(level_buf.size());
  s.gzip_flag = IGZIP_GZIP;
  s.end_of_stream = 1;
  s.flush = NO_FLUSH;
  s.next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uint32_t>(in.size());
  out.resize(in.size() + in.size() / 16 + 1024);
  s.next_out = reinterpret_cast<uint8_t*>(out.data());
  s.avail_out = static_cast<uint32_t>(out.size());
  if (isal_deflate_stateless(&s) != COMP_OK) return false;
  out.resize(s.total_out);
  return true;
}

std::string compress_chunk(Compression c, int level, std::string_view in) {
  std::string out;
  if (c == Compression::gzip) {
    if (level >= 1 && level <= 3 && igzip_chunk(level, in, out)) return out;
    // One compressor per level and thread, freed when the pool's thread ends.
    using Compressor = std::unique_ptr<libdeflate_compressor, decltype(&libdeflate_free_compressor)>;
    thread_local std::map<int, Compressor> compressors;
    auto it = compressors.find(level);
    if (it == compressors.end())
      it =
          compressors.emplace(level, Compressor(libdeflate_alloc_compressor(level), &libdeflate_free_compressor)).first;
    libdeflate_compressor* comp = it->second.get();
    if (!comp) {
      compressors.erase(it);
      fail(ErrorKind::resource_exhausted, "gzip: cannot allocate a compressor");
    }
    out.resize(libdeflate_gzip_compress_bound(comp, in.size()));
    size_t n = libdeflate_gzip_compress(comp, in.data(), in.size(), out.data(), out.size());
    if (n == 0) fail(ErrorKind::internal, "gzip: compression failed");
    out.resize(n);
    return out;
  }
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> owned(ZSTD_createCCtx(), &ZSTD_freeCCtx);
  ZSTD_CCtx* cctx = owned.get();
  if (!cctx) fail(ErrorKind::resource_exhausted, "zstd: cannot allocate a compressor");
  out.resize(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compressCCtx(cctx, out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) fail(ErrorKind::internal, std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

// Compresses what `produce` feeds its sink into `consume`, chunks in parallel
// on the pool, output in order. At most 2 × cores chunks are in flight.
void compress_stream(Compression c, int level,
                     const std::function<void(const std::function<void(std::string_view)>&)>& produce,
                     const std::function<void(std::string_view, uint64_t in_bytes)>& consume) {
  struct Chunk {
    std::string in, out;
    bool ready = false;
    std::exception_ptr error;
  };
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::shared_ptr<Chunk>> window;
    bool eof = false;
    bool cancelled = false;
    std::exception_ptr producer_error;
  };
  auto st = std::make_shared<State>();
  const size_t chunk_size = c == Compression::gzip ? kGzipChunk : kZstdChunk;
  const size_t max_window = 2 * cores() + 2;
  auto submit = [&](std::string&& data) {
    auto ch = std::make_shared<Chunk>();
    ch->in = std::move(data);
    {
      std::unique_lock lock(st->mu);
      st->cv.wait(lock, [&] { return st->window.size() < max_window || st->cancelled; });
      if (st->cancelled) throw Error(ErrorKind::cancelled, "compression cancelled");
      st->window.push_back(ch);
    }
    submit_cpu_job([st, ch, c, level] {
      try {
        ch->out = compress_chunk(c, level, ch->in);
      } catch (...) {
        ch->error = std::current_exception();
      }
      std::lock_guard lock(st->mu);
      ch->ready = true;
      st->cv.notify_all();
    });
  };
  std::thread producer([&, st] {
    try {
      std::string pending;
      pending.reserve(chunk_size);
      bool any = false;
      produce([&](std::string_view d) {
        while (!d.empty()) {
          size_t take = std::min(d.size(), chunk_size - pending.size());
          pending.append(d.data(), take);
          d.remove_prefix(take);
          if (pending.size() == chunk_size) {
            submit(std::move(pending));
            pending = std::string();
            pending.reserve(chunk_size);
            any = true;
          }
        }
      });
      // An empty input still compresses to a valid (empty) stream.
      if (!pending.empty() || !any) submit(std::move(pending));
    } catch (...) {
      std::lock_guard lock(st->mu);
      st->producer_error = std::current_exception();
    }
    std::lock_guard lock(st->mu);
    st->eof = true;
    st->cv.notify_all();
  });
  auto stop = [&] {
    {
      std::lock_guard lock(st->mu);
      st->cancelled = true;
      st->cv.notify_all();
    }
    producer.join();
  };
  try {
    for (;;) {
      std::shared_ptr<Chunk> ch;
      {
        std::unique_lock lock(st->mu);
        st->cv.wait(lock, [&] {
          return (!st->window.empty() && st->window.front()->ready) || (st->window.empty() && st->eof);
        });
        if (st->window.empty()) break;
        ch = st->window.front();
        st->window.pop_front();
        st->cv.notify_all();
      }
      if (ch->error) std::rethrow_exception(ch->error);
      consume(ch->out, ch->in.size());
    }
  } catch (...) {
    stop();
    throw;
  }
  producer.join();
  if (st->producer_error) std::rethrow_exception(st->producer_error);
}

Compression actual_compression(const store::Store& st, const Descriptor& layer) {
  if (auto c = store::layer_compression(layer.media_type)) return *c;
  UniqueFd fd = st.open_blob(layer.digest);
  char head[4] = {};
  ssize_t n = ::pread(fd.get(), head, sizeof head, 0);
  return store::sniff_compression(std::string_view(head, n > 0 ? static_cast<size_t>(n) : 0));
}

std::string layer_media_type(Compression c, bool oci) {
  switch (c) {
    case Compression::none: return std::string(oci ? mt::oci_layer : kDockerLayer);
    case Compression::gzip: return std::string(oci ? mt::oci_layer_gzip : mt::docker_layer_gzip);
    case Compression::zstd: return std::string(mt::oci_layer_zstd);  // docker schema2 has no zstd type
  }
  return {};
}

bool is_foreign(std::string_view media) {
  return media == mt::docker_layer_foreign || media.find(".nondistributable.") != std::string_view::npos;
}

// gzip's default is level 1 (igzip): on image data (files from /usr) its
// output is 4% smaller than Go's gzip at level 1 and 7% larger than at Go's
// default level 6 (what skopeo, buildah, containerd and BuildKit produce by
// default), at 4x the speed of the latter (docs/dev/exporter.md has the
// numbers). compression-level=4 gives smaller layers than those tools'.
int effective_level(const LayerOptions& o) {
  if (o.level) return *o.level;
  return o.compression == Compression::zstd ? 3 : 1;
}

}  // namespace

Descriptor compressed_layer(store::Store& st, const Descriptor& layer, const Digest& diff_id, const LayerOptions& o,
                            const CompressProgress& progress) {
  const Compression want = o.compression;
  const Compression have = actual_compression(st, layer);
  const std::string media = layer_media_type(want, o.oci_media_types);
  auto report = [&](CompressEvent::Kind k, uint64_t done, uint64_t total, uint64_t out) {
    if (progress) progress(CompressEvent{k, diff_id, done, total, out});
  };
  if (have == want && !o.force) {
    Descriptor d{.media_type = media, .digest = layer.digest, .size = layer.size};
    report(CompressEvent::Kind::reused, 0, 0, static_cast<uint64_t>(layer.size));
    return d;
  }
  const std::string what = "layer " + layer.digest.str();
  // The plain tar, fed to sink: verified against the diff ID unless it is the
  // uncompressed blob itself (its digest is its diff ID).
  auto produce = [&](const std::function<void(std::string_view)>& sink) {
    if (have == Compression::none) {
      if (layer.digest != diff_id)
        fail(ErrorKind::data_loss, what + " is uncompressed but its digest is not its diff ID " + diff_id.str());
      store::read_blob_verified(st, layer.digest).pump(sink);
      return;
    }
    Sha256 h;
    read_layer_uncompressed(st, layer, [&](std::string_view d) {
      h.update(d);
      sink(d);
    });
    Digest got = h.finish();
    if (got != diff_id)
      fail(ErrorKind::data_loss, what + " decompresses to " + got.str() + ", not its diff ID " + diff_id.str());
  };
  if (want == Compression::none) {
    if (st.has_blob(diff_id)) {
      report(CompressEvent::Kind::reused, 0, 0, *st.blob_size(diff_id));
      return Descriptor{.media_type = media, .digest = diff_id, .size = static_cast<int64_t>(*st.blob_size(diff_id))};
    }
    store::BlobWriter w = st.write_blob(diff_id);
    produce([&](std::string_view d) { w.write(d); });
    uint64_t size = w.size();
    w.commit();
    return Descriptor{.media_type = media, .digest = diff_id, .size = static_cast<int64_t>(size)};
  }

  store::Records records = st.records("layers");
  const std::string key = diff_id.str() + "," + std::string(store::to_string(want));
  if (!o.force) {
    if (auto rec = records.get_json(key)) {
      try {
        Digest d = Digest::parse(rec->at("digest").get<std::string>());
        if (auto size = st.blob_size(d)) {
          report(CompressEvent::Kind::reused, 0, 0, *size);
          return Descriptor{.media_type = media, .digest = d, .size = static_cast<int64_t>(*size)};
        }
      } catch (const std::exception&) {
        // An unreadable record is rewritten below.
      }
    }
  }
  const int level = effective_level(o);
  const uint64_t total = have == Compression::none ? static_cast<uint64_t>(layer.size) : 0;
  report(CompressEvent::Kind::start, 0, total, 0);
  store::BlobWriter w = st.write_blob();
  uint64_t done = 0, last = 0;
  compress_stream(want, level, produce, [&](std::string_view out, uint64_t in_bytes) {
    w.write(out);
    done += in_bytes;
    if (done - last >= (8u << 20)) {
      last = done;
      report(CompressEvent::Kind::progress, done, total, w.size());
    }
  });
  uint64_t size = w.size();
  Digest d = w.commit();
  records.put_json(key, {{"digest", d.str()}, {"size", size}, {"level", level}});
  report(CompressEvent::Kind::done, done, total ? total : done, size);
  return Descriptor{.media_type = media, .digest = d, .size = static_cast<int64_t>(size)};
}

namespace {

// The descriptor of json, the document `original` (whose bytes are `bytes`)
// became: `original` itself when nothing changed, else json put in the store.
Descriptor rewritten(store::Store& st, const Descriptor& original, const std::string& bytes, const std::string& json,
                     const std::string& media_type) {
  if (json == bytes) return original;
  Descriptor d = original;
  d.media_type = media_type;
  d.digest = st.put_blob(json);
  d.size = static_cast<int64_t>(json.size());
  return d;
}

Descriptor prepare_manifest(store::Store& st, const Descriptor& desc, const LayerOptions& o,
                            const CompressProgress& progress, const LayerReady& layer_ready) {
  const std::string bytes = st.read_blob(desc.digest);
  store::Manifest m = store::Manifest::parse(bytes);
  store::ImageConfig cfg = store::ImageConfig::parse(st.read_blob(m.config.digest));
  if (cfg.diff_ids.size() != m.layers.size())
    fail(ErrorKind::data_loss, "image " + desc.digest.str() + ": config has " + std::to_string(cfg.diff_ids.size()) +
                                   " diff IDs for " + std::to_string(m.layers.size()) + " layers");
  std::vector<std::optional<Descriptor>> out(m.layers.size());
  // Layers at once (small layers would leave cores idle one by one); each
  // layer's chunks go to the shared pool, so this does not oversubscribe.
  parallel_for(m.layers.size(), cores(), [&](size_t i, const std::atomic<bool>&) {
    // Foreign layers are not ours to recompress; an attestation manifest's
    // layers are in-toto JSON documents, not tars (they leave as they are).
    if (is_foreign(m.layers[i].media_type) || m.layers[i].media_type == "application/vnd.in-toto+json")
      out[i] = m.layers[i];
    else out[i] = compressed_layer(st, m.layers[i], cfg.diff_ids[i], o, progress);
    out[i]->annotations = m.layers[i].annotations;
    if (layer_ready) layer_ready(*out[i]);
  });

  store::Manifest nm = m;
  nm.media_type = std::string(o.oci_media_types ? mt::oci_manifest : mt::docker_manifest);
  nm.config.media_type = std::string(o.oci_media_types ? mt::oci_config : mt::docker_config);
  nm.layers.clear();
  for (auto& l : out) nm.layers.push_back(*l);
  if (!o.oci_media_types) {
    // Docker's schema2 has neither annotations nor subject.
    nm.annotations.clear();
    nm.subject.reset();
    nm.config.annotations.clear();
    for (auto& l : nm.layers) l.annotations.clear();
  }
  Descriptor d = rewritten(st, desc, bytes, nm.to_json(), nm.media_type);
  if (!o.oci_media_types && d.digest != desc.digest) {
    // As its manifest: schema2 has none; but an attestation manifest's
    // vnd.docker.reference.* stay on its descriptor, as BuildKit keeps them.
    std::map<std::string, std::string> keep;
    for (const auto& [k, v] : d.annotations)
      if (k.rfind("vnd.docker.reference.", 0) == 0) keep[k] = v;
    d.annotations = keep;
  }
  return d;
}

bool is_attestation(const Descriptor& d) {
  auto it = d.annotations.find("vnd.docker.reference.type");
  return it != d.annotations.end() && it->second == "attestation-manifest";
}

// The attestation manifest `d` about image `from`, made about `to` (the same
// image as it leaves): the reference annotation and the statements' subjects.
Descriptor retarget_attestation(store::Store& st, const Descriptor& d, const Digest& from, const Digest& to) {
  store::Manifest m = store::Manifest::parse(st.read_blob(d.digest));
  nlohmann::json diff_ids = nlohmann::json::array();
  for (auto& l : m.layers) {
    if (l.media_type == "application/vnd.in-toto+json") {
      nlohmann::json j = nlohmann::json::parse(st.read_blob(l.digest), nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("subject") && j["subject"].is_array()) {
        for (auto& s : j["subject"])
          if (s.is_object() && s.contains("digest") && s["digest"].is_object() &&
              s["digest"].value("sha256", "") == from.hex())
            s["digest"]["sha256"] = std::string(to.hex());
        const std::string b = dump_json(j);
        l.digest = st.put_blob(b);
        l.size = static_cast<int64_t>(b.size());
      }
    }
    diff_ids.push_back(l.digest.str());
  }
  nlohmann::json cfg = nlohmann::json::parse(st.read_blob(m.config.digest), nullptr, false);
  if (cfg.is_object()) {
    cfg["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
    const std::string c = dump_json(cfg);
    m.config.digest = st.put_blob(c);
    m.config.size = static_cast<int64_t>(c.size());
  }
  const std::string mj = m.to_json();
  Descriptor out = d;
  out.digest = st.put_blob(mj);
  out.size = static_cast<int64_t>(mj.size());
  out.annotations["vnd.docker.reference.digest"] = to.str();
  return out;
}

}  // namespace

Descriptor prepare_image(store::Store& st, const Descriptor& target, const LayerOptions& o,
                         const CompressProgress& progress, const LayerReady& layer_ready) {
  if (o.compression == Compression::zstd && !o.oci_media_types)
    fail(ErrorKind::usage, "compression=zstd needs OCI media types: drop oci-mediatypes=false");
  std::mutex mu;
  CompressProgress serialized;
  if (progress)
    serialized = [&](const CompressEvent& e) {
      std::lock_guard lock(mu);
      progress(e);
    };
  if (!store::is_index_media_type(target.media_type)) return prepare_manifest(st, target, o, serialized, layer_ready);
  const std::string bytes = st.read_blob(target.digest);
  store::Index idx = store::Index::parse(bytes);
  store::Index ni = idx;
  ni.media_type = std::string(o.oci_media_types ? mt::oci_index : mt::docker_manifest_list);
  ni.manifests.clear();
  // Platforms that were never pulled cannot be pushed or archived: only the
  // ones the store holds go. Images first: an attestation manifest names its
  // image by digest, and follows it when compression changes that digest.
  std::map<Digest, Digest> renamed;
  for (const auto& d : idx.manifests)
    if (st.has_blob(d.digest) && store::is_manifest_media_type(d.media_type) && !is_attestation(d)) {
      ni.manifests.push_back(prepare_manifest(st, d, o, serialized, layer_ready));
      if (ni.manifests.back().digest != d.digest) renamed.emplace(d.digest, ni.manifests.back().digest);
    }
  for (const auto& d : idx.manifests)
    if (st.has_blob(d.digest) && store::is_manifest_media_type(d.media_type) && is_attestation(d)) {
      auto it = d.annotations.find("vnd.docker.reference.digest");
      auto to = it == d.annotations.end() ? renamed.end() : renamed.find(Digest::parse(it->second));
      Descriptor a = to == renamed.end() ? d : retarget_attestation(st, d, to->first, to->second);
      ni.manifests.push_back(prepare_manifest(st, a, o, serialized, layer_ready));
    }
  if (ni.manifests.empty())
    fail(ErrorKind::not_found, "image index " + target.digest.str() + ": the store holds none of its manifests");
  if (!o.oci_media_types) ni.annotations.clear();
  return rewritten(st, target, bytes, ni.to_json(), ni.media_type);
}

}  // namespace xb::exporter
