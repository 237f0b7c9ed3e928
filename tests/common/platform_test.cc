// The one Platform type (common/platform.h): what the frontend's and the
// store's copies each normalized, now in one place.
#include "common/platform.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace xb {
namespace {

TEST(Platform, NormalizesEverySpellingOfAnArchitecture) {
  EXPECT_EQ(Platform::parse("linux/amd64").str(), "linux/amd64");
  EXPECT_EQ(Platform::parse("linux/x86_64").str(), "linux/amd64");
  EXPECT_EQ(Platform::parse("linux/arm/v6").str(), "linux/arm/v6");
  EXPECT_EQ(Platform::parse("linux/amd64/v1").str(), "linux/amd64");
  EXPECT_EQ(Platform::parse("linux/aarch64").str(), "linux/arm64");
  EXPECT_EQ(Platform::parse("linux/arm64/v8").str(), "linux/arm64");
  EXPECT_EQ(Platform::parse("linux/arm").str(), "linux/arm/v7");
  EXPECT_EQ(Platform::parse("linux/arm/7").str(), "linux/arm/v7");
  EXPECT_EQ(Platform::parse("linux/armhf").str(), "linux/arm/v7");
  EXPECT_EQ(Platform::parse("linux/armel").str(), "linux/arm/v6");
  EXPECT_EQ(Platform::parse("linux/armv6l").str(), "linux/arm/v6");  // uname's spelling
  EXPECT_EQ(Platform::parse("linux/i686").str(), "linux/386");
  EXPECT_EQ(Platform::parse("Linux/AMD64").str(), "linux/amd64");
  EXPECT_EQ(Platform::parse("macos/arm64").str(), "darwin/arm64");
}

TEST(Platform, OnePartIsAnOsOrAnArchitecture) {
  EXPECT_EQ(Platform::parse("arm64").str(), "linux/arm64");
  EXPECT_EQ(Platform::parse("linux").str(), Platform::host().str());  // the host's architecture
}

TEST(Platform, RefusesWhatIsNoPlatform) {
  for (const char* bad : {"", "linux/", "linux//amd64", "a/b/c/d", "linux/amd 64", "linux/amd64;x"}) {
    try {
      Platform::parse(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
      EXPECT_NE(e.message().find("want OS/ARCH[/VARIANT]"), std::string::npos) << e.message();
    }
  }
}

TEST(Platform, MatchesByOsArchitectureAndVariantWhenBothNameOne) {
  EXPECT_TRUE(Platform::parse("linux/arm64").matches(Platform::parse("linux/arm64/v8")));
  EXPECT_FALSE(Platform::parse("linux/arm/v7").matches(Platform::parse("linux/arm/v6")));
  EXPECT_FALSE(Platform::parse("linux/amd64").matches(Platform::parse("linux/arm64")));
  EXPECT_EQ(Platform::host().os, "linux");
  EXPECT_FALSE(Platform::host().architecture.empty());
}

}  // namespace
}  // namespace xb
