// Remote cache metadata (cache/cache.h): a cache config or inline
// field read from a registry someone else writes. Input: JSON. Only
// xb::Error may come out; a record that is accepted names only layers that
// exist, and what is read renders back to something that reads the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cache/cache.h"

using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  json j = json::parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size, nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  std::vector<xb::store::Descriptor> layers;
  std::vector<xb::Digest> diff_ids;
  for (int i = 0; i < 3; ++i) {
    xb::Digest d = xb::Digest::of(std::to_string(i));
    layers.push_back(
        xb::store::Descriptor{std::string(xb::store::media_type::oci_layer_gzip), d, 10, {}, std::nullopt, {}, {}});
    diff_ids.push_back(xb::Digest::of("diff" + std::to_string(i)));
  }
  auto check = [&](const xb::cache::CacheMetadata& m) {
    for (const auto& [key, idx] : m.records)
      for (size_t i : idx)
        if (i >= m.layers.size()) std::abort();
    auto back = xb::cache::CacheMetadata::from_config(json::parse(m.config_json()), layers);
    if (back.records != m.records) std::abort();
  };
  try {
    check(xb::cache::CacheMetadata::from_config(j, layers));
  } catch (const xb::Error&) {
  }
  try {
    check(xb::cache::CacheMetadata::from_inline(j, layers, diff_ids));
  } catch (const xb::Error&) {
  }
  return 0;
}
