#include "common/platform.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cctype>

#include "common/error.h"

namespace xb {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// containerd's normalizeArch, plus "i686" and "armvN" (uname's spellings).
void normalize(Platform& p) {
  p.os = lower(p.os);
  if (p.os == "macos") p.os = "darwin";
  std::string arch = lower(p.architecture);
  std::string variant = lower(p.variant);
  if (arch == "i386" || arch == "i686" || arch == "386") {
    arch = "386";
    variant.clear();
  } else if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    arch = "amd64";
    if (variant == "v1") variant.clear();
  } else if (arch == "aarch64" || arch == "arm64") {
    arch = "arm64";
    if (variant == "8" || variant == "v8") variant.clear();
  } else if (arch == "armhf") {
    arch = "arm";
    variant = "v7";
  } else if (arch == "armel") {
    arch = "arm";
    variant = "v6";
  } else if (arch.rfind("armv", 0) == 0 && arch.size() >= 5) {
    variant = "v" + arch.substr(4, 1);
    arch = "arm";
  }
  if (arch == "arm") {
    if (variant.empty() || variant == "7") variant = "v7";
    else if (variant == "5" || variant == "6" || variant == "8") variant = "v" + variant;
  }
  p.architecture = arch;
  p.variant = variant;
}

bool known_os(std::string_view s) { return s == "linux" || s == "windows" || s == "darwin" || s == "freebsd"; }

}  // namespace

Platform Platform::parse(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t s = text.find('/', start);
    parts.emplace_back(text.substr(start, s == std::string_view::npos ? std::string_view::npos : s - start));
    if (s == std::string_view::npos) break;
    start = s + 1;
  }
  bool ok = parts.size() <= 3;
  for (const auto& part : parts)
    ok = ok && !part.empty() &&
         std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
  if (!ok)
    fail(ErrorKind::invalid_argument,
         "invalid platform \"" + std::string(text) + "\": want OS/ARCH[/VARIANT], e.g. linux/amd64");
  Platform p;
  if (parts.size() == 1) {
    // An OS alone runs on the host's architecture; an architecture alone on linux (as containerd).
    if (known_os(lower(parts[0]))) {
      p = host();
      p.os = parts[0];
    } else {
      p.os = "linux";
      p.architecture = parts[0];
    }
  } else {
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3) p.variant = parts[2];
  }
  normalize(p);
  return p;
}

Platform Platform::host() {
  struct utsname u {};
  Platform p;
  p.os = "linux";
  p.architecture = ::uname(&u) == 0 ? u.machine : "amd64";
  normalize(p);
  return p;
}

std::string Platform::str() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

bool Platform::matches(const Platform& have_raw) const {
  Platform want = *this, have = have_raw;
  normalize(want);
  normalize(have);
  if (want.os != have.os || want.architecture != have.architecture) return false;
  return want.variant.empty() || want.variant == have.variant;
}

nlohmann::json Platform::to_json() const {
  nlohmann::json j = {{"architecture", architecture}, {"os", os}};
  if (!os_version.empty()) j["os.version"] = os_version;
  if (!os_features.empty()) j["os.features"] = os_features;
  if (!variant.empty()) j["variant"] = variant;
  return j;
}

Platform Platform::from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail(ErrorKind::invalid_argument, "platform: want a JSON object");
  Platform p;
  p.architecture = j.value("architecture", "");
  p.os = j.value("os", "");
  p.variant = j.value("variant", "");
  p.os_version = j.value("os.version", "");
  if (auto it = j.find("os.features"); it != j.end() && it->is_array())
    for (const auto& f : *it)
      if (f.is_string()) p.os_features.push_back(f.get<std::string>());
  return p;
}

}  // namespace xb
