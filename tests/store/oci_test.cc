#include <gtest/gtest.h>

#include "common/error.h"
#include "store/store.h"

using namespace xb::store;
using nlohmann::json;

namespace {

const xb::Digest kA = xb::Digest::of("a");
const xb::Digest kB = xb::Digest::of("b");

TEST(Oci, ManifestRoundTrip) {
  Manifest m{.media_type = std::string(media_type::oci_manifest),
             .config = Descriptor{.media_type = std::string(media_type::oci_config), .digest = kA, .size = 10}};
  m.layers.push_back(Descriptor{.media_type = std::string(media_type::oci_layer_gzip), .digest = kB, .size = 20});
  m.annotations["x"] = "y";
  Manifest back = Manifest::parse(m.to_json());
  EXPECT_EQ(back.media_type, m.media_type);
  EXPECT_EQ(back.config, m.config);
  EXPECT_EQ(back.layers, m.layers);
  EXPECT_EQ(back.annotations, m.annotations);
  EXPECT_EQ(back.to_json(), m.to_json());
  json j = json::parse(m.to_json());
  EXPECT_EQ(j["schemaVersion"], 2);
  EXPECT_EQ(j["layers"][0]["digest"], kB.str());
}

TEST(Oci, DockerSchema2Manifest) {
  // As a registry serves docker.io/library/busybox.
  std::string text = R"({
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1457,
              "digest": ")" +
                     kA.str() + R"("},
   "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2591575,
               "digest": ")" +
                     kB.str() + R"("}]})";
  Manifest m = Manifest::parse(text);
  EXPECT_EQ(m.media_type, media_type::docker_manifest);
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].size, 2591575);
  EXPECT_EQ(layer_compression(m.layers[0].media_type), Compression::gzip);
  EXPECT_EQ(layer_compression(media_type::oci_layer), Compression::none);
  EXPECT_EQ(layer_compression(media_type::oci_layer_zstd), Compression::zstd);
  EXPECT_FALSE(layer_compression("text/plain"));
}

TEST(Oci, BadManifests) {
  EXPECT_THROW(Manifest::parse("not json"), xb::Error);
  EXPECT_THROW(Manifest::parse(R"({"schemaVersion":1})"), xb::Error);
  EXPECT_THROW(Manifest::parse(R"({"schemaVersion":2,"manifests":[]})"), xb::Error);
  EXPECT_THROW(Manifest::parse(R"({"schemaVersion":2,"config":{"digest":"sha256:zz","size":1}})"), xb::Error);
  EXPECT_THROW(Manifest::parse(R"({"schemaVersion":2,"config":{"digest":")" + kA.str() + R"(","size":-1}})"),
               xb::Error);
}

TEST(Oci, IndexPlatformSelection) {
  Index idx;
  idx.media_type = media_type::docker_manifest_list;
  auto add = [&](const char* arch, const char* variant, const xb::Digest& d) {
    Descriptor desc{.media_type = std::string(media_type::docker_manifest), .digest = d, .size = 1};
    Platform p;
    p.os = "linux";
    p.architecture = arch;
    p.variant = variant;
    desc.platform = p;
    idx.manifests.push_back(desc);
  };
  add("arm", "v6", xb::Digest::of("armv6"));
  add("arm", "v7", xb::Digest::of("armv7"));
  add("arm64", "v8", xb::Digest::of("arm64"));
  add("amd64", "", xb::Digest::of("amd64"));
  Index back = Index::parse(idx.to_json());
  ASSERT_EQ(back.manifests.size(), 4u);
  EXPECT_EQ(back.select(Platform::parse("linux/amd64"))->digest, xb::Digest::of("amd64"));
  EXPECT_EQ(back.select(Platform::parse("linux/arm64"))->digest, xb::Digest::of("arm64"));
  EXPECT_EQ(back.select(Platform::parse("linux/arm/v7"))->digest, xb::Digest::of("armv7"));
  EXPECT_EQ(back.select(Platform::parse("linux/arm/v6"))->digest, xb::Digest::of("armv6"));
  EXPECT_FALSE(back.select(Platform::parse("linux/s390x")));
  EXPECT_FALSE(back.select(Platform::parse("windows/amd64")));
}

TEST(Oci, ConfigKeepsEveryDockerFieldAndUnknownOnes) {
  std::string text = R"({
    "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
    "docker_version": "20.10.7", "container": "abc", "container_config": {"Hostname": "x"},
    "config": {"Hostname": "", "User": "app", "Env": ["PATH=/bin", "A=b"],
               "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "WorkingDir": "/w",
               "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Volumes": {"/data": {}},
               "Labels": {"a": "b"}, "StopSignal": "SIGTERM",
               "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30000000000, "Retries": 3},
               "Shell": ["/bin/bash", "-c"], "OnBuild": ["RUN true"], "ArgsEscaped": true},
    "rootfs": {"type": "layers", "diff_ids": [")" +
                     kA.str() + R"("]},
    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD x /", "empty_layer": true, "x": 1}]})";
  ImageConfig c = ImageConfig::parse(text);
  EXPECT_EQ(c.config.user, "app");
  EXPECT_EQ(c.config.env.size(), 2u);
  EXPECT_EQ(c.config.entrypoint->size(), 2u);
  EXPECT_EQ(c.config.cmd->at(0), "echo hi");
  EXPECT_EQ(c.config.working_dir, "/w");
  EXPECT_EQ(c.config.exposed_ports, (std::vector<std::string>{"53/udp", "80/tcp"}));
  EXPECT_EQ(c.config.volumes, std::vector<std::string>{"/data"});
  EXPECT_EQ(c.config.labels.at("a"), "b");
  EXPECT_EQ(c.config.stop_signal, "SIGTERM");
  EXPECT_EQ(c.config.healthcheck->interval, 30000000000);
  EXPECT_EQ(c.config.healthcheck->retries, 3);
  EXPECT_EQ(c.config.shell->at(0), "/bin/bash");
  EXPECT_EQ(c.config.on_build.at(0), "RUN true");
  EXPECT_TRUE(c.config.args_escaped);
  EXPECT_EQ(c.diff_ids.at(0), kA);
  EXPECT_TRUE(c.history.at(0).empty_layer);
  // The whole document survives a round trip, unknown fields included.
  EXPECT_EQ(json::parse(c.to_json()), json::parse(text));
  EXPECT_EQ(ImageConfig::parse(c.to_json()), c);
}

TEST(Oci, ConfigUnsetVersusEmpty) {
  ImageConfig c = ImageConfig::parse(R"({"architecture":"amd64","os":"linux","config":{"Cmd":null,"Entrypoint":[]},
                                         "rootfs":{"type":"layers","diff_ids":[]}})");
  EXPECT_FALSE(c.config.cmd);
  ASSERT_TRUE(c.config.entrypoint);
  EXPECT_TRUE(c.config.entrypoint->empty());
  json back = json::parse(c.to_json());
  EXPECT_FALSE(back["config"].contains("Cmd"));
  EXPECT_EQ(back["config"]["Entrypoint"], json::array());
  EXPECT_THROW(ImageConfig::parse(R"({"config":{"Env":"x","User":3}})"), xb::Error);
  EXPECT_THROW(ImageConfig::parse(R"({"rootfs":{"diff_ids":["nope"]}})"), xb::Error);
}

TEST(Oci, SniffCompression) {
  EXPECT_EQ(sniff_compression(std::string("\x1f\x8b\x08", 3)), Compression::gzip);
  EXPECT_EQ(sniff_compression(std::string("\x28\xb5\x2f\xfd\x00", 5)), Compression::zstd);
  EXPECT_EQ(sniff_compression("ustar"), Compression::none);
  EXPECT_EQ(sniff_compression(""), Compression::none);
}

}  // namespace
