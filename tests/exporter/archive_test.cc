#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "exporter/exporter.h"
#include "tests/support/shell.h"

using namespace xb::store;
using namespace xb::exporter;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int sh(const std::string& cmd, std::string* out = nullptr) {
  auto r = xb::testing::sh(cmd);
  if (out) *out = r.out;
  return r.code;
}

class Archives : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::path src = tmp_.path() / "src";
    fs::create_directories(src / "etc");
    xb::write_file_atomic(src / "etc/hello", "hello world\n");
    xb::write_file_atomic(src / "run.sh", "#!/bin/sh\necho hi\n", 0755);
    ASSERT_EQ(sh("tar --numeric-owner -C '" + src.string() + "' -cf '" + (tmp_.path() / "rootfs.tar").string() + "' ."),
              0);
    ASSERT_EQ(sh("gzip -k '" + (tmp_.path() / "rootfs.tar").string() + "'"), 0);
  }
  xb::TempDir tmp_{"archive-test"};
};

TEST_F(Archives, ImportStoresTheLayerUncompressedUnderItsDiffId) {
  Store st(tmp_.path() / "store");
  Descriptor d = import_rootfs(st, tmp_.path() / "rootfs.tar.gz", ImageRef::parse("imp:1"));
  Image img = st.image("imp:1");
  EXPECT_EQ(img.target.digest, d.digest);
  ASSERT_EQ(img.manifest.layers.size(), 1u);
  EXPECT_EQ(img.manifest.layers[0].media_type, media_type::oci_layer);
  EXPECT_EQ(img.manifest.layers[0].digest, img.config.diff_ids.at(0));
  // The gzip tarball was decompressed: the layer is the plain tar.
  EXPECT_EQ(img.manifest.layers[0].digest, xb::Digest::of(xb::read_file(tmp_.path() / "rootfs.tar")));
  json cfg = json::parse(st.read_blob(img.id()));
  EXPECT_FALSE(cfg.contains("config"));
  EXPECT_EQ(cfg["os"], "linux");
  EXPECT_EQ(cfg["rootfs"]["type"], "layers");
  EXPECT_EQ(cfg["history"].size(), 1u);

  xb::write_file_atomic(tmp_.path() / "junk.tar", std::string(3000, 'j'));
  try {
    import_rootfs(st, tmp_.path() / "junk.tar", ImageRef::parse("junk:1"));
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("junk.tar"), std::string::npos);
  }
  EXPECT_FALSE(st.resolve(ImageRef::parse("junk:1")));
}

// Stores an image whose layer is gzip-compressed, as pulled images are.
Descriptor put_gzip_image(Store& st, const fs::path& gz, const fs::path& plain) {
  std::string layer = xb::read_file(gz);
  ImageConfig cfg;
  cfg.architecture = "amd64";
  cfg.os = "linux";
  cfg.config.cmd = std::vector<std::string>{"/run.sh"};
  cfg.config.env = {"A=b"};
  cfg.diff_ids = {xb::Digest::of(xb::read_file(plain))};
  std::string cj = cfg.to_json();
  Manifest m{.media_type = std::string(media_type::docker_manifest),
             .config = Descriptor{.media_type = std::string(media_type::docker_config),
                                  .digest = st.put_blob(cj),
                                  .size = static_cast<int64_t>(cj.size())}};
  m.layers.push_back(Descriptor{.media_type = std::string(media_type::docker_layer_gzip),
                                .digest = st.put_blob(layer),
                                .size = static_cast<int64_t>(layer.size())});
  std::string mj = m.to_json();
  Descriptor d{.media_type = std::string(media_type::docker_manifest),
               .digest = st.put_blob(mj),
               .size = static_cast<int64_t>(mj.size())};
  st.set_image(ImageRef::parse("gz:1"), d);
  return d;
}

TEST_F(Archives, DockerArchiveHasUncompressedLayersAndLoadsBack) {
  Store st(tmp_.path() / "store");
  Descriptor d = put_gzip_image(st, tmp_.path() / "rootfs.tar.gz", tmp_.path() / "rootfs.tar");
  fs::path out = tmp_.path() / "docker.tar";
  write_archive(st, d, {ImageRef::parse("gz:1")}, ArchiveFormat::docker, out);
  fs::path x = tmp_.path() / "x";
  fs::create_directories(x);
  ASSERT_EQ(sh("tar -C '" + x.string() + "' -xf '" + out.string() + "'"), 0);
  json manifest = json::parse(xb::read_file(x / "manifest.json"));
  EXPECT_EQ(manifest[0]["RepoTags"], json::array({"gz:1"}));
  std::string layer_path = manifest[0]["Layers"][0];
  Image img = st.image("gz:1");
  EXPECT_EQ(layer_path, std::string(img.config.diff_ids[0].hex()) + "/layer.tar");
  EXPECT_EQ(xb::read_file(x / layer_path), xb::read_file(tmp_.path() / "rootfs.tar"));
  EXPECT_TRUE(json::parse(xb::read_file(x / "repositories")).contains("gz"));

  Store other(tmp_.path() / "other");
  auto loaded = load_archive(other, out);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].ref->str(), "docker.io/library/gz:1");
  Image back = other.image("gz:1");
  EXPECT_EQ(back.id(), img.id());  // the same config, byte for byte
  EXPECT_EQ(back.manifest.layers[0].media_type, media_type::oci_layer);
}

TEST_F(Archives, OciArchiveRoundTripAndSkopeo) {
  Store st(tmp_.path() / "store");
  Descriptor d = put_gzip_image(st, tmp_.path() / "rootfs.tar.gz", tmp_.path() / "rootfs.tar");
  fs::path out = tmp_.path() / "oci.tar";
  write_archive(st, d, {ImageRef::parse("gz:1")}, ArchiveFormat::oci, out);
  Store other(tmp_.path() / "other");
  auto loaded = load_archive(other, out);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].target.digest, d.digest);  // OCI archives keep the blobs as they are
  EXPECT_EQ(other.image("gz:1").manifest.layers[0].media_type, media_type::docker_layer_gzip);
  if (sh("command -v skopeo") == 0) {
    std::string text;
    ASSERT_EQ(sh("skopeo inspect oci-archive:" + out.string(), &text), 0) << text;
    EXPECT_EQ(json::parse(text)["Digest"], d.digest.str());
  }
  if (sh("command -v umoci") == 0) {
    // umoci reads OCI media types only: use an imported image for it.
    Descriptor imp = import_rootfs(st, tmp_.path() / "rootfs.tar", ImageRef::parse("gz:1"));
    write_archive(st, imp, {ImageRef::parse("gz:1")}, ArchiveFormat::oci, out);
    fs::path layout = tmp_.path() / "layout";
    fs::create_directories(layout);
    ASSERT_EQ(sh("tar -C '" + layout.string() + "' -xf '" + out.string() + "'"), 0);
    std::string text;
    // The layout's reference is the tag alone, as containerd and BuildKit write it.
    ASSERT_EQ(
        sh("umoci unpack --rootless --image '" + layout.string() + ":1' '" + (tmp_.path() / "bundle").string() + "'",
           &text),
        0)
        << text;
    EXPECT_EQ(xb::read_file(tmp_.path() / "bundle/rootfs/etc/hello"), "hello world\n");
  }
}

TEST_F(Archives, WritingIsAtomicAndGarbageIsRefused) {
  Store st(tmp_.path() / "store");
  Descriptor d = put_gzip_image(st, tmp_.path() / "rootfs.tar.gz", tmp_.path() / "rootfs.tar");
  // A blob that vanished mid-export: nothing appears under the destination.
  Image img = st.image("gz:1");
  st.remove_blob(img.manifest.layers[0].digest);
  fs::path out = tmp_.path() / "never.tar";
  EXPECT_THROW(write_archive(st, d, {}, ArchiveFormat::docker, out), xb::Error);
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(tmp_.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos);

  fs::path garbage = tmp_.path() / "garbage.tar";
  xb::write_file_atomic(garbage, "definitely not a tarball");
  try {
    load_archive(st, garbage);
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("garbage.tar"), std::string::npos);
  }
  // A tarball with no image in it.
  ASSERT_EQ(sh("tar -C '" + tmp_.path().string() + "' -cf '" + (tmp_.path() / "plain.tar").string() + "' src"), 0);
  EXPECT_THROW(load_archive(st, tmp_.path() / "plain.tar"), xb::Error);
  EXPECT_EQ(st.list_images().size(), 1u);
}

TEST_F(Archives, PodmanLoadsOurDockerArchive) {
  if (sh("command -v podman") != 0) GTEST_SKIP() << "podman is not installed";
  Store st(tmp_.path() / "store");
  Descriptor d = put_gzip_image(st, tmp_.path() / "rootfs.tar.gz", tmp_.path() / "rootfs.tar");
  fs::path out = tmp_.path() / "docker.tar";
  write_archive(st, d, {ImageRef::parse("xbuild-podman-test:1")}, ArchiveFormat::docker, out);
  std::string root = (tmp_.path() / "podman-root").string(), runroot = (tmp_.path() / "podman-run").string();
  std::string podman = "podman --root '" + root + "' --runroot '" + runroot + "' --runtime runc --storage-driver vfs ";
  std::string text;
  ASSERT_EQ(sh(podman + "load -i '" + out.string() + "'", &text), 0) << text;
  ASSERT_EQ(sh(podman + "images --format '{{.Repository}}:{{.Tag}}'", &text), 0) << text;
  EXPECT_NE(text.find("xbuild-podman-test:1"), std::string::npos) << text;
}

}  // namespace
