#include "fileop/fileop.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "fileop/pattern.h"
#include "tests/fileop/fs_tree.h"
#include "tests/support/odd_names.h"
#include "tests/support/http_server.h"

namespace xb::fileop {
namespace {

using testing::Node;
using testing::put;
using testing::slurp;
using testing::snapshot;
namespace fs = std::filesystem;

bool is_root() { return ::geteuid() == 0; }

class CopyTest : public ::testing::Test {
 protected:
  TempDir tmp{"copy-test"};
  fs::path ctx = tmp.path() / "ctx";
  fs::path root = tmp.path() / "root";

  void SetUp() override {
    // copy_files gives files owners (0:0 for the context), which takes root.
    if (!is_root()) GTEST_SKIP() << "copy_files sets owners: needs root";
    fs::create_directories(ctx);
    fs::create_directories(root);
    put(ctx / "top.txt", "top\n");
    put(ctx / "src/a.txt", "aaa\n");
    put(ctx / "src/b.txt", "bbb\n", 0600);
    put(ctx / "src/sub/c.md", "cmark\n");
    put(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n");
    put(root / "etc/group", "root:x:0:\napp:x:1000:\nstaff:x:50:app\n");
  }

  CopySource ctx_src(std::string pattern) {
    CopySource s;
    s.root = ctx;
    s.pattern = std::move(pattern);
    return s;
  }

  void copy(const std::vector<std::string>& patterns, std::string dest, CopyOptions opt = {}) {
    std::vector<CopySource> sources;
    sources.reserve(patterns.size());
    for (const auto& p : patterns) sources.push_back(ctx_src(p));
    opt.dest = std::move(dest);
    copy_files(root, sources, opt);
  }

  std::map<std::string, Node> tree() { return snapshot(root); }
};

TEST(Pattern, GoFilepathMatch) {
  EXPECT_TRUE(go_path_match("*.txt", "a.txt"));
  EXPECT_FALSE(go_path_match("*.txt", "dir/a.txt"));  // '*' never crosses '/'
  EXPECT_TRUE(go_path_match("*/a.txt", "dir/a.txt"));
  EXPECT_TRUE(go_path_match("a?c", "abc"));
  EXPECT_FALSE(go_path_match("a?c", "a/c"));
  EXPECT_TRUE(go_path_match("[a-c]x", "bx"));
  EXPECT_FALSE(go_path_match("[^a-c]x", "bx"));
  EXPECT_TRUE(go_path_match("\\*", "*"));
  EXPECT_FALSE(go_path_match("\\*", "x"));
  EXPECT_FALSE(go_path_match("[", "["));  // malformed: no match
  EXPECT_TRUE(go_path_match("*", ""));
  EXPECT_TRUE(go_path_match("a*b*c", "axxbyyc"));
  EXPECT_TRUE(go_path_match("h\xc3\xa9?", "h\xc3\xa9\xc3\xa9"));  // '?' is one code point
}

TEST(Pattern, SplitAndClean) {
  EXPECT_EQ(split_wildcards("/src/*.txt"), (std::pair<std::string, std::string>{"/src", "*.txt"}));
  EXPECT_EQ(split_wildcards("/a/b*/c"), (std::pair<std::string, std::string>{"/a", "b*/c"}));
  EXPECT_EQ(split_wildcards("/a/b"), (std::pair<std::string, std::string>{"/a/b", ""}));
  EXPECT_EQ(clean_path("/../x"), "/x");
  EXPECT_EQ(clean_path("a/./b/../c/"), "a/c");
}

TEST(ResolveDest, LikeBuildKit) {
  EXPECT_EQ(resolve_dest_path("/dest/", "/"), "/dest/");
  EXPECT_EQ(resolve_dest_path("/renamed.txt", "/w"), "/renamed.txt");
  EXPECT_EQ(resolve_dest_path("./here/", "/relative"), "/relative/here/");
  EXPECT_EQ(resolve_dest_path(".", "/w"), "/w/");
  EXPECT_EQ(resolve_dest_path("", "/w"), "/w/");
  EXPECT_EQ(resolve_dest_path("x", "/w"), "/w/x");
  EXPECT_EQ(resolve_dest_path("../../x", "/w"), "/x");
  EXPECT_EQ(resolve_dest_path("/", "/w"), "/");
}

TEST(ParseChmod, OctalOrSymbolic) {
  EXPECT_EQ(parse_chmod("0750").octal, 0750u);
  EXPECT_EQ(parse_chmod("4755").octal, 04755u);
  EXPECT_EQ(parse_chmod("0750").apply(S_IFREG | 0644), 0750u);
  EXPECT_THROW(parse_chmod("10000"), Error);
  EXPECT_THROW(parse_chmod("8"), Error);
  // BuildKit's testAddInvalidChmod and its non-octal --chmod (chmod(1) syntax).
  EXPECT_THROW(parse_chmod("64a"), Error);
  EXPECT_THROW(parse_chmod("u+x,"), Error);
  EXPECT_THROW(parse_chmod("q+x"), Error);
  EXPECT_THROW(parse_chmod(""), Error);
  EXPECT_FALSE(parse_chmod("u+x").octal);
}

TEST(ParseChmod, SymbolicAsChmod1) {
  auto on = [](const char* spec, uint32_t mode) { return parse_chmod(spec).apply(mode); };
  EXPECT_EQ(on("u+x,g-w", S_IFREG | 0664), 0744u);
  EXPECT_EQ(on("go-w", S_IFREG | 0666), 0644u);
  EXPECT_EQ(on("u=rw,g=r,o=r", S_IFREG | 0777), 0644u);
  EXPECT_EQ(on("a=rX", S_IFREG | 0664), 0444u);  // X: no x anywhere, a file
  EXPECT_EQ(on("a=rX", S_IFREG | 0744), 0555u);  // X: some x already
  EXPECT_EQ(on("a+X", S_IFDIR | 0124), 0135u);   // X: a directory
  EXPECT_EQ(on("u+rw,g+r,o-x,o+w", S_IFDIR | 0124), 0766u);
  EXPECT_EQ(on("+x", S_IFREG | 0600), 0711u);  // no who: all, no umask
  EXPECT_EQ(on("g=u", S_IFREG | 0640), 0660u);
  EXPECT_EQ(on("u+s", S_IFREG | 0755), 04755u);
  EXPECT_EQ(on("o+t", S_IFDIR | 0777), 01777u);
}

TEST_F(CopyTest, FileIntoDirectoryWithTrailingSlash) {
  copy({"top.txt"}, "/dest/");
  auto t = tree();
  ASSERT_EQ(t["/dest/top.txt"].data, "top\n");
  EXPECT_EQ(t["/dest"].type, 'd');
  EXPECT_EQ(t["/dest"].mode, 0755u);
}

TEST_F(CopyTest, FileToNameWithoutSlash) {
  copy({"top.txt"}, "/renamed.txt");
  auto t = tree();
  EXPECT_EQ(t["/renamed.txt"].type, 'f');
  EXPECT_EQ(t["/renamed.txt"].data, "top\n");
  EXPECT_EQ(t["/renamed.txt"].mode, 0644u);
}

TEST_F(CopyTest, FileIntoExistingDirectoryWithoutSlash) {
  fs::create_directories(root / "existing");
  copy({"top.txt"}, "/existing");
  EXPECT_EQ(slurp(root / "existing/top.txt"), "top\n");
}

TEST_F(CopyTest, DirectoryCopiesItsContentsNotItself) {
  copy({"src"}, "/copied-dir");
  auto t = tree();
  EXPECT_EQ(t["/copied-dir/a.txt"].data, "aaa\n");
  EXPECT_EQ(t["/copied-dir/b.txt"].mode, 0600u);
  EXPECT_EQ(t["/copied-dir/sub/c.md"].data, "cmark\n");
  EXPECT_EQ(t.count("/copied-dir/src"), 0u);
  // The same with a trailing slash on the source.
  copy({"src/sub/"}, "/deep/er/path/");
  t = tree();
  EXPECT_EQ(t["/deep/er/path/c.md"].data, "cmark\n");
  EXPECT_EQ(t["/deep"].mode, 0755u);
  EXPECT_EQ(t["/deep/er"].uid, 0u);
}

TEST_F(CopyTest, WildcardsMatchPerElement) {
  copy({"src/*.txt"}, "/glob/");
  auto t = tree();
  EXPECT_EQ(t["/glob/a.txt"].data, "aaa\n");
  EXPECT_EQ(t["/glob/b.txt"].data, "bbb\n");
  EXPECT_EQ(t.count("/glob/c.md"), 0u);
  EXPECT_EQ(t.count("/glob/sub"), 0u);
  // A wildcard matching a directory copies its contents.
  copy({"s?c"}, "/w/");
  EXPECT_EQ(slurp(root / "w/a.txt"), "aaa\n");
  copy({"*/sub/*.md"}, "/md/");
  EXPECT_EQ(slurp(root / "md/c.md"), "cmark\n");
}

TEST_F(CopyTest, EmptyWildcardIsAllowedButMissingPathIsNot) {
  // BuildKit passes AllowEmptyWildcard: a wildcard matching nothing copies nothing.
  EXPECT_NO_THROW(copy({"src/*.none"}, "/nothing/"));
  EXPECT_FALSE(fs::exists(root / "nothing"));
  try {
    copy({"missing.txt"}, "/x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("missing.txt"), std::string::npos) << e.what();
  }
  // The wildcard's directory itself must exist.
  EXPECT_THROW(copy({"nodir/*.txt"}, "/x/"), Error);
}

TEST_F(CopyTest, MultipleSourcesMakeTheDestinationADirectory) {
  copy({"top.txt", "src/a.txt"}, "/multi");
  auto t = tree();
  EXPECT_EQ(t["/multi"].type, 'd');
  EXPECT_EQ(t["/multi/top.txt"].data, "top\n");
  EXPECT_EQ(t["/multi/a.txt"].data, "aaa\n");
}

TEST_F(CopyTest, RelativeDestinationUsesWorkdir) {
  CopyOptions opt;
  opt.workdir = "/relative";
  copy({"top.txt"}, "./here/", opt);
  EXPECT_EQ(slurp(root / "relative/here/top.txt"), "top\n");
  opt.workdir = "/w";
  copy({"top.txt"}, ".", opt);
  EXPECT_EQ(slurp(root / "w/top.txt"), "top\n");
}

TEST_F(CopyTest, Chmod) {
  CopyOptions opt;
  opt.chmod = parse_chmod("0750");
  copy({"src/a.txt"}, "/modes/a.txt", opt);
  copy({"src"}, "/modes-dir/", opt);
  auto t = tree();
  EXPECT_EQ(t["/modes/a.txt"].mode, 0750u);
  EXPECT_EQ(t["/modes"].mode, 0755u);  // created parents are not chmod'ed
  EXPECT_EQ(t["/modes-dir/b.txt"].mode, 0750u);
  EXPECT_EQ(t["/modes-dir/sub"].mode, 0750u);  // BuildKit applies --chmod to directories too
  EXPECT_EQ(t["/modes-dir"].mode, 0755u);
}

TEST_F(CopyTest, ContextFilesBecomeRootOwnedAndKeepModeAndMtime) {
  if (!is_root()) GTEST_SKIP() << "needs root to own files as another user";
  ASSERT_EQ(::chown((ctx / "src/a.txt").c_str(), 1234, 5678), 0);
  struct timespec ts[2] = {{1600000000, 0}, {1600000000, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (ctx / "src/a.txt").c_str(), ts, 0), 0);
  copy({"src"}, "/c/");
  struct stat st;
  ASSERT_EQ(::stat((root / "c/a.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 0u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123456789);
}

// Large files have their contents copied on worker threads: every byte,
// owner, mode, mtime and hard link must come out as with small ones.
TEST_F(CopyTest, LargeFilesCopiedInParallelKeepContentAndMetadata) {
  std::vector<std::string> contents;
  for (int i = 0; i < 40; ++i) {
    std::string data(static_cast<size_t>(200 * 1024 + i * 4099), '\0');
    for (size_t j = 0; j < data.size(); ++j) data[j] = static_cast<char>((j * 31 + static_cast<size_t>(i)) % 251);
    contents.push_back(data);
    fs::path f = ctx / "big" / ("f" + std::to_string(i));
    put(f, data, i % 2 ? 0600 : 0755);
    struct timespec ts[2] = {{1600000000 + i, 0}, {1600000000 + i, 1000 * i}};
    ASSERT_EQ(::utimensat(AT_FDCWD, f.c_str(), ts, 0), 0);
  }
  fs::create_hard_link(ctx / "big/f7", ctx / "big/f7-link");
  CopyOptions opt;
  opt.chown = "1000:50";
  copy({"big"}, "/big/", opt);
  for (int i = 0; i < 40; ++i) {
    fs::path f = root / "big" / ("f" + std::to_string(i));
    SCOPED_TRACE(f.string());
    EXPECT_EQ(slurp(f), contents[static_cast<size_t>(i)]);
    struct stat st;
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, i % 2 ? 0600u : 0755u);
    EXPECT_EQ(st.st_uid, 1000u);
    EXPECT_EQ(st.st_gid, 50u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1600000000 + i);
    EXPECT_EQ(st.st_mtim.tv_nsec, 1000 * i);
  }
  auto t = tree();
  EXPECT_EQ(t["/big/f7"].ino, t["/big/f7-link"].ino);
}

TEST_F(CopyTest, StageSourcesKeepOwners) {
  if (!is_root()) GTEST_SKIP() << "needs root to own files as another user";
  fs::path stage = tmp.path() / "stage";
  put(stage / "app/bin/tool", "#!/bin/sh\n", 04755);
  ASSERT_EQ(::chown((stage / "app/bin/tool").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::chmod((stage / "app/bin/tool").c_str(), 04755), 0);
  CopySource s;
  s.root = stage;
  s.pattern = "/app";
  s.from_context = false;
  CopyOptions opt;
  opt.dest = "/opt/app";
  copy_files(root, {s}, opt);
  auto t = tree();
  EXPECT_EQ(t["/opt/app/bin/tool"].uid, 1234u);
  EXPECT_EQ(t["/opt/app/bin/tool"].gid, 5678u);
  EXPECT_EQ(t["/opt/app/bin/tool"].mode, 04755u);
}

TEST_F(CopyTest, ChownNumericAndNamed) {
  if (!is_root()) GTEST_SKIP() << "needs root to chown";
  CopyOptions opt;
  opt.chown = "1000:1000";
  copy({"src"}, "/owned-numeric", opt);
  opt.chown = "app:staff";
  copy({"src/sub"}, "/owned-named/", opt);
  opt.chown = "1001";
  copy({"top.txt"}, "/made/parents/", opt);
  auto t = tree();
  EXPECT_EQ(t["/owned-numeric"].uid, 1000u);
  EXPECT_EQ(t["/owned-numeric/sub/c.md"].gid, 1000u);
  EXPECT_EQ(t["/owned-named"].uid, 1000u);
  EXPECT_EQ(t["/owned-named"].gid, 50u);
  EXPECT_EQ(t["/owned-named/c.md"].gid, 50u);
  // "--chown=1001" means 1001:1001, and created parents get the owner too.
  EXPECT_EQ(t["/made/parents/top.txt"].gid, 1001u);
  EXPECT_EQ(t["/made"].uid, 1001u);
  EXPECT_EQ(t["/made/parents"].gid, 1001u);
}

TEST_F(CopyTest, ResolveChownReadsTheTargetRoot) {
  EXPECT_EQ(resolve_chown(root, "app"), (Owner{1000, 1000}));
  EXPECT_EQ(resolve_chown(root, "app:staff"), (Owner{1000, 50}));
  EXPECT_EQ(resolve_chown(root, "42"), (Owner{42, 42}));
  EXPECT_EQ(resolve_chown(root, "42:7"), (Owner{42, 7}));
  // An unknown name is an error (BuildKit gives 0 silently: README), except
  // root, and where the caller asks for BuildKit's 0 (WORKDIR's USER).
  auto error_of = [&](std::string_view spec) {
    try {
      resolve_chown(root, spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of("nosuchuser"),
            "--chown=nosuchuser: unable to find user nosuchuser: no matching entries in passwd file");
  EXPECT_EQ(error_of("1:nosuchgroup"),
            "--chown=1:nosuchgroup: unable to find group nosuchgroup: no matching entries in group file");
  EXPECT_EQ(error_of("app:nogroup"),
            "--chown=app:nogroup: unable to find group nogroup: no matching entries in group file");
  EXPECT_EQ(resolve_chown(root, "root:root"), (Owner{0, 0}));
  EXPECT_EQ(resolve_chown(root, "nobody", true), (Owner{0, 0}));
  EXPECT_EQ(resolve_chown(root, "app:nogroup", true), (Owner{1000, 1000}));
  // The target's /etc/passwd is read inside the root, even through a symlink.
  fs::path other = tmp.path() / "other";
  put(other / "etc/passwd", "app:x:7:8::/:/bin/sh\n");
  fs::remove(root / "etc/passwd");
  fs::create_symlink(other / "etc/passwd", root / "etc/passwd");  // a host path: must not be read
  EXPECT_EQ(resolve_chown(root, "app", true), (Owner{0, 0}));
  EXPECT_THROW(resolve_chown(root, "app"), Error);
}

TEST_F(CopyTest, SymlinkInTargetCannotLeadOutside) {
  TempDir host("host-path");
  // /etc/evil → <absolute host path>: a chroot reads it inside the root.
  fs::create_symlink(host.path(), root / "etc/evil");
  fs::create_symlink("../../../../../../../../" + host.path().string(), root / "etc/up");
  copy({"top.txt"}, "/etc/evil/x");
  copy({"top.txt"}, "/etc/up/y/");
  copy({"src"}, "/etc/evil/dir/");
  EXPECT_TRUE(fs::is_empty(host.path())) << "wrote outside the target root";
  fs::path inside = root / host.path().relative_path();
  EXPECT_EQ(slurp(inside / "x"), "top\n");
  EXPECT_EQ(slurp(inside / "y/top.txt"), "top\n");
  EXPECT_EQ(slurp(inside / "dir/a.txt"), "aaa\n");
}

TEST_F(CopyTest, ExistingSymlinkAtDestinationIsReplacedNotFollowed) {
  TempDir host("host-file");
  put(host.path() / "victim", "keep");
  fs::create_directories(root / "d");
  fs::create_symlink(host.path() / "victim", root / "d/top.txt");
  copy({"top.txt"}, "/d/");
  EXPECT_EQ(slurp(host.path() / "victim"), "keep");
  EXPECT_FALSE(fs::is_symlink(root / "d/top.txt"));
  EXPECT_EQ(slurp(root / "d/top.txt"), "top\n");
}

TEST_F(CopyTest, SourcesCannotClimbOutOfTheContext) {
  put(tmp.path() / "outside.txt", "secret");
  // "../outside.txt" is "/outside.txt" in the context, as in BuildKit.
  EXPECT_THROW(copy({"../outside.txt"}, "/x"), Error);
  EXPECT_THROW(copy({"/../../outside.txt"}, "/x"), Error);
  put(ctx / "outside.txt", "inside");
  copy({"../outside.txt"}, "/x");
  EXPECT_EQ(slurp(root / "x"), "inside");
  // A top-level symlink is followed, but inside the context.
  fs::create_symlink("../outside.txt", ctx / "escape");
  copy({"escape"}, "/y");
  EXPECT_EQ(slurp(root / "y"), "inside");
  fs::create_symlink(tmp.path() / "outside.txt", ctx / "abs-escape");  // host path: not in the context
  EXPECT_THROW(copy({"abs-escape"}, "/z"), Error);
}

TEST_F(CopyTest, SymlinksInsideSourcesAreCopiedAsLinks) {
  fs::create_symlink("/etc/passwd", ctx / "src/abs-link");
  fs::create_symlink("a.txt", ctx / "src/link.txt");
  copy({"src"}, "/l/");
  auto t = tree();
  EXPECT_EQ(t["/l/abs-link"].type, 'l');
  EXPECT_EQ(t["/l/abs-link"].data, "/etc/passwd");
  EXPECT_EQ(t["/l/link.txt"].data, "a.txt");
  // Named at top level, a symlink is followed: its target's content, its own name.
  copy({"src/link.txt"}, "/f/");
  t = tree();
  EXPECT_EQ(t["/f/link.txt"].type, 'f');
  EXPECT_EQ(t["/f/link.txt"].data, "aaa\n");
}

TEST_F(CopyTest, HardLinksStayHardLinks) {
  fs::create_hard_link(ctx / "src/a.txt", ctx / "src/sub/hard");
  copy({"src"}, "/h/");
  auto t = tree();
  EXPECT_EQ(t["/h/a.txt"].ino, t["/h/sub/hard"].ino);
  EXPECT_NE(t["/h/a.txt"].ino, t["/h/b.txt"].ino);
}

TEST_F(CopyTest, Exclude) {
  put(ctx / "src/sub/skip.log", "x");
  put(ctx / "src/keep.log", "x");
  CopyOptions opt;
  opt.excludes = {"*.txt", "sub/*.log"};
  copy({"src"}, "/e/", opt);
  auto t = tree();
  EXPECT_EQ(t.count("/e/a.txt"), 0u);
  EXPECT_EQ(t.count("/e/sub/skip.log"), 0u);
  EXPECT_EQ(t["/e/sub/c.md"].data, "cmark\n");
  EXPECT_EQ(t.count("/e/keep.log"), 1u);
  // Excluded directory, and an exception.
  opt.excludes = {"sub", "!sub/c.md"};
  copy({"src"}, "/e2/", opt);
  t = tree();
  EXPECT_EQ(t["/e2/sub/c.md"].data, "cmark\n");
  EXPECT_EQ(t.count("/e2/sub/skip.log"), 0u);
  // Wildcard matches are filtered too (the Dockerfile reference's example).
  opt.excludes = {"*.txt"};
  copy({"src/*"}, "/e3/", opt);
  t = tree();
  EXPECT_EQ(t.count("/e3/a.txt"), 0u);
  EXPECT_EQ(t.count("/e3/keep.log"), 1u);
}

TEST_F(CopyTest, Parents) {
  put(ctx / "x/y/z.txt", "z");
  put(ctx / "x/other.txt", "o");
  CopyOptions opt;
  opt.parents = true;
  copy({"x/y/z.txt", "src/sub"}, "/p/", opt);
  auto t = tree();
  EXPECT_EQ(t["/p/x/y/z.txt"].data, "z");
  EXPECT_EQ(t.count("/p/x/other.txt"), 0u);
  EXPECT_EQ(t["/p/src/sub/c.md"].data, "cmark\n");
  EXPECT_EQ(t.count("/p/src/a.txt"), 0u);
  // A "/./" pivot keeps only what follows it.
  copy({"x/./y/z.txt"}, "/q/", opt);
  EXPECT_EQ(slurp(root / "q/y/z.txt"), "z");
  // Wildcards in --parents patterns.
  copy({"src/*.txt"}, "/r/", opt);
  t = tree();
  EXPECT_EQ(t["/r/src/a.txt"].data, "aaa\n");
  EXPECT_EQ(t.count("/r/src/sub"), 0u);
}

TEST_F(CopyTest, IgnoredContextFilesDoNotExist) {
  CopySource s = ctx_src("src");
  s.ignored = [](std::string_view p, bool) { return p == "src/b.txt" || p == "top.txt"; };
  CopyOptions opt;
  opt.dest = "/i/";
  copy_files(root, {s}, opt);
  EXPECT_TRUE(fs::exists(root / "i/a.txt"));
  EXPECT_FALSE(fs::exists(root / "i/b.txt"));
  s.pattern = "top.txt";
  EXPECT_THROW(copy_files(root, {s}, opt), Error);
}

TEST_F(CopyTest, FileOverDirectoryIsAnError) {
  fs::create_directories(root / "t/top.txt");
  try {
    copy({"top.txt"}, "/t/");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/t/top.txt"), std::string::npos) << e.what();
  }
}

TEST_F(CopyTest, Heredoc) {
  CopySource s;
  s.kind = CopySource::Kind::content;
  s.pattern = "EOF";
  s.content = "[main]\nname=heredoc\n";
  CopyOptions opt;
  opt.dest = "/hd/config.ini";
  copy_files(root, {s}, opt);
  opt.dest = "/hd2/";
  copy_files(root, {s}, opt);
  auto t = tree();
  EXPECT_EQ(t["/hd/config.ini"].data, "[main]\nname=heredoc\n");
  EXPECT_EQ(t["/hd/config.ini"].mode, 0644u);
  EXPECT_EQ(t["/hd2/EOF"].data, "[main]\nname=heredoc\n");
}

// ── ADD ─────────────────────────────────────────────────────────────────────

struct TarEntry {
  std::string name;
  char type;  // f d l h
  std::string data;
  unsigned mode = 0644;
  unsigned uid = 0, gid = 0;
};

void make_tar(const fs::path& out, const std::vector<TarEntry>& entries, int filter) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter) archive_write_add_filter(a, filter);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const auto& t : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.name.c_str());
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, 1500000000, 0);
    archive_entry_set_perm(e, t.mode);
    switch (t.type) {
      case 'f':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(t.data.size()));
        break;
      case 'd': archive_entry_set_filetype(e, AE_IFDIR); break;
      case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, t.data.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, t.data.c_str());
        break;
    }
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (t.type == 'f') archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

const std::vector<TarEntry> kBundle = {
    {"payload/", 'd', "", 0755}, {"payload/p1", 'f', "p1\n", 0644, 1234, 5678}, {"payload/inner/p2", 'f', "p2\n", 0600},
    {"payload/link", 'l', "p1"}, {"payload/hard", 'h', "payload/p1"},
};

TEST_F(CopyTest, AddUnpacksEveryCompressionByContent) {
  struct Case {
    const char* name;
    int filter;
  } cases[] = {{"plain.bin", ARCHIVE_FILTER_NONE},
               {"gz.bin", ARCHIVE_FILTER_GZIP},
               {"bz.bin", ARCHIVE_FILTER_BZIP2},
               {"xz.bin", ARCHIVE_FILTER_XZ},
               {"zst.bin", ARCHIVE_FILTER_ZSTD}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    make_tar(ctx / c.name, kBundle, c.filter);
    CopyOptions opt;
    opt.add = true;
    std::string dest = std::string("/u-") + c.name;  // no trailing slash: still a directory
    copy({c.name}, dest, opt);
    auto t = tree();
    EXPECT_EQ(t[dest + "/payload/p1"].data, "p1\n");
    EXPECT_EQ(t[dest + "/payload/inner/p2"].mode, 0600u);
    EXPECT_EQ(t[dest + "/payload/inner"].mode, 0755u);  // implied parent
    EXPECT_EQ(t[dest + "/payload/link"].data, "p1");
    EXPECT_EQ(t[dest + "/payload/hard"].ino, t[dest + "/payload/p1"].ino);
    if (is_root()) {
      EXPECT_EQ(t[dest + "/payload/p1"].uid, 1234u);  // owners from the archive
      EXPECT_EQ(t[dest + "/payload/p1"].gid, 5678u);
    }
    // COPY never unpacks.
    copy({c.name}, "/copied/");
    EXPECT_EQ(tree()["/copied/" + std::string(c.name)].type, 'f');
  }
}

TEST_F(CopyTest, AddWithChownOverridesArchiveOwners) {
  if (!is_root()) GTEST_SKIP() << "needs root to chown";
  make_tar(ctx / "b.tar", kBundle, ARCHIVE_FILTER_GZIP);
  CopyOptions opt;
  opt.add = true;
  opt.chown = "app:staff";
  copy({"b.tar"}, "/o/", opt);
  auto t = tree();
  EXPECT_EQ(t["/o/payload/p1"].uid, 1000u);
  EXPECT_EQ(t["/o/payload/p1"].gid, 50u);
  EXPECT_EQ(t["/o"].uid, 1000u);
}

// File names are bytes (issue 15): ADD unpacks an archive whose names and
// link targets are any bytes (here as Go's archive/tar writes them, the
// first entry already non-ASCII) into exactly those names, in any locale;
// COPY of such context files keeps their names too. (ADD took the archive
// for a plain file: its first header came with a "can't be converted"
// warning, and in a UTF-8 locale NFD names became NFC.)
TEST_F(CopyTest, NamesAreBytesThroughAddAndCopy) {
  put(ctx / "names.tar", testing::odd_tar_as_go_writes_it());
  testing::make_odd_tree(ctx / "tree");
  for (const char* loc : {"C", "C.UTF-8"}) {
    SCOPED_TRACE(loc);
    testing::InLocale in(loc);
    ASSERT_TRUE(in.ok()) << "no locale " << loc;
    CopyOptions opt;
    opt.add = true;
    copy({"names.tar"}, std::string("/add-") + loc + "/", opt);
    testing::check_odd_tree(root / (std::string("add-") + loc));
    copy({"tree"}, std::string("/copy-") + loc + "/");
    testing::check_odd_tree(root / (std::string("copy-") + loc));
  }
}

TEST_F(CopyTest, AddOfANonArchiveCopiesIt) {
  put(ctx / "notes.tar.gz", "not really an archive");
  CopyOptions opt;
  opt.add = true;
  copy({"notes.tar.gz"}, "/n/", opt);
  EXPECT_EQ(slurp(root / "n/notes.tar.gz"), "not really an archive");
}

TEST_F(CopyTest, ArchivesStayInsideTheirDestination) {
  TempDir host("host-path");
  make_tar(ctx / "evil.tar", {{"../escape", 'f', "x"}}, 0);
  CopyOptions opt;
  opt.add = true;
  EXPECT_THROW(copy({"evil.tar"}, "/x/", opt), Error);
  // A symlink to an absolute host path, then a file through it.
  make_tar(ctx / "evil2.tar", {{"link", 'l', host.path().string()}, {"link/owned", 'f', "x"}}, 0);
  copy({"evil2.tar"}, "/y/", opt);
  EXPECT_TRUE(fs::is_empty(host.path()));
  EXPECT_EQ(slurp(root / "y" / host.path().relative_path() / "owned"), "x");
}

// The hostile archive of layer apply's test (SnapshotterTest.
// ExtractionNeverWritesOutsideTheRoot), ADDed: the one extractor
// (common/tar_extract.h) keeps every entry inside the destination. Hard
// links to a host file (absolute, "../..", or through an absolute symlink)
// link nothing on the host.
TEST_F(CopyTest, HostileArchiveIsContainedWhenAdded) {
  TempDir host("host-dir");
  struct stat before {};
  ASSERT_EQ(::stat("/etc/passwd", &before), 0);
  CopyOptions opt;
  opt.add = true;
  make_tar(ctx / "dotdot.tar", {{"ok", 'f', "1"}, {"a/../../../escape", 'f', "x"}}, 0);
  EXPECT_THROW(copy({"dotdot.tar"}, "/d/", opt), Error);
  make_tar(ctx / "hl-dotdot.tar", {{"pw", 'h', "../../../../../../etc/passwd"}}, 0);
  EXPECT_THROW(copy({"hl-dotdot.tar"}, "/h1/", opt), Error);
  make_tar(ctx / "hl-abs.tar", {{"pw", 'h', "/etc/passwd"}}, 0);
  EXPECT_THROW(copy({"hl-abs.tar"}, "/h2/", opt), Error);  // /etc/passwd of the destination: not there
  make_tar(ctx / "hl-link.tar", {{"etc", 'l', "/etc"}, {"pw", 'h', "etc/passwd"}}, 0);
  EXPECT_THROW(copy({"hl-link.tar"}, "/h3/", opt), Error);
  make_tar(ctx / "sym.tar",
           {{"out", 'l', host.path().string()},
            {"out/f", 'f', "x"},
            {"rel", 'l', "../../../../.."},
            {"rel/" + host.path().relative_path().string() + "/g", 'f', "y"}},
           0);
  copy({"sym.tar"}, "/s/", opt);
  EXPECT_TRUE(fs::is_empty(host.path()));
  EXPECT_EQ(slurp(root / "s" / host.path().relative_path() / "f"), "x");
  EXPECT_EQ(slurp(root / "s" / host.path().relative_path() / "g"), "y");
  EXPECT_FALSE(fs::exists(root.parent_path() / "escape"));
  struct stat after {};
  ASSERT_EQ(::stat("/etc/passwd", &after), 0);
  EXPECT_EQ(after.st_nlink, before.st_nlink);
}

// A one-file HTTP server for ADD <url>: python3 -m http.server on a free port.
class HttpServer {
 public:
  explicit HttpServer(const fs::path& dir) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    socklen_t len = sizeof addr;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::close(s);
    pid_ = ::fork();
    if (pid_ == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      std::string p = std::to_string(port_);
      ::execlp("python3", "python3", "-m", "http.server", p.c_str(), "--bind", "127.0.0.1", "--directory", dir.c_str(),
               nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM, 0);
      bool up = ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      ::close(c);
      if (up) {
        ready_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~HttpServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool ready() const { return ready_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + "/" + path; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool ready_ = false;
};

TEST_F(CopyTest, AddUrlWithChecksum) {
  if (::system("python3 -c 'import http.server' >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 is missing";
  fs::path www = tmp.path() / "www";
  put(www / "file.txt", "downloaded\n");
  struct timespec ts[2] = {{1400000000, 0}, {1400000000, 0}};
  ::utimensat(AT_FDCWD, (www / "file.txt").c_str(), ts, 0);
  make_tar(www / "remote.tar.gz", kBundle, ARCHIVE_FILTER_GZIP);
  HttpServer server(www);
  ASSERT_TRUE(server.ready());
  CopySource s;
  s.kind = CopySource::Kind::url;
  s.pattern = server.url("file.txt");
  CopyOptions opt;
  opt.add = true;
  opt.dest = "/dl/";
  opt.checksum = Digest::of("downloaded\n");
  copy_files(root, {s}, opt);
  struct stat st;
  ASSERT_EQ(::stat((root / "dl/file.txt").c_str(), &st), 0);
  EXPECT_EQ(slurp(root / "dl/file.txt"), "downloaded\n");
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1400000000);  // Last-Modified
  // Without a trailing slash the download takes the destination's name.
  opt.dest = "/named";
  copy_files(root, {s}, opt);
  EXPECT_EQ(slurp(root / "named"), "downloaded\n");
  // Remote archives are not unpacked.
  s.pattern = server.url("remote.tar.gz");
  opt.checksum.reset();
  opt.dest = "/r/";
  copy_files(root, {s}, opt);
  EXPECT_TRUE(fs::is_regular_file(root / "r/remote.tar.gz"));
  // A wrong checksum names the URL and both digests.
  s.pattern = server.url("file.txt");
  opt.checksum = Digest::of("something else");
  try {
    copy_files(root, {s}, opt);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::data_loss);
    EXPECT_NE(msg.find(s.pattern), std::string::npos) << msg;
    EXPECT_NE(msg.find(Digest::of("something else").str()), std::string::npos) << msg;
    EXPECT_NE(msg.find(Digest::of("downloaded\n").str()), std::string::npos) << msg;
  }
  // Keyed by one content (UrlCache), another on the server when the step
  // runs: an error, never a layer that does not match its key.
  opt.checksum.reset();
  s.expected = Digest::of("what the key was computed from\n");
  try {
    copy_files(root, {s}, opt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data_loss);
    EXPECT_NE(std::string(e.what()).find("changed on the server during the build"), std::string::npos) << e.what();
  }
  s.expected.reset();
  s.pattern = server.url("missing.txt");
  try {
    copy_files(root, {s}, opt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("404"), std::string::npos) << e.what();
  }
  // COPY refuses URLs.
  opt.add = false;
  EXPECT_THROW(copy_files(root, {s}, opt), Error);
}

// A server may redirect ADD only to http(s): never to a host file (file://)
// nor to ftp://, which libcurl follows by default (Go's client, BuildKit's,
// does neither).
TEST_F(CopyTest, AddUrlFollowsRedirectsOnlyToHttp) {
  // An "FTP server" that counts connections and hangs up.
  int ftp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(ftp, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(ftp, reinterpret_cast<sockaddr*>(&addr), &len);
  ASSERT_EQ(::listen(ftp, 4), 0);
  std::atomic<int> ftp_connections{0};
  std::thread ftp_thread([&] {
    for (;;) {
      int c = ::accept(ftp, nullptr, nullptr);
      if (c < 0) return;
      ++ftp_connections;
      ::close(c);
    }
  });
  std::string ftp_url = "ftp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/passwd";
  put(tmp.path() / "host-file", "HOST-FILE-CONTENT\n");
  std::string file_url = "file://" + (tmp.path() / "host-file").string();
  xb::testing::HttpServer server([&](const xb::testing::HttpServerRequest& r, xb::testing::HttpConnection& c) {
    if (r.path() == "/ok") return c.respond(200, {}, "fine\n");
    c.respond(302, {{"Location", r.path() == "/to-ftp" ? ftp_url : r.path() == "/to-file" ? file_url : "/ok"}}, "");
  });
  CopySource s;
  s.kind = CopySource::Kind::url;
  CopyOptions opt;
  opt.add = true;
  opt.dest = "/dl";
  s.pattern = server.url() + "/to-ok";  // http → http is fine
  copy_files(root, {s}, opt);
  EXPECT_EQ(slurp(root / "dl"), "fine\n");
  for (const char* path : {"/to-ftp", "/to-file"}) {
    s.pattern = server.url() + path;
    opt.dest = std::string("/out") + path;
    try {
      copy_files(root, {s}, opt);
      ADD_FAILURE() << path << ": no error";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("http:// and https:// only"), std::string::npos) << msg;
      EXPECT_EQ(msg.find("HOST-FILE-CONTENT"), std::string::npos) << msg;
    }
    EXPECT_FALSE(fs::exists(root / ("out" + std::string(path)))) << path;
  }
  EXPECT_EQ(ftp_connections.load(), 0) << "ADD connected to the ftp:// it was redirected to";
  ::shutdown(ftp, SHUT_RDWR);
  ::close(ftp);
  ftp_thread.join();
}

}  // namespace
}  // namespace xb::fileop

namespace xb::fileop {
namespace {

TEST_F(CopyTest, IgnoredDirectoryWithAnExceptionStillExists) {
  // .dockerignore: "src" and "!src/sub": src exists in the context with only sub.
  CopySource s = ctx_src("src");
  s.ignored = [](std::string_view p, bool) {
    return !(p == "src/sub" || p.starts_with("src/sub/")) && p.starts_with("src");
  };
  s.can_skip_dir = [](std::string_view) { return false; };
  CopyOptions opt;
  opt.dest = "/x/";
  copy_files(root, {s}, opt);
  auto t = tree();
  EXPECT_EQ(t["/x/sub/c.md"].data, "cmark\n");
  EXPECT_EQ(t.count("/x/a.txt"), 0u);
  // Skippable (no exception below): the directory is not in the context.
  s.can_skip_dir = [](std::string_view) { return true; };
  s.ignored = [](std::string_view p, bool) { return p.starts_with("src"); };
  EXPECT_THROW(copy_files(root, {s}, opt), Error);
}

}  // namespace
}  // namespace xb::fileop
