// Shared by the files of cache/ only (not part of its interface).
#pragma once

#include <filesystem>
#include <memory>

#include "common/digest.h"
#include "registry/registry.h"

namespace xb::cache::detail {

// A registry client with the settings of registry_config and the user's credentials.
std::shared_ptr<registry::Client> make_client(const std::filesystem::path& registry_config);

// Where blob d lives in the OCI layout at dir.
inline std::filesystem::path layout_blob(const std::filesystem::path& dir, const Digest& d) {
  return dir / "blobs" / std::string(d.algorithm()) / std::string(d.hex());
}

}  // namespace xb::cache::detail
