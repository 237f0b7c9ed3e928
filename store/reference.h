// store/reference.h: the identities of images (part of store/store.h,
// the module's public header, which includes it): references and platforms.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

#include "common/digest.h"

namespace xb::store {

// An image reference, parsed and normalized exactly like docker's
// reference.ParseNormalizedNamed + TagNameOnly:
//   "figlet"               → docker.io/library/figlet:latest
//   "localhost:5000/a/b"   → localhost:5000/a/b:latest
//   "busybox@sha256:…"     → docker.io/library/busybox@sha256:… (no tag added)
// parse() throws Error(invalid_argument) with docker's reason
// ("invalid reference format: repository name must be lowercase").
class ImageRef {
 public:
  static ImageRef parse(std::string_view text);
  static std::optional<ImageRef> try_parse(std::string_view text);
  // Like parse(), but a reference without tag or digest stays without one
  // (for `xbuild pull -a`-like uses and for repository-only names).
  static ImageRef parse_repository(std::string_view text);

  const std::string& domain() const { return domain_; }  // "docker.io", "localhost:5000"
  const std::string& path() const { return path_; }      // "library/busybox"
  const std::optional<std::string>& tag() const { return tag_; }
  const std::optional<Digest>& digest() const { return digest_; }

  // "docker.io/library/busybox"
  std::string repository() const;
  // The full normalized form: "docker.io/library/busybox:latest",
  // "host:5000/x@sha256:…", "docker.io/library/x:1@sha256:…". parse(str()) == *this.
  std::string str() const;
  // What docker shows: "busybox:latest", "quay.io/x/y:1".
  std::string familiar() const;
  std::string familiar_repository() const;  // "busybox"
  // The manifest reference for the registry API: the digest if any, else the tag.
  std::string reference() const;

  ImageRef with_tag(std::string_view tag) const;     // validates; drops the digest
  ImageRef with_digest(const Digest& digest) const;  // keeps the tag

  auto operator<=>(const ImageRef&) const = default;

 private:
  ImageRef() = default;
  std::string domain_;
  std::string path_;
  std::optional<std::string> tag_;
  std::optional<Digest> digest_;
};

// An OCI platform. parse("linux/arm64/v8"), str() renders it back.
struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64"
  std::string variant;       // "v8", may be empty
  std::string os_version;
  std::vector<std::string> os_features;

  static Platform parse(std::string_view text);  // normalizes "x86_64"→amd64, "aarch64"→arm64
  static Platform host();                        // linux/amd64 here
  std::string str() const;
  // Whether an image for `have` runs on this (wanted) platform: same os and
  // architecture, and same variant when both name one (arm64 "" == "v8").
  bool matches(const Platform& have) const;

  nlohmann::json to_json() const;
  static Platform from_json(const nlohmann::json& j);

  auto operator<=>(const Platform&) const = default;
};

}  // namespace xb::store
