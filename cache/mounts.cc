// RUN --mount=type=cache contents across machines (docs/dev/cache.md,
// "Cache mounts"): restoring one from a remote cache. The tar of a mount
// directory is made by the solver (snapshotter::tar_tree); its place in the
// cache format is remote.cc's and export.cc's.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>

#include "cache/cache.h"
#include "common/fs.h"
#include "common/tar.h"
#include "common/tar_extract.h"
#include "store/blob_reader.h"

namespace xb::cache {

namespace fs = std::filesystem;

bool mount_dir_empty(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
}

void unpack_mount(const store::Store& store, const Layer& layer, const fs::path& dir) {
  // A cache is trusted as its registry is, but its mount tars are unpacked
  // into a directory of the store: the one contained extractor keeps every
  // name, link and hard link inside dir, and refuses ".." that leads out
  // (as ADD does) rather than silently clamping it.
  store::VerifiedBlobReader blob = store::read_blob_verified(store, layer.blob);
  tar::Archive reader = tar::reader(tar::Decompress::any, true);
  tar::Source source([&](void* buf, size_t n) { return blob.read(buf, n); });
  archive* a = reader.get();
  const std::string what = "cache mount layer " + layer.blob.str();
  auto archive_fail = [&](std::string_view step) {
    source.rethrow_source_error();
    fail(ErrorKind::invalid_argument, what + ": " + std::string(step) + ": " + tar::error(a));
  };
  if (source.open(a) != ARCHIVE_OK) archive_fail("open");
  UniqueFd root = open_or_throw(dir, O_PATH | O_DIRECTORY);
  tar::ExtractOptions xo;
  xo.refuse_outside = true;
  xo.what = what + ": entry";
  xo.display = dir.string();
  tar::Extractor x(root.get(), std::move(xo));
  for (;;) {
    archive_entry* e;
    int r = tar::next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) archive_fail("read");
    x.entry(a, e);
  }
  x.finish();
  blob.finish();  // the rest of the blob read and its digest checked
}

}  // namespace xb::cache
