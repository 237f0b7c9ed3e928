// File names as the world has them, for the tests that check every tar
// reader and writer keeps a name byte for byte in any locale (issue 15):
// several scripts, combining marks, emoji, spaces, a newline, bytes that are
// not UTF-8, long names. Each is one path element.
#pragma once

#include <gtest/gtest.h>

#include <clocale>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tests/support/tar_util.h"

namespace xb::testing {

struct OddName {
  std::string what;
  std::string name;
  bool utf8 = true;  // valid UTF-8
};

inline std::vector<OddName> odd_names() {
  std::string long_name = "long-";
  for (int i = 0; i < 90; ++i) long_name += "\xc3\xa9";  // é: 185 bytes in all
  long_name += ".txt";
  return {
      {"latin", "caf\xc3\xa9.txt"},
      {"ca-certificates", "NetLock_Arany_=Class_Gold=_F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem"},
      {"nfd", "cafe\xcc\x81-nfd.txt"},  // e + combining acute: NFC would be é
      {"cyrillic", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82.txt"},
      {"cjk", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab"},
      {"arabic", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7.txt"},
      {"emoji", "emoji-\xf0\x9f\x98\x80\xf0\x9f\x9a\x80.txt"},
      {"kelvin", "\xe2\x84\xaa-kelvin"},  // NFC maps it to ASCII K
      {"spaces", " spaces  and\ttab .txt"},
      {"newline", "new\nline.txt"},
      {"invalid-ff", "bad-\xff-byte.bin", false},
      {"invalid-c328", "bad-\xc3\x28-seq.bin", false},
      {"long", long_name},
  };
}

// The process locale for one scope; xbuild's tar code must not depend on it.
class InLocale {
 public:
  explicit InLocale(const char* name) : ok_(std::setlocale(LC_ALL, name) != nullptr) {}
  ~InLocale() { std::setlocale(LC_ALL, "C"); }
  InLocale(const InLocale&) = delete;
  InLocale& operator=(const InLocale&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

// One path of more than 255 bytes through odd directories.
inline const std::string kDeepPath = [] {
  std::string p;
  for (const auto& n : odd_names()) p += (p.empty() ? "" : "/") + n.name;
  return p + "/end";
}();

// The tree the names tests make and check: for each odd name N a file f/N
// holding N, a symlink l/N → ../f/N, a hard link h/N to f/N, and
// deep/<kDeepPath> holding "deep".
inline void make_odd_tree(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  for (const char* d : {"f", "l", "h"}) fs::create_directories(root / d);
  for (const auto& n : odd_names()) {
    std::ofstream(root / "f" / n.name) << n.name;
    fs::create_symlink("../f/" + n.name, root / "l" / n.name);
    fs::create_hard_link(root / "f" / n.name, root / "h" / n.name);
  }
  fs::create_directories((root / "deep" / kDeepPath).parent_path());
  std::ofstream(root / "deep" / kDeepPath) << "deep";
}

inline std::set<std::string> names_in(const std::filesystem::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir, ec)) out.insert(e.path().filename().string());
  return out;
}

inline std::string slurp_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void check_odd_tree(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::set<std::string> want;
  for (const auto& n : odd_names()) {
    SCOPED_TRACE(n.what);
    want.insert(n.name);
    EXPECT_EQ(slurp_file(root / "f" / n.name), n.name);
    std::error_code ec;
    EXPECT_EQ(fs::read_symlink(root / "l" / n.name, ec).string(), "../f/" + n.name);
    EXPECT_TRUE(fs::equivalent(root / "h" / n.name, root / "f" / n.name, ec));
  }
  // Nothing renamed: exactly these names, byte for byte.
  EXPECT_EQ(names_in(root / "f"), want);
  EXPECT_EQ(names_in(root / "l"), want);
  EXPECT_EQ(names_in(root / "h"), want);
  EXPECT_EQ(slurp_file(root / "deep" / kDeepPath), "deep");
}

// The same tree as a tar written the way Go's archive/tar (BuildKit, skopeo,
// umoci) writes it: every name and link target a PAX record of raw bytes,
// no hdrcharset.
inline std::string odd_tar_as_go_writes_it() {
  TarBuilder b;
  b.dir("f/").dir("l/").dir("h/");
  for (const auto& n : odd_names()) {
    b.pax({{"path", "f/" + n.name}}).file("f/x", n.name);
    b.pax({{"path", "l/" + n.name}, {"linkpath", "../f/" + n.name}}).symlink("l/x", "x");
    b.pax({{"path", "h/" + n.name}, {"linkpath", "f/" + n.name}}).hardlink("h/x", "f/x");
  }
  b.pax({{"path", "deep/" + kDeepPath}}).file("deep/x", "deep");
  return b.finish();
}

}  // namespace xb::testing
