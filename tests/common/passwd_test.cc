// common/passwd.h: the one reading of /etc/passwd and /etc/group (USER in
// the executor, --chown in fileop), runc's rules.
#include "common/passwd.h"

#include <gtest/gtest.h>

namespace xb {
namespace {

TEST(Passwd, FieldsCommentsAndBrokenLines) {
  auto p = parse_passwd(
      "root:x:0:0:root:/root:/bin/sh\r\n"
      "# comment:x:1:1\n"
      "\n"
      "short:x:5\n"              // no gid: unusable
      "bad:x:notanumber:1:::\n"  // ids must be numbers
      "big:x:4294967296:1\n"     // past 2^32
      "min:x:7:8\n"              // name, password and ids are enough
      "app:x:1000:1001::/home/app:/bin/false");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].name, "root");
  EXPECT_EQ(p[0].home, "/root");
  EXPECT_EQ(p[1].name, "min");
  EXPECT_EQ(p[1].uid, 7u);
  EXPECT_EQ(p[1].gid, 8u);
  EXPECT_EQ(p[1].home, "");
  EXPECT_EQ(p[2].uid, 1000u);
  EXPECT_EQ(p[2].gid, 1001u);
  EXPECT_EQ(p[2].home, "/home/app");
}

TEST(Passwd, GroupsAndMembers) {
  auto g = parse_group("wheel:x:10:root,app\nstaff:x:50:\nnogid:x:\nplain:x:7\n#x:x:1:a\n");
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].name, "wheel");
  EXPECT_EQ(g[0].gid, 10u);
  EXPECT_EQ(g[0].members, (std::vector<std::string>{"root", "app"}));
  EXPECT_TRUE(g[1].members.empty());
  EXPECT_EQ(g[2].name, "plain");
  EXPECT_EQ(g[2].gid, 7u);
}

}  // namespace
}  // namespace xb
