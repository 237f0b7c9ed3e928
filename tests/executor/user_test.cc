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
  // The primary group is a supplementary one too (CVE-2023-25173; BuildKit: groups=0(root)).
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{0}));
}

TEST(ResolveUser, NameGivesPrimaryAndSupplementaryGroups) {
  User u = resolve_user("app", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_EQ(u.home, "/home/app");
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{29, 50, 1000}));
}

TEST(ResolveUser, UidLooksUpThePasswdEntry) {
  User u = resolve_user("1000", kPasswd, kGroup);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_EQ(u.home, "/home/app");
  // The passwd entry's name brings its /etc/group memberships (BuildKit: USER 1000 → 50(staff),1000(app)).
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{29, 50, 1000}));
}

TEST(ResolveUser, UnknownUidIsUsedAsIsWithGroupZero) {
  User u = resolve_user("4242", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 4242u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{0}));
  EXPECT_EQ(u.home, "/");
}

TEST(ResolveUser, ExplicitGroupByNameOrNumberAndNoSupplementary) {
  User u = resolve_user("app:staff", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 50u);
  // An explicit group is the only one: no /etc/group memberships (BuildKit: USER 1000:2000 → groups=2000).
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{50}));
  u = resolve_user("1000:7", kPasswd, kGroup);
  EXPECT_EQ(u.gid, 7u);
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{7}));
  u = resolve_user("4242:4343", "", "");
  EXPECT_EQ(u.uid, 4242u);
  EXPECT_EQ(u.gid, 4343u);
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{4343}));
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
