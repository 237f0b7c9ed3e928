// Attestations as BuildKit v0.13 attaches them (docs/dev/exporter.md,
// "Attestations"): the flags, the in-toto statements (SLSA provenance v0.2,
// SPDX 2.3), the attestation manifest and the OCI index that carries it.
#include "exporter/attest.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <set>

#include "common/error.h"
#include "common/json.h"
#include "common/options.h"

namespace xb::exporter {

using nlohmann::json;
using store::Descriptor;
using store::ImageRef;
namespace mt = store::media_type;

namespace {

std::optional<bool> as_bool(const std::string& v) {
  if (v == "true" || v == "1" || v == "True" || v == "TRUE") return true;
  if (v == "false" || v == "0" || v == "False" || v == "FALSE") return false;
  return std::nullopt;
}

std::string base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// BuildKit's identity.NewID: 25 characters of [a-z0-9].
std::string new_id() {
  static const char* a = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 25; ++i) out += a[rd() % 36];
  return out;
}

json digest_set(const Digest& d) { return json{{std::string(d.algorithm()), std::string(d.hex())}}; }

json platform_llb(const store::Platform& p) {
  json j = {{"Architecture", p.architecture}, {"OS", p.os}};
  if (!p.variant.empty()) j["Variant"] = p.variant;
  return j;
}

// An SPDX license expression as declared, or NOASSERTION when the text is
// free prose ("BSD License") rather than identifiers joined by AND/OR/WITH.
std::string spdx_license(const std::string& text) {
  if (text.empty()) return "NOASSERTION";
  std::vector<std::string> tokens;
  std::string cur;
  for (char c : text) {
    if (c == ' ' || c == '(' || c == ')') {
      if (!cur.empty()) tokens.push_back(cur);
      cur.clear();
      continue;
    }
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == ':';
    if (!ok) return "NOASSERTION";
    cur += c;
  }
  if (!cur.empty()) tokens.push_back(cur);
  bool want_id = true;
  for (const auto& tk : tokens) {
    bool op = tk == "AND" || tk == "OR" || tk == "WITH";
    if (op == want_id) return "NOASSERTION";
    want_id = op;
  }
  return want_id ? "NOASSERTION" : text;
}

std::string spdx_id_part(std::string_view s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '-';
  return out;
}

}  // namespace

AttestOptions parse_attest_flags(const std::vector<std::pair<std::string, std::string>>& flags) {
  AttestOptions o;
  for (const auto& [flag, value] : flags) {
    const std::string where = "--" + flag + " " + value;
    std::map<std::string, std::string> kv;
    std::string type;
    if (flag == "provenance" || flag == "sbom") {
      type = flag;
      if (auto b = as_bool(value)) {
        if (!*b) kv["disabled"] = "true";
      } else {
        kv = parse_key_values("--" + flag, value, flag == "provenance" ? "mode=max" : "true");
        if (kv.count("type")) fail(ErrorKind::usage, where + ": the type is the flag's own (use --attest type=…)");
      }
    } else if (flag == "attest") {
      kv = parse_key_values("--attest", value, "type=provenance,mode=max");
      type = kv.count("type") ? kv["type"] : "";
      kv.erase("type");
      if (type != "provenance" && type != "sbom") fail(ErrorKind::usage, where + ": want type=provenance or type=sbom");
    } else {
      fail(ErrorKind::usage, "--" + flag + ": not an attestation flag");
    }
    bool disabled = false;
    if (auto it = kv.find("disabled"); it != kv.end()) {
      auto b = as_bool(it->second);
      if (!b) fail(ErrorKind::usage, where + ": disabled=" + it->second + ": want true or false");
      disabled = *b;
      kv.erase(it);
    }
    if (type == "sbom") {
      for (const auto& [k, v] : kv) {
        if (k == "generator")
          fail(ErrorKind::usage, where +
                                     ": generator= is not supported: xbuild writes the SBOM itself from the "
                                     "image's package databases (drop generator=)");
        fail(ErrorKind::usage, where + ": unknown option \"" + k + "\" (xbuild's SBOM takes none)");
      }
      o.sbom = !disabled;
      continue;
    }
    if (disabled) {
      o.provenance.reset();
      continue;
    }
    AttestOptions::Mode mode = AttestOptions::Mode::min;  // buildx's default
    std::string builder_id;
    bool reproducible = false;
    for (const auto& [k, v] : kv) {
      if (k == "mode") {
        if (v == "min") mode = AttestOptions::Mode::min;
        else if (v == "max") mode = AttestOptions::Mode::max;
        else fail(ErrorKind::usage, where + ": mode=" + v + ": want min or max");
      } else if (k == "builder-id") {
        builder_id = v;
      } else if (k == "reproducible") {
        auto b = as_bool(v);
        if (!b) fail(ErrorKind::usage, where + ": reproducible=" + v + ": want true or false");
        reproducible = *b;
      } else if (k == "version") {
        if (v != "v0.2")
          fail(ErrorKind::usage,
               where + ": version=" + v + ": xbuild writes SLSA provenance v0.2 only (as BuildKit v0.13)");
      } else {
        fail(ErrorKind::usage,
             where + ": unknown option \"" + k + "\" (known: mode, builder-id, reproducible, version, disabled)");
      }
    }
    o.provenance = mode;
    o.builder_id = builder_id;
    o.reproducible = reproducible;
  }
  return o;
}

namespace attest {

std::vector<Package> image_packages(const store::Store& st, const Descriptor& manifest, uint64_t file_max,
                                    uint64_t total_max, const std::function<void(const std::string&)>& warn) {
  std::vector<std::pair<std::string, std::string>> files;
  uint64_t total = 0;
  read_rootfs_files(
      st, manifest, [](std::string_view p) { return classify_path(p) != DbKind::none; }, file_max,
      [&](const std::string& path, std::optional<std::string> content) {
        if (!content) {
          warn("SBOM: /" + path + " is larger than " + std::to_string(file_max >> 20) +
               " MiB: its packages are left out");
        } else if (total + content->size() > total_max) {
          warn("SBOM: the package databases pass " + std::to_string(total_max >> 20) + " MiB at /" + path +
               ": it is left out");
        } else {
          total += content->size();
          files.emplace_back(path, std::move(*content));
        }
      });
  return scan_packages(files);
}

json spdx_document(const std::vector<Package>& packages, const std::string& name, const std::string& namespace_id,
                   const std::string& created, const std::string& tool) {
  json pkgs = json::array();
  json rels = json::array();
  const std::string root_id = "SPDXRef-DocumentRoot-Image";
  pkgs.push_back({{"SPDXID", root_id},
                  {"name", name},
                  {"versionInfo", namespace_id.empty() ? std::string("NOASSERTION") : "sha256:" + namespace_id},
                  {"downloadLocation", "NOASSERTION"},
                  {"filesAnalyzed", false},
                  {"licenseConcluded", "NOASSERTION"},
                  {"licenseDeclared", "NOASSERTION"},
                  {"copyrightText", "NOASSERTION"},
                  {"primaryPackagePurpose", "CONTAINER"}});
  rels.push_back(
      {{"spdxElementId", "SPDXRef-DOCUMENT"}, {"relationshipType", "DESCRIBES"}, {"relatedSpdxElement", root_id}});
  size_t n = 0;
  for (const auto& p : packages) {
    std::string id = "SPDXRef-Package-" + p.type + "-" + spdx_id_part(p.name) + "-" + std::to_string(++n);
    json j = {
        {"SPDXID", id},
        {"name", p.name},
        {"versionInfo", p.version},
        {"downloadLocation", "NOASSERTION"},
        {"filesAnalyzed", false},
        {"licenseConcluded", "NOASSERTION"},
        {"licenseDeclared", spdx_license(p.license)},
        {"copyrightText", "NOASSERTION"},
        {"supplier", p.supplier.empty() ? std::string("NOASSERTION") : "Person: " + p.supplier},
        {"sourceInfo", "acquired package info from " + p.source},
        {"externalRefs",
         json::array(
             {{{"referenceCategory", "PACKAGE-MANAGER"}, {"referenceType", "purl"}, {"referenceLocator", p.purl}}})}};
    pkgs.push_back(std::move(j));
    rels.push_back({{"spdxElementId", root_id}, {"relationshipType", "CONTAINS"}, {"relatedSpdxElement", id}});
  }
  return json{{"spdxVersion", "SPDX-2.3"},
              {"dataLicense", "CC0-1.0"},
              {"SPDXID", "SPDXRef-DOCUMENT"},
              {"name", name},
              {"documentNamespace", "https://xbuild.invalid/spdx/" + (namespace_id.empty() ? new_id() : namespace_id)},
              {"creationInfo", {{"created", created}, {"creators", json::array({"Tool: " + tool})}}},
              {"packages", std::move(pkgs)},
              {"relationships", std::move(rels)}};
}

json provenance_predicate(const ProvenanceInput& in, const AttestOptions& o) {
  const bool max = o.provenance == AttestOptions::Mode::max;
  json materials = json::array();
  for (const auto& im : in.images)
    materials.push_back({{"uri", image_purl(im.ref, im.platform)}, {"digest", digest_set(im.digest)}});
  for (const auto& u : in.urls) materials.push_back({{"uri", u.url}, {"digest", digest_set(u.digest)}});

  json config_source = {{"entryPoint", in.dockerfile_name}};
  if (in.dockerfile_digest) config_source["digest"] = digest_set(*in.dockerfile_digest);
  json args = json::object();
  bool complete_parameters = true;
  for (const auto& [k, v] : in.args) {
    // mode=min keeps the values of build arguments and labels out (they may hold secrets).
    if (!max && (k.rfind("build-arg:", 0) == 0 || k.rfind("label:", 0) == 0)) {
      complete_parameters = false;
      continue;
    }
    args[k] = v;
  }
  json parameters = {{"frontend", "dockerfile.v0"},
                     {"args", args},
                     {"locals", json::array({{{"name", "context"}}, {{"name", "dockerfile"}}})}};
  if (max && !in.secrets.empty()) {
    json s = json::array();
    for (const auto& id : in.secrets) s.push_back({{"id", id}});
    parameters["secrets"] = s;
  }
  json pred = {
      {"builder", {{"id", o.builder_id}}},
      {"buildType", kBuildTypeBuildKit},
      {"materials", materials},
      {"invocation",
       {{"configSource", config_source},
        {"parameters", parameters},
        {"environment", {{"platform", store::Platform::host().str()}}}}},
  };
  json bk_metadata = json::object();
  if (max) {
    json steps = json::array();
    json locations = json::object();
    const json platform = platform_llb(store::Platform::host());
    for (size_t i = 0; i < in.steps.size(); ++i) {
      const auto& s = in.steps[i];
      const std::string id = "step" + std::to_string(i);
      json op;
      if (s.kind == "source") {
        op = {{"source", {{"identifier", s.identifier}}}};
      } else if (s.kind == "exec") {
        json meta = {{"args", s.args}, {"env", s.env}, {"cwd", s.cwd.empty() ? "/" : s.cwd}};
        op = {{"exec", {{"meta", meta}, {"mounts", json::array({{{"input", 0}, {"dest", "/"}, {"output", 0}}})}}}};
      } else {
        op = {{"file", {{"description", s.name}}}};
      }
      json step = {{"id", id}, {"op", {{"Op", op}, {"platform", platform}, {"constraints", json::object()}}}};
      if (!s.inputs.empty()) {
        json inputs = json::array();
        for (size_t k : s.inputs) inputs.push_back("step" + std::to_string(k) + ":0");
        step["inputs"] = inputs;
      }
      steps.push_back(std::move(step));
      if (s.line > 0)
        locations[id] = {
            {"locations",
             json::array({{{"ranges", json::array({{{"start", {{"line", s.line}}}, {"end", {{"line", s.line}}}}})}}})}};
    }
    pred["buildConfig"] = {{"llbDefinition", steps}};
    bk_metadata["source"] = {
        {"locations", locations},
        {"infos",
         json::array(
             {{{"filename", in.dockerfile_name}, {"language", "Dockerfile"}, {"data", base64(in.dockerfile)}}})}};
  }
  json metadata = {{"buildInvocationID", in.invocation_id.empty() ? new_id() : in.invocation_id},
                   {"buildStartedOn", in.started},
                   {"buildFinishedOn", in.finished},
                   {"reproducible", o.reproducible},
                   // A local context is no tracked source: materials are never complete (as BuildKit).
                   {"completeness", {{"parameters", complete_parameters}, {"environment", true}, {"materials", false}}},
                   {"https://mobyproject.org/buildkit@v1#metadata", bk_metadata}};
  pred["metadata"] = metadata;
  return pred;
}

json statement(std::string_view predicate_type, const json& predicate, const std::vector<Subject>& subjects) {
  json subj = json::array();
  for (const auto& s : subjects) subj.push_back({{"name", s.name}, {"digest", digest_set(s.digest)}});
  return json{
      {"_type", kStatementType}, {"predicateType", predicate_type}, {"subject", subj}, {"predicate", predicate}};
}

std::vector<Subject> subjects_for(const std::vector<ImageRef>& names, const Digest& manifest,
                                  const store::Platform& platform) {
  std::vector<Subject> out;
  std::set<std::string> seen;
  for (const auto& n : names) {
    std::string p = image_purl(n, platform);
    if (seen.insert(p).second) out.push_back({p, manifest});
  }
  if (out.empty()) out.push_back({"_", manifest});
  return out;
}

}  // namespace attest

Descriptor write_attested_index(store::Store& st, const std::vector<AttestedManifest>& images) {
  store::Index idx;
  idx.media_type = std::string(mt::oci_index);
  std::vector<Descriptor> attestations;
  for (const auto& im : images) {
    if (!im.manifest.platform)
      fail(ErrorKind::invalid_argument, "image " + im.manifest.digest.str() + ": an index entry needs its platform");
    idx.manifests.push_back(im.manifest);
    if (im.statements.empty()) continue;
    std::vector<Descriptor> layers;
    json diff_ids = json::array();
    for (const auto& s : im.statements) {
      Digest d = st.put_blob(s.json);
      layers.push_back(Descriptor{.media_type = std::string(attest::kInTotoMediaType),
                                  .digest = d,
                                  .size = static_cast<int64_t>(s.json.size()),
                                  .annotations = {{std::string(attest::kPredicateTypeAnnotation), s.predicate_type}}});
      diff_ids.push_back(d.str());
    }
    // A valid image config for tools that insist on one; its platform keeps runtimes away (BuildKit's
    // attestationsConfig).
    const std::string config = dump_json(json{{"architecture", "unknown"},
                                              {"os", "unknown"},
                                              {"config", json::object()},
                                              {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}});
    Digest config_digest = st.put_blob(config);
    store::Manifest m{std::string(mt::oci_manifest),
                      Descriptor{.media_type = std::string(mt::oci_config),
                                 .digest = config_digest,
                                 .size = static_cast<int64_t>(config.size())},
                      layers,
                      {},
                      std::nullopt};
    const std::string mj = m.to_json();
    Digest md = st.put_blob(mj);
    store::Platform unknown;
    unknown.os = "unknown";
    unknown.architecture = "unknown";
    attestations.push_back(Descriptor{
        .media_type = std::string(mt::oci_manifest),
        .digest = md,
        .size = static_cast<int64_t>(mj.size()),
        .annotations = {{std::string(attest::kReferenceDigestAnnotation), im.manifest.digest.str()},
                        {std::string(attest::kReferenceTypeAnnotation), std::string(attest::kAttestationManifest)}},
        .platform = unknown});
  }
  // The attestation manifests follow every image manifest (the attestation storage spec).
  idx.manifests.insert(idx.manifests.end(), attestations.begin(), attestations.end());
  const std::string ij = idx.to_json();
  Digest id = st.put_blob(ij);
  return Descriptor{.media_type = std::string(mt::oci_index), .digest = id, .size = static_cast<int64_t>(ij.size())};
}

Attestations make_attestations(const store::Store& st, const Descriptor& manifest, const AttestOptions& o,
                               const ProvenanceInput& in, const std::vector<ImageRef>& names, const OutputLog& log) {
  Attestations out;
  out.names = names;
  if (!o.any()) return out;
  store::Image img = st.image(manifest);
  if (o.sbom) {
    auto packages = attest::image_packages(st, manifest, uint64_t{64} << 20, uint64_t{256} << 20,
                                           [&](const std::string& w) {
                                             if (log) log(w);
                                           });
    std::map<std::string, int> counts;
    for (const auto& p : packages) counts[p.type]++;
    const std::string name = names.empty() ? img.id().str() : names.front().str();
    // The image's own time and ID, so that the same image gives the same SBOM
    // whatever the compression it leaves with.
    const std::string created = img.config.created.empty() ? in.finished : img.config.created;
    out.predicates.emplace_back(std::string(attest::kPredicateSpdx),
                                attest::spdx_document(packages, name, std::string(img.id().hex()), created, in.tool));
    if (log) {
      std::string by;
      for (const auto& [k, v] : counts) by += (by.empty() ? "" : ", ") + k + " " + std::to_string(v);
      log("SBOM: " + std::to_string(packages.size()) + " packages" + (by.empty() ? "" : " (" + by + ")"));
    }
  }
  if (o.provenance) {
    out.predicates.emplace_back(std::string(attest::kPredicateSlsa02), attest::provenance_predicate(in, o));
    if (log)
      log(std::string("provenance: SLSA v0.2, mode=") + (*o.provenance == AttestOptions::Mode::max ? "max" : "min") +
          ", " + std::to_string(in.images.size() + in.urls.size()) + " materials");
  }
  return out;
}

Descriptor attach(store::Store& st, const Descriptor& manifest, const Attestations& a) {
  store::Image img = st.image(manifest);
  Descriptor m = img.manifest_desc;
  m.platform = img.config.platform();
  const auto subjects = attest::subjects_for(a.names, m.digest, *m.platform);
  std::vector<Statement> statements;
  for (const auto& [type, predicate] : a.predicates)
    statements.push_back({type, dump_json(attest::statement(type, predicate, subjects))});
  return write_attested_index(st, {{m, statements}});
}

}  // namespace xb::exporter
