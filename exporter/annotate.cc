// --annotation and annotation.* output options: buildx's syntax, BuildKit's
// placement (docs/dev/exporter.md, "Annotations").
#include <regex>

#include "common/error.h"
#include "exporter/exporter.h"

namespace xb::exporter {

using store::Descriptor;

namespace {

Annotation::Level parse_level(const std::string& type, const std::string& where) {
  if (type.empty() || type == "manifest") return Annotation::Level::manifest;
  if (type == "manifest-descriptor") return Annotation::Level::manifest_descriptor;
  if (type == "index") return Annotation::Level::index;
  if (type == "index-descriptor") return Annotation::Level::index_descriptor;
  fail(ErrorKind::usage, where + ": unknown annotation type \"" + type +
                             "\" (want manifest, manifest-descriptor, index or index-descriptor)");
}

std::optional<store::Platform> parse_platform(const std::string& text, const std::string& where) {
  if (text.empty()) return std::nullopt;
  try {
    return store::Platform::parse(text);
  } catch (const Error& e) {
    fail(ErrorKind::usage, where + ": invalid platform \"" + text + "\": " + e.what());
  }
}

bool applies(const Annotation& a, const std::optional<store::Platform>& platform) {
  return !a.platform || (platform && a.platform->matches(*platform) && platform->matches(*a.platform));
}

}  // namespace

std::string_view to_string(Annotation::Level level) {
  switch (level) {
    case Annotation::Level::manifest: return "manifest";
    case Annotation::Level::manifest_descriptor: return "manifest-descriptor";
    case Annotation::Level::index: return "index";
    case Annotation::Level::index_descriptor: return "index-descriptor";
  }
  return "manifest";
}

std::vector<Annotation> parse_annotation_flag(std::string_view text) {
  const std::string t(text);
  const std::string where = "--annotation " + t;
  auto eq = t.find('=');
  if (eq == std::string::npos)
    fail(ErrorKind::usage, where + ": want KEY=VALUE (e.g. index:org.opencontainers.image.source=URL)");
  std::string k = t.substr(0, eq);
  std::string value = t.substr(eq + 1);
  // buildx: [TYPE[,TYPE…][\[PLATFORM\]]:]KEY, the key without blanks.
  static const std::regex re(R"(^(?:([a-z,-]+)(?:\[([A-Za-z0-9_/-]+)\])?:)?(\S+)$)");
  std::smatch m;
  if (!std::regex_match(k, m, re))
    fail(ErrorKind::usage, where +
                               ": want [TYPE[PLATFORM]:]KEY=VALUE, TYPE one of manifest, manifest-descriptor, "
                               "index, index-descriptor");
  std::optional<store::Platform> platform = parse_platform(m[2].str(), where);
  std::vector<Annotation> out;
  std::string types = m[1].str();
  size_t start = 0;
  do {
    size_t comma = types.find(',', start);
    std::string type = types.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (m[1].matched && type.empty()) fail(ErrorKind::usage, where + ": empty annotation type");
    out.push_back(Annotation{parse_level(type, where), platform, m[3].str(), value});
    start = comma == std::string::npos ? std::string::npos : comma + 1;
  } while (start != std::string::npos);
  return out;
}

std::optional<Annotation> parse_annotation_option(std::string_view key, std::string_view value) {
  const std::string k(key);
  // BuildKit's exptypes: annotation[-TYPE][\[PLATFORM\]].KEY
  static const std::regex prefix(R"(^annotation[-.\[])");
  if (!std::regex_search(k, prefix)) return std::nullopt;
  static const std::regex re(R"(^annotation(?:-([a-z-]+))?(?:\[([A-Za-z0-9_/-]+)\])?\.(\S+)$)");
  const std::string where = "--output " + k + "=" + std::string(value);
  std::smatch m;
  if (!std::regex_match(k, m, re)) fail(ErrorKind::usage, where + ": want annotation[-TYPE][[PLATFORM]].KEY=VALUE");
  return Annotation{parse_level(m[1].str(), where), parse_platform(m[2].str(), where), m[3].str(), std::string(value)};
}

Descriptor apply_annotations(store::Store& st, const Descriptor& target, const std::vector<Annotation>& annotations) {
  if (annotations.empty()) return target;
  auto annotate_manifest = [&](const Descriptor& desc, const std::optional<store::Platform>& platform) {
    store::Manifest m = store::Manifest::parse(st.read_blob(desc.digest));
    Descriptor out = desc;
    bool changed = false;
    for (const auto& a : annotations) {
      if (!applies(a, platform)) continue;
      if (a.level == Annotation::Level::manifest) {
        m.annotations[a.key] = a.value;
        changed = true;
      } else if (a.level == Annotation::Level::manifest_descriptor) {
        out.annotations[a.key] = a.value;
      }
    }
    if (changed) {
      std::string json = m.to_json();
      out.digest = st.put_blob(json);
      out.size = static_cast<int64_t>(json.size());
    }
    return out;
  };
  if (store::is_manifest_media_type(target.media_type)) {
    // BuildKit: one platform and no attestations make a lone manifest, which
    // has no index to annotate.
    for (const auto& a : annotations)
      if (a.level == Annotation::Level::index || a.level == Annotation::Level::index_descriptor)
        fail(ErrorKind::usage, "--annotation " + std::string(to_string(a.level)) + ":" + a.key +
                                   ": index annotations not supported for single platform export "
                                   "(the image is one manifest; use manifest: or manifest-descriptor:)");
    store::Image img = st.image(target);
    return annotate_manifest(target, img.config.platform());
  }
  store::Index idx = store::Index::parse(st.read_blob(target.digest));
  for (auto& d : idx.manifests)
    if (store::is_manifest_media_type(d.media_type) && st.has_blob(d.digest)) d = annotate_manifest(d, d.platform);
  Descriptor out = target;
  for (const auto& a : annotations) {
    if (a.level == Annotation::Level::index) idx.annotations[a.key] = a.value;
    else if (a.level == Annotation::Level::index_descriptor) out.annotations[a.key] = a.value;
  }
  std::string json = idx.to_json();
  out.digest = st.put_blob(json);
  out.size = static_cast<int64_t>(json.size());
  return out;
}

}  // namespace xb::exporter
