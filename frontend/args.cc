// Build args, platforms and FROM resolution (BuildKit's dockerfile2llb rules
// for meta args, stage args and the predefined platform args).
#include <sys/utsname.h>

#include <algorithm>

#include "frontend/frontend.h"
#include "frontend/text.h"

namespace xb::frontend {

namespace {

std::string normalize_arch(std::string arch, std::string& variant) {
  arch = text::lower(arch);
  if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") return "amd64";
  if (arch == "i386" || arch == "i686" || arch == "386") return "386";
  if (arch == "aarch64" || arch == "arm64") {
    if (variant == "v8" || variant == "8") variant.clear();
    return "arm64";
  }
  if (arch == "armhf") {
    variant = "v7";
    return "arm";
  }
  if (arch == "armel") {
    variant = "v6";
    return "arm";
  }
  if (arch.rfind("armv", 0) == 0 && arch.size() >= 5) {
    variant = "v" + arch.substr(4, 1);
    return "arm";
  }
  if (arch == "arm" && variant.empty()) variant = "v7";
  return arch;
}

}  // namespace

std::string Platform::str() const {
  std::string s = os + "/" + arch;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

Platform Platform::parse(std::string_view s) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (true) {
    size_t j = s.find('/', i);
    parts.emplace_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  auto bad = [&]() {
    throw Error(ErrorKind::invalid_argument,
                "invalid platform \"" + std::string(s) + "\" (want OS/ARCH[/VARIANT], e.g. linux/amd64)");
  };
  if (parts.size() > 3 || std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); }))
    bad();
  for (const auto& p : parts)
    for (char c : p)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') bad();
  Platform p;
  if (parts.size() == 1) {
    std::string l = text::lower(parts[0]);
    if (l == "linux" || l == "windows" || l == "darwin" || l == "freebsd") {
      p.os = l;
      std::string v;
      p.arch = normalize_arch(host_platform().arch, v);
      p.variant = host_platform().variant;
    } else {
      p.arch = normalize_arch(parts[0], p.variant);
    }
    return p;
  }
  p.os = text::lower(parts[0]);
  if (parts.size() == 3) p.variant = text::lower(parts[2]);
  p.arch = normalize_arch(parts[1], p.variant);
  return p;
}

Platform host_platform() {
  struct utsname u {};
  Platform p;
  if (::uname(&u) != 0) {
    p.arch = "amd64";
    return p;
  }
  p.arch = normalize_arch(u.machine, p.variant);
  return p;
}

bool is_proxy_arg(std::string_view name) {
  static const char* const names[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                                      "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy"};
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return name == n; });
}

Env platform_args(const Platform& target, const Platform& build) {
  Env env;
  env.set("BUILDPLATFORM", build.str());
  env.set("BUILDOS", build.os);
  env.set("BUILDARCH", build.arch);
  env.set("BUILDVARIANT", build.variant);
  env.set("TARGETPLATFORM", target.str());
  env.set("TARGETOS", target.os);
  env.set("TARGETARCH", target.arch);
  env.set("TARGETVARIANT", target.variant);
  return env;
}

Env resolve_meta_args(const Dockerfile& df, const std::map<std::string, std::string>& build_args,
                      const Env& platform) {
  Env env = platform;
  for (size_t i = 0; i < df.meta_args.size(); ++i) {
    const ArgDef& a = df.meta_args[i];
    if (auto it = build_args.find(a.key); it != build_args.end()) {
      env.set(a.key, it->second);
    } else if (a.default_value) {
      try {
        env.set(a.key, expand_word(*a.default_value, env, df.ast.escape));
      } catch (Error& e) {
        if (i < df.meta_arg_locations.size()) e.at(df.meta_arg_locations[i]);
        throw;
      }
    }
  }
  return env;
}

std::string resolve_base_name(const Stage& stage, const Env& meta_args, char escape) {
  std::string name;
  try {
    name = expand_word(stage.from.base_name, meta_args, escape);
  } catch (Error& e) {
    e.at(stage.location);
    throw;
  }
  if (name.empty()) {
    Error e(ErrorKind::invalid_argument, "base name (" + stage.from.base_name +
                                             ") should not be blank: set the ARG it uses with --build-arg");
    throw e.at(stage.location);
  }
  return name;
}

std::string resolve_platform(const Stage& stage, const Env& meta_args, char escape) {
  if (stage.from.platform.empty()) return {};
  try {
    return expand_word(stage.from.platform, meta_args, escape);
  } catch (Error& e) {
    e.at(stage.location);
    throw;
  }
}

std::optional<std::string> resolve_stage_arg(const ArgDef& arg, const EnvLookup& env,
                                             const std::map<std::string, std::string>& build_args,
                                             const Env& meta_args, const Env& platform, char escape) {
  if (auto it = build_args.find(arg.key); it != build_args.end()) return it->second;
  if (arg.default_value) return expand_word(*arg.default_value, env, escape);
  if (auto v = meta_args.get(arg.key)) return std::string(*v);
  if (auto v = platform.get(arg.key)) return std::string(*v);
  return std::nullopt;
}

}  // namespace xb::frontend
