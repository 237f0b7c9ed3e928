// common/tar: names are bytes through libarchive, whatever the process
// locale (issue 15). Checked against a tar reader and writer of our own
// (tests/support/tar_util.h) that never converts anything.
#include "common/tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "tests/support/odd_names.h"
#include "tests/support/tar_util.h"

namespace xb {
namespace {

using testing::InLocale;
using testing::odd_names;

la_ssize_t append(archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

// Every odd name as a file, and as the target of a symlink and a hard link.
std::string write_odd_tar() {
  std::string out;
  tar::Archive w = tar::writer();
  EXPECT_EQ(archive_write_open(w.get(), &out, nullptr, append, nullptr), ARCHIVE_OK);
  archive_entry* e = archive_entry_new();
  for (const auto& n : odd_names()) {
    for (int kind = 0; kind < 3; ++kind) {
      archive_entry_clear(e);
      archive_entry_set_perm(e, 0644);
      if (kind == 0) {
        archive_entry_set_pathname(e, ("f/" + n.name).c_str());
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, 0);
      } else if (kind == 1) {
        archive_entry_set_pathname(e, ("l/" + n.name).c_str());
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, ("../f/" + n.name).c_str());
      } else {
        archive_entry_set_pathname(e, ("h/" + n.name).c_str());
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, ("f/" + n.name).c_str());
      }
      EXPECT_EQ(tar::write_header(w.get(), e), ARCHIVE_OK) << n.what << ": " << tar::error(w.get());
    }
  }
  archive_entry_free(e);
  EXPECT_EQ(archive_write_close(w.get()), ARCHIVE_OK);
  return out;
}

// name → link target ("" for files), as tar::reader reads it.
std::map<std::string, std::string> read_with_helper(const std::string& data) {
  std::map<std::string, std::string> out;
  tar::Archive r = tar::reader(tar::Decompress::none);
  EXPECT_EQ(archive_read_open_memory(r.get(), data.data(), data.size()), ARCHIVE_OK);
  archive_entry* e;
  int rc;
  while ((rc = tar::next_header(r.get(), &e)) == ARCHIVE_OK) {
    const char* l = archive_entry_symlink(e) ? archive_entry_symlink(e) : archive_entry_hardlink(e);
    out[archive_entry_pathname(e)] = l ? l : "";
  }
  EXPECT_EQ(rc, ARCHIVE_EOF) << tar::error(r.get());
  return out;
}

void expect_odd_entries(const std::map<std::string, std::string>& got) {
  for (const auto& n : odd_names()) {
    SCOPED_TRACE(n.what);
    ASSERT_TRUE(got.count("f/" + n.name));
    EXPECT_EQ(got.at("l/" + n.name), "../f/" + n.name);
    EXPECT_EQ(got.at("h/" + n.name), "f/" + n.name);
  }
  EXPECT_EQ(got.size(), 3 * odd_names().size());
}

class TarNames : public ::testing::TestWithParam<const char*> {};

// Written as Go writes them: the name's bytes in PAX path/linkpath records,
// no hdrcharset unless the bytes are not UTF-8 (then BINARY, as POSIX asks).
TEST_P(TarNames, WriterKeepsBytesInPaxRecords) {
  InLocale in(GetParam());
  ASSERT_TRUE(in.ok()) << "no locale " << GetParam();
  std::map<std::string, testing::TarEntry> entries;
  for (auto& e : testing::read_tar(write_odd_tar())) entries[e.name] = e;
  for (const auto& n : odd_names()) {
    SCOPED_TRACE(n.what);
    ASSERT_TRUE(entries.count("f/" + n.name));
    EXPECT_EQ(entries["l/" + n.name].link, "../f/" + n.name);
    EXPECT_EQ(entries["h/" + n.name].type, '1');
    EXPECT_EQ(entries["h/" + n.name].link, "f/" + n.name);
    const auto& pax = entries["f/" + n.name].pax;
    bool ascii = std::all_of(n.name.begin(), n.name.end(), [](char c) { return (c & 0x80) == 0; });
    if (!ascii) {
      EXPECT_EQ(pax.count("path"), 1u) << "a name ustar cannot hold goes into a PAX record";
    }
    if (n.utf8) {
      EXPECT_EQ(pax.count("hdrcharset"), 0u);
    } else {
      EXPECT_EQ(pax.count("hdrcharset") ? pax.at("hdrcharset") : "", "BINARY");
    }
  }
}

// What Go's archive/tar writes (raw PAX records, no hdrcharset) reads back
// as those bytes: no NFC in a UTF-8 locale, no error in the C locale.
TEST_P(TarNames, ReaderKeepsBytesOfGoTars) {
  InLocale in(GetParam());
  ASSERT_TRUE(in.ok()) << "no locale " << GetParam();
  std::map<std::string, std::string> got = read_with_helper(testing::odd_tar_as_go_writes_it());
  for (const auto& n : odd_names()) {
    SCOPED_TRACE(n.what);
    EXPECT_TRUE(got.count("f/" + n.name));
    EXPECT_EQ(got["l/" + n.name], "../f/" + n.name);
    EXPECT_EQ(got["h/" + n.name], "f/" + n.name);
  }
  EXPECT_TRUE(got.count("deep/" + testing::kDeepPath));
}

TEST_P(TarNames, RoundTrip) {
  InLocale in(GetParam());
  ASSERT_TRUE(in.ok()) << "no locale " << GetParam();
  expect_odd_entries(read_with_helper(write_odd_tar()));
}

INSTANTIATE_TEST_SUITE_P(Locales, TarNames, ::testing::Values("C", "POSIX", "C.UTF-8"), [](const auto& info) {
  std::string s = info.param;
  for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
});

}  // namespace
}  // namespace xb
