// fileop::GitRef::parse: which contexts are git repositories, and their
// #ref:subdir, as buildx and BuildKit's gitutil read them.
#include <gtest/gtest.h>

#include "fileop/fileop.h"

namespace xb::fileop {
namespace {

TEST(GitRef, HttpsWithRefAndSubdir) {
  auto g = GitRef::parse("https://example.com/o/r.git#v1.2:docs/site/");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->remote, "https://example.com/o/r.git");
  EXPECT_EQ(g->ref, "v1.2");
  EXPECT_EQ(g->subdir, "docs/site");
}

TEST(GitRef, ScpLikeSshAndOtherSchemes) {
  auto g = GitRef::parse("git@github.com:o/r.git#main");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->remote, "git@github.com:o/r.git");
  EXPECT_EQ(g->ref, "main");
  EXPECT_EQ(g->subdir, "");
  EXPECT_TRUE(GitRef::parse("git://h/r"));
  EXPECT_TRUE(GitRef::parse("ssh://git@h/r"));
  EXPECT_TRUE(GitRef::parse("file:///srv/r"));  // no .git needed but for http(s)
  auto gh = GitRef::parse("github.com/o/r#:sub");
  ASSERT_TRUE(gh);
  EXPECT_EQ(gh->remote, "https://github.com/o/r");
  EXPECT_EQ(gh->ref, "");
  EXPECT_EQ(gh->subdir, "sub");
}

TEST(GitRef, NotGit) {
  // An http(s) URL without .git is a file to download (a tarball, a Dockerfile).
  EXPECT_FALSE(GitRef::parse("https://example.com/ctx.tar.gz"));
  EXPECT_FALSE(GitRef::parse("https://example.com/repo"));
  EXPECT_FALSE(GitRef::parse("./repo.git"));
  EXPECT_FALSE(GitRef::parse("dir"));
  EXPECT_FALSE(GitRef::parse("docker-image://alpine"));
  EXPECT_FALSE(GitRef::parse(""));
}

TEST(GitRef, MessagesLeaveCredentialsOut) {
  auto g = GitRef::parse("https://user:token@example.com/r.git#main:d");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->remote, "https://user:token@example.com/r.git");  // git needs them
  EXPECT_EQ(g->str(), "https://example.com/r.git#main:d");
}

}  // namespace
}  // namespace xb::fileop
