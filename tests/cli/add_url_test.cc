// ADD <url> and the cache, end to end, as BuildKit's http source behaves: a
// step is keyed by what the URL holds, never by the URL text alone. A
// changed remote file reruns the ADD and every step after it; an unchanged
// one is a cache hit, and a server that answers If-None-Match with 304 sends
// nothing again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "common/fs.h"
#include "tests/support/http_server.h"
#include "tests/support/shell.h"

namespace fs = std::filesystem;

namespace {

using xb::testing::HttpConnection;
using xb::testing::HttpServer;
using xb::testing::HttpServerRequest;
using xb::testing::q;
using xb::testing::sh;
using xb::testing::ShellResult;

// One file whose body (and ETag, if `etags`) the test changes between builds.
struct RemoteFile {
  std::mutex mu;
  std::string body = "v1\n";
  std::string etag = "\"v1\"";
  bool etags = true;
  bool honours_if_none_match = true;  // false: a server that always answers 200
  std::atomic<int> full{0};           // GETs answered with the body
  std::atomic<int> not_modified{0};   // 304s
  std::atomic<int> conditional{0};    // requests that carried If-None-Match

  void serve(const HttpServerRequest& req, HttpConnection& c) {
    std::lock_guard lock(mu);
    if (req.path() != "/data.txt") return c.respond(404, {}, "no\n");
    std::map<std::string, std::string> h = {{"Last-Modified", "Tue, 14 Nov 2023 22:13:20 GMT"}};
    if (etags) h["ETag"] = etag;
    auto inm = req.headers.find("if-none-match");
    if (inm != req.headers.end()) {
      conditional++;
      if (etags && honours_if_none_match && inm->second.find(etag) != std::string::npos) {
        not_modified++;
        return c.respond(304, h, "");
      }
    }
    if (req.method == "HEAD") return c.respond(200, h, "");
    full++;
    c.respond(200, h, body);
  }
  void change(const std::string& b, const std::string& e) {
    std::lock_guard lock(mu);
    body = b;
    etag = e;
  }
};

class AddUrl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "building images needs root";
    if (sh("command -v busybox || test -x /bin/busybox").code != 0) GTEST_SKIP() << "busybox-static is not installed";
    const char* bin = std::getenv("XBUILD_BINARY");
    const char* src = std::getenv("XBUILD_SOURCE_DIR");
    xbuild_ = bin ? bin : XBUILD_TEST_BINARY;
    fs::path source = src ? src : XBUILD_TEST_SOURCE_DIR;
    ShellResult r = sh("sh " + q(source / "tests/tools/make-busybox-rootfs") + " " + q(tmp_.path() / "rootfs.tar"));
    ASSERT_EQ(r.code, 0) << r.out;
    r = xb("import " + q(tmp_.path() / "rootfs.tar") + " bb");
    ASSERT_EQ(r.code, 0) << r.out;
    ctx_ = tmp_.path() / "ctx";
    fs::create_directories(ctx_);
    server_ = std::make_unique<HttpServer>(
        [this](const HttpServerRequest& req, HttpConnection& c) { file_.serve(req, c); });
    xb::write_file_atomic(ctx_ / "Dockerfile",
                          "FROM bb\nADD " + server_->url() + "/data.txt /data.txt\n" + "RUN cat /data.txt > /copy\n");
  }

  ShellResult xb(const std::string& args) {
    return sh("XBUILD_ROOT=" + q(tmp_.path() / "store") + " " + q(xbuild_) + " " + args);
  }
  // Builds; the steps that ran (DONE), by instruction text, and the image's /copy.
  struct Built {
    std::set<std::string> ran;
    std::string copy;
  };
  Built build() {
    fs::path out = tmp_.path() / ("out" + std::to_string(++builds_));
    ShellResult r = xb("build --progress plain -o type=local,dest=" + q(out) + " " + q(ctx_));
    EXPECT_EQ(r.code, 0) << r.out;
    Built b;
    std::map<std::string, std::string> name;
    std::regex named(R"(^(#[0-9]+) \[[^\]]*\] (ADD|RUN)\b.*$)");
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_match(line, m, named)) name[m[1]] = m[2];
      else if (std::regex_search(line, m, std::regex(R"(^(#[0-9]+) DONE)")) && name.count(m[1]))
        b.ran.insert(name[m[1]]);
    }
    try {
      b.copy = xb::read_file(out / "copy");
    } catch (...) {
    }
    return b;
  }

  xb::TempDir tmp_{"add-url-test"};
  fs::path xbuild_, ctx_;
  RemoteFile file_;
  std::unique_ptr<HttpServer> server_;
  int builds_ = 0;
};

TEST_F(AddUrl, UnchangedIsCachedWithoutDownloadChangedRerunsEverythingAfter) {
  Built b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{"ADD", "RUN"}));
  EXPECT_EQ(b.copy, "v1\n");
  EXPECT_EQ(file_.full, 1);

  // Unchanged: the server is asked (If-None-Match), answers 304, nothing runs.
  b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{}));
  EXPECT_EQ(b.copy, "v1\n");
  EXPECT_EQ(file_.full, 1) << "a 304 must not be followed by a download";
  EXPECT_GE(file_.not_modified, 1);

  // What is remembered names no URL (it may carry a token).
  for (const auto& e : fs::directory_iterator(tmp_.path() / "store/records/http"))
    EXPECT_EQ(xb::read_file(e.path()).find(server_->host()), std::string::npos) << e.path();

  // The step's cache gone, the URL unchanged (304): the step fetches the
  // content it was keyed by, and runs.
  ShellResult pr = xb("prune --keep-storage 1");
  ASSERT_EQ(pr.code, 0) << pr.out;
  int answered_304 = file_.not_modified;
  b = build();
  EXPECT_GT(file_.not_modified, answered_304) << "keyed by revalidation, not by a download";
  EXPECT_EQ(b.ran, (std::set<std::string>{"ADD", "RUN"}));
  EXPECT_EQ(b.copy, "v1\n");
  EXPECT_EQ(file_.full, 2);

  // Changed on the server: the ADD and the RUN after it run again, with the new body.
  file_.change("v2\n", "\"v2\"");
  b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{"ADD", "RUN"}));
  EXPECT_EQ(b.copy, "v2\n");

  // Back to the first version: its cache is still good (BuildKit sends every ETag it knows).
  file_.change("v1\n", "\"v1\"");
  int before = file_.full;
  b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{}));
  EXPECT_EQ(b.copy, "v1\n");
  EXPECT_EQ(file_.full, before);

  // prune --all forgets the ETags with the rest of the build cache.
  pr = xb("prune --all");
  ASSERT_EQ(pr.code, 0) << pr.out;
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "store/records/http"));
}

// BuildKit asks with HEAD first and compares the ETag itself, for servers
// that send ETags but ignore If-None-Match.
TEST_F(AddUrl, AServerIgnoringIfNoneMatchIsAskedWithHead) {
  file_.honours_if_none_match = false;
  Built b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{"ADD", "RUN"}));
  b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{}));
  EXPECT_EQ(file_.full, 1) << "the same ETag from HEAD: no download";
  file_.change("v2\n", "\"v2\"");
  b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{"ADD", "RUN"}));
  EXPECT_EQ(b.copy, "v2\n");
}

TEST_F(AddUrl, WithoutETagsTheContentDecides) {
  file_.etags = false;
  Built b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{"ADD", "RUN"}));
  // Downloaded again (nothing to revalidate with), the same bytes: cached.
  b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{}));
  EXPECT_EQ(file_.conditional, 0);
  file_.change("v2, longer\n", "");
  b = build();
  EXPECT_EQ(b.ran, (std::set<std::string>{"ADD", "RUN"}));
  EXPECT_EQ(b.copy, "v2, longer\n");
}

}  // namespace
