// libFuzzer target: image references (docker's grammar and normalization).
// A reference that parses renders to a string that parses to the same
// reference (STYLE 4: identities round-trip).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/error.h"
#include "store/store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto ref = xb::store::ImageRef::try_parse(text);
    if (!ref) return 0;
    auto again = xb::store::ImageRef::parse(ref->str());
    if (again != *ref || again.str() != ref->str()) __builtin_trap();
    (void)ref->reference();
    (void)ref->repository();
  } catch (const xb::Error&) {
  }
  try {
    (void)xb::store::ImageRef::parse_repository(text);
  } catch (const xb::Error&) {
  }
  return 0;
}
