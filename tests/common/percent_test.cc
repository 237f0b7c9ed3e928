#include "common/percent.h"

#include <gtest/gtest.h>

namespace xb {
namespace {

bool only_letters(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

TEST(PercentEncode, KeepsWhatThePredicateCallsSafe) {
  EXPECT_EQ(percent_encode("", is_unreserved), "");
  EXPECT_EQ(percent_encode("aZ09-._~", is_unreserved), "aZ09-._~");
  EXPECT_EQ(percent_encode("repository:team/app:pull,push", is_unreserved), "repository%3Ateam%2Fapp%3Apull%2Cpush");
  EXPECT_EQ(percent_encode("a b+c%", is_unreserved), "a%20b%2Bc%25");
  EXPECT_EQ(percent_encode("ab-1", only_letters), "ab%2D%31");
}

TEST(PercentEncode, EveryByteAboveAsciiAndControlUpperCaseHex) {
  // Bytes, not characters: "é" in UTF-8 is two bytes, each encoded; whatever the locale.
  EXPECT_EQ(percent_encode("\xc3\xa9", is_unreserved), "%C3%A9");
  EXPECT_EQ(percent_encode(std::string_view("\x00\x7f\xff", 3), is_unreserved), "%00%7F%FF");
  for (int c = 128; c < 256; ++c) EXPECT_FALSE(is_unreserved(static_cast<unsigned char>(c))) << c;
}

TEST(PercentDecode, ReversesTheEncoder) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_EQ(percent_decode(percent_encode(all, is_unreserved)), all);
  EXPECT_EQ(percent_decode(percent_encode(all, only_letters)), all);
  EXPECT_EQ(percent_decode("plain"), "plain");
  EXPECT_EQ(percent_decode("%2E%2e"), std::nullopt);  // lower case is not what the encoder writes
  EXPECT_EQ(percent_decode("a%4"), std::nullopt);
  EXPECT_EQ(percent_decode("a%"), std::nullopt);
  EXPECT_EQ(percent_decode("%G0"), std::nullopt);
}

}  // namespace
}  // namespace xb
