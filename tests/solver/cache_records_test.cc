// The graph's side of the build cache: which records a build hands the
// cache for --cache-to, and keys that are the same on every machine for the
// same Dockerfile and context (what makes a remote cache hit at all).
#include "solver/cache_records.h"

#include <gtest/gtest.h>

#include <fstream>

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
  std::map<CacheKey, cache::CacheExport::Record> by;
  for (const auto& r : recs) by.emplace(r.key, r);
  ASSERT_EQ(by.size(), 4u);  // s2, s1, b2, b1; never the source
  EXPECT_TRUE(by.at(g.key(s2)).final_chain);
  EXPECT_TRUE(by.at(g.key(s1)).final_chain);
  EXPECT_FALSE(by.at(g.key(b2)).final_chain);
  EXPECT_FALSE(by.at(g.key(b1)).final_chain);
  EXPECT_EQ(by.at(g.key(s1)).layers, (std::vector<Layer>{L0, L1}));
  EXPECT_EQ(by.at(g.key(b1)).layers, (std::vector<Layer>{L0, B1}));

  // Inline metadata: only the final chain, as prefixes of the image's layers.
  TempDir tmp("cache-records-test");
  store::Store st(tmp.path() / "store");
  cache::CacheExport ce;
  ce.records = recs;
  ce.image_layers = {L0, L1, L2};
  json in = cache::export_cache(st, ce, cache::CacheSpec::parse("--cache-to", "type=inline"), {});
  EXPECT_EQ(in["records"].size(), 2u);
  cache::CacheMetadata back = cache::CacheMetadata::from_inline(
      in,
      {store::Descriptor{L0.media_type, L0.blob, 4, {}, std::nullopt, {}, {}},
       store::Descriptor{L1.media_type, L1.blob, 2, {}, std::nullopt, {}, {}},
       store::Descriptor{L2.media_type, L2.blob, 2, {}, std::nullopt, {}, {}}},
      {L0.diff_id, L1.diff_id, L2.diff_id});
  EXPECT_EQ(back.chain(g.key(s1)).size(), 2u);
  EXPECT_TRUE(back.chain(g.key(b2)).empty());
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
      std::make_unique<ContextHasher>(ctx, IgnorePredicate{}, SkipDirPredicate{}, stat_cache));
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
