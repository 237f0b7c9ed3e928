// Applying an OCI layer tar to a directory: common/tar_extract.h unpacks it,
// contained in the root ("..", absolute names and symlinks, in the layer or
// already on disk, all stay inside, as in a chroot). The diff ID is the
// sha256 of the decompressed stream, computed while it streams through.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/tar.h"
#include "common/tar_extract.h"
#include "snapshotter/internal.h"

namespace xb::snapshotter::detail {

namespace fs = std::filesystem;

namespace {

constexpr size_t kBlock = 128 * 1024;

// Two libarchive readers in a row: the first one only decompresses (format
// "raw"), so that we can hash exactly the tar bytes; the second one parses
// the tar from those bytes.
struct Pipeline {
  const ByteSource* source = nullptr;
  archive* raw = nullptr;
  Sha256 sha;
  uint64_t size = 0;
  std::vector<char> in_buf = std::vector<char>(kBlock);
  std::vector<char> tar_buf = std::vector<char>(kBlock);
  // An exception thrown by the source, kept to rethrow past libarchive's C frames.
  std::exception_ptr source_error;
  bool raw_eof = false;
};

la_ssize_t raw_read(archive*, void* data, const void** buf) {
  auto* p = static_cast<Pipeline*>(data);
  try {
    size_t n = (*p->source)(p->in_buf.data(), p->in_buf.size());
    *buf = p->in_buf.data();
    return static_cast<la_ssize_t>(n);
  } catch (...) {
    p->source_error = std::current_exception();
    return -1;
  }
}

la_ssize_t tar_read(archive*, void* data, const void** buf) {
  auto* p = static_cast<Pipeline*>(data);
  if (p->raw_eof) return 0;
  la_ssize_t n = archive_read_data(p->raw, p->tar_buf.data(), p->tar_buf.size());
  if (n < 0) return -1;
  if (n == 0) p->raw_eof = true;
  p->sha.update(p->tar_buf.data(), static_cast<size_t>(n));
  p->size += static_cast<uint64_t>(n);
  *buf = p->tar_buf.data();
  return n;
}

}  // namespace

LayerResult apply_layer(const fs::path& dir, WhiteoutStyle style, const ByteSource& source) {
  Pipeline p;
  p.source = &source;
  tar::Archive raw = tar::decompressor();
  p.raw = raw.get();
  auto check_source = [&] {
    if (p.source_error) std::rethrow_exception(p.source_error);
  };
  if (archive_read_open(raw.get(), &p, nullptr, raw_read, nullptr) != ARCHIVE_OK) {
    check_source();
    fail(ErrorKind::invalid_argument, std::string("read layer: ") + tar::error(raw.get()));
  }
  archive_entry* re;
  if (tar::next_header(raw.get(), &re) != ARCHIVE_OK) {
    check_source();
    fail(ErrorKind::invalid_argument, std::string("read layer: ") + tar::error(raw.get()));
  }

  tar::Archive layer = tar::reader(tar::Decompress::none);
  if (archive_read_open(layer.get(), &p, nullptr, tar_read, nullptr) != ARCHIVE_OK) {
    check_source();
    fail(ErrorKind::invalid_argument, std::string("read layer: ") + tar::error(layer.get()));
  }
  UniqueFd root = open_or_throw(dir, O_PATH | O_DIRECTORY);
  tar::ExtractOptions opt;
  opt.whiteouts = style == WhiteoutStyle::overlay ? tar::ExtractOptions::Whiteouts::overlay
                                                  : tar::ExtractOptions::Whiteouts::remove;
  opt.display = dir.string();
  tar::Extractor x(root.get(), std::move(opt));
  for (;;) {
    archive_entry* e;
    int r = tar::next_header(layer.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      check_source();
      // An empty stream is an empty layer (some tools write zero bytes).
      if (p.size == 0) break;
      fail(ErrorKind::data_loss, std::string("read layer: ") + tar::error(layer.get()));
    }
    try {
      x.entry(layer.get(), e);
    } catch (...) {
      check_source();
      throw;
    }
  }
  x.finish();
  // Hash what follows the end-of-archive blocks too: the diff ID covers
  // every byte of the uncompressed stream.
  while (!p.raw_eof) {
    const void* dummy;
    la_ssize_t n = tar_read(nullptr, &p, &dummy);
    if (n < 0) {
      check_source();
      fail(ErrorKind::data_loss, std::string("read layer: ") + tar::error(raw.get()));
    }
  }
  return LayerResult{p.sha.finish(), p.size};
}

}  // namespace xb::snapshotter::detail
