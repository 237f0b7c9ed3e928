// libFuzzer target: .dockerignore parsing and matching. The input is split
// at the first NUL byte: before it the ignore file, after it the paths to
// match (one per line), so the fuzzer explores both sides.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "frontend/frontend.h"

namespace fe = xb::frontend;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  size_t nul = all.find('\0');
  std::string_view rules = all.substr(0, nul);
  std::string_view paths = nul == std::string_view::npos ? std::string_view("a/b/c\nx.go\nnode_modules/y")
                                                         : all.substr(nul + 1);
  try {
    fe::DockerIgnore di = fe::DockerIgnore::parse(rules);
    size_t i = 0;
    while (i <= paths.size()) {
      size_t nl = paths.find('\n', i);
      if (nl == std::string_view::npos) nl = paths.size();
      std::string_view p = paths.substr(i, nl - i);
      bool m = di.matches(p);
      // A directory the walker may skip must itself be excluded.
      if (di.can_skip_dir(p) && !m) __builtin_trap();
      i = nl + 1;
    }
  } catch (const xb::Error&) {
  }
  return 0;
}
