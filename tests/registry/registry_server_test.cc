// End to end against a real registry (docker-registry) with skopeo as the
// independent client: what skopeo pushes, xbuild pulls, lists, inspects,
// tags, saves and removes; auth modes; faults injected by FaultProxy.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <unistd.h>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "store/store.h"
#include "tests/support/registry_server.h"
#include "tests/support/shell.h"

namespace fs = std::filesystem;
using nlohmann::json;
using xb::testing::FaultProxy;
using xb::testing::RegistryServer;

namespace {

using Result = xb::testing::ShellResult;
using xb::testing::q;
using xb::testing::sh;

class RegistryE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = RegistryServer::unavailable_reason()) GTEST_SKIP() << *why;
    if (sh("command -v skopeo").code != 0) GTEST_SKIP() << "skopeo is not installed (scripts/bootstrap installs it)";
    const char* bin = std::getenv("XBUILD_BINARY");
    const char* src = std::getenv("XBUILD_SOURCE_DIR");
    if (!bin) bin = XBUILD_TEST_BINARY;
    if (!src) src = XBUILD_TEST_SOURCE_DIR;
    xbuild_ = bin;
    source_ = src;
    root_ = tmp_.path() / "store";
    docker_config_ = tmp_.path() / "docker";
    // podman's auth files must come from this test only.
    extra_env_ = "XDG_RUNTIME_DIR=" + q(tmp_.path() / "run") +
                 " REGISTRY_AUTH_FILE=" + " CONTAINERS_REGISTRIES_CONF=" + q(tmp_.path() / "registries.conf");
    fs::create_directories(docker_config_);
  }

  // xbuild with this test's store, docker config and (when set) config file.
  Result xb(const std::string& args, const std::string& stdin_text = {}) {
    std::string env = "XBUILD_ROOT=" + q(root_) + " DOCKER_CONFIG=" + q(docker_config_);
    if (!config_.empty()) env += " XBUILD_CONFIG=" + q(config_);
    env += " " + extra_env_;
    std::string in = stdin_text.empty() ? "" : "printf %s '" + stdin_text + "' | ";
    return sh(in + env + " " + q(xbuild_) + " " + args);
  }

  // Builds a busybox image with xbuild (import + save) and pushes it with skopeo.
  void push_busybox(const std::string& host, const std::string& name, const std::string& creds = {}) {
    fs::path rootfs = tmp_.path() / "rootfs.tar";
    if (!fs::exists(rootfs)) {
      Result r = sh("sh " + q(source_ / "tests/tools/make-busybox-rootfs") + " " + q(rootfs));
      ASSERT_EQ(r.code, 0) << r.out;
    }
    fs::path other = tmp_.path() / "build-store";
    std::string env = "XBUILD_ROOT=" + q(other) + " ";
    Result r = sh(env + q(xbuild_) + " import " + q(rootfs) + " src:latest");
    ASSERT_EQ(r.code, 0) << r.out;
    fs::path archive = tmp_.path() / "src-oci.tar";
    r = sh(env + q(xbuild_) + " save --format oci -o " + q(archive) + " src:latest");
    ASSERT_EQ(r.code, 0) << r.out;
    r = sh("skopeo copy --quiet --dest-tls-verify=false " + (creds.empty() ? "" : "--dest-creds=" + creds + " ") +
           "oci-archive:" + q(archive) + " docker://" + host + "/" + name);
    ASSERT_EQ(r.code, 0) << r.out;
  }

  // What skopeo says about the pushed image.
  json skopeo_inspect(const std::string& ref, const std::string& creds = {}) {
    Result r = sh("skopeo inspect --tls-verify=false " + (creds.empty() ? "" : "--creds=" + creds + " ") + "docker://" +
                  ref);
    EXPECT_EQ(r.code, 0) << r.out;
    return json::parse(r.out);
  }

  void expect_store_verified() {
    if (!fs::exists(root_ / "blobs/sha256")) return;
    for (const auto& e : fs::directory_iterator(root_ / "blobs/sha256"))
      EXPECT_EQ(xb::Digest::of(xb::read_file(e.path())).hex(), e.path().filename().string());
  }

  xb::TempDir tmp_{"registry-e2e"};
  fs::path xbuild_, source_, root_, docker_config_, config_;
  std::string extra_env_;
};

TEST_F(RegistryE2E, PullListInspectTagSaveRemove) {
  RegistryServer reg;
  push_busybox(reg.host(), "test/busybox:v1");
  json want = skopeo_inspect(reg.host() + "/test/busybox:v1");
  std::string ref = reg.host() + "/test/busybox:v1";

  Result r = xb("pull " + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Digest: " + want["Digest"].get<std::string>()), std::string::npos) << r.out;

  r = xb("images");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("REPOSITORY"), std::string::npos);
  EXPECT_NE(r.out.find(reg.host() + "/test/busybox"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("v1"), std::string::npos) << r.out;

  r = xb("inspect " + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  json info = json::parse(r.out).at(0);
  EXPECT_EQ(info["ManifestDigest"], want["Digest"]);
  ASSERT_EQ(info["Layers"].size(), want["Layers"].size());
  for (size_t i = 0; i < want["Layers"].size(); ++i) EXPECT_EQ(info["Layers"][i]["digest"], want["Layers"][i]);
  EXPECT_EQ(info["Architecture"], want["Architecture"]);

  // The store is an OCI layout that skopeo reads by the full name.
  r = sh("skopeo inspect oci:" + root_.string() + ":" + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["Digest"], want["Digest"]);

  ASSERT_EQ(xb("tag " + ref + " mine:2").code, 0);
  r = xb("inspect mine:2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out).at(0)["ManifestDigest"], want["Digest"]);

  // Saved archives (from a gzip layer as skopeo pushed it) are readable by skopeo,
  // and the two formats hold the same image.
  fs::path dtar = tmp_.path() / "d.tar", otar = tmp_.path() / "o.tar";
  ASSERT_EQ(xb("save -o " + q(dtar) + " mine:2").code, 0);
  ASSERT_EQ(xb("save --format oci -o " + q(otar) + " mine:2").code, 0);
  r = sh("skopeo inspect docker-archive:" + dtar.string());
  ASSERT_EQ(r.code, 0) << r.out;
  r = sh("skopeo inspect oci-archive:" + otar.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["Digest"], want["Digest"]);
  r = sh("python3 " + q(source_ / "tests/tools/imgdiff") + " " + q(dtar) + " " + q(otar));
  EXPECT_EQ(r.code, 0) << r.out;

  r = xb("rmi mine:2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Untagged: mine:2"), std::string::npos);
  r = xb("inspect mine:2");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("not found"), std::string::npos) << r.out;
  EXPECT_EQ(xb("inspect " + ref).code, 0);  // the other name is untouched
  expect_store_verified();
}

TEST_F(RegistryE2E, TokenAuthLoginThenPull) {
  RegistryServer reg({.auth = RegistryServer::Auth::token});
  push_busybox(reg.host(), "private/bb:1", reg.creds());
  std::string ref = reg.host() + "/private/bb:1";

  Result r = xb("pull " + ref);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("registry " + reg.host()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("xbuild login " + reg.host()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(ref), std::string::npos) << r.out;

  r = xb("login --username xbuild --password-stdin " + reg.host(), "wrong");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("rejected"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(docker_config_ / "config.json") &&
               xb::read_file(docker_config_ / "config.json").find(reg.host()) != std::string::npos);

  r = xb("login --username xbuild --password-stdin " + reg.host(), "s3cret");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Login Succeeded"), std::string::npos);
  json cfg = json::parse(xb::read_file(docker_config_ / "config.json"));
  EXPECT_TRUE(cfg["auths"].contains(reg.host()));

  r = xb("pull " + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(json::parse(xb("inspect " + ref).out).at(0)["ManifestDigest"], skopeo_inspect(ref, reg.creds())["Digest"]);

  r = xb("logout " + reg.host());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(json::parse(xb::read_file(docker_config_ / "config.json"))["auths"].contains(reg.host()));
}

TEST_F(RegistryE2E, BasicAuth) {
  RegistryServer reg({.auth = RegistryServer::Auth::basic});
  push_busybox(reg.host(), "basic/bb:1", reg.creds());
  std::string ref = reg.host() + "/basic/bb:1";
  EXPECT_EQ(xb("pull " + ref).code, 1);
  ASSERT_EQ(xb("login -u xbuild --password-stdin " + reg.host(), "s3cret").code, 0);
  Result r = xb("pull -q " + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, ref + "\n");
}

// Podman's credential files (containers-auth.json(5)) against an htpasswd
// registry: ${XDG_RUNTIME_DIR}/containers/auth.json, $REGISTRY_AUTH_FILE and
// --authfile, which also receives what login stores.
TEST_F(RegistryE2E, PodmanAuthFiles) {
  RegistryServer reg({.auth = RegistryServer::Auth::basic});
  push_busybox(reg.host(), "basic/bb:1", reg.creds());
  std::string ref = reg.host() + "/basic/bb:1";
  std::string good = R"({"auths":{")" + reg.host() + R"(":{"auth":"eGJ1aWxkOnMzY3JldA=="}}})";  // xbuild:s3cret
  EXPECT_EQ(xb("pull -q " + ref).code, 1);

  fs::create_directories(tmp_.path() / "run" / "containers");
  xb::write_file_atomic(tmp_.path() / "run" / "containers" / "auth.json", good);
  Result r = xb("pull -q " + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  fs::remove(tmp_.path() / "run" / "containers" / "auth.json");
  ASSERT_EQ(xb("rmi " + ref).code, 0);

  fs::path file = tmp_.path() / "my-auth.json";
  xb::write_file_atomic(file, good);
  std::string no_podman_env = extra_env_;
  extra_env_ = no_podman_env + " REGISTRY_AUTH_FILE=" + q(file);
  r = xb("pull -q " + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_EQ(xb("rmi " + ref).code, 0);
  extra_env_ = no_podman_env;

  // --authfile: login writes there (not to docker's config.json); pull reads it.
  fs::path other = tmp_.path() / "other-auth.json";
  r = xb("login --authfile " + q(other) + " -u xbuild --password-stdin " + reg.host(), "s3cret");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(json::parse(xb::read_file(other))["auths"].contains(reg.host()));
  EXPECT_FALSE(fs::exists(docker_config_ / "config.json"));
  EXPECT_EQ(xb("pull -q " + ref).code, 1);
  r = xb("pull -q --authfile " + q(other) + " " + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, ref + "\n");

  // A build FROM the private image finds the credentials through --authfile too.
  ASSERT_EQ(xb("rmi " + ref).code, 0);
  fs::path ctx = tmp_.path() / "ctx";
  fs::create_directories(ctx);
  xb::write_file_atomic(ctx / "Dockerfile", "FROM " + ref + "\nLABEL from=authfile\n");
  EXPECT_EQ(xb("build -q -t built:1 " + q(ctx)).code, 1);
  r = xb("build -q --authfile " + q(other) + " -t built:1 " + q(ctx));
  ASSERT_EQ(r.code, 0) << r.out;

  r = xb("logout --authfile " + q(other) + " " + reg.host());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(json::parse(xb::read_file(other))["auths"].contains(reg.host()));
}

TEST_F(RegistryE2E, FaultsRetriedCorruptionRefused) {
  RegistryServer reg;
  push_busybox(reg.host(), "test/bb:1");
  FaultProxy proxy(reg.port());
  std::string ref = proxy.host() + "/test/bb:1";

  proxy.fail_requests = 1;
  proxy.fail_blob_gets = 2;
  Result r = xb("pull " + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Retrying"), std::string::npos) << r.out;

  // Dropped connections mid-blob: resumed with Range.
  ASSERT_EQ(xb("rmi " + ref).code, 0);
  fs::remove_all(root_);
  proxy.cut_blob_gets = 2;
  r = xb("pull " + ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_GT(proxy.range_gets.load(), 0);
  expect_store_verified();

  // A corrupted blob is refused: exit 1, a digest error, no tag, no wrong blob.
  fs::remove_all(root_);
  proxy.corrupt_blobs = true;
  r = xb("pull " + ref);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("digest mismatch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(ref), std::string::npos) << r.out;
  EXPECT_EQ(xb("images -q").out, "");
  expect_store_verified();
}

// Issue 7: registry faults during a push are retried; a push that fails
// for good leaves no tag behind (the manifest goes last, after every blob).
TEST_F(RegistryE2E, PushFaultsRetriedFailedPushLeavesNoTag) {
  RegistryServer reg;
  FaultProxy proxy(reg.port());
  fs::path rootfs = tmp_.path() / "rootfs.tar";
  ASSERT_EQ(sh("sh " + q(source_ / "tests/tools/make-busybox-rootfs") + " " + q(rootfs)).code, 0);
  ASSERT_EQ(xb("import " + q(rootfs) + " bb").code, 0);
  std::string good = proxy.host() + "/test/pushed:1";
  ASSERT_EQ(xb("tag bb " + good).code, 0);
  proxy.fail_uploads = 2;
  proxy.cut_uploads = 2;
  proxy.fail_manifest_puts = 1;
  Result r = xb("push " + good);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(proxy.manifest_puts.load(), 1);
  json info = skopeo_inspect(reg.host() + "/test/pushed:1");
  EXPECT_EQ(info["Layers"].size(), 1u);

  // Every manifest PUT fails: exit 1, one line naming the registry, and no tag.
  std::string broken = proxy.host() + "/test/broken:1";
  ASSERT_EQ(xb("tag bb " + broken).code, 0);
  proxy.fail_manifest_puts = 1000;
  r = xb("push " + broken);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(proxy.host()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("500"), std::string::npos) << r.out;
  proxy.fail_manifest_puts = 0;
  EXPECT_NE(sh("skopeo inspect --tls-verify=false docker://" + reg.host() + "/test/broken:1").code, 0);

  // Every upload is cut: exit 1, no manifest was even tried, no tag.
  std::string cut = proxy.host() + "/test/cut:1";
  ASSERT_EQ(xb("tag bb " + cut).code, 0);
  int puts_before = proxy.manifest_puts;
  proxy.cut_uploads = 1000;
  r = xb("push " + cut);
  EXPECT_EQ(r.code, 1) << r.out;
  proxy.cut_uploads = 0;
  EXPECT_EQ(proxy.manifest_puts.load(), puts_before);
  EXPECT_NE(sh("skopeo inspect --tls-verify=false docker://" + reg.host() + "/test/cut:1").code, 0);
  // The local store is untouched by the failures.
  EXPECT_EQ(xb("fsck").code, 0) << xb("fsck").out;
}

TEST_F(RegistryE2E, MirrorServesDockerHubNames) {
  RegistryServer reg;
  push_busybox(reg.host(), "library/busybox:latest");
  config_ = tmp_.path() / "xbuild.json";
  xb::write_file_atomic(config_, R"({"mirrors":{"docker.io":["http://)" + reg.host() + R"("]}})");
  Result r = xb("pull busybox");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("docker.io/library/busybox:latest"), std::string::npos) << r.out;
  r = xb("images");
  EXPECT_NE(r.out.find("busybox"), std::string::npos) << r.out;
}

// A mirror declared in podman's registries.conf (CONTAINERS_REGISTRIES_CONF
// here) serves docker.io names; what xbuild ignores is one warning line; a
// malformed line stops the command naming file:line.
TEST_F(RegistryE2E, MirrorFromRegistriesConf) {
  RegistryServer reg;
  push_busybox(reg.host(), "library/busybox:latest");
  fs::path conf = tmp_.path() / "registries.conf";
  xb::write_file_atomic(conf,
                        "unqualified-search-registries = [\"docker.io\"]\n"
                        "[[registry]]\nlocation = \"docker.io\"\n"
                        "[[registry.mirror]]\nlocation = \"" +
                            reg.host() + "\"\ninsecure = true\n");
  Result r = xb("pull busybox");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("docker.io/library/busybox:latest"), std::string::npos) << r.out;
  std::string warning = "registries.conf " + conf.string() +
                        ": xbuild ignores unqualified-search-registries (line 1)\n";
  size_t warn = r.out.find(warning);
  EXPECT_NE(warn, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("xbuild ignores", warn + warning.size()), std::string::npos) << r.out;  // once

  xb::write_file_atomic(conf, "[[registry]]\nlocation = docker.io\n");
  r = xb("pull busybox");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(conf.string() + ":2:"), std::string::npos) << r.out;
}

TEST_F(RegistryE2E, BadInputIsOneClearLine) {
  RegistryServer reg;
  push_busybox(reg.host(), "test/bb:1");
  struct Case {
    std::string args;
    std::string needle;
  };
  fs::path garbage = tmp_.path() / "garbage.tar";
  xb::write_file_atomic(garbage, "this is not an archive\n");
  const Case cases[] = {
      {"pull " + reg.host() + "/test/bb:nope", "not found on registry " + reg.host()},
      {"pull " + reg.host() + "/test/none:1", "not found on registry " + reg.host()},
      {"pull nosuch-host.invalid/x:1", "nosuch-host.invalid"},
      {"pull 127.0.0.1:1/x:1", "127.0.0.1:1"},
      {"load -i " + garbage.string(), "not a docker or OCI image archive"},
      {"pull Not/Valid", "must be lowercase"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    Result r = xb(c.args);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
  EXPECT_EQ(xb("images -q").out, "");
  if (fs::exists(root_ / "ingest")) {
    EXPECT_TRUE(fs::is_empty(root_ / "ingest"));
  }
  expect_store_verified();
}

// Issue 14: a blob whose bytes no longer match its digest never leaves the
// store: save (docker and OCI), build outputs (type=oci, type=docker, and
// the flattened type=tar and type=local), push
// and run's unpack each fail with one line naming the blob and `xbuild fsck
// --repair`, and nothing is written under the final name. Before, `xbuild
// save` exported the corrupted layer, exit 0.
TEST_F(RegistryE2E, CorruptBlobNeverLeavesTheStore) {
  RegistryServer reg, reg2;
  fs::path rootfs = tmp_.path() / "rootfs.tar";
  Result r = sh("sh " + q(source_ / "tests/tools/make-busybox-rootfs") + " " + q(rootfs));
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_EQ(xb("import " + q(rootfs) + " bb:1").code, 0);
  auto blobs = [&] {
    std::set<fs::path> out;
    for (const auto& e : fs::directory_iterator(root_ / "blobs/sha256")) out.insert(e.path());
    return out;
  };
  // The largest of these blobs, with one byte in its middle flipped; its digest.
  auto corrupt_largest = [&](const std::set<fs::path>& among) {
    fs::path layer;
    for (const auto& p : among)
      if (layer.empty() || fs::file_size(p) > fs::file_size(layer)) layer = p;
    std::string bytes = xb::read_file(layer);
    bytes[bytes.size() / 2] ^= 0x20;
    fs::permissions(layer, fs::perms::owner_write, fs::perm_options::add);
    { std::ofstream(layer, std::ios::binary | std::ios::trunc) << bytes; }
    return "sha256:" + layer.filename().string();
  };
  // A push that works compresses the layer into a new (gzip) blob; corrupted,
  // it must not reach another registry (checked while it uploads).
  std::set<fs::path> before = blobs();
  ASSERT_EQ(xb("tag bb:1 " + reg.host() + "/test/good:1").code, 0);
  r = xb("push " + reg.host() + "/test/good:1");
  ASSERT_EQ(r.code, 0) << r.out;
  std::set<fs::path> made;
  for (const auto& p : blobs())
    if (!before.count(p)) made.insert(p);
  std::string gz = corrupt_largest(made);
  ASSERT_EQ(xb("tag bb:1 " + reg2.host() + "/test/corrupt:1").code, 0);
  r = xb("push " + reg2.host() + "/test/corrupt:1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("error: push " + reg2.host() + "/test/corrupt:1: blob " + gz + " in the store"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("xbuild fsck --repair"), std::string::npos) << r.out;
  EXPECT_NE(sh("skopeo inspect --tls-verify=false docker://" + reg2.host() + "/test/corrupt:1").code, 0);
  r = xb("fsck --repair");  // removes the corrupt copy; what it was made from is intact
  EXPECT_NE(r.out.find(gz), std::string::npos) << r.out;
  ASSERT_EQ(xb("fsck").code, 0) << xb("fsck").out;

  const std::string blob = corrupt_largest(before);
  ASSERT_EQ(xb("tag bb:1 " + reg2.host() + "/test/corrupt:2").code, 0);

  fs::path ctx = tmp_.path() / "ctx";
  fs::create_directories(ctx);
  xb::write_file_atomic(ctx / "Dockerfile", "FROM bb:1\nLABEL x=y\n");
  fs::path out = tmp_.path() / "out.tar";
  struct Case {
    std::string name, args;
  };
  std::vector<Case> cases = {
      {"save", "save -o " + q(out) + " bb:1"},
      {"save-oci", "save --format oci -o " + q(out) + " bb:1"},
      {"build-oci", "build --progress plain -o type=oci,dest=" + q(out) + " " + q(ctx)},
      {"build-docker", "build --progress plain -o type=docker,dest=" + q(out) + " " + q(ctx)},
      {"push", "push " + reg2.host() + "/test/corrupt:2"},
      // The root file system outputs flatten the layers: verified too.
      {"build-tar", "build --progress plain -o type=tar,dest=" + q(out) + " " + q(ctx)},
      {"build-local", "build --progress plain -o type=local,dest=" + q(out) + " " + q(ctx)},
  };
  if (::geteuid() == 0) cases.push_back({"run", "run --rm bb:1 true"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    r = xb(c.args);
    EXPECT_EQ(r.code, 1) << r.out;
    std::string err = r.out.substr(r.out.find("error:") == std::string::npos ? 0 : r.out.find("error:"));
    EXPECT_NE(err.find("blob " + blob), std::string::npos) << r.out;
    EXPECT_NE(err.find("is corrupt"), std::string::npos) << r.out;
    EXPECT_NE(err.find("xbuild fsck --repair"), std::string::npos) << r.out;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << r.out;
    EXPECT_FALSE(fs::exists(out)) << "an archive was written under the final name";
  }
  // Nothing reached the registry under the tag.
  EXPECT_NE(sh("skopeo inspect --tls-verify=false docker://" + reg2.host() + "/test/corrupt:2").code, 0);
  // fsck names it, --repair removes it.
  r = xb("fsck");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(blob), std::string::npos) << r.out;
}

}  // namespace
