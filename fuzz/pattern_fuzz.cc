// COPY/ADD path patterns (fileop/fileop.h, common/pattern.h): Go
// filepath.Match, wildcard splitting, cleaning and the patternmatcher of
// --exclude and .dockerignore (a malformed pattern is an xb::Error). Input: a pattern, a
// newline, a path. Nothing may crash, hang or read out of bounds, and the
// invariants below must hold.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/pattern.h"
#include "fileop/fileop.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view pattern = in.substr(0, nl);
  std::string_view name = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  if (pattern.size() > 256 || name.size() > 256) return 0;

  bool m = xb::fileop::go_path_match(pattern, name);
  // A pattern without any special character matches exactly itself.
  if (pattern.find_first_of("*?[\\") == std::string_view::npos && m != (pattern == name)) std::abort();

  std::string cleaned = xb::clean_path(name);
  if (xb::clean_path(cleaned) != cleaned) std::abort();  // cleaning is idempotent

  std::string abs = xb::clean_path("/" + std::string(name));
  auto [base, rest] = xb::fileop::split_wildcards(abs);
  if (rest.empty() && base != abs) std::abort();

  try {
    xb::PatternMatcher patterns({std::string(pattern)}, "--exclude");
    (void)patterns.matches(name);
    (void)patterns.could_match_below(name);
    (void)patterns.can_skip_dir(name);
  } catch (const xb::Error&) {
  }
  return 0;
}
