// The remote cache without a registry: flag parsing, the metadata format
// (round trip, versions, malformed input), which records a build exports,
// lazy fetching from a fake source, and keys that are the same on every
// machine for the same Dockerfile and context.
#include "solver/remote_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/fs.h"
#include "solver/dispatch.h"

namespace xb::solver {
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
  usage("--cache-to", "type=registry,ref=h:5000/c,compression=lz4", "compression=lz4 (want gzip, zstd or uncompressed)");
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
    descs.push_back(
        store::Descriptor{l.media_type, l.blob, static_cast<int64_t>(l.size), {}, std::nullopt, {}, {}});
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
    CacheMetadata::from_config(json{{"version", 2}, {"diff_ids", json::array()}, {"records", json::array()}},
                               none);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("format version 2, this xbuild reads version 1 only"),
              std::string::npos);
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

// --- which records a build exports

class KeyVertex : public Vertex {
 public:
  KeyVertex(std::string op, Vertex* p, std::vector<Vertex*> d = {}, Kind k = Kind::exec)
      : op_(std::move(op)) {
    parent = p;
    deps = std::move(d);
    kind = k;
  }
  std::string describe() const override { return op_; }
  std::string op_;
};

class NoEngine : public Engine {
 public:
  std::optional<FsState> lookup(const CacheKey&) override { return std::nullopt; }
  FsState execute(Vertex&, const CacheKey&, const FsState&, const std::vector<FsState>&) override {
    return {};
  }
};

TEST(CollectRecords, FinalChainAndInputsWithChainsDerivedFromAbove) {
  // base ← s1 ← s2 (final: COPY --from=b2) ; base ← b1 ← b2 (another stage)
  KeyVertex base("base", nullptr, {}, Vertex::Kind::source);
  KeyVertex b1("b1", &base), b2("b2", &b1);
  KeyVertex s1("s1", &base), s2("s2", &s1, {&b2});
  NoEngine e;
  Graph g(e, 1);
  Layer L0 = layer("base"), L1 = layer("s1"), L2 = layer("s2"), B1 = layer("b1"), B2 = layer("b2");
  // Only the target's and b2's chains are known (the target was a cache hit).
  std::map<CacheKey, std::vector<Layer>> known = {{g.key(s2), {L0, L1, L2}}, {g.key(b2), {L0, B1, B2}}};
  auto recs = collect_records(g, &s2, [&](const CacheKey& k) -> std::optional<std::vector<Layer>> {
    if (auto it = known.find(k); it != known.end()) return it->second;
    return std::nullopt;
  });
  std::map<CacheKey, CacheExport::Record> by;
  for (const auto& r : recs) by.emplace(r.key, r);
  ASSERT_EQ(by.size(), 4u);  // s2, s1, b2, b1; never the source
  EXPECT_TRUE(by.at(g.key(s2)).final_chain);
  EXPECT_TRUE(by.at(g.key(s1)).final_chain);
  EXPECT_FALSE(by.at(g.key(b2)).final_chain);
  EXPECT_FALSE(by.at(g.key(b1)).final_chain);
  EXPECT_EQ(by.at(g.key(s1)).layers, (std::vector<Layer>{L0, L1}));
  EXPECT_EQ(by.at(g.key(b1)).layers, (std::vector<Layer>{L0, B1}));

  // Inline metadata: only the final chain, as prefixes of the image's layers.
  json in = inline_metadata(recs, {L0, L1, L2});
  EXPECT_EQ(in["records"].size(), 2u);
  CacheMetadata back =
      CacheMetadata::from_inline(in,
                                 {store::Descriptor{L0.media_type, L0.blob, 4, {}, std::nullopt, {}, {}},
                                  store::Descriptor{L1.media_type, L1.blob, 2, {}, std::nullopt, {}, {}},
                                  store::Descriptor{L2.media_type, L2.blob, 2, {}, std::nullopt, {}, {}}},
                                 {L0.diff_id, L1.diff_id, L2.diff_id});
  EXPECT_EQ(back.chain(g.key(s1)).size(), 2u);
  EXPECT_TRUE(back.chain(g.key(b2)).empty());
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
  EXPECT_EQ(hit->layers, (std::vector<Layer>{a, b}));
  EXPECT_TRUE(hit->snapshot.empty());
  EXPECT_FALSE(rc.lookup(Digest::of("other")));
  EXPECT_EQ(raw->fetches, 0);
  EXPECT_FALSE(st.has_blob(a.blob));

  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) ts.emplace_back([&] { rc.ensure_blob(b); });
  for (auto& t : ts) t.join();
  EXPECT_EQ(raw->fetches, 1);
  EXPECT_TRUE(st.has_blob(b.blob));
  EXPECT_FALSE(st.has_blob(a.blob));
  EXPECT_THROW(rc.ensure_blob(layer("nobody has it")), Error);
}

// --- keys are the same on every machine

class Base : public ImageResolver {
 public:
  explicit Base(std::string created) : created_(std::move(created)) {}
  store::Image resolve(const store::ImageRef&) override {
    Digest l = Digest::of("busybox rootfs");
    store::ImageConfig config;
    config.architecture = "amd64";
    config.os = "linux";
    config.created = created_;  // an import at another time: another manifest digest
    config.diff_ids = {l};
    std::string cj = config.to_json();
    store::Descriptor cd{std::string(store::media_type::oci_config),
                         Digest::of(cj),
                         static_cast<int64_t>(cj.size()),
                         {},
                         std::nullopt,
                         {},
                         {}};
    store::Manifest m{
        std::string(store::media_type::oci_manifest),
        cd,
        {store::Descriptor{std::string(store::media_type::oci_layer), l, 9, {}, std::nullopt, {}, {}}},
        {},
        std::nullopt};
    std::string mj = m.to_json();
    store::Descriptor md{std::string(store::media_type::oci_manifest),
                         Digest::of(mj),
                         static_cast<int64_t>(mj.size()),
                         {},
                         std::nullopt,
                         {},
                         {}};
    return store::Image{md, md, m, config};
  }
  std::string created_;
};

std::vector<std::string> keys_of(const fs::path& ctx, const fs::path& stat_cache,
                                 const std::string& created) {
  std::string text =
      "FROM busybox AS build\nWORKDIR /src\nCOPY src.c .\nRUN make\n"
      "FROM busybox\nARG V=1\nCOPY --from=build /src/out /out\nCOPY app.txt /app/\nRUN "
      "--mount=type=bind,source=lib,"
      "target=/lib2 cat /lib2/x\nADD <<EOF /etc/motd\nhello\nEOF\n";
  auto df = frontend::parse_dockerfile(text, "Dockerfile");
  ContextKeys context(
      std::make_unique<fileop::ContextHasher>(ctx, fileop::IgnorePredicate{}, fileop::SkipDirPredicate{}, stat_cache));
  DispatchOptions o;
  o.context_dir = ctx;
  o.context = &context;
  Base images(created);
  Dispatched d = dispatch(df, o, images);
  NoEngine e;
  Graph g(e, 1);
  std::vector<std::string> out;
  for (const auto& v : d.vertices) out.push_back(v->name + " " + g.key(*v).str());
  context.save();
  return out;
}

void write(const fs::path& p, const std::string& text, int64_t mtime) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
  fs::last_write_time(p, fs::file_time_type(std::chrono::seconds(mtime)));
}

TEST(CacheKeys, SameDockerfileAndContextGiveTheSameKeysOnAnotherMachine) {
  // Two "machines": other store paths, other context paths, other file
  // times, another import of the same base image; a warm stat cache on one.
  TempDir m1("machine1"), m2("machine2");
  for (auto [dir, t] :
       {std::pair{m1.path(), int64_t{1600000000}}, std::pair{m2.path(), int64_t{1700000000}}}) {
    write(dir / "some/where/ctx/app.txt", "app", t);
    write(dir / "some/where/ctx/lib/x", "x", t);
    write(dir / "some/where/ctx/src.c", "int main;", t);
  }
  auto k1 = keys_of(m1.path() / "some/where/ctx", m1.path() / "statcache.bin", "2024-01-01T00:00:00Z");
  auto k1_warm = keys_of(m1.path() / "some/where/ctx", m1.path() / "statcache.bin", "2024-01-01T00:00:00Z");
  auto k2 = keys_of(m2.path() / "some/where/ctx", m2.path() / "elsewhere.bin", "2025-06-01T12:00:00Z");
  ASSERT_GE(k1.size(), 7u);
  EXPECT_EQ(k1, k1_warm);
  EXPECT_EQ(k1, k2);

  // A changed context file changes the keys of the steps that read it, and of those after them only.
  write(m2.path() / "some/where/ctx/app.txt", "app v2", 1700000000);
  auto k3 = keys_of(m2.path() / "some/where/ctx", m2.path() / "elsewhere.bin", "2025-06-01T12:00:00Z");
  ASSERT_EQ(k3.size(), k1.size());
  int changed = 0;
  bool seen_app = false;
  for (size_t i = 0; i < k1.size(); ++i) {
    bool differs = k1[i] != k3[i];
    if (k1[i].find("COPY app.txt") != std::string::npos) seen_app = true;
    EXPECT_EQ(differs, seen_app) << k1[i];
    changed += differs;
  }
  EXPECT_TRUE(seen_app);
  EXPECT_EQ(changed, 3);  // COPY app.txt, the RUN and the ADD after it
}

}  // namespace
}  // namespace xb::solver
