// Shared helpers for the frontend tests: the test-data directory.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace xb::frontend::testing {

inline std::filesystem::path testdata() {
  const char* d = std::getenv("XBUILD_TESTDATA");
  // Under ctest XBUILD_TESTDATA is set; otherwise use the tree this file is in.
  return d ? std::filesystem::path(d) : std::filesystem::path(__FILE__).parent_path().parent_path();
}

}  // namespace xb::frontend::testing
