// prune and fsck on a temporary store, without root and without building:
// images, blobs and cache records are written directly, as a build and a
// pull leave them.
#include "gc/gc.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>

#include "cache/cache.h"
#include "common/fs.h"

namespace xb::gc {
namespace {

namespace fs = std::filesystem;

class Gc : public ::testing::Test {
 protected:
  Gc() : tmp_("gc-test"), st_(tmp_.path() / "store") {}

  cache::Layer blob(const std::string& content) {
    Digest d = st_.put_blob(content);
    return cache::Layer{d, d, content.size(), std::string(store::media_type::oci_layer)};
  }
  // A tagged image with one layer; returns its blobs (manifest, config, layer).
  std::vector<Digest> image(const std::string& ref, const std::string& layer_content) {
    cache::Layer l = blob(layer_content);
    store::ImageConfig c;
    c.architecture = "amd64";
    c.os = "linux";
    c.diff_ids = {l.diff_id};
    std::string cj = c.to_json();
    Digest cd = st_.put_blob(cj);
    store::Manifest m{
        std::string(store::media_type::oci_manifest),
        store::Descriptor{
            std::string(store::media_type::oci_config), cd, static_cast<int64_t>(cj.size()), {}, std::nullopt, {}, {}},
        {store::Descriptor{l.media_type, l.blob, static_cast<int64_t>(l.size), {}, std::nullopt, {}, {}}},
        {},
        std::nullopt};
    std::string mj = m.to_json();
    Digest md = st_.put_blob(mj);
    st_.set_image(store::ImageRef::parse(ref),
                  store::Descriptor{m.media_type, md, static_cast<int64_t>(mj.size()), {}, std::nullopt, {}, {}});
    return {md, cd, l.blob};
  }
  // A layers-only cache record (as a remote hit kept locally), last used at `when`.
  void record(const std::string& key, const std::vector<cache::Layer>& layers, int64_t when = 1700000000) {
    cache::LocalCache(st_).put(Digest::of(key), cache::CacheRecord{"", layers});
    fs::path f = st_.root() / "records" / "cache" / std::string(Digest::of(key).hex());
    fs::last_write_time(f, fs::file_time_type::clock::from_sys(std::chrono::sys_seconds(std::chrono::seconds(when))));
  }
  bool has_record(const std::string& key) { return cache::LocalCache(st_).get(Digest::of(key)).has_value(); }
  static std::vector<std::string> names(const PruneReport& r, const std::string& kind) {
    std::vector<std::string> out;
    for (const auto& i : r.items)
      if (i.kind == kind) out.push_back(i.name);
    return out;
  }

  TempDir tmp_;
  store::Store st_;
};

TEST_F(Gc, PruneKeepsTaggedImagesAndRecordsAndRemovesWhatNothingReaches) {
  auto img = image("localhost/app:1", "image layer");
  cache::Layer kept = blob("cached layer");
  record("kept", {kept});
  Digest stray = st_.put_blob("nobody names me");
  // A record whose blob is gone: dangling.
  record("dangling",
         {cache::Layer{Digest::of("lost"), Digest::of("lost"), 4, std::string(store::media_type::oci_layer)}});

  PruneReport r = prune(st_, {});
  for (const auto& d : img) EXPECT_TRUE(st_.has_blob(d)) << d.str();
  EXPECT_TRUE(st_.has_blob(kept.blob));
  EXPECT_TRUE(has_record("kept"));
  EXPECT_FALSE(st_.has_blob(stray));
  EXPECT_EQ(names(r, "blob"), std::vector<std::string>{stray.str()});
  EXPECT_FALSE(cache::LocalCache(st_).count() != 1);
  EXPECT_EQ(names(r, "build cache"), std::vector<std::string>{std::string(Digest::of("dangling").hex())});
  EXPECT_GT(r.reclaimed(), 0u);

  // --all: every record goes, and with it its blobs; the image stays.
  PruneOptions all;
  all.all = true;
  prune(st_, all);
  EXPECT_EQ(cache::LocalCache(st_).count(), 0u);
  EXPECT_FALSE(st_.has_blob(kept.blob));
  for (const auto& d : img) EXPECT_TRUE(st_.has_blob(d)) << d.str();
}

TEST_F(Gc, KeepStorageRemovesLeastRecentlyUsedFirst) {
  cache::Layer old_l = blob(std::string(8192, 'o')), mid_l = blob(std::string(8192, 'm')),
               new_l = blob(std::string(8192, 'n'));
  record("newest", {new_l}, 1700000300);
  record("oldest", {old_l}, 1700000100);
  record("middle", {mid_l}, 1700000200);
  PruneOptions o;
  o.keep_storage = 2 * 8192 + 100;  // room for two
  PruneReport r = prune(st_, o);
  EXPECT_EQ(names(r, "build cache"), std::vector<std::string>{std::string(Digest::of("oldest").hex())});
  EXPECT_FALSE(has_record("oldest"));
  EXPECT_TRUE(has_record("middle"));
  EXPECT_TRUE(has_record("newest"));
  EXPECT_FALSE(st_.has_blob(old_l.blob));
  EXPECT_TRUE(st_.has_blob(mid_l.blob));

  o.keep_storage = 0;
  prune(st_, o);
  EXPECT_EQ(cache::LocalCache(st_).count(), 0u);
}

TEST_F(Gc, DryRunRemovesNothing) {
  image("localhost/app:1", "image layer");
  Digest stray = st_.put_blob("nobody names me");
  record("dangling",
         {cache::Layer{Digest::of("lost"), Digest::of("lost"), 4, std::string(store::media_type::oci_layer)}});
  write_file_atomic(st_.root() / "ingest" / "killed.part", "half a blob");
  fs::path mount = cache::LocalCache(st_).mount_dir("npm");
  fs::create_directories(mount);
  PruneOptions o;
  o.dry_run = true;
  o.all = true;
  PruneReport r = prune(st_, o);
  EXPECT_EQ(names(r, "blob"), std::vector<std::string>{stray.str()});
  EXPECT_EQ(names(r, "build cache").size(), 1u);
  EXPECT_EQ(names(r, "cache mount"), std::vector<std::string>{mount.string()});
  auto tmps = names(r, "temporary");
  EXPECT_NE(std::find(tmps.begin(), tmps.end(), (st_.root() / "ingest" / "killed.part").string()), tmps.end());
  EXPECT_TRUE(st_.has_blob(stray));
  EXPECT_TRUE(fs::exists(st_.root() / "ingest" / "killed.part"));
  EXPECT_TRUE(fs::exists(mount));
  EXPECT_EQ(cache::LocalCache(st_).count(), 1u);

  o.dry_run = false;
  prune(st_, o);
  EXPECT_FALSE(st_.has_blob(stray));
  EXPECT_FALSE(fs::exists(st_.root() / "ingest" / "killed.part"));
  EXPECT_FALSE(fs::exists(mount));
}

TEST_F(Gc, FsckFindsACorruptBlobAndRepairRemovesIt) {
  auto img = image("localhost/app:1", "image layer");
  record("dangling",
         {cache::Layer{Digest::of("lost"), Digest::of("lost"), 4, std::string(store::media_type::oci_layer)}});
  FsckReport clean = fsck(st_, false);
  EXPECT_EQ(clean.images, 1u);
  EXPECT_EQ(clean.blobs, 3u);
  ASSERT_EQ(clean.problems.size(), 1u);
  EXPECT_NE(clean.problems[0].find("cache record " + std::string(Digest::of("dangling").hex())), std::string::npos);

  // Bit rot in the layer.
  fs::path p = st_.blob_path(img[2]);
  ::chmod(p.c_str(), 0644);
  write_file_atomic(p, "image layeR", 0444);
  FsckReport bad = fsck(st_, false);
  bool found = false;
  for (const auto& pr : bad.problems)
    found = found || (pr.find("blob " + img[2].str()) == 0 && pr.find("(corrupt)") != std::string::npos);
  EXPECT_TRUE(found);
  EXPECT_TRUE(st_.has_blob(img[2]));
  EXPECT_TRUE(bad.repaired.empty());

  FsckReport fixed = fsck(st_, true);
  EXPECT_FALSE(st_.has_blob(img[2]));
  EXPECT_EQ(cache::LocalCache(st_).count(), 0u);
  ASSERT_EQ(fixed.repaired.size(), 2u);
  EXPECT_EQ(fixed.repaired[0], "removed corrupt blob " + img[2].str());
  EXPECT_EQ(fixed.repaired[1], "removed cache record " + std::string(Digest::of("dangling").hex()));
}

}  // namespace
}  // namespace xb::gc
