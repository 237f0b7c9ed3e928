// The binfmt_misc entry parser and handler matching: what decides whether a
// foreign platform's RUN steps can run (executor.h, "Foreign platforms").
#include <gtest/gtest.h>

#include "common/error.h"
#include "executor/executor.h"

namespace xb::executor {
namespace {

// As Debian 12's qemu-user-static registers them.
const char* kAarch64 =
    "enabled\n"
    "interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n"
    "flags: PF\n"
    "offset 0\n"
    "magic 7f454c460201010000000000000000000200b700\n"
    "mask ffffffffffffff00fffffffffffffffffeffffff\n";
const char* kArm =
    "enabled\n"
    "interpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\n"
    "flags: PF\n"
    "offset 0\n"
    "magic 7f454c4601010100000000000000000002002800\n"
    "mask ffffffffffffff00fffffffffffffffffeffffff\n";
const char* kS390x =
    "enabled\n"
    "interpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P\n"
    "flags: POC\n"
    "offset 0\n"
    "magic 7f454c4602020100000000000000000000020016\n"
    "mask ffffffffffffff00fffffffffffffffffffeffff\n";

TEST(Binfmt, ParsesQemuEntry) {
  BinfmtEntry e = parse_binfmt_entry("qemu-aarch64", kAarch64);
  EXPECT_TRUE(e.enabled);
  EXPECT_EQ(e.interpreter, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
  EXPECT_EQ(e.flags, "PF");
  EXPECT_TRUE(e.fix_binary());
  EXPECT_EQ(e.offset, 0u);
  ASSERT_EQ(e.magic.size(), 20u);
  EXPECT_EQ(e.magic[0], '\x7f');
  EXPECT_EQ(e.magic[18], '\xb7');
  EXPECT_EQ(e.mask.size(), 20u);
}

TEST(Binfmt, DisabledAndExtensionEntries) {
  BinfmtEntry d = parse_binfmt_entry("x", std::string("disabled\n") + (kAarch64 + 8));
  EXPECT_FALSE(d.enabled);
  BinfmtEntry ext = parse_binfmt_entry("jar", "enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n");
  EXPECT_FALSE(ext.magic_type);
  EXPECT_FALSE(ext.fix_binary());
}

TEST(Binfmt, RejectsWhatIsNoEntry) {
  EXPECT_THROW(parse_binfmt_entry("status", ""), Error);
  EXPECT_THROW(parse_binfmt_entry("x", "enabled\nmagic 7f4\n"), Error);
  EXPECT_THROW(parse_binfmt_entry("x", "enabled\nmagic 7f45\nmask ff\n"), Error);
}

TEST(Binfmt, FindsTheHandlerOfEachArchitecture) {
  std::vector<BinfmtEntry> entries = {parse_binfmt_entry("qemu-arm", kArm),
                                      parse_binfmt_entry("qemu-aarch64", kAarch64),
                                      parse_binfmt_entry("qemu-s390x", kS390x)};
  const BinfmtEntry* e = find_binfmt_handler(entries, Platform::parse("linux/arm64"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "qemu-aarch64");
  e = find_binfmt_handler(entries, Platform::parse("linux/arm/v7"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "qemu-arm");
  e = find_binfmt_handler(entries, Platform::parse("linux/s390x"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "qemu-s390x");
  EXPECT_FALSE(e->fix_binary());
  EXPECT_EQ(find_binfmt_handler(entries, Platform::parse("linux/riscv64")), nullptr);
  EXPECT_EQ(find_binfmt_handler(entries, Platform::parse("linux/amd64")), nullptr);
}

TEST(Binfmt, DisabledHandlerDoesNotCount) {
  BinfmtEntry e = parse_binfmt_entry("qemu-aarch64", kAarch64);
  e.enabled = false;
  EXPECT_EQ(find_binfmt_handler({e}, Platform::parse("linux/arm64")), nullptr);
}

TEST(Binfmt, NativePlatforms) {
  Platform amd64 = Platform::parse("linux/amd64");
  EXPECT_TRUE(runs_natively(amd64, Platform::parse("linux/amd64")));
  EXPECT_TRUE(runs_natively(amd64, Platform::parse("linux/386")));
  EXPECT_FALSE(runs_natively(amd64, Platform::parse("linux/arm64")));
  EXPECT_FALSE(runs_natively(amd64, Platform::parse("windows/amd64")));
  EXPECT_TRUE(runs_natively(Platform::parse("linux/arm64"), Platform::parse("linux/arm64/v8")));
}

}  // namespace
}  // namespace xb::executor
