// Build args, platforms and FROM resolution (BuildKit's dockerfile2llb rules
// for meta args, stage args and the predefined platform args).
#include <algorithm>

#include "frontend/frontend.h"
#include "frontend/text.h"

namespace xb::frontend {

bool is_proxy_arg(std::string_view name) {
  static const char* const names[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                                      "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy"};
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return name == n; });
}

Env platform_args(const Platform& target, const Platform& build) {
  Env env;
  env.set("BUILDPLATFORM", build.str());
  env.set("BUILDOS", build.os);
  env.set("BUILDARCH", build.architecture);
  env.set("BUILDVARIANT", build.variant);
  env.set("TARGETPLATFORM", target.str());
  env.set("TARGETOS", target.os);
  env.set("TARGETARCH", target.architecture);
  env.set("TARGETVARIANT", target.variant);
  return env;
}

Env resolve_meta_args(const Dockerfile& df, const std::map<std::string, std::string>& build_args, const Env& platform) {
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
    Error e(ErrorKind::invalid_argument,
            "base name (" + stage.from.base_name + ") should not be blank: set the ARG it uses with --build-arg");
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
                                             const std::map<std::string, std::string>& build_args, const Env& meta_args,
                                             const Env& platform, char escape) {
  if (auto it = build_args.find(arg.key); it != build_args.end()) return it->second;
  if (arg.default_value) return expand_word(*arg.default_value, env, escape);
  if (auto v = meta_args.get(arg.key)) return std::string(*v);
  if (auto v = platform.get(arg.key)) return std::string(*v);
  return std::nullopt;
}

}  // namespace xb::frontend
