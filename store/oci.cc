// The OCI documents and their JSON: one serializer per type. Parsers keep
// fields they do not model (ImageConfig::extra) so that a config read and
// written back is not mangled.
#include <time.h>

#include <cstdio>

#include "common/error.h"
#include "common/json.h"
#include "store/store.h"

namespace xb::store {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long frac = static_cast<long>(ns % 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (frac) {
    char f[16];
    snprintf(f, sizeof f, ".%09ld", frac);
    std::string digits = f;
    while (digits.back() == '0') digits.pop_back();
    out += digits;
  }
  return out + "Z";
}

using nlohmann::json;

namespace {

json parse_json(std::string_view text, std::string_view what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(ErrorKind::invalid_argument, std::string(what) + ": not valid JSON: " + e.what());
  }
}

std::string get_string(const json& j, const char* key, std::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string())
    fail(ErrorKind::invalid_argument, std::string(what) + ": field \"" + key + "\" must be a string");
  return it->get<std::string>();
}

std::vector<std::string> get_strings(const json& j, const char* key, std::string_view what) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  // docker accepts a single string where a list is expected (strslice).
  if (it->is_string()) return {it->get<std::string>()};
  if (!it->is_array())
    fail(ErrorKind::invalid_argument, std::string(what) + ": field \"" + key + "\" must be a list of strings");
  for (const auto& v : *it) {
    if (!v.is_string())
      fail(ErrorKind::invalid_argument, std::string(what) + ": field \"" + key + "\" must be a list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::optional<std::vector<std::string>> get_opt_strings(const json& j, const char* key, std::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return get_strings(j, key, what);
}

std::map<std::string, std::string> get_string_map(const json& j, const char* key, std::string_view what) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object())
    fail(ErrorKind::invalid_argument, std::string(what) + ": field \"" + key + "\" must be an object");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string())
      fail(ErrorKind::invalid_argument, std::string(what) + ": \"" + key + "\" values must be strings");
    out[k] = v.get<std::string>();
  }
  return out;
}

std::vector<std::string> get_set(const json& j, const char* key, std::string_view what) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object())
    fail(ErrorKind::invalid_argument, std::string(what) + ": field \"" + key + "\" must be an object");
  for (const auto& [k, v] : it->items()) out.push_back(k);
  return out;  // json objects iterate sorted
}

int64_t get_int(const json& j, const char* key, std::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (!it->is_number_integer())
    fail(ErrorKind::invalid_argument, std::string(what) + ": field \"" + key + "\" must be an integer");
  return it->get<int64_t>();
}

const json& require_object(const json& j, std::string_view what) {
  if (!j.is_object()) fail(ErrorKind::invalid_argument, std::string(what) + ": want a JSON object");
  return j;
}

}  // namespace

std::string_view to_string(Compression c) {
  switch (c) {
    case Compression::none: return "uncompressed";
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
  }
  return "?";
}

std::optional<Compression> layer_compression(std::string_view mt) {
  if (mt == media_type::oci_layer || mt == "application/vnd.oci.image.layer.nondistributable.v1.tar" ||
      mt == "application/vnd.docker.image.rootfs.diff.tar")
    return Compression::none;
  if (mt == media_type::oci_layer_gzip || mt == media_type::docker_layer_gzip ||
      mt == media_type::docker_layer_foreign || mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
    return Compression::gzip;
  if (mt == media_type::oci_layer_zstd || mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")
    return Compression::zstd;
  return std::nullopt;
}

bool is_manifest_media_type(std::string_view mt) {
  return mt == media_type::oci_manifest || mt == media_type::docker_manifest;
}
bool is_index_media_type(std::string_view mt) {
  return mt == media_type::oci_index || mt == media_type::docker_manifest_list;
}

Compression sniff_compression(std::string_view head) {
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f && static_cast<unsigned char>(head[1]) == 0x8b)
    return Compression::gzip;
  if (head.size() >= 4 && head.substr(0, 4) == std::string_view("\x28\xb5\x2f\xfd", 4)) return Compression::zstd;
  return Compression::none;
}

// --- Descriptor

json Descriptor::to_json() const {
  json j = {{"mediaType", media_type}, {"digest", digest.str()}, {"size", size}};
  if (!annotations.empty()) j["annotations"] = annotations;
  if (platform) j["platform"] = platform->to_json();
  if (!urls.empty()) j["urls"] = urls;
  if (!artifact_type.empty()) j["artifactType"] = artifact_type;
  return j;
}

Descriptor Descriptor::from_json(const json& j) {
  require_object(j, "descriptor");
  auto dg = j.find("digest");
  if (dg == j.end() || !dg->is_string()) fail(ErrorKind::invalid_argument, "descriptor: no \"digest\"");
  Descriptor d{.media_type = get_string(j, "mediaType", "descriptor"), .digest = Digest::parse(dg->get<std::string>())};
  d.size = get_int(j, "size", "descriptor");
  if (d.size < 0) fail(ErrorKind::invalid_argument, "descriptor " + d.digest.str() + ": negative size");
  d.annotations = get_string_map(j, "annotations", "descriptor");
  if (auto p = j.find("platform"); p != j.end() && !p->is_null()) d.platform = Platform::from_json(*p);
  d.urls = get_strings(j, "urls", "descriptor");
  d.artifact_type = get_string(j, "artifactType", "descriptor");
  return d;
}

// --- Manifest

Manifest Manifest::parse(std::string_view text) {
  json j = parse_json(text, "manifest");
  require_object(j, "manifest");
  if (get_int(j, "schemaVersion", "manifest") != 2)
    fail(ErrorKind::invalid_argument, "manifest: unsupported schemaVersion (want 2; schema 1 is not supported)");
  auto c = j.find("config");
  if (c == j.end()) fail(ErrorKind::invalid_argument, "manifest: no \"config\" (is it an index?)");
  Manifest m{.media_type = get_string(j, "mediaType", "manifest"), .config = Descriptor::from_json(*c)};
  if (auto l = j.find("layers"); l != j.end() && !l->is_null()) {
    if (!l->is_array()) fail(ErrorKind::invalid_argument, "manifest: \"layers\" must be a list");
    for (const auto& d : *l) m.layers.push_back(Descriptor::from_json(d));
  }
  m.annotations = get_string_map(j, "annotations", "manifest");
  if (auto s = j.find("subject"); s != j.end() && !s->is_null()) m.subject = Descriptor::from_json(*s);
  return m;
}

std::string Manifest::to_json() const {
  json j = {{"schemaVersion", 2}, {"config", config.to_json()}};
  if (!media_type.empty()) j["mediaType"] = media_type;
  j["layers"] = json::array();
  for (const auto& l : layers) j["layers"].push_back(l.to_json());
  if (!annotations.empty()) j["annotations"] = annotations;
  if (subject) j["subject"] = subject->to_json();
  return dump_json(j);
}

// --- Index

Index Index::parse(std::string_view text) {
  json j = parse_json(text, "index");
  require_object(j, "index");
  if (get_int(j, "schemaVersion", "index") != 2)
    fail(ErrorKind::invalid_argument, "index: unsupported schemaVersion (want 2)");
  Index idx;
  idx.media_type = get_string(j, "mediaType", "index");
  auto m = j.find("manifests");
  if (m != j.end() && !m->is_null()) {
    if (!m->is_array()) fail(ErrorKind::invalid_argument, "index: \"manifests\" must be a list");
    for (const auto& d : *m) idx.manifests.push_back(Descriptor::from_json(d));
  }
  idx.annotations = get_string_map(j, "annotations", "index");
  return idx;
}

std::string Index::to_json() const {
  json j = {{"schemaVersion", 2}, {"manifests", json::array()}};
  if (!media_type.empty()) j["mediaType"] = media_type;
  for (const auto& d : manifests) j["manifests"].push_back(d.to_json());
  if (!annotations.empty()) j["annotations"] = annotations;
  return dump_json(j);
}

std::optional<Descriptor> Index::select(const Platform& want) const {
  // An exact variant match wins over a looser one (arm/v7 before arm).
  std::optional<Descriptor> loose;
  for (const auto& d : manifests) {
    if (!d.platform || !is_manifest_media_type(d.media_type.empty() ? media_type::oci_manifest : d.media_type))
      continue;
    if (!want.matches(*d.platform)) continue;
    Platform have = Platform::parse(d.platform->os + "/" + d.platform->architecture +
                                    (d.platform->variant.empty() ? "" : "/" + d.platform->variant));
    Platform w = Platform::parse(want.str());
    if (have.variant == w.variant) return d;
    if (!loose) loose = d;
  }
  return loose;
}

// --- ImageConfig

namespace {

const char* const kConfigKeys[] = {"User",         "Env",     "Entrypoint", "Cmd",        "WorkingDir",
                                   "ExposedPorts", "Volumes", "Labels",     "StopSignal", "Healthcheck",
                                   "Shell",        "OnBuild", "ArgsEscaped"};
const char* const kTopKeys[] = {"created",    "author", "architecture", "os",     "variant",
                                "os.version", "config", "rootfs",       "history"};
const char* const kHistoryKeys[] = {"created", "created_by", "author", "comment", "empty_layer"};

template <size_t N>
json without(const json& j, const char* const (&keys)[N]) {
  json out = json::object();
  for (const auto& [k, v] : j.items()) {
    bool known = false;
    for (const char* key : keys) known = known || k == key;
    if (!known) out[k] = v;
  }
  return out;
}

ContainerConfig parse_container_config(const json& j) {
  constexpr std::string_view what = "image config \"config\"";
  require_object(j, what);
  ContainerConfig c;
  c.user = get_string(j, "User", what);
  c.env = get_strings(j, "Env", what);
  c.entrypoint = get_opt_strings(j, "Entrypoint", what);
  c.cmd = get_opt_strings(j, "Cmd", what);
  c.working_dir = get_string(j, "WorkingDir", what);
  c.exposed_ports = get_set(j, "ExposedPorts", what);
  c.volumes = get_set(j, "Volumes", what);
  c.labels = get_string_map(j, "Labels", what);
  c.stop_signal = get_string(j, "StopSignal", what);
  if (auto h = j.find("Healthcheck"); h != j.end() && !h->is_null()) {
    require_object(*h, "image config Healthcheck");
    HealthConfig hc;
    hc.test = get_strings(*h, "Test", "Healthcheck");
    hc.interval = get_int(*h, "Interval", "Healthcheck");
    hc.timeout = get_int(*h, "Timeout", "Healthcheck");
    hc.start_period = get_int(*h, "StartPeriod", "Healthcheck");
    hc.start_interval = get_int(*h, "StartInterval", "Healthcheck");
    hc.retries = static_cast<int>(get_int(*h, "Retries", "Healthcheck"));
    c.healthcheck = hc;
  }
  c.shell = get_opt_strings(j, "Shell", what);
  c.on_build = get_strings(j, "OnBuild", what);
  if (auto a = j.find("ArgsEscaped"); a != j.end() && a->is_boolean()) c.args_escaped = a->get<bool>();
  c.extra = without(j, kConfigKeys);
  return c;
}

json container_config_json(const ContainerConfig& c) {
  json j = c.extra.is_object() ? c.extra : json::object();
  if (!c.user.empty()) j["User"] = c.user;
  if (!c.env.empty()) j["Env"] = c.env;
  if (c.entrypoint) j["Entrypoint"] = *c.entrypoint;
  if (c.cmd) j["Cmd"] = *c.cmd;
  if (!c.working_dir.empty()) j["WorkingDir"] = c.working_dir;
  auto set = [](const std::vector<std::string>& keys) {
    json o = json::object();
    for (const auto& k : keys) o[k] = json::object();
    return o;
  };
  if (!c.exposed_ports.empty()) j["ExposedPorts"] = set(c.exposed_ports);
  if (!c.volumes.empty()) j["Volumes"] = set(c.volumes);
  if (!c.labels.empty()) j["Labels"] = c.labels;
  if (!c.stop_signal.empty()) j["StopSignal"] = c.stop_signal;
  if (c.healthcheck) {
    json h = json::object();
    if (!c.healthcheck->test.empty()) h["Test"] = c.healthcheck->test;
    if (c.healthcheck->interval) h["Interval"] = c.healthcheck->interval;
    if (c.healthcheck->timeout) h["Timeout"] = c.healthcheck->timeout;
    if (c.healthcheck->start_period) h["StartPeriod"] = c.healthcheck->start_period;
    if (c.healthcheck->start_interval) h["StartInterval"] = c.healthcheck->start_interval;
    if (c.healthcheck->retries) h["Retries"] = c.healthcheck->retries;
    j["Healthcheck"] = h;
  }
  if (c.shell) j["Shell"] = *c.shell;
  if (!c.on_build.empty()) j["OnBuild"] = c.on_build;
  if (c.args_escaped) j["ArgsEscaped"] = true;
  return j;
}

}  // namespace

ImageConfig ImageConfig::parse(std::string_view text) {
  json j = parse_json(text, "image config");
  require_object(j, "image config");
  ImageConfig c;
  c.created = get_string(j, "created", "image config");
  c.author = get_string(j, "author", "image config");
  c.architecture = get_string(j, "architecture", "image config");
  c.os = get_string(j, "os", "image config");
  c.variant = get_string(j, "variant", "image config");
  c.os_version = get_string(j, "os.version", "image config");
  if (auto cfg = j.find("config"); cfg != j.end() && !cfg->is_null()) c.config = parse_container_config(*cfg);
  if (auto r = j.find("rootfs"); r != j.end() && !r->is_null()) {
    require_object(*r, "image config rootfs");
    for (const auto& d : get_strings(*r, "diff_ids", "image config rootfs")) c.diff_ids.push_back(Digest::parse(d));
  }
  if (auto h = j.find("history"); h != j.end() && !h->is_null()) {
    if (!h->is_array()) fail(ErrorKind::invalid_argument, "image config: \"history\" must be a list");
    for (const auto& e : *h) {
      require_object(e, "image config history entry");
      HistoryEntry he;
      he.created = get_string(e, "created", "history");
      he.created_by = get_string(e, "created_by", "history");
      he.author = get_string(e, "author", "history");
      he.comment = get_string(e, "comment", "history");
      if (auto el = e.find("empty_layer"); el != e.end() && el->is_boolean()) he.empty_layer = el->get<bool>();
      he.extra = without(e, kHistoryKeys);
      c.history.push_back(std::move(he));
    }
  }
  c.extra = without(j, kTopKeys);
  return c;
}

std::string ImageConfig::to_json() const {
  json j = extra.is_object() ? extra : json::object();
  if (!created.empty()) j["created"] = created;
  if (!author.empty()) j["author"] = author;
  j["architecture"] = architecture;
  j["os"] = os;
  if (!variant.empty()) j["variant"] = variant;
  if (!os_version.empty()) j["os.version"] = os_version;
  json cfg = container_config_json(config);
  if (!cfg.empty()) j["config"] = cfg;
  json ids = json::array();
  for (const auto& d : diff_ids) ids.push_back(d.str());
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", ids}};
  if (!history.empty()) {
    json hs = json::array();
    for (const auto& h : history) {
      json e = h.extra.is_object() ? h.extra : json::object();
      if (!h.created.empty()) e["created"] = h.created;
      if (!h.created_by.empty()) e["created_by"] = h.created_by;
      if (!h.author.empty()) e["author"] = h.author;
      if (!h.comment.empty()) e["comment"] = h.comment;
      if (h.empty_layer) e["empty_layer"] = true;
      hs.push_back(e);
    }
    j["history"] = hs;
  }
  return dump_json(j);
}

Platform ImageConfig::platform() const {
  Platform p;
  p.os = os;
  p.architecture = architecture;
  p.variant = variant;
  p.os_version = os_version;
  return p;
}

}  // namespace xb::store
