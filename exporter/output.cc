// -o/--output: parsing buildx's "type=…,dest=…" specs and performing them
// (docs/dev/exporter.md).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>

#include "common/error.h"
#include "common/options.h"
#include "common/parallel.h"
#include "exporter/exporter.h"

namespace xb::exporter {

namespace fs = std::filesystem;
using store::Compression;
using store::Descriptor;
using store::ImageRef;
using Clock = std::chrono::steady_clock;

namespace {

std::string mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::string rate(uint64_t bytes, Clock::duration d) {
  double s = std::chrono::duration<double>(d).count();
  if (s < 1e-3) s = 1e-3;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB/s", static_cast<double>(bytes) / 1e6 / s);
  return buf;
}

bool parse_bool(const std::string& what, const std::string& v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  fail(ErrorKind::usage, "--output " + what + "=" + v + ": want true or false");
}

// Turns compression events into lines with sizes and rates.
CompressProgress compress_log(const OutputLog& log) {
  if (!log) return {};
  auto starts = std::make_shared<std::map<Digest, Clock::time_point>>();
  return [log, starts](const CompressEvent& e) {
    std::string id = std::string(e.diff_id.hex().substr(0, 12));
    if (e.kind == CompressEvent::Kind::start) {
      (*starts)[e.diff_id] = Clock::now();
    } else if (e.kind == CompressEvent::Kind::done) {
      auto d = Clock::now() - (*starts)[e.diff_id];
      log("compressed layer " + id + ": " + mb(e.total) + " → " + mb(e.compressed) + " at " + rate(e.total, d));
    }
  };
}

}  // namespace

OutputSpec parse_output(std::string_view text) {
  OutputSpec o;
  // buildx's shorthands: one CSV field that is not type=… names a directory
  // for the local exporter, and "-" is a tar of the root file system on stdout.
  if (!text.empty() && text.find(',') == std::string_view::npos && text.find('"') == std::string_view::npos &&
      text.rfind("type=", 0) != 0) {
    if (text != "-") {
      o.type = OutputSpec::Type::local;
      o.dest = std::string(text);
      return o;
    }
    o.type = OutputSpec::Type::tar;
    o.dest = "-";
    if (::isatty(STDOUT_FILENO))
      fail(ErrorKind::usage, "--output -: refusing to write a tar archive to a terminal; redirect it or use -o DIR");
    return o;
  }
  std::map<std::string, std::string> opts = parse_key_values("--output", text, "type=oci,dest=out.tar");
  const std::string t(text);
  std::string type = opts.count("type") ? opts["type"] : "image";
  static const std::map<std::string, OutputSpec::Type> types = {
      {"image", OutputSpec::Type::image}, {"oci", OutputSpec::Type::oci}, {"docker", OutputSpec::Type::docker},
      {"local", OutputSpec::Type::local}, {"tar", OutputSpec::Type::tar}, {"registry", OutputSpec::Type::registry}};
  auto it = types.find(type);
  if (it == types.end())
    fail(ErrorKind::usage, "--output type=" + type + ": want image, oci, docker, local, tar or registry");
  o.type = it->second;
  const bool file_type = o.type == OutputSpec::Type::oci || o.type == OutputSpec::Type::docker ||
                         o.type == OutputSpec::Type::tar || o.type == OutputSpec::Type::local;
  bool level_set = false;
  for (const auto& [k, v] : opts) {
    if (k == "type") continue;
    if (k == "dest") {
      if (!file_type)
        fail(ErrorKind::usage, "--output type=" + type + " takes no dest (it is for oci, docker, tar, local)");
      if (v.empty()) fail(ErrorKind::usage, "--output type=" + type + ": dest is empty");
      o.dest = v;
    } else if (k == "compression") {
      if (v == "gzip") o.layers.compression = Compression::gzip;
      else if (v == "zstd") o.layers.compression = Compression::zstd;
      else if (v == "uncompressed") o.layers.compression = Compression::none;
      else fail(ErrorKind::usage, "--output compression=" + v + ": want gzip, zstd or uncompressed");
    } else if (k == "compression-level") {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end) fail(ErrorKind::usage, "--output compression-level=" + v + ": want a number");
      o.layers.level = static_cast<int>(n);
      level_set = true;
    } else if (k == "oci-mediatypes") {
      o.layers.oci_media_types = parse_bool(k, v);
    } else if (k == "force-compression") {
      o.layers.force = parse_bool(k, v);
    } else if (k == "name") {
      o.names.push_back(ImageRef::parse(v));
    } else if (k == "push") {
      o.push = parse_bool(k, v);
      if (o.type != OutputSpec::Type::image && o.type != OutputSpec::Type::registry)
        fail(ErrorKind::usage, "--output push=" + v + ": only for type=image");
    } else if (auto a = parse_annotation_option(k, v)) {
      o.annotations.push_back(*a);
    } else {
      fail(ErrorKind::usage, "--output " + t + ": unknown option \"" + k +
                                 "\" (known: type, dest, compression, compression-level, oci-mediatypes, "
                                 "force-compression, name, push, annotation.*)");
    }
  }
  // buildx's --load is type=docker without dest: into the Docker Engine.
  if (file_type && o.dest.empty() && o.type != OutputSpec::Type::docker)
    fail(ErrorKind::usage, "--output type=" + type + " needs dest=" +
                               (o.type == OutputSpec::Type::local ? "DIR" : "FILE (or dest=- for stdout)"));
  if (o.type == OutputSpec::Type::local && o.dest == "-")
    fail(ErrorKind::usage, "--output type=local writes a directory: dest=- is for oci, docker and tar");
  if (level_set) {
    int n = *o.layers.level;
    if (o.layers.compression == Compression::gzip && (n < 0 || n > 9))
      fail(ErrorKind::usage, "--output compression-level=" + std::to_string(n) + ": gzip levels are 0 to 9");
    if (o.layers.compression == Compression::zstd && (n < 1 || n > 22))
      fail(ErrorKind::usage, "--output compression-level=" + std::to_string(n) + ": zstd levels are 1 to 22");
    if (o.layers.compression == Compression::none)
      fail(ErrorKind::usage, "--output compression-level: meaningless with compression=uncompressed");
  }
  if (o.layers.compression == Compression::zstd && !o.layers.oci_media_types)
    fail(ErrorKind::usage, "--output compression=zstd needs OCI media types: drop oci-mediatypes=false");
  if (o.dest == "-" && ::isatty(STDOUT_FILENO))
    fail(ErrorKind::usage, "--output dest=-: refusing to write an archive to a terminal; redirect it or use dest=FILE");
  return o;
}

namespace {

// The image as it leaves with options: its layers compressed and typed
// and, with attestations, attached to it in an index of the same media types.
Descriptor prepare_attested(store::Store& st, const Descriptor& prepared, const LayerOptions& options,
                            const Attestations* attestations) {
  if (!attestations || attestations->empty()) return prepared;
  // The statements name the manifest as it leaves (its digest changes with
  // the compression); a second prepare gives the index and the attestation
  // manifest docker's media types when the options ask for them.
  return prepare_image(st, attach(st, prepared, *attestations), options);
}

}  // namespace

Descriptor push_image(store::Store& st, const Descriptor& target, const std::vector<ImageRef>& refs,
                      const LayerOptions& options, registry::ClientOptions ro, const OutputLog& log,
                      const Attestations* attestations) {
  if (log) {
    auto starts = std::make_shared<std::map<std::string, Clock::time_point>>();
    auto inner = ro.progress;
    ro.progress = [log, starts, inner](const registry::ProgressEvent& e) {
      if (inner) inner(e);
      using K = registry::ProgressEvent::Kind;
      std::string id = e.what.size() > 19 ? e.what.substr(7, 12) : e.what;
      switch (e.kind) {
        case K::blob_start: (*starts)[e.what] = Clock::now(); break;
        case K::blob_done:
          log("pushed blob " + id + ": " + mb(e.total) + " at " + rate(e.total, Clock::now() - (*starts)[e.what]));
          break;
        case K::blob_exists: log("blob " + id + " already exists"); break;
        case K::blob_mounted: log("blob " + id + " mounted from " + e.message); break;
        case K::blob_retry: log("blob " + id + ": retrying (" + e.message + ")"); break;
        default: break;
      }
    };
  }
  const auto parallel = static_cast<size_t>(std::max(1, ro.max_parallel));
  registry::Client client(std::move(ro));
  // Each layer goes to the first name as soon as it is compressed, so the
  // upload (our sending, the registry's hashing and writing) overlaps the
  // compression of the others instead of following it; client.push then
  // finds the layers there (HEAD) and sends the config and the manifest.
  std::optional<Descriptor> prepared;
  {
    JobQueue uploads(parallel, SIZE_MAX);
    prepared = prepare_image(st, target, options, compress_log(log), [&](const Descriptor& layer) {
      if (st.has_blob(layer.digest))  // else push() says what is missing
        uploads.submit([&client, &st, ref = refs.front(), layer] { client.push_blob(st, ref, layer); });
    });
    uploads.wait();
  }
  prepared = prepare_attested(st, *prepared, options, attestations);
  Descriptor pushed = *prepared;
  for (const auto& ref : refs) {
    pushed.digest = client.push(st, *prepared, ref);
    if (log) log("pushed " + ref.str() + "@" + pushed.digest.str());
  }
  return pushed;
}

namespace {

// BuildKit's exporter response for an image that left as `desc` (a manifest,
// or an index of it and its attestations) under `names`; `manifest` is the
// image's manifest (in `desc` or as built), whose config is the image ID.
nlohmann::json image_response(const store::Store& st, const Descriptor& desc, const Descriptor& manifest,
                              const std::vector<ImageRef>& names) {
  nlohmann::json r = nlohmann::json::object();
  store::Image img = st.image(manifest);
  Descriptor shown = desc;
  // As BuildKit's commitDistributionManifest: the descriptor names its
  // config and, for one platform, the platform.
  shown.annotations["config.digest"] = img.id().str();
  if (store::is_manifest_media_type(desc.media_type) && !shown.platform) shown.platform = img.config.platform();
  r["containerimage.digest"] = desc.digest.str();
  r["containerimage.config.digest"] = img.id().str();
  r["containerimage.descriptor"] = shown.to_json();
  if (!names.empty()) {
    std::string joined;
    for (const auto& n : names) joined += (joined.empty() ? "" : ",") + n.str();
    r["image.name"] = joined;
  }
  return r;
}

}  // namespace

nlohmann::json run_output(store::Store& st, const OutputSpec& spec, const Descriptor& built,
                          const std::vector<ImageRef>& tags, const registry::ClientOptions& ro, const OutputLog& log,
                          const Attestations* attestations) {
  std::vector<ImageRef> names = tags;
  names.insert(names.end(), spec.names.begin(), spec.names.end());
  const std::string where = spec.dest == "-" ? std::string("stdout") : spec.dest.string();
  auto say = [&](const std::string& s) {
    if (log) log(s);
  };
  // Annotations first: every later step (compression, push) keeps them.
  const Descriptor target = apply_annotations(st, built, spec.annotations);
  switch (spec.type) {
    case OutputSpec::Type::image: {
      // The store keeps the image as built (uncompressed), attested as such
      // (an index nothing names would only wait for prune).
      const Descriptor local = attestations && !attestations->empty() && !names.empty()
                                   ? attach(st, target, *attestations)
                                   : target;
      for (const auto& n : names) {
        st.set_image(n, local);
        say("naming to " + n.str());
      }
      if (!spec.push) return image_response(st, local, target, names);
      if (names.empty()) fail(ErrorKind::usage, "--output push=true needs a name: add -t REGISTRY/NAME:TAG");
      // As `docker build -t N . && docker push N`: the build is not lost
      // with the push; the names stay in the store, and the error says so
      // and how to retry without rebuilding.
      try {
        Descriptor pushed = push_image(st, target, names, spec.layers, ro, log, attestations);
        return image_response(st, pushed, target, names);
      } catch (const Error& e) {
        throw Error(e.kind(), std::string(e.what()) + "; the image is kept in the local store as " +
                                  names.front().str() + ": retry with `xbuild push " + names.front().str() + "`");
      }
    }
    case OutputSpec::Type::oci: {
      Descriptor prepared = prepare_image(st, target, spec.layers, compress_log(log));
      prepared = prepare_attested(st, prepared, spec.layers, attestations);
      write_archive(st, prepared, names, ArchiveFormat::oci, spec.dest);
      say("exported OCI archive " + where);
      return image_response(st, prepared, target, names);
    }
    case OutputSpec::Type::docker:
      if (spec.dest.empty()) {
        EngineEndpoint engine = EngineEndpoint::from_environment();
        for (const auto& line : load_into_engine(st, target, names, engine)) say(line);
        say("loaded into the Docker Engine at " + engine.host);
      } else {
        write_archive(st, target, names, ArchiveFormat::docker, spec.dest);
        say("exported docker archive " + where);
      }
      return image_response(st, target, target, names);
    case OutputSpec::Type::tar:
      write_rootfs_tar(st, target, spec.dest);
      say("exported the root file system as tar " + where);
      return nlohmann::json::object();
    case OutputSpec::Type::local:
      write_rootfs_dir(st, target, spec.dest);
      say("exported the root file system to " + where);
      return nlohmann::json::object();
    case OutputSpec::Type::registry: {
      if (names.empty()) fail(ErrorKind::usage, "--push needs a name: add -t REGISTRY/NAME:TAG");
      Descriptor pushed = push_image(st, target, names, spec.layers, ro, log, attestations);
      return image_response(st, pushed, target, names);
    }
  }
  return nlohmann::json::object();
}

}  // namespace xb::exporter
