// The client against an in-memory registry (FakeTransport): auth flow,
// retries, resume, verification, platform selection, mirrors.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "common/error.h"
#include "registry/internal.h"
#include "registry/registry.h"
#include "tests/support/fake_transport.h"

using namespace xb::registry;
using namespace xb::store;
using xb::testing::FakeTransport;
using xb::testing::header_of;
namespace fs = std::filesystem;

namespace {

// One image: a config and two layers, served for "team/app:v1".
struct FakeImage {
  std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
  std::string layer1 = std::string(50000, 'a') + "layer-one";
  std::string layer2 = std::string(70000, 'b') + "layer-two";
  std::string manifest;
  FakeImage() {
    Manifest m{.media_type = std::string(media_type::oci_manifest),
               .config = Descriptor{.media_type = std::string(media_type::oci_config),
                                    .digest = xb::Digest::of(config),
                                    .size = static_cast<int64_t>(config.size())}};
    for (const auto* l : {&layer1, &layer2})
      m.layers.push_back(Descriptor{.media_type = std::string(media_type::oci_layer_gzip),
                                    .digest = xb::Digest::of(*l),
                                    .size = static_cast<int64_t>(l->size())});
    manifest = m.to_json();
  }
  std::optional<std::string> blob(const std::string& digest) const {
    for (const auto* b : {&config, &layer1, &layer2})
      if (xb::Digest::of(*b).str() == digest) return *b;
    return std::nullopt;
  }
};

// Serves the registry API paths for FakeImage; nullopt for other paths.
std::optional<FakeTransport::Reply> serve(const FakeImage& img, const HttpRequest& r, const std::string& base) {
  if (r.url == base + "/v2/team/app/manifests/v1" ||
      r.url == base + "/v2/team/app/manifests/" + xb::Digest::of(img.manifest).str())
    return FakeTransport::reply(200, img.manifest, {{"content-type", std::string(media_type::oci_manifest)}});
  std::string prefix = base + "/v2/team/app/blobs/";
  if (r.url.rfind(prefix, 0) == 0) {
    auto b = img.blob(r.url.substr(prefix.size()));
    if (!b) return FakeTransport::reply(404);
    std::string range = header_of(r, "Range");
    if (!range.empty()) {
      size_t from = std::stoul(range.substr(6));
      return FakeTransport::reply(
          206, b->substr(from),
          {{"content-range",
            "bytes " + std::to_string(from) + "-" + std::to_string(b->size() - 1) + "/" + std::to_string(b->size())}});
    }
    return FakeTransport::reply(200, *b);
  }
  return std::nullopt;
}

ClientOptions options(std::shared_ptr<Transport> t) {
  ClientOptions o;
  o.transport = std::move(t);
  o.backoff_ms = 1;
  return o;
}

void expect_pulled(const Store& st, const FakeImage& img) {
  auto d = st.resolve(ImageRef::parse("reg.test/team/app:v1"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->digest, xb::Digest::of(img.manifest));
  EXPECT_EQ(st.read_blob(xb::Digest::of(img.layer1)), img.layer1);
  EXPECT_EQ(st.read_blob(xb::Digest::of(img.layer2)), img.layer2);
  EXPECT_EQ(st.read_blob(xb::Digest::of(img.config)), img.config);
}

TEST(Client, PullsAnonymouslyOverHttps) {
  FakeImage img;
  auto t = std::make_shared<FakeTransport>(
      [&](const HttpRequest& r) { return serve(img, r, "https://reg.test").value_or(FakeTransport::reply(404)); });
  xb::TempDir dir("client");
  Store st(dir.path());
  Client c(options(t));
  Descriptor d = c.pull(st, ImageRef::parse("reg.test/team/app:v1"));
  EXPECT_EQ(d.media_type, media_type::oci_manifest);
  expect_pulled(st, img);
  EXPECT_NE(header_of(t->requests().at(0), "Accept").find(std::string(media_type::docker_manifest_list)),
            std::string::npos);
  // A second pull fetches no blob again.
  size_t before = t->requests().size();
  c.pull(st, ImageRef::parse("reg.test/team/app:v1"));
  EXPECT_EQ(t->requests().size(), before + 1);
}

TEST(Client, BearerTokenFlowWithCredentials) {
  FakeImage img;
  xb::TempDir dir("client");
  std::atomic<int> token_requests{0};
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest& r) {
    if (r.url.rfind("https://auth.test/token", 0) == 0) {
      ++token_requests;
      EXPECT_NE(r.url.find("service=reg.test"), std::string::npos);
      EXPECT_NE(r.url.find("scope=repository%3Ateam%2Fapp%3Apull"), std::string::npos);
      if (header_of(r, "Authorization") != "Basic " + base64_encode("me:pw")) return FakeTransport::reply(401);
      return FakeTransport::reply(200, R"({"token":"T0K"})");
    }
    if (header_of(r, "Authorization") != "Bearer T0K")
      return FakeTransport::reply(
          401, R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
          {{"www-authenticate",
            R"(Bearer realm="https://auth.test/token",service="reg.test",scope="repository:team/app:pull")"}});
    return serve(img, r, "https://reg.test").value_or(FakeTransport::reply(404));
  });
  xb::write_file_atomic(dir.path() / "config.json",
                        R"({"auths":{"reg.test":{"auth":")" + base64_encode("me:pw") + R"("}}})");
  Store st(dir.path() / "store");
  ClientOptions o = options(t);
  o.credentials.emplace(dir.path() / "config.json");
  Client c(std::move(o));
  c.pull(st, ImageRef::parse("reg.test/team/app:v1"));
  expect_pulled(st, img);
  EXPECT_EQ(token_requests.load(), 1);  // the token is reused for every blob

  // Wrong credentials: one line naming the registry and what to do.
  xb::write_file_atomic(dir.path() / "config.json",
                        R"({"auths":{"reg.test":{"auth":")" + base64_encode("me:wrong") + R"("}}})");
  ClientOptions o2 = options(t);
  o2.credentials.emplace(dir.path() / "config.json");
  Client bad(std::move(o2));
  Store st2(dir.path() / "store2");
  try {
    bad.pull(st2, ImageRef::parse("reg.test/team/app:v1"));
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::permission_denied);
    std::string what = e.what();
    EXPECT_NE(what.find("pull reg.test/team/app:v1"), std::string::npos) << what;
    EXPECT_NE(what.find("registry reg.test"), std::string::npos) << what;
    EXPECT_NE(what.find("rejected"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
  EXPECT_TRUE(st2.list_images().empty());
}

TEST(Client, BasicAuthChallenge) {
  FakeImage img;
  xb::TempDir dir("client");
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest& r) {
    // A plain-HTTP server: what curl says when TLS meets it.
    if (r.url.rfind("https://", 0) == 0)
      xb::fail(xb::ErrorKind::unavailable, "GET " + r.url + ": SSL routines::wrong version number");
    if (header_of(r, "Authorization") != "Basic " + base64_encode("u:p"))
      return FakeTransport::reply(401, "", {{"www-authenticate", R"(Basic realm="x")"}});
    return serve(img, r, "http://localhost:5000").value_or(FakeTransport::reply(404));
  });
  xb::write_file_atomic(dir.path() / "config.json",
                        R"({"auths":{"localhost:5000":{"auth":")" + base64_encode("u:p") + R"("}}})");
  Store st(dir.path() / "store");
  ClientOptions o = options(t);
  o.credentials.emplace(dir.path() / "config.json");
  Client c(std::move(o));
  // localhost is tried in HTTPS first, then falls back to plain HTTP.
  c.pull(st, ImageRef::parse("localhost:5000/team/app:v1"));
  EXPECT_TRUE(st.resolve(ImageRef::parse("localhost:5000/team/app:v1")));
  auto reqs = t->requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs.front().url, "https://localhost:5000/v2/");
  size_t https = 0;
  for (const auto& r : reqs) https += r.url.rfind("https://", 0) == 0;
  EXPECT_EQ(https, 1u);  // probed once, remembered
}

TEST(Client, RetriesServerErrorsAndResumesDroppedDownloads) {
  FakeImage img;
  std::atomic<int> manifest_failures{2};
  std::atomic<int> drops{3};
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest& r) {
    if (r.url.find("/manifests/") != std::string::npos && manifest_failures-- > 0) return FakeTransport::reply(503);
    auto reply = serve(img, r, "https://reg.test").value_or(FakeTransport::reply(404));
    if (r.url.find(xb::Digest::of(img.layer2).str()) != std::string::npos && drops-- > 0)
      reply.partial = 20000;  // the connection drops after 20 kB
    return reply;
  });
  xb::TempDir dir("client");
  Store st(dir.path());
  Client c(options(t));
  c.pull(st, ImageRef::parse("reg.test/team/app:v1"));
  expect_pulled(st, img);
  // Each retry of layer2 asked only for what was missing.
  std::vector<std::string> ranges;
  for (const auto& r : t->requests())
    if (r.url.find(xb::Digest::of(img.layer2).str()) != std::string::npos) ranges.push_back(header_of(r, "Range"));
  EXPECT_EQ(ranges, (std::vector<std::string>{"", "bytes=20000-", "bytes=40000-", "bytes=60000-"}));
}

TEST(Client, RestartsWhenTheServerIgnoresRange) {
  FakeImage img;
  std::atomic<int> drops{1};
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest& r) {
    HttpRequest plain = r;
    plain.headers.clear();  // no Range support: always the whole blob
    auto reply = serve(img, plain, "https://reg.test").value_or(FakeTransport::reply(404));
    if (r.url.find(xb::Digest::of(img.layer1).str()) != std::string::npos && drops-- > 0) reply.partial = 30000;
    return reply;
  });
  xb::TempDir dir("client");
  Store st(dir.path());
  Client c(options(t));
  c.pull(st, ImageRef::parse("reg.test/team/app:v1"));
  expect_pulled(st, img);
}

TEST(Client, GivesUpAfterMaxAttempts) {
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest&) { return FakeTransport::reply(500); });
  xb::TempDir dir("client");
  Store st(dir.path());
  ClientOptions o = options(t);
  o.max_attempts = 3;
  Client c(std::move(o));
  try {
    c.pull(st, ImageRef::parse("reg.test/team/app:v1"));
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::unavailable);
    EXPECT_NE(std::string(e.what()).find("500"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t->requests().size(), 3u);
}

TEST(Client, RefusesCorruptBlobsAndKeepsNothing) {
  FakeImage img;
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest& r) {
    auto reply = serve(img, r, "https://reg.test").value_or(FakeTransport::reply(404));
    if (r.url.find(xb::Digest::of(img.layer1).str()) != std::string::npos) reply.response.body[100] ^= 1;
    return reply;
  });
  xb::TempDir dir("client");
  Store st(dir.path());
  Client c(options(t));
  try {
    c.pull(st, ImageRef::parse("reg.test/team/app:v1"));
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::data_loss);
    EXPECT_NE(std::string(e.what()).find("digest mismatch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(xb::Digest::of(img.layer1).str()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(st.has_blob(xb::Digest::of(img.layer1)));
  EXPECT_FALSE(st.resolve(ImageRef::parse("reg.test/team/app:v1")));
  EXPECT_TRUE(fs::is_empty(dir.path() / "ingest"));
}

TEST(Client, SelectsThePlatformFromAnIndex) {
  FakeImage img;
  Index idx;
  idx.media_type = media_type::oci_index;
  Descriptor arm{
      .media_type = std::string(media_type::oci_manifest), .digest = xb::Digest::of("arm manifest"), .size = 12};
  arm.platform = Platform::parse("linux/arm64");
  Descriptor amd{.media_type = std::string(media_type::oci_manifest),
                 .digest = xb::Digest::of(img.manifest),
                 .size = static_cast<int64_t>(img.manifest.size())};
  amd.platform = Platform::parse("linux/amd64");
  idx.manifests = {arm, amd};
  std::string index_json = idx.to_json();
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest& r) {
    if (r.url == "https://reg.test/v2/team/app/manifests/multi")
      return FakeTransport::reply(200, index_json, {{"content-type", std::string(media_type::oci_index)}});
    return serve(img, r, "https://reg.test").value_or(FakeTransport::reply(404));
  });
  xb::TempDir dir("client");
  Store st(dir.path());
  Client c(options(t));
  Descriptor d = c.pull(st, ImageRef::parse("reg.test/team/app:multi"), Platform::parse("linux/amd64"));
  EXPECT_EQ(d.digest, xb::Digest::of(img.manifest));
  // The tag names the index, so that another platform's pull adds to it; a
  // platform not pulled yet is not found (a build's resolver then pulls it).
  EXPECT_EQ(st.resolve(ImageRef::parse("reg.test/team/app:multi"))->digest, xb::Digest::of(index_json));
  EXPECT_EQ(st.image("reg.test/team/app:multi", Platform::parse("linux/amd64")).manifest_desc.digest, d.digest);
  try {
    st.image("reg.test/team/app:multi", Platform::parse("linux/arm64"));
    ADD_FAILURE() << "the arm64 manifest was never pulled";
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::not_found) << e.what();
  }
  try {
    c.pull(st, ImageRef::parse("reg.test/team/app:multi"), Platform::parse("linux/s390x"));
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::not_found);
    std::string what = e.what();
    EXPECT_NE(what.find("no manifest for platform linux/s390x"), std::string::npos) << what;
    EXPECT_NE(what.find("linux/arm64, linux/amd64"), std::string::npos) << what;
  }
}

TEST(Client, MissingTagIsNotFound) {
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest&) {
    return FakeTransport::reply(404, R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})");
  });
  xb::TempDir dir("client");
  Store st(dir.path());
  Client c(options(t));
  try {
    c.pull(st, ImageRef::parse("reg.test/team/app:nope"));
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("reg.test/team/app:nope not found on registry reg.test"), std::string::npos)
        << e.what();
  }
}

TEST(Client, MirrorFirstThenOrigin) {
  FakeImage img;
  std::atomic<bool> mirror_has_it{false};
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest& r) {
    if (r.url.rfind("http://mirror.test:5000/", 0) == 0) {
      if (!mirror_has_it) return FakeTransport::reply(404);
      return serve(img, r, "http://mirror.test:5000").value_or(FakeTransport::reply(404));
    }
    return serve(img, r, "https://registry-1.docker.io").value_or(FakeTransport::reply(404));
  });
  FakeImage& i = img;
  (void)i;
  xb::TempDir dir("client");
  ClientOptions o = options(t);
  o.config.mirrors["docker.io"] = {"http://mirror.test:5000"};
  Client c(std::move(o));
  {
    Store st(dir.path() / "a");
    c.pull(st, ImageRef::parse("team/app:v1"));  // the mirror lacks it: the origin serves
    for (const auto& r : t->requests()) EXPECT_NE(r.url.find("/v2/team/app/"), std::string::npos);
    EXPECT_EQ(t->requests().front().url.rfind("http://mirror.test:5000/", 0), 0u);
  }
  mirror_has_it = true;
  size_t before = t->requests().size();
  Store st(dir.path() / "b");
  c.pull(st, ImageRef::parse("team/app:v1"));
  auto reqs = t->requests();
  for (size_t k = before; k < reqs.size(); ++k) EXPECT_EQ(reqs[k].url.rfind("http://mirror.test:5000/", 0), 0u);
}

TEST(Client, UnreachableRegistryNamesIt) {
  auto t = std::make_shared<FakeTransport>([&](const HttpRequest& r) -> FakeTransport::Reply {
    xb::fail(xb::ErrorKind::unavailable, "GET " + r.url + ": Could not resolve host: nosuch.invalid");
  });
  xb::TempDir dir("client");
  Store st(dir.path());
  ClientOptions o = options(t);
  o.max_attempts = 2;
  Client c(std::move(o));
  try {
    c.pull(st, ImageRef::parse("nosuch.invalid/x:1"));
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("pull nosuch.invalid/x:1"), std::string::npos) << what;
    EXPECT_NE(what.find("registry nosuch.invalid"), std::string::npos) << what;
  }
}

}  // namespace
