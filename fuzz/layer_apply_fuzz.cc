// libFuzzer target: applying an untrusted layer tar (any compression) to a
// snapshot. Whatever the tar says (.., absolute names, symlinks, hardlinks,
// whiteouts, devices), nothing may appear outside the snapshot: a sentinel
// directory next to the store must stay empty. Native driver (no mounts),
// so it runs without overlayfs; as root it also exercises owners and devices.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "snapshotter/snapshotter.h"

namespace fs = std::filesystem;

namespace {

struct World {
  xb::TempDir dir{"layer-fuzz"};
  fs::path sentinel = dir.path() / "outside";
  std::unique_ptr<xb::snapshotter::Snapshotter> snap;
  World() {
    fs::create_directories(sentinel);
    snap = xb::snapshotter::open_snapshotter(dir.path() / "store", xb::snapshotter::Driver::native);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  static int n = 0;
  std::string key = "fuzz-" + std::to_string(n++);
  w.snap->prepare(key, "");
  size_t pos = 0;
  try {
    w.snap->apply(key, [&](void* buf, size_t want) {
      size_t k = std::min(want, size - pos);
      std::memcpy(buf, data + pos, k);
      pos += k;
      return k;
    });
  } catch (const xb::Error&) {
  }
  w.snap->remove(key);
  std::error_code ec;
  if (!fs::is_empty(w.sentinel, ec) || ec) __builtin_trap();
  // Nothing but the store may appear next to the sentinel either.
  for (const auto& e : fs::directory_iterator(w.dir.path()))
    if (e.path() != w.sentinel && e.path().filename() != "store") __builtin_trap();
  return 0;
}
