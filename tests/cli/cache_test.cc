// --cache-to / --cache-from end to end, the way a CI pipeline uses them:
// one store builds and exports its cache (to a real docker-registry, a local
// directory, or inline in a pushed image), a fresh store imports it and must
// run nothing, get the same image ID, and fetch only the layers it needs.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "common/digest.h"
#include "common/fs.h"
#include "tests/support/registry_server.h"
#include "tests/support/shell.h"

namespace fs = std::filesystem;
using nlohmann::json;
using xb::testing::RegistryServer;

namespace {

using Result = xb::testing::ShellResult;
using xb::testing::q;
using xb::testing::sh;

// A builder stage, then a final stage that copies from it and from the context.
const char* kDockerfile = R"(FROM bb AS builder
RUN echo built > /artifact && date +%s%N > /built-at
FROM bb
ARG FLAVOR=plain
RUN echo "$FLAVOR" > /flavor
COPY --from=builder /artifact /artifact
COPY app.txt /app/app.txt
RUN cat /app/app.txt /artifact /flavor > /combined
)";

// The steps, numbered here by the text of their instruction (xbuild's own
// "#N" numbers follow the order it shows them in, which may vary): 1 RUN
// flavor, 2 the builder's RUN, 3 COPY --from, 4 COPY app.txt, 5 RUN cat.
constexpr int kSteps = 5;
const char* kStepTexts[kSteps] = {"RUN echo \"$FLAVOR\"", "RUN echo built", "COPY --from=builder", "COPY app.txt",
                                  "RUN cat"};

class CacheE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "building images needs root";
    if (sh("command -v busybox || test -x /bin/busybox").code != 0) GTEST_SKIP() << "busybox-static is not installed";
    const char* bin = std::getenv("XBUILD_BINARY");
    const char* src = std::getenv("XBUILD_SOURCE_DIR");
    xbuild_ = bin ? bin : XBUILD_TEST_BINARY;
    source_ = src ? src : XBUILD_TEST_SOURCE_DIR;
    rootfs_ = tmp_.path() / "rootfs.tar";
    Result r = sh("sh " + q(source_ / "tests/tools/make-busybox-rootfs") + " " + q(rootfs_));
    ASSERT_EQ(r.code, 0) << r.out;
    ctx_ = tmp_.path() / "ctx";
    fs::create_directories(ctx_);
    xb::write_file_atomic(ctx_ / "Dockerfile", kDockerfile);
    xb::write_file_atomic(ctx_ / "app.txt", "app v1\n");
    docker_config_ = tmp_.path() / "docker";
    fs::create_directories(docker_config_);
  }

  // A fresh store ("machine") with the base image: the same image every
  // machine would pull (loaded from one archive), or with own_import its
  // own import of the same root file system (another config: the import
  // time), which must not change any cache key.
  fs::path machine(const std::string& name, bool own_import = false) {
    fs::path root = tmp_.path() / name;
    fs::path base = tmp_.path() / "base.tar";
    if (!own_import && !fs::exists(base)) {
      fs::path seed = tmp_.path() / "seed";
      Result r = xb(seed, "import " + q(rootfs_) + " bb");
      EXPECT_EQ(r.code, 0) << r.out;
      r = xb(seed, "save --format oci -o " + q(base) + " bb");
      EXPECT_EQ(r.code, 0) << r.out;
    }
    Result r = own_import ? xb(root, "import " + q(rootfs_) + " bb") : xb(root, "load -i " + q(base));
    EXPECT_EQ(r.code, 0) << r.out;
    return root;
  }

  Result xb(const fs::path& root, const std::string& args) {
    return sh("XBUILD_ROOT=" + q(root) + " DOCKER_CONFIG=" + q(docker_config_) + " SOURCE_DATE_EPOCH=1700000000 " +
              q(xbuild_) + " " + args);
  }

  Result build(const fs::path& root, const std::string& flags) {
    return xb(root, "build --progress plain --iidfile " + q(tmp_.path() / "iid") + " " + flags + " " + q(ctx_));
  }
  std::string iid() { return xb::read_file(tmp_.path() / "iid"); }

  // Step numbers the plain progress shows as CACHED, and as run (DONE).
  // The steps (see kStepTexts) that xbuild's plain progress marked `what`.
  static std::set<int> steps_with(const std::string& out, const std::string& what) {
    std::map<int, int> step_of;  // xbuild's #N -> our step number
    std::set<int> s;
    std::regex named(R"(^#([0-9]+) \[[^\]]*\] (.*)$)");
    std::regex re("^#([0-9]+) " + what + "( |$)");
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_search(line, m, named)) {
        for (int i = 0; i < kSteps; ++i)
          if (m[2].str().starts_with(kStepTexts[i])) step_of[std::stoi(m[1])] = i + 1;
      } else if (std::regex_search(line, m, re)) {
        if (auto it = step_of.find(std::stoi(m[1])); it != step_of.end()) s.insert(it->second);
      }
    }
    return s;
  }
  static std::set<int> all_steps() {
    std::set<int> s;
    for (int i = 1; i <= kSteps; ++i) s.insert(i);
    return s;
  }

  // The manifest digest of the first "exported cache to …" line.
  static std::string exported_digest(const std::string& out) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("exported cache to [^\n]*\\((sha256:[0-9a-f]{64})\\)"))) return {};
    return m[1];
  }

  std::set<std::string> blobs(const fs::path& root) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(root / "blobs/sha256"))
      out.insert("sha256:" + e.path().filename().string());
    return out;
  }

  json inspect(const fs::path& root, const std::string& ref) {
    Result r = xb(root, "inspect " + ref);
    EXPECT_EQ(r.code, 0) << r.out;
    return json::parse(r.out).at(0);
  }

  xb::TempDir tmp_{"cache-e2e"};
  fs::path xbuild_, source_, rootfs_, ctx_, docker_config_;
};

TEST_F(CacheE2E, RegistryCacheMakesAFreshStoreRunNothing) {
  if (auto why = RegistryServer::unavailable_reason()) GTEST_SKIP() << *why;
  RegistryServer reg;
  std::string cache = reg.host() + "/team/app-cache:main";

  fs::path a = machine("a");
  Result r = build(a, "-t app --cache-to type=registry,ref=" + cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "DONE"), all_steps()) << r.out;
  std::string exported = exported_digest(r.out);
  ASSERT_FALSE(exported.empty()) << r.out;
  std::string id_a = iid();
  // Exporting again (everything cached now) writes the same cache, byte for byte.
  r = build(a, "-t app --cache-to type=registry,ref=" + cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(exported_digest(r.out), exported);

  // Machine B: an empty store (its own import of the base, at another time).
  fs::path b = machine("b");
  r = build(b, "-t app --cache-from type=registry,ref=" + cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "CACHED"), all_steps()) << r.out;
  EXPECT_TRUE(steps_with(r.out, "DONE").empty()) << r.out;
  EXPECT_NE(r.out.find("5 steps, 5 cached"), std::string::npos) << r.out;
  EXPECT_EQ(iid(), id_a);
  // Lazy: min mode has no builder-stage records, and nothing beyond the image was fetched.
  json img = inspect(b, "app");
  std::set<std::string> layers;
  for (const auto& l : img["Layers"]) layers.insert(l["digest"].get<std::string>());
  for (const auto& blob : blobs(b)) {
    if (layers.count(blob)) continue;
    std::string text = xb::read_file(b / "blobs/sha256" / blob.substr(7));
    EXPECT_LT(text.size(), 100000u) << blob << " is neither a layer of the image nor metadata";
  }
  // B, exporting what it imported, writes the very same cache: nothing in it is machine-specific.
  r = build(
      b, "-t app --cache-from type=registry,ref=" + cache + " --cache-to type=local,dest=" + q(tmp_.path() / "from-b"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(exported_digest(r.out), exported) << r.out;
  // The image is complete: it runs, with the builder stage's output in it.
  r = xb(b, "run app cat /combined");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "app v1\nbuilt\nplain\n");

  // A third build on B needs no --cache-from: the hits became local records.
  r = build(b, "-t app");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(steps_with(r.out, "DONE").empty()) << r.out;

  // A changed context file: only the steps that read it (and what follows) run.
  xb::write_file_atomic(ctx_ / "app.txt", "app v2\n");
  fs::path c = machine("c", /*own_import=*/true);
  r = build(c, "-t app --cache-from type=registry,ref=" + cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "DONE"), (std::set<int>{4, 5})) << r.out;
  EXPECT_EQ(steps_with(r.out, "CACHED"), (std::set<int>{1, 2, 3})) << r.out;
  r = xb(c, "run app cat /combined");
  EXPECT_EQ(r.out, "app v2\nbuilt\nplain\n");
}

TEST_F(CacheE2E, ModeMaxAlsoCachesTheOtherStages) {
  if (auto why = RegistryServer::unavailable_reason()) GTEST_SKIP() << *why;
  RegistryServer reg;
  std::string min_ref = reg.host() + "/c:min", max_ref = reg.host() + "/c:max";
  fs::path a = machine("a");
  Result r = build(
      a, "-t app --cache-to type=registry,ref=" + min_ref + " --cache-to type=registry,ref=" + max_ref + ",mode=max");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("exported cache to type=registry,ref=" + min_ref + ": 4 steps"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exported cache to type=registry,ref=" + max_ref + ": 5 steps"), std::string::npos) << r.out;

  // Another FLAVOR changes the final stage from step 2 on; the builder stage is
  // the same, but only a max cache has it.
  fs::path b = machine("b");
  r = build(b, "--build-arg FLAVOR=spicy --cache-from type=registry,ref=" + min_ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "DONE"), all_steps()) << r.out;
  fs::path c = machine("c");
  r = build(c, "--build-arg FLAVOR=spicy --cache-from type=registry,ref=" + max_ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "CACHED"), (std::set<int>{2})) << r.out;
  EXPECT_EQ(steps_with(r.out, "DONE"), (std::set<int>{1, 3, 4, 5})) << r.out;

  // A full hit with the max cache fetches the final image's layers, not the builder stage's.
  fs::path d = machine("d");
  r = build(d, "-t app --cache-from type=registry,ref=" + max_ref);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "CACHED"), all_steps()) << r.out;
  r = sh("skopeo inspect --raw --tls-verify=false docker://" + max_ref);
  ASSERT_EQ(r.code, 0) << r.out;
  json cache_manifest = json::parse(r.out);
  r = sh("skopeo inspect --raw --config --tls-verify=false docker://" + max_ref);
  ASSERT_EQ(r.code, 0) << r.out;
  json cache_config = json::parse(r.out);
  json img = inspect(d, "app");
  std::set<std::string> image_blobs, image_diff_ids;
  for (const auto& l : img["Layers"]) image_blobs.insert(l["digest"].get<std::string>());
  for (const auto& id : img["RootFS"]["Layers"]) image_diff_ids.insert(id.get<std::string>());
  ASSERT_EQ(image_diff_ids.size(), 5u) << img.dump();
  int builder_only = 0;
  for (size_t i = 0; i < cache_manifest["layers"].size(); ++i) {
    std::string digest = cache_manifest["layers"][i]["digest"];
    if (!image_diff_ids.count(cache_config["diff_ids"][i].get<std::string>())) builder_only++;
    // Neither the builder's layer nor the cache's gzip copy of the base (the store has it plain) is fetched.
    if (!image_blobs.count(digest)) {
      EXPECT_FALSE(fs::exists(d / "blobs/sha256" / digest.substr(7))) << digest << " was fetched but is not needed";
    }
  }
  EXPECT_EQ(builder_only, 1);
  // Layers leave the machine gzip-compressed by default.
  for (const auto& l : cache_manifest["layers"])
    EXPECT_EQ(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip") << l.dump();

  // skopeo copies the cache like any image (verifying every blob); the copy, an
  // OCI layout, serves as a local cache.
  fs::path copy = tmp_.path() / "skopeo-copy";
  r = sh("skopeo copy --quiet --src-tls-verify=false docker://" + max_ref + " oci:" + copy.string() + ":ci");
  ASSERT_EQ(r.code, 0) << r.out;
  fs::path e = machine("e");
  r = build(e, "--build-arg FLAVOR=spicy --cache-from type=local,src=" + q(copy) + ",tag=ci");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "CACHED"), (std::set<int>{2})) << r.out;
}

// Without SOURCE_DATE_EPOCH history times are those of the machine that
// ran each step (kept in the cache), so another machine building from that
// cache gets the same image ID, as with BuildKit; --no-cache gets a new one.
TEST_F(CacheE2E, WithoutAnEpochAFreshStoreGetsTheSameImageIdFromTheCache) {
  fs::path dir = tmp_.path() / "cache-dir";
  fs::path a = machine("a"), b = machine("b");
  const std::string no_epoch = "env SOURCE_DATE_EPOCH= ";
  auto build_at = [&](const fs::path& root, const std::string& flags) {
    return sh("XBUILD_ROOT=" + q(root) + " " + no_epoch + q(xbuild_) + " build --progress plain --iidfile " +
              q(tmp_.path() / "iid") + " " + flags + " " + q(ctx_));
  };
  Result r = build_at(a, "-t app --cache-to type=local,dest=" + q(dir) + ",mode=max");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string id_a = iid();
  r = build_at(b, "-t app --cache-from type=local,src=" + q(dir));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "CACHED"), all_steps()) << r.out;
  EXPECT_EQ(iid(), id_a);
  r = build_at(b, "-t app --no-cache");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(iid(), id_a);
}

TEST_F(CacheE2E, LocalDirectoryCache) {
  fs::path dir = tmp_.path() / "cache-dir";
  fs::path a = machine("a");
  Result r = build(a, "-t app --cache-to type=local,dest=" + q(dir) + ",mode=max,compression=zstd");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string id_a = iid();
  // An OCI layout other tools read.
  EXPECT_TRUE(fs::exists(dir / "oci-layout"));
  json index = json::parse(xb::read_file(dir / "index.json"));
  ASSERT_EQ(index["manifests"].size(), 1u);
  EXPECT_EQ(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "latest");
  json manifest = json::parse(
      xb::read_file(dir / "blobs/sha256" / index["manifests"][0]["digest"].get<std::string>().substr(7)));
  for (const auto& l : manifest["layers"])
    EXPECT_EQ(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd") << l.dump();
  if (sh("command -v skopeo").code == 0) {
    r = sh("skopeo inspect --raw oci:" + dir.string() + ":latest");
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(json::parse(r.out)["config"]["mediaType"], "application/vnd.xbuild.cache.config.v1+json");
  }
  for (const auto& e : fs::directory_iterator(dir / "blobs/sha256"))
    EXPECT_EQ(xb::Digest::of(xb::read_file(e.path())).hex(), e.path().filename().string());

  fs::path b = machine("b");
  r = build(b, "-t app --cache-from type=local,src=" + q(dir));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "CACHED"), all_steps()) << r.out;
  EXPECT_EQ(iid(), id_a);

  // A corrupted layer in the directory is refused by digest, never used.
  json m = json::parse(
      xb::read_file(dir / "blobs/sha256" / index["manifests"][0]["digest"].get<std::string>().substr(7)));
  for (const auto& l : m["layers"]) {
    fs::path p = dir / "blobs/sha256" / l["digest"].get<std::string>().substr(7);
    fs::permissions(p, fs::perms::owner_write, fs::perm_options::add);
    std::string bytes = xb::read_file(p);
    bytes[bytes.size() / 2] ^= 1;
    std::ofstream(p, std::ios::binary) << bytes;
  }
  fs::path c = machine("c");
  r = build(c, "-t app --cache-from type=local,src=" + q(dir));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("digest mismatch"), std::string::npos) << r.out;
}

TEST_F(CacheE2E, InlineCacheInAPushedImage) {
  if (auto why = RegistryServer::unavailable_reason()) GTEST_SKIP() << *why;
  RegistryServer reg;
  std::string image = reg.host() + "/team/app:1";
  fs::path a = machine("a");
  Result r = build(a, "-t " + image + " --push --cache-to type=inline");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string id_a = iid();
  // The metadata travels in the pushed image's config.
  r = sh("skopeo inspect --raw --config --tls-verify=false docker://" + image);
  ASSERT_EQ(r.code, 0) << r.out;
  json cfg = json::parse(r.out);
  ASSERT_TRUE(cfg.contains("xbuild.cache.v1")) << r.out;
  EXPECT_EQ(cfg["xbuild.cache.v1"]["records"].size(), 4u);  // the final stage's steps

  // An image built FROM it without type=inline does not inherit the metadata.
  fs::path ctx2 = tmp_.path() / "ctx2";
  fs::create_directories(ctx2);
  xb::write_file_atomic(ctx2 / "Dockerfile", "FROM " + image + "\nRUN true\n");
  r = xb(a, "build -q " + q(ctx2));
  ASSERT_EQ(r.code, 0) << r.out;
  std::string child_id = r.out.substr(0, r.out.find('\n'));
  json child = json::parse(xb::read_file(a / "blobs/sha256" / child_id.substr(7)));
  EXPECT_FALSE(child.contains("xbuild.cache.v1")) << child.dump();

  fs::path b = machine("b");
  r = build(b, "-t app --cache-to type=inline --cache-from type=registry,ref=" + image);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "CACHED"), all_steps()) << r.out;
  EXPECT_EQ(iid(), id_a);
  r = xb(b, "run app cat /combined");
  EXPECT_EQ(r.out, "app v1\nbuilt\nplain\n");
}

TEST_F(CacheE2E, AnUnusableCacheIsAWarningNotAFailure) {
  if (auto why = RegistryServer::unavailable_reason()) GTEST_SKIP() << *why;
  RegistryServer open;
  RegistryServer locked({.auth = RegistryServer::Auth::basic});
  fs::path a = machine("a");
  Result r = build(a, "--cache-from type=registry,ref=" + open.host() + "/no/such:cache" +
                          " --cache-from type=registry,ref=" + locked.host() + "/private/cache:1" +
                          " --cache-from type=registry,ref=127.0.0.1:1/nothing:here" +
                          " --cache-from type=local,src=" + q(tmp_.path() / "missing"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(steps_with(r.out, "DONE"), all_steps()) << r.out;
  for (const std::string& what : {open.host() + "/no/such:cache", locked.host() + "/private/cache:1",
                                  std::string("127.0.0.1:1/nothing:here"), (tmp_.path() / "missing").string()})
    EXPECT_NE(r.out.find("WARNING: --cache-from type="), std::string::npos) << what;
  EXPECT_NE(r.out.find("not found"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("xbuild login " + locked.host()), std::string::npos) << r.out;

  // Exporting where one may not write fails the build (as BuildKit), unless ignore-error=true.
  r = build(a, "--cache-to type=registry,ref=" + locked.host() + "/private/cache:1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("error: --cache-to type=registry,ref=" + locked.host()), std::string::npos) << r.out;
  r = build(a, "--cache-to type=registry,ref=" + locked.host() + "/private/cache:1,ignore-error=true");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("WARNING: --cache-to"), std::string::npos) << r.out;

  r = build(a, "--cache-to type=registry");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--cache-to type=registry: needs ref="), std::string::npos) << r.out;
}

}  // namespace
