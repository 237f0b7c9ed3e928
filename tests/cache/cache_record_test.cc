// The local build cache records: the versioned JSON round-trips, records
// written by earlier xbuilds (today's format, byte for byte) still read, and
// what cannot be read is a miss for the solver and a named reason for gc.
#include <gtest/gtest.h>

#include "cache/cache.h"
#include "common/fs.h"

namespace xb::cache {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Layer layer(const std::string& content, std::string created = "") {
  Digest d = Digest::of(content);
  return Layer{d, d, content.size(), std::string(store::media_type::oci_layer), std::move(created)};
}

TEST(CacheRecord, RoundTripsThroughJson) {
  CacheRecord r{"build-" + std::string(64, 'a'), {layer("base"), layer("step", "2026-11-23T14:01:02.5Z")}};
  json j = r.to_json();
  EXPECT_EQ(j.at("v"), 1);
  EXPECT_EQ(CacheRecord::from_json(j), r);
  EXPECT_EQ(CacheRecord::from_json(json::parse(j.dump())), r);
  CacheRecord layers_only{"", {layer("x")}};
  EXPECT_EQ(CacheRecord::from_json(layers_only.to_json()), layers_only);
}

// A record as the solver has written it since the first version (a store
// filled by an older xbuild keeps its cache).
TEST(CacheRecord, ReadsTodaysFormat) {
  const std::string a = "sha256:" + std::string(64, 'a'), b = "sha256:" + std::string(64, 'b');
  json old = json::parse(
      R"({"v":1,"snapshot":"build-0123","layers":[)"
      R"({"diff_id":")" +
      a + R"(","blob":")" + a +
      R"(","size":12,"media_type":"application/vnd.oci.image.layer.v1.tar"},)"
      R"({"diff_id":")" +
      a + R"(","blob":")" + b +
      R"(","size":7,"media_type":"application/vnd.oci.image.layer.v1.tar+gzip","created":"2026-01-02T03:04:05Z"}]})");
  CacheRecord r = CacheRecord::from_json(old);
  EXPECT_EQ(r.snapshot, "build-0123");
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].blob.str(), a);
  EXPECT_EQ(r.layers[0].size, 12u);
  EXPECT_EQ(r.layers[0].created, "");
  EXPECT_EQ(r.layers[1].blob.str(), b);
  EXPECT_EQ(r.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(r.layers[1].created, "2026-01-02T03:04:05Z");
  // And it is written back the same way.
  EXPECT_EQ(r.to_json(), old);
}

TEST(CacheRecord, RefusesOtherVersionsAndMalformedRecords) {
  try {
    CacheRecord::from_json(json{{"v", 2}, {"snapshot", ""}, {"layers", json::array()}});
    FAIL() << "version 2 was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::failed_precondition);
    EXPECT_STREQ(e.what(), "unknown record version");
  }
  EXPECT_THROW(CacheRecord::from_json(json{{"snapshot", ""}, {"layers", json::array()}}),
               Error);  // no version
  EXPECT_ANY_THROW(CacheRecord::from_json(json{{"v", 1}, {"layers", json::array()}}));
  EXPECT_ANY_THROW(
      CacheRecord::from_json(json{{"v", 1}, {"snapshot", ""}, {"layers", json::array({{{"blob", "x"}}})}}));
  EXPECT_ANY_THROW(CacheRecord::from_json(json::array()));
}

TEST(LocalCache, PutGetTouchAndEntriesNameWhatIsWrong) {
  TempDir tmp("local-cache-test");
  store::Store st(tmp.path() / "store");
  LocalCache c(st);
  CacheKey k = Digest::of("step");
  EXPECT_FALSE(c.get(k));
  CacheRecord r{"build-x", {layer("l")}};
  c.put(k, r);
  EXPECT_EQ(c.get(k), r);
  // Stored under the key's hex, where every xbuild looks.
  EXPECT_TRUE(st.records("cache").get_json(std::string(k.hex())));

  st.records("cache").put_json(std::string(Digest::of("v9").hex()), json{{"v", 9}});
  st.records("cache").put(std::string(Digest::of("junk").hex()), "not json");
  EXPECT_FALSE(c.get(Digest::of("v9")));  // a miss: the step runs and rewrites it
  EXPECT_FALSE(c.get(Digest::of("junk")));
  EXPECT_EQ(c.count(), 3u);
  std::map<std::string, LocalCache::Entry> by;
  for (auto& e : c.entries()) by.emplace(e.name, e);
  EXPECT_EQ(by.at(std::string(k.hex())).invalid, "");
  EXPECT_EQ(by.at(std::string(k.hex())).record, r);
  EXPECT_EQ(by.at(std::string(Digest::of("v9").hex())).invalid, "unknown record version");
  EXPECT_EQ(by.at(std::string(Digest::of("junk").hex())).invalid.rfind("unreadable: ", 0), 0u);
  c.remove(std::string(Digest::of("junk").hex()));
  EXPECT_EQ(c.count(), 2u);
}

TEST(LocalCache, CacheMountsAndStatCachesAreItsDirectories) {
  TempDir tmp("local-cache-test");
  store::Store st(tmp.path() / "store");
  LocalCache c(st);
  fs::path m = c.mount_dir("npm");
  EXPECT_EQ(m, c.mount_dir("npm"));
  EXPECT_NE(m, c.mount_dir("pip"));
  fs::create_directories(m / "sub");
  write_file_atomic(m / "sub" / "f", "12345");
  fs::path s = c.stat_cache(tmp.path() / "ctx");
  EXPECT_EQ(s, c.stat_cache(tmp.path() / "x" / ".." / "ctx"));  // by the normalized absolute path
  fs::create_directories(s.parent_path());
  write_file_atomic(s, "stat");
  auto dirs = c.dirs(false);
  ASSERT_EQ(dirs.size(), 2u);
  EXPECT_EQ(dirs[0].kind, "cache mount");
  EXPECT_GT(dirs[0].size, 0u);
  EXPECT_EQ(dirs[1].kind, "temporary");
  EXPECT_TRUE(fs::exists(m));
  c.dirs(true);
  EXPECT_FALSE(fs::exists(m));
  EXPECT_FALSE(fs::exists(s));
  EXPECT_TRUE(c.dirs(false).empty());

  c.urls().put("https://example.com/a", "{}");
  EXPECT_EQ(c.url_records(false), std::vector<std::string>{"http https://example.com/a"});
  c.url_records(true);
  EXPECT_TRUE(c.urls().list().empty());
}

}  // namespace
}  // namespace xb::cache
