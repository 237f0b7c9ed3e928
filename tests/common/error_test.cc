#include "common/error.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace xb {
namespace {

TEST(Error, ContextIsPrependedOutermostFirst) {
  Error e(ErrorKind::not_found, "manifest unknown");
  e.with_context("resolve busybox:latest");
  e.with_context("FROM busybox");
  EXPECT_STREQ(e.what(), "FROM busybox: resolve busybox:latest: manifest unknown");
  EXPECT_EQ(e.message(), "manifest unknown");
  EXPECT_EQ(exit_code_for(e), 1);
}

TEST(Error, RenderShowsFileLineAndCaret) {
  Error e(ErrorKind::invalid_argument, "unknown instruction: COPPY (did you mean COPY?)");
  e.at({"Dockerfile", 3, 1, "COPPY . /app"});
  EXPECT_EQ(e.render(),
            "Dockerfile:3:1: unknown instruction: COPPY (did you mean COPY?)\n"
            "  3 | COPPY . /app\n"
            "      ^");
}

TEST(Error, InnermostLocationWins) {
  Error e(ErrorKind::invalid_argument, "x");
  e.at({"Dockerfile", 5, 0, ""});
  e.at({"Dockerfile", 9, 0, ""});
  EXPECT_EQ(e.location()->line, 5);
}

TEST(Error, SystemCallErrorsNameCallPathAndErrno) {
  try {
    throw_errno("mount overlay", "/var/lib/xbuild/x", EINVAL);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("mount overlay `/var/lib/xbuild/x`: EINVAL (", 0), 0u) << e.what();
    EXPECT_EQ(e.kind(), ErrorKind::io);
  }
  try {
    throw_errno("open", "/nope", ENOENT);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
  }
}

TEST(Error, UsageErrorsExitWithTwo) { EXPECT_EQ(exit_code_for(Error(ErrorKind::usage, "x")), 2); }

}  // namespace
}  // namespace xb
