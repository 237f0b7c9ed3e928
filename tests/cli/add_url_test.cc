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
  std::atomic<int> full{0};          // 200s with the body
  std::atomic<int> not_modified{0};  // 304s
  std::atomic<int> conditional{0};   // requests that carried If-None-Match

  void serve(const HttpServerRequest& req, HttpConnection& c) {
    std::lock_guard lock(mu);
    if (req.path() != "/data.txt") return c.respond(404, {}, "no\n");
    std::map<std::string, std::string> h = {{"Last-Modified", "Tue, 14 Nov 2023 22:13:20 GMT"}};
    if (etags) h["ETag"] = etag;
    auto inm = req.headers.find("if-none-match");
    if (inm != req.headers.end()) {
      conditional++;
      if (etags && inm->second.find(etag) != std::string::npos) {
        not_modified++;
        return c.respond(304, h, "");
      }
    }
    full++;
    c.respond(200, h, req.method == "HEAD" ? "" : body);
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
    server_ = std::make_unique<HttpServer>([this](const HttpServerRequest& req, HttpConnection& c) { file_.serve(req, c); });
    xb::write_file_atomic(ctx_ / "Dockerfile", "FROM bb\nADD " + server_->url() + "/data.txt /data.txt\n" +
                                                   "RUN cat /data.txt > /copy\n");
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
      else if (std::regex_search(line, m, std::regex(R"(^(#[0-9]+) DONE)")) && name.count(m[1])) b.ran.insert(name[m[1]]);
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

  // The step's cache gone, the URL unchanged (304): the step fetches the
  // content it was keyed by, and runs.
  ShellResult pr = xb("prune --all");
  ASSERT_EQ(pr.code, 0) << pr.out;
  b = build();
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
