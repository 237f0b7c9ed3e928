// The remote cache without a registry: flag parsing, the metadata format
// (round trip, versions, malformed input), lazy fetching from a fake
// source, and what each --cache-to kind exports.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "cache/cache.h"
#include "common/fs.h"

namespace xb::cache {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Layer layer(const std::string& content) {
  Digest d = Digest::of(content);
  return Layer{d, d, content.size(), std::string(store::media_type::oci_layer)};
}

// --- CacheSpec

TEST(CacheSpec, ParsesWhatBuildxAccepts) {
  auto r = CacheSpec::parse("--cache-to", "type=registry,ref=localhost:5000/cache:v1,mode=max");
  EXPECT_EQ(r.type, CacheSpec::Type::registry);
  EXPECT_EQ(r.ref, "localhost:5000/cache:v1");
  EXPECT_EQ(r.mode, CacheSpec::Mode::max);
  EXPECT_EQ(CacheSpec::parse("--cache-to", "type=registry,ref=h:5000/c").mode, CacheSpec::Mode::min);
  // A bare reference means type=registry.
  auto bare = CacheSpec::parse("--cache-from", "localhost:5000/cache");
  EXPECT_EQ(bare.type, CacheSpec::Type::registry);
  EXPECT_EQ(bare.ref, "localhost:5000/cache");
  auto l = CacheSpec::parse("--cache-to", "type=local,dest=/tmp/c,tag=t1");
  EXPECT_EQ(l.type, CacheSpec::Type::local);
  EXPECT_EQ(l.dir, "/tmp/c");
  EXPECT_EQ(l.tag, "t1");
  EXPECT_EQ(CacheSpec::parse("--cache-from", "type=local,src=/tmp/c").dir, "/tmp/c");
  EXPECT_EQ(CacheSpec::parse("--cache-to", "type=inline").type, CacheSpec::Type::inline_);
  EXPECT_TRUE(CacheSpec::parse("--cache-to", "type=registry,ref=h:5000/c,ignore-error=true").ignore_error);
  EXPECT_EQ(r.compression, store::Compression::gzip);  // as buildx
  auto z = CacheSpec::parse("--cache-to", "type=local,dest=/c,compression=zstd,compression-level=19");
  EXPECT_EQ(z.compression, store::Compression::zstd);
  EXPECT_EQ(z.compression_level, 19);
  EXPECT_EQ(CacheSpec::parse("--cache-to", "type=local,dest=/c,compression=uncompressed").compression,
            store::Compression::none);
}

TEST(CacheSpec, MistakesAreUsageErrorsNamingTheFlag) {
  auto usage = [](const std::string& flag, const std::string& text, const std::string& says) {
    try {
      CacheSpec::parse(flag, text);
      ADD_FAILURE() << text << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage) << text;
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  };
  usage("--cache-to", "type=registry", "needs ref=");
  usage("--cache-to", "type=registry,ref=h:5000/c,mode=all", "mode=all (want min or max)");
  usage("--cache-to", "type=local,src=/x", "needs dest=DIR");
  usage("--cache-from", "type=local,dest=/x", "needs src=DIR");
  usage("--cache-from", "type=gha", "unknown type \"gha\"");
  usage("--cache-from", "type=registry,ref=h:5000/c,mode=max", "unknown option mode");
  usage("--cache-to", "type=registry,ref=h:5000/c,compression=lz4",
        "compression=lz4 (want gzip, zstd or uncompressed)");
  usage("--cache-to", "type=registry,ref=h:5000/c,compression-level=12", "compression-level=12 (want 0 to 9 for gzip)");
  usage("--cache-to", "type=inline,compression=zstd", "unknown option compression");
  usage("--cache-to", "type=registry,ref=h:5000/c@sha256:" + std::string(64, 'a'), "not a digest");
  usage("--cache-to", "type=registry,ref=Not/Valid", "not an image reference");
}

// --- metadata

TEST(CacheMetadata, ConfigRoundTripsAgainstItsManifestLayers) {
  CacheMetadata m;
  Layer a = layer("a"), b = layer("b"), c = layer("c");
  CacheKey k1 = Digest::of("k1"), k2 = Digest::of("k2");
  m.add(k1, {a, b});
  m.add(k2, {a, b, c});
  EXPECT_EQ(m.layers.size(), 3u);  // shared layers once
  std::vector<store::Descriptor> descs;
  for (const auto& l : m.layers)
    descs.push_back(store::Descriptor{l.media_type, l.blob, static_cast<int64_t>(l.size), {}, std::nullopt, {}, {}});
  CacheMetadata back = CacheMetadata::from_config(json::parse(m.config_json()), descs);
  EXPECT_EQ(back.chain(k2), (std::vector<Layer>{a, b, c}));
  EXPECT_EQ(back.chain(k1), (std::vector<Layer>{a, b}));
  EXPECT_TRUE(back.chain(Digest::of("other")).empty());
  // The same records give the same bytes (the exported manifest is stable).
  EXPECT_EQ(back.config_json(), m.config_json());
}

TEST(CacheMetadata, RefusesOtherVersionsAndBrokenRecords) {
  std::vector<store::Descriptor> none;
  try {
    CacheMetadata::from_config(json{{"version", 2}, {"diff_ids", json::array()}, {"records", json::array()}}, none);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("format version 2, this xbuild reads version 1 only"), std::string::npos);
  }
  json bad_index = {{"version", 1},
                    {"diff_ids", json::array()},
                    {"records", json::array({{{"key", Digest::of("k").str()}, {"layers", {0}}}})}};
  EXPECT_THROW(CacheMetadata::from_config(bad_index, none), Error);
  // An uncompressed layer whose diff ID is not its digest is a lie.
  Layer a = layer("a");
  std::vector<store::Descriptor> one = {store::Descriptor{a.media_type, a.blob, 1, {}, std::nullopt, {}, {}}};
  json lie = {{"version", 1}, {"diff_ids", {Digest::of("x").str()}}, {"records", json::array()}};
  EXPECT_THROW(CacheMetadata::from_config(lie, one), Error);
  // Indices that are not small non-negative integers are refused, not
  // converted: 4.4e20 (a double past 2^64: undefined to convert, found by
  // cache_config_fuzz), -1, 0.5, an object's values, a bare number; and a
  // version that would wrap to 1 as an int.
  json record = {{"version", 1}, {"diff_ids", {a.diff_id.str()}}, {"records", json::array()}};
  for (const json& layers : {json::parse("[444444444444443333333]"), json::parse("[-1]"), json::parse("[0.5]"),
                             json::parse(R"({"x": 0})"), json::parse("0")}) {
    json bad = record;
    bad["records"] = json::array({{{"key", Digest::of("k").str()}, {"layers", layers}}});
    EXPECT_THROW(CacheMetadata::from_config(bad, one), Error) << layers.dump();
  }
  json ok = record;
  ok["records"] = json::array({{{"key", Digest::of("k").str()}, {"layers", {0}}}});
  EXPECT_EQ(CacheMetadata::from_config(ok, one).chain(Digest::of("k")).size(), 1u);
  json wraps = ok;
  wraps["version"] = 4294967297ull;
  EXPECT_THROW(CacheMetadata::from_config(wraps, one), Error);
}

// --- lazy fetching

class FakeSource : public CacheSource {
 public:
  explicit FakeSource(std::map<Digest, std::string> blobs) : blobs_(std::move(blobs)) {}
  std::string name() const override { return "fake"; }
  void fetch(store::Store& store, const Layer& l) override {
    fetches++;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    store.put_blob(blobs_.at(l.blob), l.blob);
  }
  std::map<Digest, std::string> blobs_;
  std::atomic<int> fetches{0};
};

TEST(RemoteCache, LookupFetchesNothingAndEachBlobIsFetchedOnce) {
  TempDir tmp("remote-cache-test");
  store::Store st(tmp.path() / "store");
  Layer a = layer("aaa"), b = layer("bbb");
  CacheMetadata md;
  md.add(Digest::of("k"), {a, b});
  auto src = std::make_unique<FakeSource>(std::map<Digest, std::string>{{a.blob, "aaa"}, {b.blob, "bbb"}});
  FakeSource* raw = src.get();
  std::vector<std::pair<std::unique_ptr<CacheSource>, CacheMetadata>> caches;
  caches.emplace_back(std::move(src), md);
  RemoteCache rc(st, std::move(caches));

  auto hit = rc.lookup(Digest::of("k"));
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit, (std::vector<Layer>{a, b}));
  EXPECT_FALSE(rc.lookup(Digest::of("other")));
  EXPECT_EQ(raw->fetches, 0);
  EXPECT_FALSE(st.has_blob(a.blob));

  std::vector<std::thread> ts;
  ts.reserve(4);
  for (int i = 0; i < 4; ++i) ts.emplace_back([&] { rc.ensure_blob(b); });
  for (auto& t : ts) t.join();
  EXPECT_EQ(raw->fetches, 1);
  EXPECT_TRUE(st.has_blob(b.blob));
  EXPECT_FALSE(st.has_blob(a.blob));
  EXPECT_THROW(rc.ensure_blob(layer("nobody has it")), Error);
}

// --- one pipeline for every --cache-to kind

TEST(ExportCache, EachKindSelectsItsRecordsAndLocalReadsBack) {
  TempDir tmp("export-cache-test");
  store::Store st(tmp.path() / "store");
  Layer base = layer("base"), s1 = layer("s1"), s2 = layer("s2"), b1 = layer("b1");
  for (const auto& content : {"base", "s1", "s2", "b1"}) st.put_blob(content);
  CacheExport ce;
  ce.image_layers = {base, s1, s2};
  ce.records = {{Digest::of("k1"), {base, s1}, true},
                {Digest::of("k2"), {base, s1, s2}, true},
                {Digest::of("kb"), {base, b1}, false},
                {Digest::of("gone"), {base, layer("nobody has it")}, false}};
  std::vector<std::string> info;
  ExportOptions eo;
  eo.info = [&](const std::string& m) { info.push_back(m); };

  // inline: the final chain, as indices into the image's own layers.
  json in = export_cache(st, ce, CacheSpec::parse("--cache-to", "type=inline"), eo);
  EXPECT_EQ(in["records"].size(), 2u);
  EXPECT_TRUE(info.empty());

  auto read_back = [&](const std::string& tag) {
    std::vector<std::string> got;
    RemoteCache rc(st,
                   {CacheSpec::parse("--cache-from", "type=local,src=" + (tmp.path() / "c").string() + ",tag=" + tag)},
                   {}, [&](const std::string& m) { got.push_back(m); });
    return std::pair{rc.records(), got};
  };
  // mode=min: the final chain; mode=max: every step whose layers exist somewhere.
  auto none = CacheSpec::parse("--cache-to",
                               "type=local,dest=" + (tmp.path() / "c").string() + ",tag=min,compression=uncompressed");
  EXPECT_TRUE(export_cache(st, ce, none, eo).is_null());
  ASSERT_EQ(info.size(), 1u);
  EXPECT_NE(info[0].find("exported cache to type=local,dest="), std::string::npos) << info[0];
  EXPECT_NE(info[0].find(": 2 steps, 3 layers"), std::string::npos) << info[0];
  EXPECT_EQ(read_back("min").first, 2u);
  auto max = CacheSpec::parse(
      "--cache-to", "type=local,dest=" + (tmp.path() / "c").string() + ",tag=max,mode=max,compression=uncompressed");
  export_cache(st, ce, max, eo);
  EXPECT_NE(info.back().find(": 3 steps, 4 layers"), std::string::npos) << info.back();
  EXPECT_EQ(read_back("max").first, 3u);
  EXPECT_NE(read_back("max").second.at(0).find("importing cache from local"), std::string::npos);

  // A failed export names the destination; ignore-error=true makes it a warning.
  write_file_atomic(tmp.path() / "file", "x");
  auto bad = CacheSpec::parse("--cache-to", "type=local,dest=" + (tmp.path() / "file" / "sub").string());
  try {
    export_cache(st, ce, bad, eo);
    FAIL() << "exported into a file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--cache-to type=local,dest="), std::string::npos) << e.what();
  }
  bad.ignore_error = true;
  info.clear();
  EXPECT_NO_THROW(export_cache(st, ce, bad, eo));
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].rfind("WARNING: --cache-to type=local,dest=", 0), 0u) << info[0];
  EXPECT_NE(info[0].find("(ignore-error=true)"), std::string::npos) << info[0];
}

}  // namespace
}  // namespace xb::cache
