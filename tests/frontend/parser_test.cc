// Stage 1: the syntax tree, checked against BuildKit's own parser results
// (tests/conformance/buildkit-parser) and against its heredoc and line rules.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/fs.h"
#include "frontend/frontend.h"
#include "tests/frontend/support.h"

namespace fe = xb::frontend;
namespace fs = std::filesystem;

namespace {

fs::path parser_data() { return fe::testing::testdata() / "conformance/buildkit-parser"; }

TEST(Parser, EveryBuildKitTestfileDumpsByteForByte) {
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(parser_data() / "testfiles")) {
    SCOPED_TRACE(entry.path().filename().string());
    std::string dockerfile = xb::read_file(entry.path() / "Dockerfile");
    std::string expected = xb::read_file(entry.path() / "result");
    std::string got = fe::dump_ast(fe::parse_ast(dockerfile, "Dockerfile"));
    if (std::getenv("XBUILD_UPDATE_TESTDATA")) {
      std::ofstream(entry.path() / "result", std::ios::binary) << got;
      continue;
    }
    EXPECT_EQ(got, expected);
    ++cases;
  }
  EXPECT_GE(cases, 30);
}

TEST(Parser, LineNumbersMatchBuildKit) {
  auto ast = fe::parse_ast(xb::read_file(parser_data() / "testfile-line/Dockerfile"));
  EXPECT_EQ(ast.start_line, 5);
  EXPECT_EQ(ast.end_line, 31);
  ASSERT_EQ(ast.nodes.size(), 3u);
  EXPECT_EQ(ast.nodes[0].start_line, 5);
  EXPECT_EQ(ast.nodes[0].end_line, 5);
  EXPECT_EQ(ast.nodes[1].start_line, 11);
  EXPECT_EQ(ast.nodes[1].end_line, 12);
  EXPECT_EQ(ast.nodes[2].start_line, 17);
  EXPECT_EQ(ast.nodes[2].end_line, 31);
}

TEST(Parser, DirectivesOnlyAtTheTop) {
  auto ast = fe::parse_ast("# syntax=docker/dockerfile:1\n# check=skip=all\n# escape=`\nFROM a\n# escape=\\\n");
  ASSERT_EQ(ast.directives.size(), 3u);
  EXPECT_EQ(ast.directives[0].name, "syntax");
  EXPECT_EQ(ast.directives[0].value, "docker/dockerfile:1");
  EXPECT_EQ(ast.directives[1].name, "check");
  EXPECT_EQ(ast.escape, '`');
  // After an instruction, a directive is a comment.
  auto late = fe::parse_ast("FROM a\n# escape=`\nRUN a \\\n  b\n");
  EXPECT_EQ(late.escape, '\\');
  EXPECT_EQ(fe::dump_ast(late), "(from \"a\")\n(run \"a   b\")\n");
  EXPECT_THROW(fe::parse_ast("# escape=x\nFROM a\n"), xb::Error);
  EXPECT_THROW(fe::parse_ast("# escape=`\n# escape=\\\nFROM a\n"), xb::Error);
}

TEST(Parser, BacktickContinuationWithCommentsAndEmptyLines) {
  auto ast = fe::parse_ast("# escape=`\nFROM a\nRUN echo `\n# a comment\n\n  hi `\n  there\n");
  EXPECT_EQ(fe::dump_ast(ast), "(from \"a\")\n(run \"echo   hi   there\")\n");
  EXPECT_EQ(ast.nodes[1].start_line, 3);
  EXPECT_EQ(ast.nodes[1].end_line, 7);
  EXPECT_EQ(ast.warnings.size(), 1u);
}

TEST(Parser, CrlfAndBom) {
  auto ast = fe::parse_ast(
      "\xEF\xBB\xBF"
      "FROM a\r\nRUN x \\\r\n y\r\n");
  EXPECT_EQ(fe::dump_ast(ast), "(from \"a\")\n(run \"x  y\")\n");
}

TEST(Parser, HeredocRunWithoutCommand) {
  auto ast = fe::parse_ast("FROM a\nRUN <<EOF\necho hi\necho $HOME\nEOF\nRUN b\n");
  ASSERT_EQ(ast.nodes.size(), 3u);
  const auto& run = ast.nodes[1];
  ASSERT_EQ(run.heredocs.size(), 1u);
  EXPECT_EQ(run.heredocs[0].name, "EOF");
  EXPECT_TRUE(run.heredocs[0].expand);
  EXPECT_FALSE(run.heredocs[0].chomp);
  EXPECT_EQ(run.heredocs[0].content, "echo hi\necho $HOME\n");
  EXPECT_EQ(run.start_line, 2);
  EXPECT_EQ(run.end_line, 5);
  EXPECT_EQ(ast.nodes[2].start_line, 6);
}

TEST(Parser, HeredocWithCommandQuotedChompAndSeveral) {
  auto ast = fe::parse_ast(
      "FROM a\n"
      "RUN 3<<'FILE1' cat - <<-\"FILE2\" > out\n"
      "one $x\n"
      "FILE1\n"
      "\t\ttwo\n"
      "\tFILE2\n"
      "COPY <<EOF /dest\n"
      "content\n"
      "EOF\n");
  const auto& run = ast.nodes[1];
  ASSERT_EQ(run.heredocs.size(), 2u);
  EXPECT_EQ(run.heredocs[0].name, "FILE1");
  EXPECT_EQ(run.heredocs[0].fd, 3);
  EXPECT_FALSE(run.heredocs[0].expand);
  EXPECT_EQ(run.heredocs[0].content, "one $x\n");
  EXPECT_EQ(run.heredocs[1].name, "FILE2");
  EXPECT_TRUE(run.heredocs[1].chomp);
  EXPECT_FALSE(run.heredocs[1].expand);
  EXPECT_EQ(run.heredocs[1].content, "two\n");
  EXPECT_EQ(ast.nodes[2].heredocs.size(), 1u);
  EXPECT_EQ(ast.nodes[2].heredocs[0].content, "content\n");
}

TEST(Parser, HeredocNotInJsonFormOrOtherInstructions) {
  auto ast = fe::parse_ast("FROM a\nRUN [\"cat\", \"<<EOF\"]\nENV a=<<EOF\nEOF\n");
  EXPECT_TRUE(ast.nodes[1].heredocs.empty());
  EXPECT_EQ(ast.nodes.size(), 4u);  // the "EOF" line is an (unknown) instruction
}

TEST(Parser, UnterminatedHeredocNamesItsLine) {
  try {
    fe::parse_ast("FROM a\nRUN <<EOF\necho\n", "Dockerfile");
    FAIL() << "no error";
  } catch (const xb::Error& e) {
    ASSERT_TRUE(e.location());
    EXPECT_EQ(e.location()->line, 2);
    EXPECT_NE(std::string(e.what()).find("unterminated heredoc"), std::string::npos);
  }
}

TEST(Parser, JsonFallbackAndNonStringArrays) {
  EXPECT_EQ(fe::dump_ast(fe::parse_ast("CMD [\"a\"] trailing\n")), "(cmd \"[\\\"a\\\"] trailing\")\n");
  EXPECT_EQ(fe::dump_ast(fe::parse_ast("CMD [\"\\u00e9\\ud83d\\ude00\"]\n")), "(cmd \"é😀\")\n");
  EXPECT_THROW(fe::parse_ast("CMD [\"a\", 1]\n"), xb::Error);
  EXPECT_THROW(fe::parse_ast("COPY [\"a\", {\"b\": [1]}]\n"), xb::Error);
  // Deep nesting is not JSON for us: shell form, no crash.
  std::string deep = "CMD " + std::string(100000, '[') + "\n";
  EXPECT_EQ(fe::parse_ast(deep).nodes[0].args.size(), 1u);
}

TEST(Parser, OnbuildNestsTheTrigger) {
  EXPECT_EQ(fe::dump_ast(fe::parse_ast("ONBUILD ADD --chown=1 . /app\n")),
            "(onbuild (add [\"--chown=1\"] \".\" \"/app\"))\n");
}

TEST(Parser, EmptyFileIsAnError) { EXPECT_THROW(fe::parse_ast("# only a comment\n\n"), xb::Error); }

}  // namespace
