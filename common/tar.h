// Every tar xbuild reads or writes is set up here, so that all of them treat
// file names as BuildKit (Go's archive/tar) does: as bytes, kept exactly,
// whatever the locale. libarchive converts names between "the current
// locale" and UTF-8 (the charset of PAX records); left alone, that fails on
// every non-ASCII name in the C locale when writing, and silently rewrites
// names (Unicode NFC) in a UTF-8 locale when reading. docs/dev/snapshotter.md
// ("File names are bytes") has the experiments behind this.
//
//   tar::Archive w = tar::writer();      then archive_write_open*(w.get(), …)
//   tar::write_header(w.get(), entry)    instead of archive_write_header
//   tar::Archive r = tar::reader(tar::Decompress::any);   then archive_read_open*
//   tar::next_header(r.get(), &entry)    instead of archive_read_next_header
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <vector>

struct archive;
struct archive_entry;

namespace xb::tar {

struct ArchiveFree {
  void operator()(archive* a) const;
};
// A libarchive reader or writer, freed on destruction.
using Archive = std::unique_ptr<archive, ArchiveFree>;

enum class Decompress {
  none,    // plain tar only
  docker,  // gzip, bzip2, xz, zstd: what Docker's and BuildKit's ADD unpack
  any,     // every filter libarchive has (layers, image archives, rootfs tarballs)
};

// A tar reader (ustar, PAX, GNU, v7). empty_ok: zero bytes are an empty
// archive rather than an error.
Archive reader(Decompress d, bool empty_ok = false);

// A reader that only decompresses (format "raw"): one entry, the bytes.
Archive decompressor();

// A tar writer: PAX, with ustar headers and PAX records only where ustar
// cannot hold a value (long or non-ASCII names, big numbers, xattrs), and no
// padding past the two end blocks, as Go's archive/tar writes. Names go into
// PAX path/linkpath records as their bytes; only a name that is not valid
// UTF-8 adds "hdrcharset=BINARY" to its entry (POSIX asks for it; Go's and
// libarchive's readers keep the bytes either way).
Archive writer();

// libarchive's disk writer (extraction to a directory) with these
// ARCHIVE_EXTRACT_* flags and the system's user and group lookup. It takes
// an entry's names as bytes; headers go through write_header too.
Archive disk_writer(int flags);

// archive_read_next_header, with names as the archive's bytes. Returns
// libarchive's code, except that the warning "name can't be converted to the
// current locale" (the bytes are kept: nothing lost) is ARCHIVE_OK.
int next_header(archive* a, archive_entry** entry);

// archive_write_header for a writer(): returns libarchive's code, except that
// a name that is not valid UTF-8 (written as bytes with hdrcharset=BINARY) is
// ARCHIVE_OK.
int write_header(archive* a, archive_entry* entry);

// A reader's bytes from a function (read(buf, size) → bytes read, 0 at the
// end): a verified blob, a pipe. libarchive's C frames cannot carry a C++
// exception, so one thrown by `read` (a corrupt blob, an interrupt) is kept
// and rethrown by rethrow_source_error(): call it before reporting any
// libarchive error, so that the user sees the cause, not its symptom.
//   tar::Source src(read); if (src.open(r.get()) != ARCHIVE_OK) { src.rethrow_source_error(); … }
class Source {
 public:
  explicit Source(std::function<size_t(void*, size_t)> read, size_t chunk = size_t{1} << 20);
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  int open(archive* a);  // archive_read_open with this source; must outlive the reading
  void rethrow_source_error() const;

 private:
  static ssize_t callback(archive*, void* self, const void** out);
  std::function<size_t(void*, size_t)> read_;
  std::vector<char> buf_;
  std::exception_ptr error_;
};

// libarchive's message for the last error, never null.
const char* error(archive* a);

}  // namespace xb::tar
