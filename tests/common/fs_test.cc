#include "common/fs.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"

namespace xb {
namespace {

namespace fs = std::filesystem;

TEST(AtomicFile, NothingUnderTheFinalNameUntilCommit) {
  TempDir dir("fs-test");
  fs::path dest = dir.path() / "blob";
  {
    AtomicFile f(dest);
    f.write("half");
    EXPECT_FALSE(fs::exists(dest));
    // Destroyed without commit: the temporary goes away too.
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
  {
    AtomicFile f(dest, 0600);
    f.write("whole");
    f.commit();
  }
  EXPECT_EQ(read_file(dest), "whole");
  EXPECT_EQ(fs::status(dest).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(TempDir, RemovesItsTreeUnlessReleased) {
  fs::path kept;
  fs::path gone;
  {
    TempDir a("fs-test");
    gone = a.path();
    fs::create_directories(a.path() / "x/y");
    write_file_atomic(a.path() / "x/y/z", "1", 0644, false);
    TempDir b("fs-test");
    kept = b.release();
  }
  EXPECT_FALSE(fs::exists(gone));
  EXPECT_TRUE(fs::is_directory(kept));
  fs::remove_all(kept);
}

TEST(FileLock, ExclusiveExcludesATryLock) {
  TempDir dir("fs-test");
  FileLock held(dir.path() / "lock", FileLock::Mode::exclusive);
  // flock locks belong to the open file description, so a second open
  // in the same process contends like another process would.
  EXPECT_FALSE(FileLock::try_lock(dir.path() / "lock", FileLock::Mode::shared).owns());
}

TEST(ReadFile, MissingFileIsNotFoundNamingThePath) {
  try {
    read_file("/nonexistent/xbuild-test");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/xbuild-test"), std::string::npos);
  }
}

}  // namespace
}  // namespace xb
