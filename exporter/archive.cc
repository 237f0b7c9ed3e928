// Docker and OCI archives (write and load), `import` of a rootfs tarball,
// and layer decompression. Everything streams through libarchive; no layer
// is held in memory.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "common/tar.h"
#include "common/json.h"
#include "exporter/exporter.h"
#include "store/blob_reader.h"

namespace xb::exporter {

namespace fs = std::filesystem;
using nlohmann::json;
using store::Descriptor;
using store::ImageRef;
namespace mt = store::media_type;

namespace {

constexpr size_t kChunk = 1 << 20;

struct Entry {
  archive_entry* e = archive_entry_new();
  ~Entry() { archive_entry_free(e); }
};

// Now, or SOURCE_DATE_EPOCH when set (reproducible imports, as in builds).
std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde && *sde) {
    char* end = nullptr;
    long long v = std::strtoll(sde, &end, 10);
    if (!*end && v >= 0) t = static_cast<std::time_t>(v);
  }
  return store::rfc3339(std::chrono::system_clock::from_time_t(t));
}

// The decompressed bytes of whatever libarchive can read from fd (raw format).
namespace {

void pump_decompressed_from(const std::function<size_t(void*, size_t)>& read, const std::string& what,
                            const std::function<void(std::string_view)>& sink) {
  tar::Source src(read, kChunk);
  tar::Archive r = tar::decompressor();
  auto failed = [&](ErrorKind kind, const std::string& why) {
    src.rethrow_source_error();
    fail(kind, what + why + tar::error(r.get()));
  };
  if (src.open(r.get()) != ARCHIVE_OK) failed(ErrorKind::invalid_argument, ": ");
  archive_entry* e = nullptr;
  int rc = tar::next_header(r.get(), &e);
  if (rc == ARCHIVE_EOF) return;
  if (rc != ARCHIVE_OK) failed(ErrorKind::invalid_argument, ": ");
  std::string buf(kChunk, '\0');
  for (;;) {
    la_ssize_t n = archive_read_data(r.get(), buf.data(), buf.size());
    if (n < 0) failed(ErrorKind::data_loss, ": cannot decompress: ");
    if (n == 0) return;
    sink(std::string_view(buf.data(), static_cast<size_t>(n)));
  }
}

}  // namespace

void pump_decompressed(int fd, const std::string& what, const std::function<void(std::string_view)>& sink) {
  pump_decompressed_from(
      [fd](void* buf, size_t size) -> size_t {
        for (;;) {
          ssize_t n = ::read(fd, buf, size);
          if (n >= 0) return static_cast<size_t>(n);
          if (errno != EINTR) throw_errno("read");
        }
      },
      what, sink);
}

store::Compression layer_compression_of(const store::Store& st, const Descriptor& layer) {
  if (auto c = store::layer_compression(layer.media_type)) return *c;
  UniqueFd fd = st.open_blob(layer.digest);
  char head[4] = {};
  ssize_t n = ::pread(fd.get(), head, sizeof head, 0);
  return store::sniff_compression(std::string_view(head, n > 0 ? static_cast<size_t>(n) : 0));
}

// The platform manifest of target (itself unless it is an index).
std::pair<Descriptor, store::Manifest> platform_manifest(const store::Store& st, const Descriptor& target) {
  store::Image img = st.image(target);
  return {img.manifest_desc, img.manifest};
}

class TarOut {
 public:
  explicit TarOut(int fd, const std::string& name) : name_(name) {
    if (archive_write_open_fd(w_.get(), fd) != ARCHIVE_OK) check(ARCHIVE_FATAL);
  }
  void add_dir(const std::string& path) {
    Entry e;
    archive_entry_set_pathname(e.e, path.c_str());
    archive_entry_set_filetype(e.e, AE_IFDIR);
    archive_entry_set_perm(e.e, 0755);
    archive_entry_set_mtime(e.e, 0, 0);
    check(tar::write_header(w_.get(), e.e));
  }
  void begin_file(const std::string& path, uint64_t size) {
    Entry e;
    archive_entry_set_pathname(e.e, path.c_str());
    archive_entry_set_filetype(e.e, AE_IFREG);
    archive_entry_set_perm(e.e, 0644);
    archive_entry_set_size(e.e, static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.e, 0, 0);
    check(tar::write_header(w_.get(), e.e));
  }
  void data(std::string_view d) {
    while (!d.empty()) {
      la_ssize_t n = archive_write_data(w_.get(), d.data(), d.size());
      if (n < 0) check(ARCHIVE_FATAL);
      d.remove_prefix(static_cast<size_t>(n));
    }
  }
  void add_file(const std::string& path, std::string_view content) {
    begin_file(path, content.size());
    data(content);
  }
  void add_fd(const std::string& path, int fd, uint64_t size, const std::string& what) {
    begin_file(path, size);
    uint64_t written = 0;
    read_chunks(fd, what, [&](std::string_view d) {
      written += d.size();
      data(d);
    });
    if (written != size) fail(ErrorKind::data_loss, what + ": changed size while being archived");
  }
  // A blob of the store, verified as it streams (store::VerifiedBlobReader).
  void add_blob(const std::string& path, const store::Store& st, const Digest& digest) {
    store::VerifiedBlobReader in = store::read_blob_verified(st, digest);
    begin_file(path, in.size());
    uint64_t written = 0;
    in.pump([&](std::string_view d) {
      written += d.size();
      data(d);
    });
    if (written != in.size())
      fail(ErrorKind::data_loss, "blob " + digest.str() + ": changed size while being archived");
  }
  void close() { check(archive_write_close(w_.get())); }

 private:
  void check(int rc) {
    if (rc < ARCHIVE_WARN) fail(ErrorKind::io, "write " + name_ + ": " + tar::error(w_.get()));
  }
  tar::Archive w_ = tar::writer();
  std::string name_;
};

// One image of a docker archive: its config and layers written (each layer
// once per archive), its manifest.json entry and repositories added.
void write_docker_image(const store::Store& st, const Descriptor& mdesc, const store::Manifest& m,
                        const std::vector<ImageRef>& names, TarOut& out, std::set<Digest>& written, json& manifest,
                        json& repos) {
  std::string config = st.read_blob(m.config.digest);
  store::ImageConfig cfg = store::ImageConfig::parse(config);
  if (cfg.diff_ids.size() != m.layers.size())
    fail(ErrorKind::data_loss, "image " + mdesc.digest.str() + ": config has " + std::to_string(cfg.diff_ids.size()) +
                                   " diff IDs for " + std::to_string(m.layers.size()) + " layers");
  std::string config_name = std::string(m.config.digest.hex()) + ".json";
  if (written.insert(m.config.digest).second) out.add_file(config_name, config);
  json layers = json::array();
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Descriptor& l = m.layers[i];
    const Digest& diff_id = cfg.diff_ids[i];
    std::string dir = std::string(diff_id.hex());
    layers.push_back(dir + "/layer.tar");
    if (!written.insert(diff_id).second) continue;
    out.add_dir(dir);
    out.add_file(dir + "/VERSION", "1.0");
    std::string what = "layer " + l.digest.str();
    if (layer_compression_of(st, l) == store::Compression::none) {
      if (l.digest != diff_id)
        fail(ErrorKind::data_loss, what + " is uncompressed but its digest is not its diff ID " + diff_id.str());
      out.add_blob(dir + "/layer.tar", st, l.digest);
      continue;
    }
    // A tar header needs the size first: decompress to a temporary file on
    // the store's disk, checking the diff ID on the way.
    TempDir tmp("export", st.root() / "ingest");
    fs::path plain = tmp.path() / "layer.tar";
    {
      UniqueFd outf = open_or_throw(plain, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      Sha256 h;
      read_layer_uncompressed(st, l, [&](std::string_view d) {
        h.update(d);
        write_all(outf.get(), d, plain.string());
      });
      Digest got = h.finish();
      if (got != diff_id)
        fail(ErrorKind::data_loss, what + " decompresses to " + got.str() + ", not its diff ID " + diff_id.str());
    }
    UniqueFd fd = open_or_throw(plain, O_RDONLY);
    out.add_fd(dir + "/layer.tar", fd.get(), fs::file_size(plain), what);
  }
  json tags = json::array();
  for (const auto& n : names) {
    if (!n.tag()) continue;
    tags.push_back(n.familiar_repository() + ":" + *n.tag());
    if (!cfg.diff_ids.empty()) repos[n.familiar_repository()][*n.tag()] = std::string(cfg.diff_ids.back().hex());
  }
  manifest.push_back(json{{"Config", config_name}, {"RepoTags", tags}, {"Layers", layers}});
}

// A docker archive of target: one image, or for an index one image per
// platform (as BuildKit's docker exporter). The names go to the host's
// platform's image (else the first), the one `docker load` should tag.
void write_docker(const store::Store& st, const Descriptor& target, const std::vector<ImageRef>& names, TarOut& out) {
  std::set<Digest> written;
  json manifest = json::array();
  json repos = json::object();
  if (store::is_index_media_type(target.media_type)) {
    std::vector<Descriptor> images;
    for (const auto& d : store::Index::parse(st.read_blob(target.digest)).manifests)
      if (d.platform && d.platform->os != "unknown" && store::is_manifest_media_type(d.media_type) &&
          st.has_blob(d.digest))
        images.push_back(d);
    if (images.empty())
      fail(ErrorKind::not_found, "image index " + target.digest.str() + ": the store holds none of its images");
    size_t named = 0;
    for (size_t i = 0; i < images.size(); ++i)
      if (store::Platform::host().matches(*images[i].platform)) {
        named = i;
        break;
      }
    for (size_t i = 0; i < images.size(); ++i)
      write_docker_image(st, images[i], store::Manifest::parse(st.read_blob(images[i].digest)),
                         i == named ? names : std::vector<ImageRef>{}, out, written, manifest, repos);
  } else {
    auto [mdesc, m] = platform_manifest(st, target);
    write_docker_image(st, mdesc, m, names, out, written, manifest, repos);
  }
  if (!repos.empty()) out.add_file("repositories", dump_json(repos) + "\n");
  out.add_file("manifest.json", dump_json(manifest) + "\n");
}

void write_oci(const store::Store& st, const Descriptor& target, const std::vector<ImageRef>& names, TarOut& out) {
  out.add_file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  // Every blob reachable from target that the store holds (an index may list
  // platforms that were never pulled).
  std::vector<Descriptor> blobs;
  std::set<Digest> seen;
  auto add = [&](const Descriptor& d) {
    if (seen.insert(d.digest).second) blobs.push_back(d);
  };
  auto add_manifest = [&](const Descriptor& d) {
    add(d);
    store::Manifest m = store::Manifest::parse(st.read_blob(d.digest));
    add(m.config);
    for (const auto& l : m.layers) add(l);
  };
  if (store::is_index_media_type(target.media_type)) {
    add(target);
    for (const auto& d : store::Index::parse(st.read_blob(target.digest)).manifests)
      if (st.has_blob(d.digest) && store::is_manifest_media_type(d.media_type)) add_manifest(d);
  } else {
    add_manifest(target);
  }
  out.add_dir("blobs");
  out.add_dir("blobs/sha256");
  for (const auto& d : blobs) {
    out.add_blob("blobs/sha256/" + std::string(d.digest.hex()), st, d.digest);
  }
  store::Index idx;
  idx.media_type = mt::oci_index;
  Descriptor base = target;
  // Names are per entry (below); other descriptor annotations
  // (annotation-manifest-descriptor.*) stay.
  base.annotations.erase(std::string(store::ref_name_annotation));
  base.annotations.erase("io.containerd.image.name");
  if (names.empty()) idx.manifests.push_back(base);
  for (const auto& n : names) {
    Descriptor d = base;
    // The OCI layout's ref.name is the tag alone ("1", as containerd and
    // BuildKit write it), which skopeo's oci-archive:FILE:1 and umoci's
    // --image DIR:1 look up; the full name goes in containerd's annotation,
    // which load reads first.
    std::string object = n.tag().value_or("");
    if (n.digest()) object += "@" + n.digest()->str();
    d.annotations[std::string(store::ref_name_annotation)] = object;
    d.annotations["io.containerd.image.name"] = n.str();
    idx.manifests.push_back(d);
  }
  out.add_file("index.json", idx.to_json());
}

}  // namespace

ArchiveFormat parse_archive_format(std::string_view text) {
  if (text == "docker") return ArchiveFormat::docker;
  if (text == "oci") return ArchiveFormat::oci;
  fail(ErrorKind::usage, "unknown archive format \"" + std::string(text) + "\": want oci or docker");
}

void write_archive(const store::Store& st, const Descriptor& target, const std::vector<ImageRef>& names,
                   ArchiveFormat format, const fs::path& dest) {
  std::optional<AtomicFile> file;
  int fd = STDOUT_FILENO;
  std::string name = dest == "-" ? "stdout" : dest.string();
  if (dest != "-") {
    file.emplace(dest.is_relative() ? fs::absolute(dest) : dest, 0644);
    fd = file->fd();
  }
  write_archive_fd(st, target, names, format, fd, name);
  if (file) file->commit();
}

void write_archive_fd(const store::Store& st, const Descriptor& target, const std::vector<ImageRef>& names,
                      ArchiveFormat format, int fd, const std::string& name) {
  TarOut out(fd, name);
  if (format == ArchiveFormat::docker) write_docker(st, target, names, out);
  else write_oci(st, target, names, out);
  out.close();
}

// ---------------------------------------------------------------------------

std::vector<LoadedImage> load_archive(store::Store& st, const fs::path& src) {
  const std::string name = src == "-" ? "stdin" : src.string();
  UniqueFd owned;
  int fd = STDIN_FILENO;
  if (src != "-") {
    owned = open_or_throw(src, O_RDONLY);
    fd = owned.get();
  }
  tar::Archive r = tar::reader(tar::Decompress::any);
  auto not_archive = [&](const std::string& why) {
    fail(ErrorKind::invalid_argument, "load " + name + ": not a docker or OCI image archive (" + why + ")");
  };
  if (archive_read_open_fd(r.get(), fd, kChunk) != ARCHIVE_OK) not_archive(tar::error(r.get()));
  std::map<std::string, std::string> small;                  // manifest.json, index.json, oci-layout
  std::map<std::string, std::pair<Digest, uint64_t>> files;  // other regular files → blobs
  archive_entry* e = nullptr;
  std::string buf(kChunk, '\0');
  for (;;) {
    int rc = tar::next_header(r.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) not_archive(tar::error(r.get()));
    if (archive_entry_filetype(e) != AE_IFREG) continue;
    std::string path = archive_entry_pathname(e);
    while (path.rfind("./", 0) == 0) path = path.substr(2);
    if (path == "manifest.json" || path == "index.json" || path == "oci-layout" || path == "repositories") {
      std::string content;
      for (;;) {
        la_ssize_t n = archive_read_data(r.get(), buf.data(), buf.size());
        if (n < 0) not_archive(tar::error(r.get()));
        if (n == 0) break;
        content.append(buf.data(), static_cast<size_t>(n));
        if (content.size() > (64u << 20)) not_archive(path + " is too large");
      }
      small[path] = std::move(content);
      continue;
    }
    // In an OCI layout the path names the digest: verify it while writing.
    std::optional<Digest> expected;
    if (path.rfind("blobs/sha256/", 0) == 0) {
      expected = Digest::try_parse("sha256:" + path.substr(13));
      if (!expected) continue;
    }
    store::BlobWriter w = st.write_blob(expected);
    for (;;) {
      la_ssize_t n = archive_read_data(r.get(), buf.data(), buf.size());
      if (n < 0) not_archive(tar::error(r.get()));
      if (n == 0) break;
      w.write(buf.data(), static_cast<size_t>(n));
    }
    uint64_t size = w.size();
    Digest d = w.commit();
    files.emplace(path, std::make_pair(d, size));
  }
  auto blob_of = [&](const std::string& path) {
    auto it = files.find(path);
    if (it == files.end()) not_archive("it lists " + path + " but does not contain it");
    return it->second;
  };

  std::vector<LoadedImage> loaded;
  if (small.count("manifest.json")) {
    json mj;
    try {
      mj = json::parse(small["manifest.json"]);
    } catch (const json::exception& ex) {
      not_archive(std::string("manifest.json is not JSON: ") + ex.what());
    }
    if (!mj.is_array()) not_archive("manifest.json is not a list");
    for (const auto& entry : mj) {
      if (!entry.is_object() || !entry.contains("Config") || !entry["Config"].is_string())
        not_archive("manifest.json entry without Config");
      auto [cfg_digest, cfg_size] = blob_of(entry["Config"].get<std::string>());
      store::ImageConfig cfg = store::ImageConfig::parse(st.read_blob(cfg_digest));
      store::Manifest m{
          .media_type = std::string(mt::oci_manifest),
          .config = Descriptor{
              .media_type = std::string(mt::oci_config), .digest = cfg_digest, .size = static_cast<int64_t>(cfg_size)}};
      const json layers = entry.value("Layers", json::array());
      if (layers.size() != cfg.diff_ids.size())
        not_archive("image config has " + std::to_string(cfg.diff_ids.size()) + " diff IDs for " +
                    std::to_string(layers.size()) + " layers");
      for (size_t i = 0; i < layers.size(); ++i) {
        auto [ld, lsize] = blob_of(layers[i].get<std::string>());
        UniqueFd lfd = st.open_blob(ld);
        char head[4] = {};
        ssize_t n = ::pread(lfd.get(), head, sizeof head, 0);
        store::Compression c = store::sniff_compression(std::string_view(head, n > 0 ? static_cast<size_t>(n) : 0));
        std::string media = c == store::Compression::gzip   ? std::string(mt::oci_layer_gzip)
                            : c == store::Compression::zstd ? std::string(mt::oci_layer_zstd)
                                                            : std::string(mt::oci_layer);
        if (c == store::Compression::none && ld != cfg.diff_ids[i])
          fail(ErrorKind::data_loss, "load " + name + ": layer " + layers[i].get<std::string>() + " has digest " +
                                         ld.str() + " but the config says " + cfg.diff_ids[i].str());
        m.layers.push_back(Descriptor{.media_type = media, .digest = ld, .size = static_cast<int64_t>(lsize)});
      }
      std::string mjson = m.to_json();
      Descriptor md{.media_type = std::string(mt::oci_manifest),
                    .digest = st.put_blob(mjson),
                    .size = static_cast<int64_t>(mjson.size())};
      bool tagged = false;
      for (const auto& t : entry.value("RepoTags", json::array())) {
        if (!t.is_string()) continue;
        ImageRef ref = ImageRef::parse(t.get<std::string>());
        st.set_image(ref, md);
        loaded.push_back({ref, md});
        tagged = true;
      }
      if (!tagged) loaded.push_back({std::nullopt, md});
    }
    return loaded;
  }
  if (small.count("index.json")) {
    store::Index idx;
    try {
      idx = store::Index::parse(small["index.json"]);
    } catch (const Error& ex) {
      not_archive(std::string("index.json: ") + ex.what());
    }
    for (const auto& d : idx.manifests) {
      if (!st.has_blob(d.digest)) not_archive("index.json names " + d.digest.str() + " which it does not contain");
      // Every image it holds (an index's platforms that are there) must be
      // readable: manifest, config and layers.
      std::vector<Descriptor> images;
      if (store::is_index_media_type(d.media_type)) {
        for (const auto& m : store::Index::parse(st.read_blob(d.digest)).manifests)
          if (store::is_manifest_media_type(m.media_type) && st.has_blob(m.digest)) images.push_back(m);
        if (images.empty()) not_archive("the index " + d.digest.str() + " names no image the archive contains");
      } else {
        images.push_back(d);
      }
      for (const auto& im : images) {
        store::Image img = st.image(im);
        for (const auto& l : img.manifest.layers)
          if (!st.has_blob(l.digest)) not_archive("layer " + l.digest.str() + " is missing");
      }
      Descriptor target = d;
      target.annotations.clear();
      std::optional<ImageRef> ref;
      for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
        auto a = d.annotations.find(key);
        if (a == d.annotations.end()) continue;
        // A bare tag ("latest") names no repository; keep the image untagged.
        if (a->second.find('/') == std::string::npos && a->second.find(':') == std::string::npos &&
            std::string(key) != "io.containerd.image.name")
          continue;
        ref = ImageRef::try_parse(a->second);
        if (ref) break;
      }
      if (ref) st.set_image(*ref, target);
      loaded.push_back({ref, target});
    }
    return loaded;
  }
  fail(ErrorKind::invalid_argument,
       "load " + name + ": not a docker or OCI image archive (no manifest.json or index.json in it)");
}

// ---------------------------------------------------------------------------

Descriptor import_rootfs(store::Store& st, const fs::path& tarball, const ImageRef& ref,
                         const store::Platform& platform) {
  const std::string name = tarball == "-" ? "stdin" : tarball.string();
  UniqueFd owned;
  int fd = STDIN_FILENO;
  if (tarball != "-") {
    owned = open_or_throw(tarball, O_RDONLY);
    fd = owned.get();
    // A quick look first: is it a tar archive at all (after decompression)?
    tar::Archive check = tar::reader(tar::Decompress::any, /*empty_ok=*/true);
    archive_entry* e = nullptr;
    if (archive_read_open_filename(check.get(), tarball.c_str(), kChunk) != ARCHIVE_OK ||
        tar::next_header(check.get(), &e) < ARCHIVE_WARN)
      fail(ErrorKind::invalid_argument, "import " + name + ": not a tar archive (" + tar::error(check.get()) + ")");
  }
  store::BlobWriter w = st.write_blob();
  pump_decompressed(fd, "import " + name, [&](std::string_view d) { w.write(d); });
  uint64_t size = w.size();
  Digest layer = w.commit();
  store::ImageConfig cfg;
  cfg.created = now_rfc3339();
  cfg.architecture = platform.architecture;
  cfg.os = platform.os;
  cfg.variant = platform.variant;
  cfg.diff_ids = {layer};
  store::HistoryEntry h;
  h.created = cfg.created;
  h.created_by = "xbuild import";
  h.comment = "Imported from " + (tarball == "-" ? std::string("-") : tarball.filename().string());
  cfg.history.push_back(h);
  std::string cj = cfg.to_json();
  store::Manifest m{.media_type = std::string(mt::oci_manifest),
                    .config = Descriptor{.media_type = std::string(mt::oci_config),
                                         .digest = st.put_blob(cj),
                                         .size = static_cast<int64_t>(cj.size())}};
  m.layers.push_back(
      Descriptor{.media_type = std::string(mt::oci_layer), .digest = layer, .size = static_cast<int64_t>(size)});
  std::string mj = m.to_json();
  Descriptor md{
      .media_type = std::string(mt::oci_manifest), .digest = st.put_blob(mj), .size = static_cast<int64_t>(mj.size())};
  st.set_image(ref, md);
  return md;
}

void read_layer_uncompressed(const store::Store& st, const Descriptor& layer,
                             const std::function<void(std::string_view)>& sink) {
  store::VerifiedBlobReader in = store::read_blob_verified(st, layer.digest);
  std::string what = "layer " + layer.digest.str();
  if (layer_compression_of(st, layer) == store::Compression::none) {
    in.pump(sink);
    return;
  }
  try {
    pump_decompressed_from([&](void* buf, size_t size) { return in.read(buf, size); }, what, sink);
  } catch (const Error& e) {
    // Corrupt bytes often fail the decompression first: say that they are corrupt.
    if (e.kind() != ErrorKind::data_loss && e.kind() != ErrorKind::invalid_argument) throw;
    in.finish();
    throw;
  }
  in.finish();
}

}  // namespace xb::exporter
