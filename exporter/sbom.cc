// The package databases an SBOM is made from (docs/dev/exporter.md,
// "Attestations"): dpkg's status and status.d/, apk's installed, Python's
// dist-info METADATA and egg-info PKG-INFO, node_modules package.json. Each
// reader is a pure function of the file's text; what the files say is
// untrusted input, so every reader skips what it cannot read instead of
// failing the build.
#include <algorithm>
#include <cctype>
#include <map>

#include "common/error.h"
#include "common/percent.h"
#include "exporter/attest.h"

namespace xb::exporter::attest {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      out.push_back(text);
      break;
    }
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return out;
}

// RFC 822-like paragraphs (dpkg status, PKG-INFO headers): "Key: value",
// continuation lines start with a space or tab; a blank line ends a
// paragraph. Keys are kept as written (dpkg's are case-insensitive: callers
// look up the spelling the tools write).
std::vector<std::map<std::string, std::string>> paragraphs(std::string_view text, bool stop_at_first_blank = false) {
  std::vector<std::map<std::string, std::string>> out;
  std::map<std::string, std::string> cur;
  std::string last;
  for (std::string_view line : lines_of(text)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      last.clear();
      if (stop_at_first_blank && !out.empty()) return out;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (!last.empty()) cur[last] += "\n" + std::string(trim(line));
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    last = std::string(trim(line.substr(0, colon)));
    if (!cur.count(last)) cur[last] = std::string(trim(line.substr(colon + 1)));
    else last.clear();  // a repeated key (PKG-INFO's Classifier): the first one is kept
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string get(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

// "pkg:TYPE/NAMESPACE/NAME@VERSION?k=v&k=v", qualifiers sorted by key as the purl spec asks.
std::string make_purl(std::string_view type, std::string_view ns, std::string_view name, std::string_view version,
                      const std::map<std::string, std::string>& qualifiers) {
  std::string p = "pkg:" + std::string(type) + "/";
  if (!ns.empty()) p += purl_escape(ns) + "/";
  p += purl_escape(name);
  if (!version.empty()) p += "@" + purl_escape(version);
  char sep = '?';
  for (const auto& [k, v] : qualifiers) {
    if (v.empty()) continue;
    p += sep + k + "=" + purl_escape(v);
    sep = '&';
  }
  return p;
}

}  // namespace

std::string purl_escape(std::string_view s) {
  return percent_encode(s, [](unsigned char c) { return is_unreserved(c) || c == '+' || c == ':'; });
}

std::string image_purl(const store::ImageRef& ref, const std::optional<store::Platform>& platform) {
  // BuildKit's RefToPURL: the familiar name (docker.io/library/ dropped), its
  // namespace split off at the last slash, the tag as the version ("latest"
  // when the reference has neither tag nor digest), the digest and the
  // platform as qualifiers.
  std::string name = ref.familiar_repository();
  std::string ns;
  if (size_t slash = name.rfind('/'); slash != std::string::npos) {
    ns = name.substr(0, slash);
    name = name.substr(slash + 1);
  }
  std::string version = ref.tag().value_or(ref.digest() ? "" : "latest");
  std::map<std::string, std::string> q;
  if (ref.digest()) q["digest"] = ref.digest()->str();
  if (platform) q["platform"] = platform->str();
  std::string p = "pkg:docker/";
  // The namespace's slashes are path separators, not data (ghcr.io/foo/bar).
  if (!ns.empty()) {
    size_t i = 0;
    while (i <= ns.size()) {
      size_t j = ns.find('/', i);
      if (j == std::string::npos) j = ns.size();
      p += purl_escape(ns.substr(i, j - i)) + "/";
      i = j + 1;
    }
  }
  p += purl_escape(name);
  if (!version.empty()) p += "@" + purl_escape(version);
  char sep = '?';
  for (const auto& [k, v] : q) {
    p += sep + k + "=" + purl_escape(v);
    sep = '&';
  }
  return p;
}

std::string OsRelease::distro() const {
  if (id.empty()) return {};
  return version_id.empty() ? id : id + "-" + version_id;
}

OsRelease parse_os_release(std::string_view text) {
  OsRelease os;
  for (std::string_view line : lines_of(text)) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq);
    std::string_view v = trim(line.substr(eq + 1));
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
      v = v.substr(1, v.size() - 2);
    if (key == "ID") os.id = lower(v);
    else if (key == "VERSION_ID") os.version_id = std::string(v);
    else if (key == "PRETTY_NAME") os.pretty_name = std::string(v);
  }
  return os;
}

std::vector<Package> parse_dpkg_status(std::string_view text, const OsRelease& os, const std::string& where) {
  std::vector<Package> out;
  for (const auto& p : paragraphs(text)) {
    std::string name = get(p, "Package");
    std::string version = get(p, "Version");
    if (name.empty() || version.empty()) continue;
    if (p.count("Status")) {
      // "install ok installed": the last word is the state; config-files,
      // half-installed and not-installed packages are not in the image.
      std::string status = get(p, "Status");
      size_t sp = status.rfind(' ');
      std::string state = sp == std::string::npos ? status : status.substr(sp + 1);
      if (state != "installed") continue;
    }
    Package pkg;
    pkg.type = "deb";
    pkg.name = name;
    pkg.version = version;
    pkg.arch = get(p, "Architecture");
    pkg.supplier = get(p, "Maintainer");
    pkg.source = where;
    std::map<std::string, std::string> q{{"arch", pkg.arch}, {"distro", os.distro()}};
    // Source: "src" or "src (version)", as syft's upstream qualifier.
    std::string src = get(p, "Source");
    std::string src_name = src.substr(0, src.find(' '));
    if (!src_name.empty() && src_name != name) {
      std::string up = src_name;
      size_t open = src.find('('), close = src.find(')');
      if (open != std::string::npos && close != std::string::npos && close > open)
        up += "@" + src.substr(open + 1, close - open - 1);
      q["upstream"] = up;
    }
    pkg.purl = make_purl("deb", os.id.empty() ? "debian" : os.id, name, version, q);
    out.push_back(std::move(pkg));
  }
  return out;
}

std::vector<Package> parse_apk_installed(std::string_view text, const OsRelease& os, const std::string& where) {
  std::vector<Package> out;
  Package cur;
  auto flush = [&] {
    if (!cur.name.empty() && !cur.version.empty()) {
      cur.type = "apk";
      cur.source = where;
      cur.purl = make_purl("apk", os.id.empty() ? "alpine" : os.id, cur.name, cur.version,
                           {{"arch", cur.arch}, {"distro", os.distro()}});
      out.push_back(std::move(cur));
    }
    cur = Package{};
  };
  for (std::string_view line : lines_of(text)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      flush();
      continue;
    }
    if (line.size() < 2 || line[1] != ':') continue;
    std::string v(line.substr(2));
    switch (line[0]) {
      case 'P': cur.name = v; break;
      case 'V': cur.version = v; break;
      case 'A': cur.arch = v; break;
      case 'L': cur.license = v; break;
      case 'm': cur.supplier = v; break;
      default: break;
    }
  }
  flush();
  return out;
}

std::optional<Package> parse_python_metadata(std::string_view text, const std::string& where) {
  auto ps = paragraphs(text, /*stop_at_first_blank=*/true);  // the body after the headers is the description
  if (ps.empty()) return std::nullopt;
  const auto& h = ps.front();
  Package pkg;
  pkg.type = "pypi";
  pkg.name = get(h, "Name");
  pkg.version = get(h, "Version");
  if (pkg.name.empty() || pkg.version.empty()) return std::nullopt;
  pkg.license = get(h, "License-Expression");
  if (pkg.license.empty()) pkg.license = get(h, "License");
  pkg.supplier = get(h, "Author");
  pkg.source = where;
  // The purl spec's pypi name: lower case, '_' as '-'.
  std::string n = lower(pkg.name);
  std::replace(n.begin(), n.end(), '_', '-');
  pkg.purl = make_purl("pypi", "", n, pkg.version, {});
  return pkg;
}

std::optional<Package> parse_package_json(std::string_view text, const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto str = [&](const char* k) -> std::string {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  Package pkg;
  pkg.type = "npm";
  pkg.name = str("name");
  pkg.version = str("version");
  if (pkg.name.empty() || pkg.version.empty()) return std::nullopt;
  pkg.license = str("license");
  if (auto it = j.find("license");
      it != j.end() && it->is_object() && it->contains("type") && (*it)["type"].is_string())
    pkg.license = (*it)["type"].get<std::string>();
  if (auto it = j.find("author"); it != j.end()) {
    if (it->is_string()) pkg.supplier = it->get<std::string>();
    else if (it->is_object() && it->contains("name") && (*it)["name"].is_string()) pkg.supplier = (*it)["name"];
  }
  pkg.source = where;
  // "@scope/name": the scope is the namespace, its '@' encoded.
  std::string ns, name = pkg.name;
  if (name.front() == '@' && name.find('/') != std::string::npos) {
    ns = name.substr(0, name.find('/'));
    name = name.substr(name.find('/') + 1);
  }
  pkg.purl = make_purl("npm", ns, name, pkg.version, {});
  return pkg;
}

DbKind classify_path(std::string_view path) {
  auto ends_with = [&](std::string_view s) {
    return path.size() >= s.size() && path.substr(path.size() - s.size()) == s;
  };
  if (path == "etc/os-release" || path == "usr/lib/os-release") return DbKind::os_release;
  if (path == "var/lib/dpkg/status") return DbKind::dpkg;
  if (path.rfind("var/lib/dpkg/status.d/", 0) == 0 && path.find('/', 22) == std::string_view::npos &&
      path.size() > 22 && !ends_with(".md5sums"))
    return DbKind::dpkg;
  if (path == "lib/apk/db/installed") return DbKind::apk;
  // <dir>/<dist>.dist-info/METADATA, <dir>/<dist>.egg-info/PKG-INFO
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::string_view dir = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
  std::string_view dir_base = dir.substr(dir.rfind('/') == std::string_view::npos ? 0 : dir.rfind('/') + 1);
  auto dir_ends = [&](std::string_view s) {
    return dir_base.size() > s.size() && dir_base.substr(dir_base.size() - s.size()) == s;
  };
  if ((base == "METADATA" && dir_ends(".dist-info")) || (base == "PKG-INFO" && dir_ends(".egg-info")))
    return DbKind::python;
  // node_modules/<name>/package.json or node_modules/@scope/<name>/package.json
  if (base == "package.json" && !dir.empty()) {
    size_t a = dir.rfind('/');
    std::string_view parent = a == std::string_view::npos ? std::string_view() : dir.substr(0, a);
    std::string_view pkg = dir.substr(a == std::string_view::npos ? 0 : a + 1);
    if (pkg.empty() || pkg.front() == '.' || pkg.front() == '@') return DbKind::none;
    auto is_nm = [](std::string_view d) {
      return d == "node_modules" || (d.size() > 13 && d.substr(d.size() - 13) == "/node_modules");
    };
    if (is_nm(parent)) return DbKind::npm;
    size_t b = parent.rfind('/');
    std::string_view scope = parent.substr(b == std::string_view::npos ? 0 : b + 1);
    std::string_view grand = b == std::string_view::npos ? std::string_view() : parent.substr(0, b);
    if (scope.size() > 1 && scope.front() == '@' && is_nm(grand)) return DbKind::npm;
  }
  return DbKind::none;
}

std::vector<Package> scan_packages(const std::vector<std::pair<std::string, std::string>>& files) {
  OsRelease os;
  // /etc/os-release first; /usr/lib/os-release (its usual symlink target) otherwise.
  for (const char* want : {"etc/os-release", "usr/lib/os-release"}) {
    for (const auto& [path, content] : files)
      if (path == want && os.id.empty()) os = parse_os_release(content);
  }
  std::vector<Package> out;
  for (const auto& [path, content] : files) {
    const std::string where = "/" + path;
    switch (classify_path(path)) {
      case DbKind::dpkg: {
        auto v = parse_dpkg_status(content, os, where);
        out.insert(out.end(), v.begin(), v.end());
        break;
      }
      case DbKind::apk: {
        auto v = parse_apk_installed(content, os, where);
        out.insert(out.end(), v.begin(), v.end());
        break;
      }
      case DbKind::python:
        if (auto p = parse_python_metadata(content, where)) out.push_back(std::move(*p));
        break;
      case DbKind::npm:
        if (auto p = parse_package_json(content, where)) out.push_back(std::move(*p));
        break;
      default: break;
    }
  }
  std::sort(out.begin(), out.end(), [](const Package& a, const Package& b) {
    return std::tie(a.type, a.name, a.version, a.source) < std::tie(b.type, b.name, b.version, b.source);
  });
  return out;
}

}  // namespace xb::exporter::attest
