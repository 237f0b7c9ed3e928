#include "common/size.h"

#include <gtest/gtest.h>

namespace xb {
namespace {

constexpr uint64_t KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024, TiB = GiB * 1024, PiB = TiB * 1024;

// go-units' RAMInBytes cases (docker's --memory, --shm-size, --keep-storage,
// RUN --mount=type=tmpfs,size=): 512m is 512 MiB.
TEST(ParseSize, BinaryAsDockersRamInBytes) {
  auto b = [](std::string_view t) { return parse_size(t, SizeUnits::binary); };
  EXPECT_EQ(b("32"), 32u);
  EXPECT_EQ(b("32b"), 32u);
  EXPECT_EQ(b("32B"), 32u);
  EXPECT_EQ(b("32k"), 32 * KiB);
  EXPECT_EQ(b("32K"), 32 * KiB);
  EXPECT_EQ(b("32kb"), 32 * KiB);
  EXPECT_EQ(b("32Kb"), 32 * KiB);
  EXPECT_EQ(b("32Mb"), 32 * MiB);
  EXPECT_EQ(b("512m"), 512 * MiB);
  EXPECT_EQ(b("32Gb"), 32 * GiB);
  EXPECT_EQ(b("32Tb"), 32 * TiB);
  EXPECT_EQ(b("32Pb"), 32 * PiB);
  EXPECT_EQ(b("32PB"), 32 * PiB);
  EXPECT_EQ(b("32P"), 32 * PiB);
  EXPECT_EQ(b("32KiB"), 32 * KiB);
  EXPECT_EQ(b("32 mib"), 32 * MiB);
  EXPECT_EQ(b("32.3"), 32u);
  EXPECT_EQ(b("1.5g"), GiB + GiB / 2);
  EXPECT_EQ(b("0.3 K"), 307u);
  EXPECT_EQ(b("32.3 MiB"), static_cast<uint64_t>(32.3 * MiB));
  EXPECT_EQ(b("0"), 0u);
  EXPECT_EQ(b("1e3"), 1000u);
  EXPECT_EQ(b("+5m"), 5 * MiB);
  for (std::string_view bad :
       {"",      " ",    "hello", "-32",  ".",      "32.3.4", "32mb ", "32m b", "32bm",
        "32kbb", "32ki", "32mbi", "32x",  "1.2.3m", "- 32",   "32  m", "m",     "9223372036854775808",
        "8e18k", "nan",  "inf",   "1e400"})
    EXPECT_EQ(b(bad), std::nullopt) << '"' << bad << '"';
}

// FromHumanSize: the same syntax, powers of 1000.
TEST(ParseSize, DecimalAsDockersFromHumanSize) {
  auto d = [](std::string_view t) { return parse_size(t, SizeUnits::decimal); };
  EXPECT_EQ(d("32"), 32u);
  EXPECT_EQ(d("32k"), 32000u);
  EXPECT_EQ(d("32kB"), 32000u);
  EXPECT_EQ(d("32KiB"), 32000u);  // go-units reads the unit's letter only
  EXPECT_EQ(d("32 Mb"), 32000000u);
  EXPECT_EQ(d("1.5g"), 1500000000u);
  EXPECT_EQ(d("2p"), 2000000000000000u);
  EXPECT_EQ(d("32x"), std::nullopt);
}

}  // namespace
}  // namespace xb
