// .dockerignore: moby/patternmatcher semantics, cases written from its
// documented behaviour.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/fs.h"
#include "frontend/frontend.h"

namespace fe = xb::frontend;

namespace {

bool ignored(const std::vector<std::string>& patterns, const std::string& path) {
  return fe::DockerIgnore(patterns).matches(path);
}

TEST(DockerIgnore, GoFilepathMatchSyntax) {
  EXPECT_TRUE(ignored({"*.o"}, "a.o"));
  EXPECT_FALSE(ignored({"*.o"}, "dir/a.o"));  // * does not cross /
  EXPECT_TRUE(ignored({"*/*.o"}, "dir/a.o"));
  EXPECT_TRUE(ignored({"a?c"}, "abc"));
  EXPECT_FALSE(ignored({"a?c"}, "a/c"));
  EXPECT_TRUE(ignored({"[a-c]x"}, "bx"));
  EXPECT_FALSE(ignored({"[a-c]x"}, "dx"));
  EXPECT_TRUE(ignored({"[^a-c]x"}, "dx"));
  EXPECT_TRUE(ignored({"a\\*b"}, "a*b"));
  EXPECT_FALSE(ignored({"a\\*b"}, "axb"));
  EXPECT_TRUE(ignored({"file.txt"}, "file.txt"));
  EXPECT_FALSE(ignored({"file.txt"}, "fileatxt"));  // . is literal
}

TEST(DockerIgnore, DoubleStar) {
  EXPECT_TRUE(ignored({"**"}, "anything/at/all"));
  EXPECT_TRUE(ignored({"**/*.go"}, "a.go"));
  EXPECT_TRUE(ignored({"**/*.go"}, "x/y/a.go"));
  EXPECT_TRUE(ignored({"dir/**"}, "dir/a/b"));
  EXPECT_TRUE(ignored({"a/**/b"}, "a/b"));
  EXPECT_TRUE(ignored({"a/**/b"}, "a/x/y/b"));
  EXPECT_FALSE(ignored({"a/**/b"}, "a/x/yb"));
  EXPECT_TRUE(ignored({"**/node_modules"}, "node_modules"));
  EXPECT_TRUE(ignored({"**/node_modules"}, "web/node_modules/x/y"));
}

TEST(DockerIgnore, ParentsExceptionsAndOrder) {
  EXPECT_TRUE(ignored({"build"}, "build/out/a.o"));  // a parent matches
  EXPECT_FALSE(ignored({"*.md", "!README.md"}, "README.md"));
  EXPECT_TRUE(ignored({"*.md", "!README.md"}, "CHANGES.md"));
  EXPECT_TRUE(ignored({"!README.md", "*.md"}, "README.md"));  // the last line wins
  EXPECT_FALSE(ignored({"docs", "!docs/keep.txt"}, "docs/keep.txt"));
  EXPECT_TRUE(ignored({"docs", "!docs/keep.txt"}, "docs/other.txt"));
}

TEST(DockerIgnore, ParseCleansAndSkipsComments) {
  auto di = fe::DockerIgnore::parse("# comment\n\n/abs\n./rel/\n  spaced  \n! keep\nx/../y\n  # not a comment\n");
  EXPECT_EQ(di.patterns(), (std::vector<std::string>{"abs", "rel", "spaced", "!keep", "y", "# not a comment"}));
  EXPECT_TRUE(di.matches("abs/x"));
  EXPECT_TRUE(di.matches("rel"));
  EXPECT_TRUE(di.matches("y"));
  EXPECT_THROW(fe::DockerIgnore::parse("[abc\n"), xb::Error);
  EXPECT_THROW(fe::DockerIgnore::parse("!\n"), xb::Error);
}

TEST(DockerIgnore, SkipDirectories) {
  fe::DockerIgnore plain({"node_modules", "*.log"});
  EXPECT_TRUE(plain.can_skip_dir("node_modules"));
  EXPECT_FALSE(plain.can_skip_dir("src"));
  fe::DockerIgnore with_exception({"vendor", "!vendor/keep"});
  EXPECT_FALSE(with_exception.can_skip_dir("vendor"));
  fe::DockerIgnore elsewhere({"vendor", "!src/keep"});
  EXPECT_TRUE(elsewhere.can_skip_dir("vendor"));
  fe::DockerIgnore wild({"vendor", "!**/keep"});
  EXPECT_FALSE(wild.can_skip_dir("vendor"));
}

TEST(DockerIgnore, DockerfileSpecificFileWins) {
  xb::TempDir dir("xb-ignore");
  const auto& p = dir.path();
  std::ofstream(p / ".dockerignore") << "generic\n";
  EXPECT_TRUE(fe::read_dockerignore(p.string(), (p / "Dockerfile").string()).matches("generic"));
  std::ofstream(p / "Dockerfile.dockerignore") << "specific\n";
  auto di = fe::read_dockerignore(p.string(), (p / "Dockerfile").string());
  EXPECT_TRUE(di.matches("specific"));
  EXPECT_FALSE(di.matches("generic"));
}

}  // namespace
