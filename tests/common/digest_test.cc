#include "common/digest.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace xb {
namespace {

TEST(Digest, ParsesAndRendersBackExactly) {
  std::string text = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  Digest d = Digest::parse(text);
  EXPECT_EQ(d.str(), text);
  EXPECT_EQ(d.algorithm(), "sha256");
  EXPECT_EQ(d.short_hex(), "e3b0c44298fc");
}

TEST(Digest, OfEmptyStringIsTheWellKnownValue) {
  EXPECT_EQ(Digest::of("").str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Digest::of("abc").hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Digest, RejectsMalformedText) {
  for (const char* bad : {"", "sha256:", "sha256:abc", "md5:e3b0c44298fc1c149afbf4c8996fb924",
                          "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                          "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g"}) {
    EXPECT_FALSE(Digest::try_parse(bad)) << bad;
    EXPECT_THROW(Digest::parse(bad), Error) << bad;
  }
}

TEST(Digest, StreamingEqualsOneShot) {
  Sha256 h;
  h.update("ab");
  h.update("c");
  EXPECT_EQ(h.bytes(), 3u);
  EXPECT_EQ(h.finish(), Digest::of("abc"));
}

TEST(Digest, OrdersLikeItsText) {
  Digest a = Digest::of("a"), b = Digest::of("b");
  EXPECT_EQ(a < b, a.str() < b.str());
  EXPECT_NE(a, b);
}

TEST(Xxh128, StreamingEqualsOneShotAndDiffersByContent) {
  Xxh128 h;
  h.update("hello ");
  h.update("world");
  EXPECT_EQ(h.hex(), Xxh128::hex_of("hello world"));
  EXPECT_EQ(h.hex().size(), 32u);
  EXPECT_NE(Xxh128::hex_of("a"), Xxh128::hex_of("b"));
}

}  // namespace
}  // namespace xb
