// An OCI platform (os/architecture/variant), the one type every module uses:
// the frontend's TARGETPLATFORM and FROM --platform, the store's index
// selection and image configs, the registry's pulls, the CLI's --platform.
// Normalized as containerd's platforms package does.
#pragma once

#include <compare>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace xb {

struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64"
  std::string variant;       // "v8", may be empty
  std::string os_version;
  std::vector<std::string> os_features;

  // "linux/arm64/v8", normalized ("x86_64"→amd64, "aarch64"→arm64,
  // arm64/v8→arm64, arm→arm/v7); one part is an OS ("linux": the host's
  // architecture) or an architecture (on linux). Throws
  // Error(invalid_argument) for anything else.
  static Platform parse(std::string_view text);
  static Platform host();  // from uname(2): linux/amd64 here
  std::string str() const;
  // Whether an image for `have` runs on this (wanted) platform: same os and
  // architecture, and same variant when both name one (arm64 "" == "v8").
  bool matches(const Platform& have) const;

  nlohmann::json to_json() const;
  static Platform from_json(const nlohmann::json& j);

  auto operator<=>(const Platform&) const = default;
};

}  // namespace xb
