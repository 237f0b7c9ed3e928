#include <gtest/gtest.h>

#include "common/error.h"
#include "executor/executor.h"

namespace xb::executor {
namespace {

const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const char* kGroup =
    "root:x:0:\n"
    "app:x:1000:\n"
    "staff:x:50:app\n"
    "audio:x:29:nobody,app\n"
    "nogroup:x:65534:\n";

TEST(ResolveUser, EmptyIsRoot) {
  User u = resolve_user("", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 0u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_EQ(u.home, "/root");
}

TEST(ResolveUser, NameGivesPrimaryAndSupplementaryGroups) {
  User u = resolve_user("app", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_EQ(u.home, "/home/app");
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{29, 50}));
}

TEST(ResolveUser, UidLooksUpThePasswdEntry) {
  User u = resolve_user("1000", kPasswd, kGroup);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_EQ(u.home, "/home/app");
}

TEST(ResolveUser, UnknownUidIsUsedAsIsWithGroupZero) {
  User u = resolve_user("4242", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 4242u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_TRUE(u.additional_gids.empty());
  EXPECT_EQ(u.home, "/");
}

TEST(ResolveUser, ExplicitGroupByNameOrNumberAndNoSupplementary) {
  User u = resolve_user("app:staff", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 50u);
  EXPECT_TRUE(u.additional_gids.empty());
  u = resolve_user("1000:7", kPasswd, kGroup);
  EXPECT_EQ(u.gid, 7u);
  u = resolve_user("4242:4343", "", "");
  EXPECT_EQ(u.uid, 4242u);
  EXPECT_EQ(u.gid, 4343u);
}

TEST(ResolveUser, UnknownNamesAreNotFound) {
  try {
    resolve_user("ghost", kPasswd, kGroup);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("ghost"), std::string::npos);
  }
  EXPECT_THROW(resolve_user("app:ghosts", kPasswd, kGroup), Error);
  EXPECT_THROW(resolve_user("app", "", ""), Error);
}

TEST(ResolveUser, MalformedSpecs) {
  EXPECT_THROW(resolve_user(":1", kPasswd, kGroup), Error);
  EXPECT_THROW(resolve_user("app:", kPasswd, kGroup), Error);
}

TEST(ExitStatus, Describe) {
  ExitStatus s;
  s.exit_code = 3;
  EXPECT_EQ(s.describe(), "exit code 3");
  EXPECT_FALSE(s.ok());
  s = {};
  s.signal = 11;
  EXPECT_EQ(s.describe(), "killed by signal SIGSEGV");
  EXPECT_EQ(s.shell_code(), 139);
  s = {};
  s.oom_killed = true;
  s.memory_limit = 64ull << 20;
  EXPECT_EQ(s.describe(), "killed: out of memory (limit 64 MiB)");
  EXPECT_TRUE(ExitStatus{}.ok());
}

}  // namespace
}  // namespace xb::executor
