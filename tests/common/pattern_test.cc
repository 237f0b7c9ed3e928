// common/pattern.h: moby/patternmatcher's semantics for .dockerignore and
// COPY --exclude, and its one error rule.
#include "common/pattern.h"

#include <gtest/gtest.h>

#include <chrono>

#include "common/error.h"

namespace xb {
namespace {

TEST(PatternMatcher, LikePatternmatcher) {
  PatternMatcher p({"*.md", "docs/**", "!docs/keep.txt", "build"});
  EXPECT_TRUE(p.matches("README.md"));
  EXPECT_FALSE(p.matches("sub/README.md"));
  EXPECT_TRUE(p.matches("docs/a/b.txt"));
  EXPECT_FALSE(p.matches("docs/keep.txt"));
  EXPECT_TRUE(p.matches("build/out/x.o"));  // below a matching directory
  EXPECT_FALSE(p.matches("src/main.c"));
  PatternMatcher deep({"**/*.o"});
  EXPECT_TRUE(deep.matches("a.o"));
  EXPECT_TRUE(deep.matches("x/y/a.o"));
  PatternMatcher inc({"a/b/c.txt"});
  EXPECT_TRUE(inc.could_match_below("a"));
  EXPECT_TRUE(inc.could_match_below("a/b"));
  EXPECT_FALSE(inc.could_match_below("z"));
}

// A COPY --exclude or .dockerignore-like pattern full of "**" against a deep
// path: the matcher was exponential in the "**" count (pattern_fuzz found a
// 164-byte input taking 36 s; this one did not finish).
TEST(PatternMatcher, ManyDoubleStarsAreNotExponential) {
  std::string pattern, path;
  for (int i = 0; i < 16; ++i) pattern += "**/";
  pattern += "x";
  for (int i = 0; i < 60; ++i) path += (i ? "/d" : "d") + std::to_string(i);
  PatternMatcher p({pattern, "**/a*/**/**/b/**/**/c"});
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(p.matches(path));
  EXPECT_TRUE(p.matches(path + "/x"));
  EXPECT_TRUE(p.matches("a1/b/c/d"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

// patternmatcher.New refuses a malformed pattern; so does every caller now
// (a bad --exclude used to match nothing, silently).
TEST(PatternMatcher, MalformedPatternIsAnErrorNamingIt) {
  for (const char* bad : {"[abc", "a\\", "[z-a]", "!"}) {
    try {
      PatternMatcher m({"ok", bad}, "--exclude");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
      EXPECT_NE(e.message().find("invalid --exclude pattern"), std::string::npos) << e.message();
    }
  }
  EXPECT_NO_THROW(PatternMatcher({"[a-c]x", "a\\*b", "**/x", "!keep"}, "--exclude"));
}

TEST(PatternMatcher, CleansLikePatternmatcher) {
  PatternMatcher m({"  ./a/../b/  ", "/abs", "", "c/."});
  EXPECT_EQ(m.patterns(), (std::vector<std::string>{"b", "abs", "c"}));
  EXPECT_TRUE(m.matches("b/x"));
  EXPECT_TRUE(m.matches("abs"));
  EXPECT_FALSE(m.matches("a"));
}

TEST(PatternMatcher, SkipAndPrune) {
  PatternMatcher m({"docs", "!docs/keep/*.txt"});
  EXPECT_FALSE(m.can_skip_dir("docs"));  // an exception reaches below
  EXPECT_TRUE(m.can_skip_dir("docs2") == m.matches("docs2"));
  PatternMatcher n({"build"});
  EXPECT_TRUE(n.can_skip_dir("build"));
  EXPECT_FALSE(n.can_skip_dir("src"));
}

TEST(CleanPath, LikeGo) {
  EXPECT_EQ(clean_path("/../x"), "/x");
  EXPECT_EQ(clean_path("a/./b/../c/"), "a/c");
  EXPECT_EQ(clean_path("../a"), "../a");
  EXPECT_EQ(clean_path(""), ".");
}

}  // namespace
}  // namespace xb
