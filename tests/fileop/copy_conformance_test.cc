// The COPY/ADD instructions of tests/conformance/image-cases, performed with
// copy_files into a root holding the busybox rootfs's /etc/passwd and
// /etc/group, compared with the image BuildKit built (expected.json) for
// every path those instructions produced.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/fs.h"
#include "fileop/fileop.h"
#include "tests/fileop/fs_tree.h"

namespace xb::fileop {
namespace {

namespace fs = std::filesystem;
using testing::put;
using testing::slurp;

fs::path source_dir() {
  const char* s = std::getenv("XBUILD_SOURCE_DIR");
  return s ? fs::path(s) : fs::path();
}

// The text between `cat > $r/etc/NAME <<'TAG'` and TAG in make-busybox-rootfs.
std::string heredoc_of(const std::string& script, const std::string& file) {
  size_t at = script.find("$r/etc/" + file + " <<'");
  if (at == std::string::npos) return {};
  size_t tag_start = script.find('\'', at) + 1;
  std::string tag = script.substr(tag_start, script.find('\'', tag_start) - tag_start);
  size_t body = script.find('\n', at) + 1;
  size_t end = script.find("\n" + tag + "\n", body - 1);
  return script.substr(body, end - body + 1);
}

class Conformance : public ::testing::Test {
 protected:
  TempDir tmp{"copy-conformance"};
  fs::path root = tmp.path() / "root";
  fs::path cases;

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "copy_files sets owners: needs root";
    if (source_dir().empty()) GTEST_SKIP() << "XBUILD_SOURCE_DIR is not set (run through ctest)";
    cases = source_dir() / "tests/conformance/image-cases";
    std::string script = slurp(source_dir() / "tests/tools/make-busybox-rootfs");
    put(root / "etc/passwd", heredoc_of(script, "passwd"));
    put(root / "etc/group", heredoc_of(script, "group"));
    ASSERT_NE(slurp(root / "etc/passwd").find("app:x:1000"), std::string::npos);
  }

  // The context both builders saw: tests/tools/case-context's copy (a
  // checkout's modes, then the case's `prepare`: special modes, symlinks).
  fs::path context_copy(const std::string& name) {
    fs::path ctx = tmp.path() / name;
    std::string cmd = "sh '" + (source_dir() / "tests/tools/case-context").string() + "' '" + (cases / name).string() +
                      "' '" + ctx.string() + "' >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return ctx;
  }

  void run(const fs::path& ctx, const std::vector<std::string>& srcs, std::string dest, CopyOptions opt = {}) {
    std::vector<CopySource> sources;
    for (auto& s : srcs) {
      CopySource c;
      c.root = ctx;
      c.pattern = s;
      sources.push_back(c);
    }
    opt.dest = std::move(dest);
    copy_files(root, sources, opt);
  }

  // Every expected path under one of `prefixes` matches ours, and we made
  // nothing more there.
  void compare(const std::string& name, const std::vector<std::string>& prefixes) {
    nlohmann::json expected;
    std::ifstream(cases / name / "expected.json") >> expected;
    auto under = [&](const std::string& p) {
      for (const auto& pre : prefixes) {
        if (p == pre || p.starts_with(pre + "/")) return true;
      }
      return false;
    };
    auto ours = testing::snapshot(root);
    int compared = 0;
    for (auto& [path, want] : expected["fs"].items()) {
      if (!under(path)) continue;
      ++compared;
      SCOPED_TRACE(name + ": " + path);
      auto it = ours.find(path);
      ASSERT_NE(it, ours.end()) << "missing";
      const auto& got = it->second;
      std::string type = want["type"];
      EXPECT_EQ(got.type, type == "dir" ? 'd' : type == "symlink" ? 'l' : type == "file" ? 'f' : 'o');
      std::string mode = want["mode"];
      unsigned want_mode = static_cast<unsigned>(std::stoul(mode.substr(2), nullptr, 8));
      if (type != "symlink") {
        EXPECT_EQ(got.mode, want_mode);
      }
      EXPECT_EQ(got.uid, want["uid"].get<unsigned>());
      EXPECT_EQ(got.gid, want["gid"].get<unsigned>());
      if (type == "file") {
        EXPECT_EQ(got.data.size(), want["size"].get<size_t>());
        EXPECT_EQ(Digest::of(got.data).hex().substr(0, 16), want["sha256"].get<std::string>());
      }
      if (type == "symlink") {
        EXPECT_EQ(got.data, want["target"].get<std::string>());
      }
    }
    EXPECT_GT(compared, 0);
    for (const auto& [path, node] : ours) {
      if (under(path)) {
        EXPECT_TRUE(expected["fs"].contains(path)) << name << ": we made " << path;
      }
    }
  }
};

TEST_F(Conformance, CopySemantics) {
  fs::path ctx = context_copy("copy-semantics");
  run(ctx, {"top.txt"}, "/dest/");
  run(ctx, {"top.txt"}, "/renamed.txt");
  run(ctx, {"src"}, "/copied-dir");
  run(ctx, {"src/*.txt"}, "/glob/");
  CopyOptions chmod;
  chmod.chmod = parse_chmod("0750");
  run(ctx, {"src/a.txt"}, "/modes/a.txt", chmod);
  CopyOptions numeric;
  numeric.chown = "1000:1000";
  run(ctx, {"src"}, "/owned-numeric", numeric);
  CopyOptions named;
  named.chown = "app:staff";
  run(ctx, {"src/sub"}, "/owned-named/", named);
  run(ctx, {"src/sub/"}, "/deep/er/path/");
  fs::create_directories(root / "relative");  // WORKDIR /relative
  ::chmod((root / "relative").c_str(), 0755);
  CopyOptions wd;
  wd.workdir = "/relative";
  run(ctx, {"top.txt"}, "./here/", wd);
  compare("copy-semantics", {"/dest", "/renamed.txt", "/copied-dir", "/glob", "/modes", "/owned-numeric",
                             "/owned-named", "/deep", "/relative"});
}

TEST_F(Conformance, LinksFromTheContext) {
  fs::path ctx = context_copy("links");
  ASSERT_TRUE(fs::is_symlink(ctx / "ctx/link.txt")) << "the case's prepare makes real symlinks";
  run(ctx, {"ctx"}, "/ctx-copy");
  compare("links", {"/ctx-copy"});
}

TEST_F(Conformance, AddTar) {
  fs::path ctx = context_copy("add-tar");
  CopyOptions add;
  add.add = true;
  run(ctx, {"bundle.tar.gz"}, "/unpacked-gz/", add);
  run(ctx, {"plain.tar"}, "/unpacked-plain", add);
  run(ctx, {"bundle.tar.gz"}, "/copied/");
  compare("add-tar", {"/unpacked-gz", "/unpacked-plain", "/copied"});
}

TEST_F(Conformance, HeredocCopy) {
  fs::create_directories(root / "hd");  // made by the case's RUN
  ::chmod((root / "hd").c_str(), 0755);
  CopySource s;
  s.kind = CopySource::Kind::content;
  s.pattern = "EOF";
  s.content = "[main]\nname=heredoc\n";
  CopyOptions opt;
  opt.dest = "/hd/config.ini";
  copy_files(root, {s}, opt);
  compare("heredoc", {"/hd/config.ini"});
}

}  // namespace
}  // namespace xb::fileop
