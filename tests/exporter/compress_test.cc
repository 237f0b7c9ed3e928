// Layer compression and push, checked by tools nobody here wrote: gzip and
// zstd decompress what we compress, skopeo reads what we push (chunked, to a
// registry with token auth) and verifies every blob.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/error.h"
#include "common/fs.h"
#include "exporter/exporter.h"
#include "registry/internal.h"
#include "tests/support/registry_server.h"
#include "tests/support/shell.h"

namespace fs = std::filesystem;
using namespace xb::store;
using xb::Digest;
using xb::exporter::CompressEvent;
using xb::exporter::LayerOptions;

namespace {

std::string run(const std::string& cmd, int* code = nullptr) {
  auto r = xb::testing::sh(cmd);
  if (code) *code = r.code;
  return r.out;
}

// A tar-like payload of `size` bytes: half text, half random, so that
// compression has work to do and chunk borders fall mid-pattern.
std::string payload(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(size);
  while (s.size() < size) {
    if (rng() % 2) s += "line " + std::to_string(s.size()) + " of a text file in a layer\n";
    else
      for (int i = 0; i < 64; ++i) s += static_cast<char>(rng());
  }
  s.resize(size);
  return s;
}

class Compress : public ::testing::Test {
 protected:
  xb::TempDir tmp_{"compress-test"};
  Store st_{tmp_.path() / "store"};

  Descriptor plain_layer(const std::string& data) {
    Digest d = st_.put_blob(data);
    return Descriptor{
        .media_type = std::string(media_type::oci_layer), .digest = d, .size = static_cast<int64_t>(data.size())};
  }
};

TEST_F(Compress, GzipIsReadByGzipAndRememberedPerDiffId) {
  std::string data = payload(5 * 1024 * 1024 + 12345, 1);  // several chunks and a short last one
  Descriptor layer = plain_layer(data);
  int compressed = 0, reused = 0;
  auto count = [&](const CompressEvent& e) {
    if (e.kind == CompressEvent::Kind::done) ++compressed;
    if (e.kind == CompressEvent::Kind::reused) ++reused;
  };
  Descriptor gz = xb::exporter::compressed_layer(st_, layer, layer.digest, LayerOptions{}, count);
  EXPECT_EQ(gz.media_type, media_type::oci_layer_gzip);
  EXPECT_LT(gz.size, layer.size);
  EXPECT_EQ(compressed, 1);
  // gzip(1) reads the multi-member stream as one file.
  int code = 0;
  std::string out = run("gzip -dc < '" + st_.blob_path(gz.digest).string() + "'", &code);
  ASSERT_EQ(code, 0) << out.substr(0, 200);
  EXPECT_TRUE(out == data) << "gzip -dc gave " << out.size() << " bytes, want " << data.size();

  // The second time nothing is compressed; forced, the bytes are the same.
  Descriptor again = xb::exporter::compressed_layer(st_, layer, layer.digest, LayerOptions{}, count);
  EXPECT_EQ(again.digest, gz.digest);
  EXPECT_EQ(compressed, 1);
  EXPECT_EQ(reused, 1);
  Descriptor forced = xb::exporter::compressed_layer(st_, layer, layer.digest, LayerOptions{.force = true}, count);
  EXPECT_EQ(forced.digest, gz.digest);
  EXPECT_EQ(compressed, 2);
  // Docker media types name the same blob differently.
  Descriptor docker = xb::exporter::compressed_layer(st_, layer, layer.digest, LayerOptions{.oci_media_types = false});
  EXPECT_EQ(docker.media_type, media_type::docker_layer_gzip);
  EXPECT_EQ(docker.digest, gz.digest);
}

// Levels 1-3 are igzip's, the others libdeflate's: every level, on text, on
// bytes no deflate can shrink (stored blocks, barely larger than the input)
// and on an empty layer, gives what gzip(1) reads back.
TEST_F(Compress, EveryGzipLevelIsReadByGzipEvenOnIncompressibleData) {
  std::mt19937 rng(7);
  std::string noise(3 * 1024 * 1024 + 7, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  const std::vector<std::string> inputs = {payload(2 * 1024 * 1024 + 99, 3), noise, ""};
  for (const auto& data : inputs) {
    Descriptor layer = plain_layer(data);
    for (int level = 0; level <= 9; ++level) {
      SCOPED_TRACE("level " + std::to_string(level) + ", " + std::to_string(data.size()) + " bytes");
      Descriptor gz = xb::exporter::compressed_layer(st_, layer, layer.digest,
                                                     LayerOptions{.level = level, .force = true});
      int code = 0;
      std::string out = run("gzip -dc < '" + st_.blob_path(gz.digest).string() + "'", &code);
      ASSERT_EQ(code, 0) << out.substr(0, 200);
      EXPECT_TRUE(out == data) << "gzip -dc gave " << out.size() << " bytes, want " << data.size();
      if (data.size() == noise.size()) {
        EXPECT_LT(gz.size, layer.size + layer.size / 100);
      }
    }
  }
}

TEST_F(Compress, ZstdFromGzipIsReadByZstdAndChecksTheDiffId) {
  std::string data = payload(9 * 1024 * 1024, 2);
  Descriptor layer = plain_layer(data);
  Descriptor gz = xb::exporter::compressed_layer(st_, layer, layer.digest, LayerOptions{});
  st_.remove_blob(layer.digest);  // only the gzip blob is left, as after a pull
  Descriptor zs = xb::exporter::compressed_layer(st_, gz, layer.digest,
                                                 LayerOptions{.compression = Compression::zstd, .level = 5});
  EXPECT_EQ(zs.media_type, media_type::oci_layer_zstd);
  int code = 0;
  std::string out = run("zstd -dc < '" + st_.blob_path(zs.digest).string() + "'", &code);
  ASSERT_EQ(code, 0) << out.substr(0, 200);
  EXPECT_TRUE(out == data);
  // A wrong diff ID is refused, not silently exported.
  Digest wrong = Digest::of("something else");
  EXPECT_THROW(xb::exporter::compressed_layer(st_, gz, wrong, LayerOptions{.compression = Compression::zstd}),
               xb::Error);
}

TEST_F(Compress, OutputSpecsAreCheckedWithOneLineErrors) {
  using xb::exporter::parse_output;
  auto o = parse_output("type=oci,dest=x.tar,compression=zstd,compression-level=19,force-compression=true");
  EXPECT_EQ(o.type, xb::exporter::OutputSpec::Type::oci);
  EXPECT_EQ(o.layers.compression, Compression::zstd);
  EXPECT_EQ(o.layers.level, 19);
  EXPECT_TRUE(o.layers.force);
  for (const char* bad :
       {"type=nope", "type=tar", "type=local,dest=-", "type=image,dest=x", "type=oci,dest=x,level=3",
        "type=oci,dest=x,compression=gzip,compression-level=10", "type=oci,dest=x,oci-mediatypes=maybe"}) {
    try {
      parse_output(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const xb::Error& e) {
      EXPECT_EQ(e.kind(), xb::ErrorKind::usage) << bad;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << bad;
    }
  }
}

// A chunked push (PATCH … PUT) to a registry with token auth; skopeo then
// copies the image back, verifying every blob against its digest.
TEST(Push, ChunkedUploadWithTokenAuthIsReadBySkopeo) {
  using xb::testing::RegistryServer;
  if (auto why = RegistryServer::unavailable_reason()) GTEST_SKIP() << *why;
  int code = 0;
  run("command -v skopeo", &code);
  if (code != 0) GTEST_SKIP() << "skopeo is not installed (scripts/bootstrap installs it)";
  RegistryServer reg({.auth = RegistryServer::Auth::token});
  xb::TempDir tmp("push-test");
  Store st(tmp.path() / "store");
  std::string layer_data = payload(3 * 1024 * 1024 + 7, 3);
  Digest layer = st.put_blob(layer_data);
  ImageConfig cfg;
  cfg.architecture = "amd64";
  cfg.os = "linux";
  cfg.diff_ids = {layer};
  std::string cj = cfg.to_json();
  Manifest m{.media_type = std::string(media_type::oci_manifest),
             .config = Descriptor{.media_type = std::string(media_type::oci_config),
                                  .digest = st.put_blob(cj),
                                  .size = static_cast<int64_t>(cj.size())}};
  m.layers.push_back(Descriptor{.media_type = std::string(media_type::oci_layer),
                                .digest = layer,
                                .size = static_cast<int64_t>(layer_data.size())});
  std::string mj = m.to_json();
  Descriptor target{.media_type = std::string(media_type::oci_manifest),
                    .digest = st.put_blob(mj),
                    .size = static_cast<int64_t>(mj.size())};

  fs::path docker_config = tmp.path() / "config.json";
  {
    std::ofstream f(docker_config);
    f << nlohmann::json{{"auths",
                         {{reg.host(),
                           {{"auth",
                             xb::registry::base64_encode(reg.options().username + ":" + reg.options().password)}}}}}}
             .dump();
  }
  xb::registry::ClientOptions co;
  co.credentials.emplace(docker_config);
  co.chunk_size = 256 * 1024;
  int patches = 0, progress = 0;
  struct Counting : xb::registry::Transport {
    std::unique_ptr<xb::registry::Transport> real = xb::registry::make_curl_transport();
    int* patches;
    xb::registry::HttpResponse send(const xb::registry::HttpRequest& r, const xb::registry::BodySink* s) override {
      if (r.method == "PATCH") ++*patches;
      return real->send(r, s);
    }
  };
  auto transport = std::make_shared<Counting>();
  transport->patches = &patches;
  co.transport = transport;
  co.progress = [&](const xb::registry::ProgressEvent& e) {
    if (e.kind == xb::registry::ProgressEvent::Kind::blob_progress) ++progress;
  };
  xb::store::ImageRef ref = xb::store::ImageRef::parse(reg.host() + "/chunked/img:1");
  Digest pushed = xb::exporter::push_image(st, target, {ref}, LayerOptions{}, co, {}).digest;
  EXPECT_GE(patches, 2) << "a blob larger than chunk_size goes in several PATCH requests";
  EXPECT_GE(progress, 2);

  std::string out = run("skopeo copy -q --src-tls-verify=false --src-creds=" + reg.options().username + ":" +
                            reg.options().password + " docker://" + ref.str() + " oci:'" +
                            (tmp.path() / "copy").string() + "':x && skopeo inspect --raw oci:'" +
                            (tmp.path() / "copy").string() + "':x",
                        &code);
  ASSERT_EQ(code, 0) << out << reg.log();
  EXPECT_EQ(Digest::of(out), pushed);
}

}  // namespace
