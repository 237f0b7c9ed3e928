#include "common/tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <cstring>
#include <new>
#include <string_view>

namespace xb::tar {

namespace {

// libarchive asks "the current locale" (nl_langinfo(CODESET), per thread)
// what charset names are in, once per archive, and converts between it and
// UTF-8 for PAX records. The two ctypes that make that conversion keep bytes:
//  - reading, "C": UTF-8 → ASCII fails for any non-ASCII name and libarchive
//    then keeps the name's bytes (in a UTF-8 locale it would succeed and
//    rewrite NFD names to NFC: "A\xcc\x8a" became "\xc3\x85");
//  - writing, a UTF-8 ctype: UTF-8 → UTF-8 passes valid names through as they
//    are and sends invalid ones to binary mode (bytes, hdrcharset=BINARY); in
//    "C" every non-ASCII name would go that way.
// Set per call with uselocale, so the process's own locale never matters.
struct Ctypes {
  locale_t c = newlocale(LC_CTYPE_MASK, "C", locale_t{});
  locale_t utf8 = open_utf8();

  static locale_t open_utf8() {
    for (const char* name : {"C.UTF-8", "C.utf8", "en_US.UTF-8"}) {
      if (locale_t l = newlocale(LC_CTYPE_MASK, name, locale_t{})) return l;
    }
    return locale_t{};
  }
};

const Ctypes& ctypes() {
  static const Ctypes c;
  return c;
}

class WithCtype {
 public:
  explicit WithCtype(locale_t l) : old_(l ? uselocale(l) : locale_t{}) {}
  ~WithCtype() {
    if (old_) uselocale(old_);
  }
  WithCtype(const WithCtype&) = delete;
  WithCtype& operator=(const WithCtype&) = delete;

 private:
  locale_t old_;
};

bool starts_with_any(std::string_view s, std::initializer_list<std::string_view> prefixes) {
  for (std::string_view p : prefixes) {
    if (s.starts_with(p)) return true;
  }
  return false;
}

// libarchive 3.x's messages for a name it kept as bytes because it could not
// convert it (archive_read_support_format_tar.c, archive_write_set_format_pax.c).
bool kept_name_as_bytes_reading(std::string_view msg) {
  return msg.ends_with("to current locale.") &&
         starts_with_any(msg, {"Pathname can't", "Linkname can't", "Uname can't", "Gname can't"});
}
bool kept_name_as_bytes_writing(std::string_view msg) {
  return starts_with_any(msg, {"Can't translate pathname ", "Can't translate linkname ", "Can't translate uname ",
                               "Can't translate gname "});
}

Archive checked(archive* a) {
  if (!a) throw std::bad_alloc();
  return Archive(a);
}

}  // namespace

void ArchiveFree::operator()(archive* a) const { archive_free(a); }

Archive reader(Decompress d, bool empty_ok) {
  Archive a = checked(archive_read_new());
  switch (d) {
    case Decompress::none: break;
    case Decompress::docker:
      archive_read_support_filter_gzip(a.get());
      archive_read_support_filter_bzip2(a.get());
      archive_read_support_filter_xz(a.get());
      archive_read_support_filter_zstd(a.get());
      break;
    case Decompress::any: archive_read_support_filter_all(a.get()); break;
  }
  archive_read_support_format_tar(a.get());
  if (empty_ok) archive_read_support_format_empty(a.get());
  return a;
}

Archive decompressor() {
  Archive a = checked(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  return a;
}

Archive writer() {
  Archive a = checked(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_add_filter_none(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (!ctypes().utf8) {
    // No UTF-8 ctype on this system: every name as bytes, each PAX header
    // marked hdrcharset=BINARY. Still exact, only less tidy.
    archive_write_set_options(a.get(), "hdrcharset=BINARY");
  }
  return a;
}

Archive disk_writer(int flags) {
  Archive a = checked(archive_write_disk_new());
  archive_write_disk_set_options(a.get(), flags);
  archive_write_disk_set_standard_lookup(a.get());
  return a;
}

int next_header(archive* a, archive_entry** entry) {
  int rc;
  {
    WithCtype c(ctypes().c);
    rc = archive_read_next_header(a, entry);
  }
  if (rc == ARCHIVE_WARN && kept_name_as_bytes_reading(error(a))) return ARCHIVE_OK;
  return rc;
}

int write_header(archive* a, archive_entry* entry) {
  int rc;
  {
    WithCtype u(ctypes().utf8);
    rc = archive_write_header(a, entry);
  }
  if (rc == ARCHIVE_WARN && kept_name_as_bytes_writing(error(a))) return ARCHIVE_OK;
  return rc;
}

const char* error(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown archive error";
}

Source::Source(std::function<size_t(void*, size_t)> read, size_t chunk) : read_(std::move(read)), buf_(chunk) {}

int Source::open(archive* a) { return archive_read_open(a, this, nullptr, &Source::callback, nullptr); }

ssize_t Source::callback(archive*, void* self, const void** out) {
  auto* s = static_cast<Source*>(self);
  try {
    *out = s->buf_.data();
    return static_cast<la_ssize_t>(s->read_(s->buf_.data(), s->buf_.size()));
  } catch (...) {
    s->error_ = std::current_exception();
    return -1;
  }
}

void Source::rethrow_source_error() const {
  if (error_) std::rethrow_exception(error_);
}

}  // namespace xb::tar
