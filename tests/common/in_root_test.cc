// common/in_root.h: the one in-root resolver. openat2 resolves on this
// kernel; lookup_in_root is the user-space walk that RootDir uses and that
// open_in_root falls back to without openat2, so both are held to the same
// cases here.
#include "common/in_root.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.h"
#include "common/fs.h"

namespace xb {
namespace {

namespace fs = std::filesystem;

class InRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir.path() / "a/b");
    fs::create_symlink("/a", dir.path() / "abs");
    fs::create_symlink("../../..", dir.path() / "up");
    fs::create_symlink("loop", dir.path() / "loop");
    fs::create_symlink("/nowhere/deeper", dir.path() / "dangling");
    root = open_or_throw(dir.path(), O_PATH | O_DIRECTORY);
    ASSERT_EQ(::stat((dir.path() / "a/b").c_str(), &b), 0);
  }
  ino_t ino_of(int fd) {
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    return st.st_ino;
  }
  TempDir dir{"in-root"};
  UniqueFd root;
  struct stat b {};
};

TEST_F(InRootTest, ChrootSymlinksAndDotDotStayInside) {
  for (const char* p : {"abs/b", "up/a/b", "/a/b", "../../a/b", "a/../../a/./b"}) {
    SCOPED_TRACE(p);
    UniqueFd fd(open_in_root(root.get(), p, O_PATH | O_DIRECTORY));
    ASSERT_TRUE(fd) << errno_name(errno);
    EXPECT_EQ(ino_of(fd.get()), b.st_ino);
    InRootPath r = lookup_in_root(root.get(), p, true);
    EXPECT_EQ(r.str(), "/a/b");
    EXPECT_TRUE(r.exists());
    EXPECT_EQ(r.st.st_ino, b.st_ino);
  }
}

TEST_F(InRootTest, MissingTailIsLexicalThroughDanglingSymlinks) {
  InRootPath r = lookup_in_root(root.get(), "abs/b/new/../x", true);
  EXPECT_EQ(r.str(), "/a/b/x");
  EXPECT_EQ(r.existing, 2u);
  r = lookup_in_root(root.get(), "dangling/f", true);
  EXPECT_EQ(r.str(), "/nowhere/deeper/f");  // where a chroot's mkdir -p would create it
  EXPECT_EQ(r.existing, 0u);
  errno = 0;
  EXPECT_LT(open_in_root(root.get(), "dangling/f", O_RDONLY), 0);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(InRootTest, BeneathAndNoSymlinksRefuseWaysOut) {
  errno = 0;
  EXPECT_LT(open_in_root(root.get(), "abs", O_PATH, InRoot::beneath), 0);
  EXPECT_EQ(errno, EXDEV);
  EXPECT_THROW(lookup_in_root(root.get(), "abs", true, InRoot::beneath), Error);
  EXPECT_THROW(lookup_in_root(root.get(), "../a", true, InRoot::beneath), Error);
  errno = 0;
  EXPECT_LT(open_in_root(root.get(), "up/a", O_PATH, InRoot::beneath), 0);
  EXPECT_EQ(errno, EXDEV);
  errno = 0;
  EXPECT_LT(open_in_root(root.get(), "abs/b", O_PATH, InRoot::no_symlinks), 0);
  EXPECT_EQ(errno, ELOOP);
  EXPECT_THROW(lookup_in_root(root.get(), "abs/b", true, InRoot::no_symlinks), Error);
  UniqueFd fd(open_in_root(root.get(), "a/b", O_PATH | O_DIRECTORY, InRoot::no_symlinks));
  EXPECT_TRUE(fd);
}

// Kernels without openat2 take the walk: the same answers.
TEST_F(InRootTest, FallbackWalkAgreesWithOpenat2) {
  struct Case {
    const char* path;
    int flags;
    InRoot mode;
  } cases[] = {{"abs/b", O_PATH | O_DIRECTORY, InRoot::chroot},
               {"up/a/b", O_PATH | O_DIRECTORY, InRoot::chroot},
               {"/a/b", O_PATH | O_DIRECTORY, InRoot::chroot},
               {"", O_PATH | O_DIRECTORY, InRoot::chroot},
               {"dangling/f", O_RDONLY, InRoot::chroot},
               {"loop/x", O_PATH, InRoot::chroot},
               {"loop", O_PATH | O_NOFOLLOW, InRoot::chroot},
               {"abs", O_PATH, InRoot::beneath},
               {"up/a", O_PATH, InRoot::beneath},
               {"a/b", O_PATH, InRoot::beneath},
               {"abs/b", O_PATH, InRoot::no_symlinks},
               {"a/b", O_RDONLY | O_DIRECTORY, InRoot::no_symlinks},
               {"loop", O_RDONLY | O_NOFOLLOW, InRoot::no_symlinks}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    errno = 0;
    UniqueFd k(open_in_root(root.get(), c.path, c.flags, c.mode, /*fallback=*/false));
    int kerr = errno;
    errno = 0;
    UniqueFd w(detail::open_walked(root.get(), c.path, c.flags, c.mode));
    int werr = errno;
    ASSERT_EQ(bool(k), bool(w)) << errno_name(kerr) << " vs " << errno_name(werr);
    if (k) EXPECT_EQ(ino_of(k.get()), ino_of(w.get()));
    else EXPECT_EQ(errno_name(kerr), errno_name(werr));
  }
}

TEST_F(InRootTest, SymlinkLoopIsELOOP) {
  errno = 0;
  EXPECT_LT(open_in_root(root.get(), "loop/x", O_PATH), 0);
  EXPECT_EQ(errno, ELOOP);
  EXPECT_THROW(lookup_in_root(root.get(), "loop/x", true), Error);
  // Not following the last element gives the link itself.
  InRootPath r = lookup_in_root(root.get(), "loop", false);
  EXPECT_TRUE(S_ISLNK(r.st.st_mode));
}

}  // namespace
}  // namespace xb
