// The snapshotter conformance suite: every test runs against both drivers
// (overlay and native) and checks what a user of the merged root would see.
#include "snapshotter/snapshotter.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <clocale>
#include <fstream>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "tests/support/odd_names.h"
#include "tests/support/tar_util.h"

namespace xb::snapshotter {
namespace {

namespace fs = std::filesystem;
using xb::testing::check_odd_tree;
using xb::testing::InLocale;
using xb::testing::kDeepPath;
using xb::testing::make_odd_tree;
using xb::testing::odd_tar_as_go_writes_it;
using xb::testing::read_tar;
using xb::testing::TarBuilder;

ByteSource from_string(const std::string& s) {
  auto pos = std::make_shared<size_t>(0);
  return [s, pos](void* buf, size_t size) {
    size_t n = std::min(size, s.size() - *pos);
    std::memcpy(buf, s.data() + *pos, n);
    *pos += n;
    return n;
  };
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Runs a shell pipeline over bytes (gzip, zstd) to make compressed layers.
std::string filter(const std::string& cmd, const std::string& in) {
  TempDir t("xb-filter");
  write_file_atomic(t.path() / "in", in, 0644, false);
  std::string full = cmd + " < " + (t.path() / "in").string() + " > " + (t.path() / "out").string();
  EXPECT_EQ(std::system(full.c_str()), 0) << full;
  return slurp(t.path() / "out");
}

class SnapshotterTest : public ::testing::TestWithParam<Driver> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, chown)";
    s_ = open_snapshotter(root_.path(), GetParam());
  }

  // Commits a snapshot named name with layer `tar` applied on parent.
  LayerResult layer(const std::string& name, const std::string& parent, const std::string& tar) {
    s_->prepare(name + "-active", parent);
    LayerResult r = s_->apply(name + "-active", from_string(tar));
    s_->commit(name, name + "-active");
    return r;
  }

  // Calls fn with the merged root of committed snapshot name.
  void look(const std::string& name, const std::function<void(const fs::path&)>& fn) {
    std::string key = "view-" + std::to_string(views_++);
    with_mounted(s_->view(key, name), fn);
    s_->remove(key);
  }

  std::string diff_of(const std::string& key, LayerResult* out = nullptr, DiffOptions o = {}) {
    std::string tar;
    LayerResult r = s_->diff(
        key, [&](const void* d, size_t n) { tar.append(static_cast<const char*>(d), n); }, o);
    if (out) *out = r;
    return tar;
  }

  TempDir root_{"xb-snap-test"};
  std::unique_ptr<Snapshotter> s_;
  int views_ = 0;
};

TEST_P(SnapshotterTest, DriverIsTheOneAskedFor) {
  EXPECT_EQ(s_->driver(), GetParam() == Driver::overlay ? "overlay" : "native");
  // The root remembers its driver: the other one is refused.
  Driver other = GetParam() == Driver::overlay ? Driver::native : Driver::overlay;
  EXPECT_THROW(open_snapshotter(root_.path(), other), Error);
  EXPECT_EQ(open_snapshotter(root_.path())->driver(), s_->driver());
}

TEST_P(SnapshotterTest, Lifecycle) {
  s_->prepare("a", "");
  EXPECT_EQ(s_->stat("a")->kind, Kind::active);
  EXPECT_THROW(s_->prepare("a", ""), Error);
  EXPECT_THROW(s_->prepare("b", "a"), Error);  // parent not committed
  EXPECT_THROW(s_->prepare("b", "nope"), Error);
  s_->commit("A", "a");
  EXPECT_FALSE(s_->stat("a"));
  EXPECT_EQ(s_->stat("A")->kind, Kind::committed);
  s_->prepare("b", "A", {{"x", "y"}});
  auto info = s_->stat("b");
  EXPECT_EQ(info->parent, "A");
  EXPECT_EQ(info->labels.at("x"), "y");
  s_->view("v", "A");
  EXPECT_EQ(s_->stat("v")->kind, Kind::view);
  EXPECT_THROW(s_->remove("A"), Error);       // still a parent
  EXPECT_THROW(s_->commit("A", "b"), Error);  // name taken
  auto names = s_->list();
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0].name, "A");
  s_->remove("b");
  s_->remove("v");
  s_->remove("A");
  EXPECT_TRUE(s_->list().empty());
  EXPECT_THROW(s_->remove("A"), Error);
  // Nothing is left on disk but the metadata, the lock and the reserve for a full disk.
  int entries = 0;
  for (auto& e : fs::directory_iterator(s_->dir()))
    entries += e.path().filename() != "metadata.json" && e.path().filename() != "lock" &&
               e.path().filename() != "reserve";
  EXPECT_EQ(entries, 0);
}

TEST_P(SnapshotterTest, ApplyKeepsTypesModesOwnersAndTimes) {
  std::string tar = TarBuilder()
                        .dir("bin/")
                        .file("bin/tool", "#!/bin/sh\n", 04755, 0, 0)
                        .file("bin/sg", "x", 02711)
                        .dir("tmp/", 01777)
                        .file("home/app/f", "data", 0600, 1000, 1000, 1600000000)
                        .symlink("bin/sh", "tool")
                        .hardlink("bin/tool2", "bin/tool")
                        .fifo("run/fifo")
                        .chardev("dev/null", 1, 3)
                        .finish();
  LayerResult r = layer("L1", "", tar);
  EXPECT_EQ(r.diff_id, Digest::of(tar));
  EXPECT_EQ(r.size, tar.size());
  look("L1", [&](const fs::path& root) {
    struct stat st {};
    ASSERT_EQ(::lstat((root / "bin/tool").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 04755u);
    EXPECT_EQ(st.st_nlink, 2u);
    ASSERT_EQ(::lstat((root / "bin/sg").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 02711u);
    ASSERT_EQ(::lstat((root / "tmp").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 01777u);
    ASSERT_EQ(::lstat((root / "home/app/f").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
    EXPECT_EQ(slurp(root / "home/app/f"), "data");
    EXPECT_EQ(fs::read_symlink(root / "bin/sh"), "tool");
    ASSERT_EQ(::lstat((root / "run/fifo").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    ASSERT_EQ(::lstat((root / "dev/null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
  });
}

TEST_P(SnapshotterTest, XattrsSurviveApplyAndDiff) {
  layer("base", "", TarBuilder().pax("SCHILY.xattr.user.color", "blue").file("tagged", "t", 04755).finish());
  look("base", [&](const fs::path& root) {
    char v[16] = {};
    ASSERT_EQ(::lgetxattr((root / "tagged").c_str(), "user.color", v, sizeof v), 4);
    EXPECT_STREQ(v, "blue");
  });
  with_mounted(s_->prepare("w", "base"), [&](const fs::path& root) {
    ASSERT_EQ(::lsetxattr((root / "tagged").c_str(), "user.color", "red", 3, 0), 0);
  });
  std::string tar = diff_of("w");
  EXPECT_NE(tar.find("SCHILY.xattr.user.color=red"), std::string::npos);
  auto entries = read_tar(tar);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].name, "tagged");
  EXPECT_EQ(entries[0].mode, 04755u);
}

TEST_P(SnapshotterTest, CompressedLayersHaveTheUncompressedDiffId) {
  std::string tar = TarBuilder().file("a", "hello").finish();
  for (const char* cmd : {"gzip -c", "zstd -q -c"}) {
    std::string name = std::string("L-") + cmd[0];
    LayerResult r = layer(name, "", filter(cmd, tar));
    EXPECT_EQ(r.diff_id, Digest::of(tar)) << cmd;
    look(name, [&](const fs::path& root) { EXPECT_EQ(slurp(root / "a"), "hello"); });
  }
}

TEST_P(SnapshotterTest, WhiteoutsAndOpaqueDirsHideWhatParentsHave) {
  layer("L1", "",
        TarBuilder().file("keep", "1").file("gone", "2").dir("d/").file("d/old", "3").file("e/x", "4").finish());
  layer("L2", "L1",
        TarBuilder()
            .file(".wh.gone", "")
            .dir("d/")
            .file("d/.wh..wh..opq", "")
            .file("d/new", "5")
            .file("e/.wh.x", "")
            .finish());
  look("L2", [&](const fs::path& root) {
    EXPECT_TRUE(fs::exists(root / "keep"));
    EXPECT_FALSE(fs::exists(root / "gone"));
    EXPECT_FALSE(fs::exists(root / "d/old"));
    EXPECT_EQ(slurp(root / "d/new"), "5");
    EXPECT_TRUE(fs::is_directory(root / "e"));
    EXPECT_FALSE(fs::exists(root / "e/x"));
  });
  // The parent is untouched.
  look("L1", [&](const fs::path& root) { EXPECT_TRUE(fs::exists(root / "d/old")); });
}

TEST_P(SnapshotterTest, ExtractionNeverWritesOutsideTheRoot) {
  TempDir outside("xb-outside");
  fs::path victim = outside.path() / "victim";
  // Absolute and ".." names, and links that point out: each is resolved
  // inside the root, as in a chroot.
  std::string tar = TarBuilder()
                        .file("../../../../../.." + victim.string(), "dotdot")
                        .file(victim.string(), "absolute")
                        .symlink("out", outside.path().string())
                        .file("out/victim", "through-abs-symlink")
                        .symlink("up", "../../../../../../../..")
                        .file("up" + outside.path().string() + "/victim2", "through-rel-symlink")
                        .finish();
  layer("evil", "", tar);
  EXPECT_TRUE(fs::is_empty(outside.path())) << "something escaped into " << outside.path();
  look("evil", [&](const fs::path& root) {
    EXPECT_TRUE(fs::exists(root / victim.relative_path()));
    EXPECT_EQ(slurp(root / outside.path().relative_path() / "victim2"), "through-rel-symlink");
  });
  // A hardlink to a host file: either refused or linked to the root's own file.
  fs::path host_file = outside.path() / "host-file";
  std::ofstream(host_file) << "host";
  try {
    layer("evil2", "", TarBuilder().hardlink("hl", "../../../../.." + host_file.string()).finish());
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hardlink target"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fs::hard_link_count(host_file), 1u);
}

TEST_P(SnapshotterTest, DiffRoundTrips) {
  layer("base", "",
        TarBuilder()
            .file("etc/conf", "old")
            .file("rm-me", "x")
            .dir("dir/")
            .file("dir/a", "a")
            .file("same", "s")
            .finish());
  auto mounts = s_->prepare("work", "base");
  with_mounted(mounts, [&](const fs::path& root) {
    std::ofstream(root / "etc/conf") << "new";
    std::ofstream(root / "added") << "added";
    fs::remove(root / "rm-me");
    fs::remove_all(root / "dir");
    fs::create_directory(root / "dir");
    std::ofstream(root / "dir/b") << "b";
    fs::create_hard_link(root / "added", root / "added-link");
  });
  LayerResult r{Digest::of(""), 0};
  std::string tar = diff_of("work", &r);
  EXPECT_EQ(r.diff_id, Digest::of(tar));
  EXPECT_EQ(r.size, tar.size());
  std::map<std::string, xb::testing::TarEntry> entries;
  std::vector<std::string> order;
  for (auto& e : read_tar(tar)) {
    order.push_back(e.name);
    entries[e.name] = e;
  }
  EXPECT_TRUE(entries.count("added"));
  EXPECT_EQ(entries["added-link"].type, '1');
  EXPECT_EQ(entries["added-link"].link, "added");
  EXPECT_TRUE(entries.count("etc/conf"));
  EXPECT_TRUE(entries.count(".wh.rm-me"));
  EXPECT_FALSE(entries.count("same"));
  EXPECT_TRUE(entries.count("dir/b"));
  // Deterministic: the same changes give the same bytes.
  EXPECT_EQ(diff_of("work"), tar);
  // Applying the diff on the parent gives the same tree.
  s_->commit("work-c", "work");
  layer("replay", "base", tar);
  look("replay", [&](const fs::path& root) {
    EXPECT_EQ(slurp(root / "etc/conf"), "new");
    EXPECT_EQ(slurp(root / "added"), "added");
    EXPECT_FALSE(fs::exists(root / "rm-me"));
    EXPECT_FALSE(fs::exists(root / "dir/a"));
    EXPECT_EQ(slurp(root / "dir/b"), "b");
    EXPECT_EQ(fs::hard_link_count(root / "added"), 2u);
  });
}

TEST_P(SnapshotterTest, DiffOfOneFileIsOneEntryAndClampsTimes) {
  layer("base", "", TarBuilder().dir("etc/").file("etc/passwd", "root").finish());
  with_mounted(s_->prepare("w", "base"), [&](const fs::path& root) { std::ofstream(root / "x") << "hi\n"; });
  DiffOptions o;
  o.source_date_epoch = 1000;
  auto entries = read_tar(diff_of("w", nullptr, o));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].name, "x");
  EXPECT_EQ(entries[0].content, "hi\n");
  EXPECT_EQ(entries[0].mtime, 1000);
}

TEST_P(SnapshotterTest, LongParentChainsMount) {
  std::string parent;
  const int n = GetParam() == Driver::overlay ? 150 : 20;
  for (int i = 0; i < n; ++i) {
    std::string name = "layer-with-a-long-name-" + std::to_string(i);
    layer(name, parent, TarBuilder().file("f" + std::to_string(i), std::to_string(i)).finish());
    parent = name;
  }
  look(parent, [&](const fs::path& root) {
    EXPECT_EQ(slurp(root / "f0"), "0");
    EXPECT_EQ(slurp(root / ("f" + std::to_string(n - 1))), std::to_string(n - 1));
  });
}

TEST_P(SnapshotterTest, SharedRootFromSeveralProcesses) {
  // Four processes prepare and commit at once; none may lose another's work.
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; ++k) {
    pid_t pid = ::fork();
    if (pid == 0) {
      try {
        auto s = open_snapshotter(root_.path(), GetParam());
        for (int i = 0; i < 10; ++i) {
          std::string key = "k" + std::to_string(k) + "-" + std::to_string(i);
          s->prepare(key, "");
          s->commit(key + "-c", key);
        }
        ::_exit(0);
      } catch (...) {
        ::_exit(1);
      }
    }
    kids.push_back(pid);
  }
  for (pid_t p : kids) {
    int status = 0;
    ::waitpid(p, &status, 0);
    EXPECT_EQ(status, 0);
  }
  EXPECT_EQ(s_->list().size(), 40u);
}

TEST_P(SnapshotterTest, UsageCountsOwnFiles) {
  layer("big", "", TarBuilder().file("a", std::string(100000, 'x')).finish());
  Usage u = s_->usage("big");
  EXPECT_GE(u.size, 100000u);
  EXPECT_GE(u.inodes, 1u);
}

// File names are bytes (issue 15): a diff writes every name and link target
// into PAX records exactly, marking only names that are not UTF-8 with
// hdrcharset=BINARY, and applying it gives the same tree, in any locale.
// (The diff failed with "Can't translate pathname ... to UTF-8"; in a UTF-8
// locale apply rewrote NFD names to NFC.)
TEST_P(SnapshotterTest, NamesAreBytesThroughDiffAndApply) {
  layer("base", "", TarBuilder().file("keep", "k").finish());
  for (const char* loc : {"C", "POSIX", "C.UTF-8"}) {
    SCOPED_TRACE(loc);
    InLocale in(loc);
    ASSERT_TRUE(in.ok()) << "no locale " << loc;
    const std::string w = std::string("w-") + loc;
    with_mounted(s_->prepare(w, "base"), [&](const fs::path& root) { make_odd_tree(root); });
    std::string tar = diff_of(w);
    std::map<std::string, xb::testing::TarEntry> entries;
    for (auto& e : read_tar(tar)) entries[e.name] = e;
    for (const auto& n : xb::testing::odd_names()) {
      SCOPED_TRACE(n.what);
      ASSERT_TRUE(entries.count("f/" + n.name));
      const auto& f = entries["f/" + n.name];
      EXPECT_EQ(f.type, '0');
      EXPECT_EQ(f.content, n.name);
      EXPECT_EQ(entries["l/" + n.name].type, '2');
      EXPECT_EQ(entries["l/" + n.name].link, "../f/" + n.name);
      EXPECT_EQ(entries["h/" + n.name].type, '1');
      EXPECT_EQ(entries["h/" + n.name].link, "f/" + n.name);
      if (n.utf8) {
        EXPECT_FALSE(f.pax.count("hdrcharset")) << "UTF-8 names are written as Go writes them";
      } else {
        EXPECT_EQ(f.pax.count("hdrcharset") ? f.pax.at("hdrcharset") : "", "BINARY");
      }
    }
    EXPECT_TRUE(entries.count("deep/" + kDeepPath));
    s_->commit(w + "-c", w);
    layer(std::string("replay-") + loc, "base", tar);
    look(std::string("replay-") + loc, check_odd_tree);
  }
}

// A layer as Go's archive/tar (BuildKit, skopeo, umoci) writes it: names
// and link targets as PAX records of raw bytes, no hdrcharset, whatever
// they are. Applied in any locale, the names stay those bytes.
TEST_P(SnapshotterTest, GoWrittenNamesApplyAsBytes) {
  const std::string tar = odd_tar_as_go_writes_it();
  for (const char* loc : {"C", "C.UTF-8"}) {
    SCOPED_TRACE(loc);
    InLocale in(loc);
    ASSERT_TRUE(in.ok()) << "no locale " << loc;
    layer(std::string("go-") + loc, "", tar);
    look(std::string("go-") + loc, check_odd_tree);
  }
}

// Issue 14: on a full disk, removing a snapshot must record the removal
// before deleting its files. Before, the dirs went first and the second
// metadata write failed too (an empty snapshot frees no space): the metadata
// named missing dirs ("fsck: directory … is missing") and prune failed.
TEST_P(SnapshotterTest, RemoveOnAFullDiskKeepsTheMetadataTrue) {
  TempDir mnt("xb-snap-full");
  ASSERT_EQ(::mount("tmpfs", mnt.path().c_str(), "tmpfs", 0, "size=2m"), 0) << std::strerror(errno);
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt.path()};
  auto s = open_snapshotter(mnt.path() / "root", GetParam());
  for (int i = 0; i < 40; ++i)
    s->prepare("empty-" + std::to_string(i) + "-with-a-longer-name-" + std::string(40, 'x'), "");
  // Fill every last byte.
  {
    int fd = ::open((mnt.path() / "fill").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    std::string chunk(4096, 'f');
    while (::write(fd, chunk.data(), chunk.size()) > 0) {
    }
    while (::write(fd, chunk.data(), 1) > 0) {
    }
    ::close(fd);
  }
  int removed = 0, refused = 0;
  for (int i = 0; i < 40; ++i) {
    try {
      s->remove("empty-" + std::to_string(i) + "-with-a-longer-name-" + std::string(40, 'x'));
      ++removed;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::resource_exhausted) << e.what();
      ++refused;
    }
    std::vector<std::string> problems = s->check();
    ASSERT_TRUE(problems.empty()) << "after remove " << i << ": " << problems.front();
  }
  EXPECT_GT(removed, 0) << "the reserve made no room for the metadata";
  // Once there is space again, everything left can be removed.
  fs::remove(mnt.path() / "fill");
  for (const auto& info : s->list()) s->remove(info.name);
  EXPECT_TRUE(s->list().empty());
  EXPECT_TRUE(s->check().empty());
}

INSTANTIATE_TEST_SUITE_P(Drivers, SnapshotterTest, ::testing::Values(Driver::overlay, Driver::native),
                         [](const auto& info) { return info.param == Driver::overlay ? "overlay" : "native"; });

}  // namespace
}  // namespace xb::snapshotter
