// libFuzzer target: the OCI JSON documents a registry or an archive hands
// us (manifest, index, image config, descriptor, platform). Whatever parses
// serializes, and an image config read back from its own JSON is unchanged.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/error.h"
#include "store/store.h"

namespace st = xb::store;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    st::Manifest m = st::Manifest::parse(text);
    st::Manifest again = st::Manifest::parse(m.to_json());
    if (again.to_json() != m.to_json()) __builtin_trap();
  } catch (const xb::Error&) {
  }
  try {
    st::Index i = st::Index::parse(text);
    (void)i.select(st::Platform::host());
    (void)st::Index::parse(i.to_json());
  } catch (const xb::Error&) {
  }
  try {
    st::ImageConfig c = st::ImageConfig::parse(text);
    st::ImageConfig again = st::ImageConfig::parse(c.to_json());
    if (!(again == c)) __builtin_trap();
    (void)c.platform();
  } catch (const xb::Error&) {
  }
  try {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_discarded()) {
      try {
        (void)st::Descriptor::from_json(j);
      } catch (const xb::Error&) {
      } catch (const nlohmann::json::exception&) {
      }
      try {
        (void)st::Platform::from_json(j);
      } catch (const xb::Error&) {
      } catch (const nlohmann::json::exception&) {
      }
    }
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
