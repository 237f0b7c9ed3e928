// Hostile registries (issue 14): the client against a real HTTP server (the
// curl transport) that sends endless or oversized documents, drips its
// answers, or nests indexes. Every cap is one error naming the registry, the
// reference and the limit; limits are set small here so that the tests stay fast.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/interrupt.h"
#include "registry/registry.h"
#include "tests/support/http_server.h"

using namespace xb::registry;
using namespace xb::store;
using xb::testing::HttpConnection;
using xb::testing::HttpServer;
using xb::testing::HttpServerRequest;

namespace {

const char* const kManifestType = "application/vnd.oci.image.manifest.v1+json";

struct TestImage {
  std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
  std::string layer = std::string(100000, 'l');
  int64_t config_size = -1;  // what the manifest claims (default: the real size)
  std::string manifest() const {
    Manifest m{.media_type = kManifestType,
               .config = Descriptor{.media_type = std::string(media_type::oci_config),
                                    .digest = xb::Digest::of(config),
                                    .size = config_size >= 0 ? config_size : static_cast<int64_t>(config.size())}};
    m.layers.push_back(Descriptor{.media_type = std::string(media_type::oci_layer_gzip),
                                  .digest = xb::Digest::of(layer),
                                  .size = static_cast<int64_t>(layer.size())});
    return m.to_json();
  }
};

void headers_only(HttpConnection& c, const std::string& type, const std::string& length = {}) {
  c.write_raw("HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\n" +
              (length.empty() ? "Connection: close\r\n" : "Content-Length: " + length + "\r\n") + "\r\n");
}

// Writes `piece` until `total` bytes went out or the client left.
void stream(HttpConnection& c, const std::string& piece, uint64_t total) {
  for (uint64_t sent = 0; sent < total && !c.closed(); sent += piece.size()) c.write_raw(piece);
  c.close_now();
}

// Writes 2 bytes every 50 ms until the client leaves (at most 60 s).
void drip(HttpConnection& c) {
  for (int i = 0; i < 1200 && !c.closed(); ++i) {
    c.write_raw("  ");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  c.close_now();
}

ClientOptions options() {
  ClientOptions o;
  o.backoff_ms = 1;
  o.max_attempts = 2;
  return o;
}

// Pulls ref and returns the error's text (fails the test if the pull succeeds).
std::string pull_error(Client& c, const std::string& ref, xb::ErrorKind* kind = nullptr) {
  xb::TempDir dir("limits");
  Store st(dir.path());
  try {
    c.pull(st, ImageRef::parse(ref));
  } catch (const xb::Error& e) {
    if (kind) *kind = e.kind();
    EXPECT_FALSE(st.resolve(ImageRef::parse(ref))) << "tagged after an error";
    if (std::filesystem::exists(dir.path() / "ingest")) {
      EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "ingest")) << "a partial blob was left";
    }
    return e.what();
  }
  ADD_FAILURE() << "the pull of " << ref << " succeeded";
  return {};
}

}  // namespace

TEST(RegistryLimits, EndlessManifestIsCutAtTheDocumentLimit) {
  std::atomic<uint64_t> served{0};
  HttpServer server([&](const HttpServerRequest&, HttpConnection& c) {
    headers_only(c, kManifestType);
    std::string piece(64 << 10, ' ');
    for (uint64_t sent = 0; sent < (256u << 20) && !c.closed(); sent += piece.size()) {
      c.write_raw(piece);
      served += piece.size();
    }
    c.close_now();
  });
  ClientOptions o = options();
  o.config.limits.document_bytes = 1 << 20;
  Client c(std::move(o));
  xb::ErrorKind kind{};
  std::string what = pull_error(c, server.host() + "/team/app:v1", &kind);
  EXPECT_EQ(kind, xb::ErrorKind::resource_exhausted) << what;
  EXPECT_NE(what.find("registry " + server.host() + " sent a manifest for " + server.host() +
                      "/team/app:v1 larger than 1048576 bytes"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("document-bytes"), std::string::npos) << what;
  // Cut near the limit, not after the server's 256 MiB (socket buffers hold a few MiB).
  EXPECT_LT(served.load(), 64u << 20);
}

TEST(RegistryLimits, DefaultDocumentLimitIsContainerds4MiB) { EXPECT_EQ(RegistryLimits{}.document_bytes, 4u << 20); }

TEST(RegistryLimits, DrippingManifestHitsTheRequestDeadline) {
  HttpServer server([&](const HttpServerRequest&, HttpConnection& c) {
    headers_only(c, kManifestType, "100000");
    drip(c);
  });
  ClientOptions o = options();
  o.config.limits.request_seconds = 1;
  Client c(std::move(o));
  auto start = std::chrono::steady_clock::now();
  std::string what = pull_error(c, server.host() + "/team/app:v1");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_NE(what.find("pull " + server.host() + "/team/app:v1: registry " + server.host()), std::string::npos) << what;
  EXPECT_NE(what.find("did not complete within 1 s (the \"request-seconds\" limit"), std::string::npos) << what;
  // Not the server's 60 s of dripping (generous: a loaded machine).
  EXPECT_LT(took, std::chrono::seconds(30));
}

TEST(RegistryLimits, DrippingBlobHitsTheLowSpeedLimit) {
  TestImage img;
  std::string man = img.manifest();
  HttpServer server([&](const HttpServerRequest& r, HttpConnection& c) {
    if (r.path().find("/manifests/") != std::string::npos)
      return c.respond(200, {{"Content-Type", kManifestType}}, man);
    if (r.path().ends_with(xb::Digest::of(img.config).str())) return c.respond(200, {}, img.config);
    headers_only(c, "application/octet-stream", std::to_string(img.layer.size()));
    drip(c);
  });
  ClientOptions o = options();
  o.config.limits.low_speed_bytes = 1024;
  o.config.limits.low_speed_seconds = 1;
  Client c(std::move(o));
  std::string what = pull_error(c, server.host() + "/team/app:v1");
  EXPECT_NE(what.find("registry " + server.host()), std::string::npos) << what;
  EXPECT_NE(what.find("/team/app:v1"), std::string::npos) << what;
  EXPECT_NE(what.find("slower than 1024 bytes/s for 1 s (the low-speed limit)"), std::string::npos) << what;
}

TEST(RegistryLimits, BlobLongerThanItsDescriptorIsCutAndRefused) {
  TestImage img;
  std::string man = img.manifest();
  std::atomic<uint64_t> served{0};
  HttpServer server([&](const HttpServerRequest& r, HttpConnection& c) {
    if (r.path().find("/manifests/") != std::string::npos)
      return c.respond(200, {{"Content-Type", kManifestType}}, man);
    if (r.path().ends_with(xb::Digest::of(img.config).str())) return c.respond(200, {}, img.config);
    headers_only(c, "application/octet-stream");  // no length: an endless layer
    std::string piece(64 << 10, 'l');
    for (uint64_t sent = 0; sent < (256u << 20) && !c.closed(); sent += piece.size()) {
      c.write_raw(piece);
      served += piece.size();
    }
    c.close_now();
  });
  Client c(options());
  xb::ErrorKind kind{};
  std::string what = pull_error(c, server.host() + "/team/app:v1", &kind);
  EXPECT_EQ(kind, xb::ErrorKind::data_loss) << what;
  EXPECT_NE(what.find("registry " + server.host() + " sent more than the 100000 bytes of blob " +
                      xb::Digest::of(img.layer).str()),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("/team/app:v1"), std::string::npos) << what;
  EXPECT_LT(served.load(), 64u << 20);
}

TEST(RegistryLimits, OversizedConfigIsRefusedBeforeDownload) {
  TestImage img;
  img.config = "{" + std::string(2 << 20, ' ') + "}";
  img.config_size = static_cast<int64_t>(img.config.size());
  std::string man = img.manifest();
  std::atomic<int> config_gets{0};
  HttpServer server([&](const HttpServerRequest& r, HttpConnection& c) {
    if (r.path().find("/manifests/") != std::string::npos)
      return c.respond(200, {{"Content-Type", kManifestType}}, man);
    if (r.path().ends_with(xb::Digest::of(img.config).str())) {
      ++config_gets;
      return c.respond(200, {}, img.config);
    }
    c.respond(200, {}, img.layer);
  });
  ClientOptions o = options();
  o.config.limits.document_bytes = 1 << 20;
  Client c(std::move(o));
  std::string what = pull_error(c, server.host() + "/team/app:v1");
  EXPECT_NE(what.find("registry " + server.host() + ": the image config of " + server.host() + "/team/app:v1 is " +
                      std::to_string(img.config.size()) + " bytes, over the limit of 1048576"),
            std::string::npos)
      << what;
  EXPECT_EQ(config_gets.load(), 0);
}

TEST(RegistryLimits, EndlessTokenAnswerIsCut) {
  HttpServer server([&](const HttpServerRequest&, HttpConnection& c) {
    headers_only(c, "application/json");
    stream(c, std::string(64 << 10, ' '), 256u << 20);
  });
  HttpServer front([&](const HttpServerRequest&, HttpConnection& c) {
    c.respond(401, {{"WWW-Authenticate", "Bearer realm=\"" + server.url() + "/token\",service=\"x\""}}, "");
  });
  ClientOptions o = options();
  o.config.limits.document_bytes = 1 << 20;
  Client c(std::move(o));
  xb::ErrorKind kind{};
  std::string what = pull_error(c, front.host() + "/team/app:v1", &kind);
  EXPECT_EQ(kind, xb::ErrorKind::unavailable) << what;
  EXPECT_NE(what.find("pull " + front.host() + "/team/app:v1: registry " + front.host() + ": the token server " +
                      server.url() + "/token sent an answer larger than 1048576 bytes"),
            std::string::npos)
      << what;
}

TEST(RegistryLimits, NestedIndexIsRefusedAfterOneLevel) {
  // The tag names an index whose entry for this platform is another index
  // (whose entry is yet another): one level is what an image has.
  auto index_of = [](const std::string& digest, int64_t size) {
    Index idx;
    idx.media_type = media_type::oci_index;
    Descriptor d{.media_type = std::string(media_type::oci_index), .digest = xb::Digest::parse(digest), .size = size};
    d.platform = Platform::host();
    idx.manifests = {d};
    return idx.to_json();
  };
  std::string inner = index_of(xb::Digest::of("deeper").str(), 6);
  std::string outer = index_of(xb::Digest::of(inner).str(), static_cast<int64_t>(inner.size()));
  std::atomic<int> gets{0};
  HttpServer server([&](const HttpServerRequest& r, HttpConnection& c) {
    ++gets;
    const std::string& body = r.path().ends_with(xb::Digest::of(inner).str()) ? inner : outer;
    c.respond(200, {{"Content-Type", std::string(media_type::oci_index)}}, body);
  });
  Client c(options());
  std::string what = pull_error(c, server.host() + "/team/app:v1");
  EXPECT_EQ(gets.load(), 1);  // the inner index is never fetched
  EXPECT_NE(
      what.find("registry " + server.host() + ": the index of " + server.host() +
                "/team/app:v1 names another index for " + Platform::host().str() + " (nested indexes are not followed"),
      std::string::npos)
      << what;
}

TEST(RegistryLimits, LimitsFromTheConfigFile) {
  xb::TempDir dir("limits");
  auto f = dir.path() / "config.json";
  xb::write_file_atomic(
      f, R"({"limits":{"document-bytes":1000,"low-speed-bytes":10,"low-speed-seconds":2,"request-seconds":3}})");
  RegistryConfig c = RegistryConfig::load(f);
  EXPECT_EQ(c.limits.document_bytes, 1000u);
  EXPECT_EQ(c.limits.low_speed_bytes, 10u);
  EXPECT_EQ(c.limits.low_speed_seconds, 2);
  EXPECT_EQ(c.limits.request_seconds, 3);
  xb::write_file_atomic(f, R"({"limits":{"request-secs":3}})");
  EXPECT_THROW(RegistryConfig::load(f), xb::Error);
  xb::write_file_atomic(f, R"({"limits":{"request-seconds":-1}})");
  EXPECT_THROW(RegistryConfig::load(f), xb::Error);
}

TEST(RegistryLimits, InterruptStopsAStalledPull) {
  HttpServer server([&](const HttpServerRequest&, HttpConnection& c) {
    headers_only(c, kManifestType, "100000");
    drip(c);
  });
  Client c(options());
  std::thread stopper([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    xb::request_interrupt(2);
  });
  auto start = std::chrono::steady_clock::now();
  xb::ErrorKind kind{};
  std::string what = pull_error(c, server.host() + "/team/app:v1", &kind);
  auto took = std::chrono::steady_clock::now() - start;
  stopper.join();
  xb::reset_interrupt();
  EXPECT_EQ(kind, xb::ErrorKind::cancelled) << what;
  EXPECT_NE(what.find("interrupted (SIGINT)"), std::string::npos) << what;
  EXPECT_LT(took, std::chrono::seconds(10));  // not the 60 s of the drip
}
