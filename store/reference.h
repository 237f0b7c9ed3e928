// store/reference.h: the identities of images (part of store/store.h,
// the module's public header, which includes it): references and platforms.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/platform.h"

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

// The one platform type (common/platform.h).
using Platform = xb::Platform;

}  // namespace xb::store
