// Errors: every one names file:line:column, shows the line, and suggests
// the near instruction or flag.
#include <gtest/gtest.h>

#include "frontend/frontend.h"

namespace fe = xb::frontend;

namespace {

xb::Error error_of(const std::string& dockerfile) {
  try {
    fe::parse_dockerfile(dockerfile, "Dockerfile");
  } catch (const xb::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for:\n" << dockerfile;
  return xb::Error(xb::ErrorKind::internal, "none");
}

TEST(Errors, MisspeltInstructionNamesLineAndSuggests) {
  auto e = error_of("FROM alpine\nRUN true\nCOPPY a /b\n");
  EXPECT_EQ(e.kind(), xb::ErrorKind::invalid_argument);
  ASSERT_TRUE(e.location());
  EXPECT_EQ(e.location()->line, 3);
  EXPECT_EQ(e.location()->column, 1);
  EXPECT_EQ(e.location()->line_text, "COPPY a /b");
  EXPECT_EQ(e.message(), "unknown instruction: COPPY (did you mean COPY?)");
  std::string shown = e.render();
  EXPECT_NE(shown.find("Dockerfile:3:1: unknown instruction: COPPY (did you mean COPY?)"), std::string::npos) << shown;
  EXPECT_NE(shown.find("COPPY a /b"), std::string::npos);
}

TEST(Errors, UnknownFlagSuggestsNearFlag) {
  auto e = error_of("FROM alpine\n\nCOPY --lnk a /b\n");
  ASSERT_TRUE(e.location());
  EXPECT_EQ(e.location()->line, 3);
  EXPECT_EQ(e.location()->column, 6);
  EXPECT_NE(e.message().find("unknown flag: --lnk"), std::string::npos);
  EXPECT_NE(e.message().find("did you mean --link?"), std::string::npos) << e.message();
  auto r = error_of("FROM a\nRUN --mount=type=cache,traget=/x make\n");
  EXPECT_NE(r.message().find("did you mean target?"), std::string::npos) << r.message();
  EXPECT_EQ(r.location()->line, 2);
}

TEST(Errors, ArgumentCountsAndOrder) {
  EXPECT_NE(error_of("FROM a\nCOPY onlyone\n").message().find("COPY requires at least two arguments"),
            std::string::npos);
  EXPECT_NE(error_of("FROM a b\n").message().find("FROM requires either one or three arguments"), std::string::npos);
  EXPECT_NE(error_of("FROM a AS 1x\n").message().find("invalid name for build stage"), std::string::npos);
  EXPECT_NE(error_of("RUN x\nFROM a\n").message().find("before the first FROM"), std::string::npos);
  EXPECT_NE(error_of("FROM a\nSHELL sh -c\n").message().find("JSON form"), std::string::npos);
  EXPECT_NE(error_of("FROM a\nONBUILD ONBUILD RUN x\n").message().find("isn't allowed"), std::string::npos);
  EXPECT_NE(error_of("FROM a\nONBUILD RUNN x\n").message().find("did you mean RUN?"), std::string::npos);
  EXPECT_NE(error_of("FROM a\nHEALTHCHECK --interval=1us CMD x\n").message().find("cannot be less than"),
            std::string::npos);
  EXPECT_NE(error_of("FROM a\nCOPY --link --link a b\n").message().find("Duplicate flag"), std::string::npos);
  EXPECT_NE(error_of("FROM a\nENV\n").message().find("ENV requires at least one argument"), std::string::npos);
  EXPECT_NE(error_of("FROM a\nENV a=b c\n").message().find("can't find = in"), std::string::npos);
}

TEST(Errors, MalformedInputNeverCrashes) {
  const std::string inputs[] = {
      "",
      "\n\n\n",
      "\\",
      "FROM",
      "FROM a\nRUN <<",
      "FROM a\nRUN <<EOF",
      "FROM a\nCOPY <<A <<B /x\nA\n",
      "# escape=`\nFROM a `",
      "FROM a\nENV a=\"unterminated",
      "FROM a\nARG =x",
      "FROM a\nONBUILD",
      std::string(1, '\0'),
      "FROM \xff\xfe\nRUN \xc3",
      "FROM a\nRUN [\"\\ud800\"]",
  };
  for (const auto& in : inputs) {
    try {
      fe::parse_dockerfile(in);
    } catch (const xb::Error& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
}

}  // namespace
