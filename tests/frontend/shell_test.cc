// Stage 3: word expansion, against BuildKit's lexer cases
// (tests/conformance/buildkit-shell) and its ProcessWordWithMatches cases.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "frontend/frontend.h"
#include "tests/frontend/support.h"

namespace fe = xb::frontend;

namespace {

std::string trim(std::string s) {
  const char* ws = " \t\r\n\v\f";
  s.erase(0, s.find_first_not_of(ws));
  auto end = s.find_last_not_of(ws);
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

TEST(Shell, EnvVarTestAllAndUnixLines) {
  fe::Env env{{"PWD", "/home"}, {"SHELL", "bash"}, {"KOREAN", "한국어"}, {"NULL", ""}};
  std::istringstream in(xb::read_file(fe::testing::testdata() / "conformance/buildkit-shell/envVarTest"));
  std::string line;
  int n = 0, cases = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind('#', 0) == 0) continue;
    line = trim(line);
    if (line.empty()) continue;
    auto f = split(line, '|');
    ASSERT_EQ(f.size(), 3u) << "line " << n;
    std::string platform = trim(f[0]), source = trim(f[1]), expected = trim(f[2]);
    if (platform != "A" && platform != "U") continue;
    ++cases;
    SCOPED_TRACE("envVarTest line " + std::to_string(n) + ": " + source);
    if (expected == "error") {
      EXPECT_THROW(fe::expand_word(source, env), xb::Error);
    } else {
      EXPECT_EQ(fe::expand_word(source, env), expected);
    }
  }
  EXPECT_GT(cases, 200);
}

TEST(Shell, WordsTest) {
  fe::Env env;
  std::istringstream in(xb::read_file(fe::testing::testdata() / "conformance/buildkit-shell/wordsTest"));
  std::string line;
  int n = 0, cases = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind('#', 0) == 0) continue;
    if (line.rfind("ENV ", 0) == 0) {
      std::string kv = line.substr(3);
      kv.erase(0, kv.find_first_not_of(' '));
      auto eq = kv.find('=');
      env.set(kv.substr(0, eq), kv.substr(eq + 1));
      continue;
    }
    auto f = split(line, '|');
    ASSERT_EQ(f.size(), 2u) << "line " << n;
    std::string input = trim(f[0]);
    std::string rhs = f[1];
    rhs.erase(0, rhs.find_first_not_of(' '));
    auto expected = split(rhs, ',');
    std::vector<std::string> got;
    try {
      got = fe::expand_words(input, env);
    } catch (const xb::Error&) {
      got = {"error"};
    }
    ++cases;
    EXPECT_EQ(got, expected) << "wordsTest line " << n << ": " << input;
  }
  EXPECT_GT(cases, 20);
}

struct Case {
  const char* input;
  fe::Env env;
  const char* expected;  // nullptr: an error
};

TEST(Shell, ModifiersAndPatterns) {
  const Case cases[] = {
      {"${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {{"FOO", "xxx"}, {"BAR", ""}}, "xxx  ccc"},
      {"${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {{"FOO", "xxx"}, {"BAR", ""}}, "xxx bbb ccc"},
      {"${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {{"FOO", "xxx"}, {"BAR", ""}}, "aaa bbb "},
      {"${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {{"FOO", "xxx"}, {"BAR", ""}}, "aaa  "},
      {"${FOO?aaa}", {{"FOO", "xxx"}}, "xxx"},
      {"${BAR?bbb}", {{"BAR", ""}}, ""},
      {"${BAZ?ccc}", {}, nullptr},
      {"${BAR:?bbb}", {{"BAR", ""}}, nullptr},
      {"${FOO=aaa}", {{"FOO", "xxx"}}, nullptr},
      {"${FOO#()[]{\\}^$.\\*\\?|\\\\}", {{"FOO", "()[]{}^$.*?|\\x"}}, "x"},
      {"${FOO%%\\**}", {{"FOO", "xx**"}}, "xx"},
      {"${FOO#*x*y}", {{"FOO", "xxyy"}}, "y"},
      {"${FOO#*}", {{"FOO", "xxyy"}}, "xxyy"},
      {"${FOO#$BAR}", {{"FOO", "xxyy"}, {"BAR", "x"}}, "xyy"},
      {"${FOO##*x}", {{"FOO", "xxyy"}}, "yy"},
      {"${FOO#?\\?}", {{"FOO", "???y"}}, "?y"},
      {"${ABC:-.}${FOO%x}${ABC:-.}", {{"FOO", "xxyy"}}, ".xxyy."},
      {"${FOO%%\\**\\*}", {{"FOO", "a***yy*"}}, "a"},
      {"${FOO%y*}", {{"FOO", "xxyy"}}, "xxy"},
      {"${FOO%%y*}", {{"FOO", "xxyy"}}, "xx"},
      {"${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
       {{"FOO", "/foo*/*/*.txt"}, {"NEEDLE", "\\*/"}},
       "/foo.*/*.txt - /foo..*.txt"},
      {"${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
       {{"FOO", "/tmp/tmp/bar.txt"}, {"NEEDLE", "/tmp"}},
       "/tmp/bar.txt - /bar.txt"},
      {"${FOO/$NEEDLE/$R} - ${FOO//$NEEDLE/$R}",
       {{"FOO", "/a/foo/b/c.txt"}, {"NEEDLE", "/?/"}, {"R", "/"}},
       "/foo/b/c.txt - /foo/c.txt"},
      {"${FOO/$NEEDLE/$R}",
       {{"FOO", "http://google.de"}, {"NEEDLE", "http://"}, {"R", "https://"}},
       "https://google.de"},
      {"${FOO//\\//\\/}", {{"FOO", "/tmp/foo.txt"}}, "\\/tmp\\/foo.txt"},
      {"${FOO/$BAR/ww}", {{"FOO", "xxyy"}, {"BAR", ""}}, "wwxxyy"},
      {"${FOO//ww}", {{"FOO", "xxyy"}}, nullptr},
      {"${FOO//}", {{"FOO", "xxyy"}}, nullptr},
      {"${FOO///}", {{"FOO", "xxyy"}}, "xxyy"},
      {"${FOO///}", {}, ""},
      {"${FOO:#x}", {{"FOO", "xxyy"}}, nullptr},
      {"${FOO#\\x}", {{"FOO", "xxyy"}}, nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    if (!c.expected) {
      EXPECT_THROW(fe::expand_word(c.input, c.env), xb::Error);
    } else {
      EXPECT_EQ(fe::expand_word(c.input, c.env), c.expected);
    }
  }
}

TEST(Shell, MandatoryMessageIsExpanded) {
  fe::Env env{{"ARG", "x"}};
  try {
    fe::expand_word("${VAR:?message here$ARG}", env);
    FAIL();
  } catch (const xb::Error& e) {
    EXPECT_NE(std::string(e.what()).find("message herex"), std::string::npos) << e.what();
  }
}

TEST(Shell, BacktickEscape) {
  fe::Env env{{"X", "1"}};
  EXPECT_EQ(fe::expand_word("a`$X\\b", env, '`'), "a$X\\b");
  EXPECT_EQ(fe::expand_word("\"`\"$X\"", env, '`'), "\"1");
}

TEST(Shell, WordsSplitOnlyOutsideQuotes) {
  fe::Env env{{"V", "a  b"}};
  EXPECT_EQ(fe::expand_words("x $V 'y z' \"$V\"", env), (std::vector<std::string>{"x", "a", "b", "y z", "a  b"}));
  EXPECT_EQ(fe::expand_words("pre${V:-q}post", env), (std::vector<std::string>{"prea", "bpost"}));
}

TEST(Shell, PathologicalInputFailsCleanly) {
  fe::Env env;
  std::string nested;
  for (int i = 0; i < 100000; ++i) nested += "${a:-";
  EXPECT_THROW(fe::expand_word(nested, env), xb::Error);
  std::string braces(100000, '{');
  EXPECT_THROW(fe::expand_word("${" + braces, env), xb::Error);
  fe::Env big{{"V", std::string(5000, 'a')}};
  EXPECT_EQ(fe::expand_word("${V//*a*a*a*a*b/x}", big), std::string(5000, 'a'));
}

}  // namespace
