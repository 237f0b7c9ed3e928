#include "fileop/fileop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "tests/fileop/fs_tree.h"

namespace xb::fileop {
namespace {

namespace fs = std::filesystem;
using testing::put;

class ContextKey : public ::testing::Test {
 protected:
  TempDir tmp{"context-test"};
  fs::path ctx = tmp.path() / "ctx";
  fs::path cache = tmp.path() / "cache/stat-cache";

  void SetUp() override {
    put(ctx / "top.txt", "top\n");
    put(ctx / "src/a.txt", "aaa\n");
    put(ctx / "src/b.txt", "bbb\n", 0600);
    put(ctx / "src/sub/c.md", "cmark\n");
    put(ctx / "unrelated.txt", "u\n");
  }

  Digest key(const ContextSelection& sel, IgnorePredicate ignored = {}) {
    ContextHasher h(ctx, std::move(ignored), {}, cache);
    Digest d = h.key(sel);
    h.save();
    return d;
  }
  static ContextSelection sel(std::vector<std::string> patterns) {
    ContextSelection s;
    s.patterns = std::move(patterns);
    return s;
  }
  void set_mtime(const fs::path& p, time_t sec, long nsec = 0) {
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
  }
};

TEST_F(ContextKey, UnchangedTreeSameKey) {
  Digest a = key(sel({"src"}));
  Digest b = key(sel({"src"}));
  EXPECT_EQ(a, b);
  // Without any stat cache too.
  ContextHasher plain(ctx);
  EXPECT_EQ(plain.key(sel({"src"})), a);
}

TEST_F(ContextKey, MtimeOnlyChangeKeepsTheKey) {
  Digest a = key(sel({"src"}));
  set_mtime(ctx / "src/a.txt", 1000000000);
  set_mtime(ctx / "src/sub", 1000000000);
  EXPECT_EQ(key(sel({"src"})), a);
}

TEST_F(ContextKey, ContentChangeChangesTheKey) {
  Digest a = key(sel({"src"}));
  put(ctx / "src/a.txt", "aab\n");
  EXPECT_NE(key(sel({"src"})), a);
}

TEST_F(ContextKey, ModeChangeChangesTheKey) {
  Digest a = key(sel({"src"}));
  ::chmod((ctx / "src/a.txt").c_str(), 0755);
  EXPECT_NE(key(sel({"src"})), a);
}

TEST_F(ContextKey, UnrelatedFileDoesNotMatter) {
  Digest a = key(sel({"src", "top.txt"}));
  put(ctx / "unrelated.txt", "changed\n");
  put(ctx / "new-unrelated.txt", "x");
  EXPECT_EQ(key(sel({"src", "top.txt"})), a);
}

TEST_F(ContextKey, NewFileUnderASelectedDirectoryChangesTheKey) {
  Digest a = key(sel({"src"}));
  put(ctx / "src/sub/new.txt", "");
  EXPECT_NE(key(sel({"src"})), a);
}

TEST_F(ContextKey, RenameChangesTheKey) {
  Digest a = key(sel({"src"}));
  fs::rename(ctx / "src/a.txt", ctx / "src/z.txt");
  EXPECT_NE(key(sel({"src"})), a);
}

TEST_F(ContextKey, SymlinkTargetIsPartOfTheKey) {
  fs::create_symlink("a.txt", ctx / "src/l");
  Digest a = key(sel({"src"}));
  fs::remove(ctx / "src/l");
  fs::create_symlink("b.txt", ctx / "src/l");
  EXPECT_NE(key(sel({"src"})), a);
}

TEST_F(ContextKey, IgnoredFilesDoNotMatter) {
  auto ignore = [](std::string_view p, bool) { return p == "src/b.txt"; };
  Digest a = key(sel({"src"}), ignore);
  put(ctx / "src/b.txt", "changed\n");
  EXPECT_EQ(key(sel({"src"}), ignore), a);
  EXPECT_NE(key(sel({"src"})), a);
}

TEST_F(ContextKey, ExcludedFilesDoNotMatter) {
  ContextSelection s = sel({"src"});
  s.excludes = {"*.md", "sub"};
  Digest a = key(s);
  put(ctx / "src/sub/c.md", "changed\n");
  EXPECT_EQ(key(s), a);
  put(ctx / "src/a.txt", "changed\n");
  EXPECT_NE(key(s), a);
}

TEST_F(ContextKey, WildcardSelectsOnlyMatches) {
  Digest a = key(sel({"src/*.txt"}));
  put(ctx / "src/sub/c.md", "changed\n");
  EXPECT_EQ(key(sel({"src/*.txt"})), a);
  put(ctx / "src/new.txt", "n");
  EXPECT_NE(key(sel({"src/*.txt"})), a);
}

TEST_F(ContextKey, MissingSourceIsNotFound) {
  try {
    key(sel({"nope.txt"}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("nope.txt"), std::string::npos);
  }
}

TEST_F(ContextKey, StatCacheSparesRereadingUnchangedFiles) {
  // Old timestamps, so that no entry is racy.
  for (const char* f : {"src/a.txt", "src/b.txt", "src/sub/c.md"}) set_mtime(ctx / f, 1600000000);
  // Their ctimes are now: let the clock tick past them (else they are racy).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    ContextHasher h(ctx, {}, {}, cache);
    h.key(sel({"src"}));
    EXPECT_EQ(h.stats().files_hashed, 3u);
    h.save();
  }
  ContextHasher h(ctx, {}, {}, cache);
  EXPECT_TRUE(h.warnings().empty());
  h.key(sel({"src"}));
  EXPECT_EQ(h.stats().files_hashed, 0u);
  EXPECT_EQ(h.stats().cache_hits, 3u);
}

TEST_F(ContextKey, RacyModificationIsNotMissed) {
  // Same size, same mtime after the rewrite: only the racy check (the file's
  // ctime is not older than when its content was read) makes us re-read it.
  set_mtime(ctx / "src/a.txt", 1600000000);
  std::optional<Digest> before;
  {
    ContextHasher h(ctx, {}, {}, cache);
    before = h.key(sel({"src/a.txt"}));
    h.save();
  }
  {
    // Rewrite in place (same inode, same size) and restore the mtime.
    int fd = ::open((ctx / "src/a.txt").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "zzz\n", 4, 0), 4);
    ::close(fd);
    set_mtime(ctx / "src/a.txt", 1600000000);
  }
  ContextHasher h(ctx, {}, {}, cache);
  Digest after = h.key(sel({"src/a.txt"}));
  EXPECT_NE(after, *before);
  // The racy case proper: write, hash, rewrite (same size) at once. Within one
  // timestamp tick the stat data is identical; only the racy check (the
  // file's times are not older than the read) makes the key see the change.
  for (int round = 0; round < 20; ++round) {
    put(ctx / "src/b.txt", "bbb\n");
    ContextHasher first(ctx, {}, {}, cache);
    Digest old_key = first.key(sel({"src/b.txt"}));
    first.save();
    int fd = ::open((ctx / "src/b.txt").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "BBB\n", 4, 0), 4);
    ::close(fd);
    ContextHasher second(ctx, {}, {}, cache);
    EXPECT_NE(second.key(sel({"src/b.txt"})), old_key) << "round " << round;
  }
}

TEST_F(ContextKey, UnreadableCacheIsReportedAndIgnored) {
  fs::create_directories(cache.parent_path());
  put(cache, "garbage that is long enough to not be a header");
  ContextHasher h(ctx, {}, {}, cache);
  ASSERT_EQ(h.warnings().size(), 1u);
  EXPECT_NE(h.warnings()[0].find(cache.string()), std::string::npos);
  ContextHasher plain(ctx);
  EXPECT_EQ(h.key(sel({"src"})), plain.key(sel({"src"})));
  h.save();
  ContextHasher again(ctx, {}, {}, cache);
  EXPECT_TRUE(again.warnings().empty());
  // Truncation is caught by the checksum.
  std::string data = testing::slurp(cache);
  put(cache, data.substr(0, data.size() - 3));
  ContextHasher cut(ctx, {}, {}, cache);
  EXPECT_EQ(cut.warnings().size(), 1u);
}

TEST_F(ContextKey, ParentsAndPatternsAreInTheKey) {
  ContextSelection a = sel({"src/sub"});
  ContextSelection b = a;
  b.parents = true;
  EXPECT_NE(key(a), key(b));
  EXPECT_NE(key(sel({"src/a.txt"})), key(sel({"src/b.txt"})));
}

}  // namespace
}  // namespace xb::fileop

namespace xb::fileop {
namespace {

TEST_F(ContextKey, HardLinksArePartOfTheKey) {
  fs::create_hard_link(ctx / "src/a.txt", ctx / "src/sub/h");
  Digest linked = key(sel({"src"}));
  fs::remove(ctx / "src/sub/h");
  fs::copy_file(ctx / "src/a.txt", ctx / "src/sub/h");
  EXPECT_NE(key(sel({"src"})), linked);  // copy_files would make a copy, not a link
}

}  // namespace
}  // namespace xb::fileop
