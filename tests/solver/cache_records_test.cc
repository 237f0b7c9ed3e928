// The graph's side of the build cache: which records a build hands the
// cache for --cache-to (keys that are the same on every machine for the same
// Dockerfile and context: tests/convert/keys_test.cc).
#include "solver/cache_records.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "solver/ops.h"

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
  KeyVertex(std::string op, Vertex* p, std::vector<Vertex*> d = {}, Kind k = Kind::exec) : op_(std::move(op)) {
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
  FsState execute(Vertex&, const CacheKey&, const FsState&, const std::vector<FsState>&) override { return {}; }
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

// --- which cache mounts a build exports (--cache-to mounts=true)

TEST(CacheMountIds, TheCacheMountsOfEveryStepTheTargetNeedsOnceEach) {
  auto exec = [](Vertex* parent, std::vector<std::pair<MountSpec::Type, std::string>> mounts,
                 std::vector<Vertex*> deps = {}) {
    auto v = std::make_unique<ExecVertex>();
    v->parent = parent;
    v->deps = std::move(deps);
    for (auto& [type, target] : mounts) {
      RunMount m;
      m.spec.type = type;
      m.spec.target = target;
      if (target == "/root/.cache/go-build") m.spec.id = "go";  // an id: named by it, not the target
      v->mounts.push_back(m);
    }
    return v;
  };
  using T = MountSpec::Type;
  auto builder = exec(nullptr, {{T::cache, "/root/.cache/go-build"}, {T::bind, "/src"}});
  auto unused = exec(nullptr, {{T::cache, "/var/cache/unused"}});  // a stage the target does not reach
  auto apt = exec(nullptr, {{T::cache, "/var/cache/apt"}, {T::tmpfs, "/tmp"}});
  auto target = exec(apt.get(), {{T::cache, "/var/cache/apt"}}, {builder.get()});
  EXPECT_EQ(cache_mount_ids(target.get()), (std::vector<std::string>{"/var/cache/apt", "go"}));
  EXPECT_TRUE(cache_mount_ids(nullptr).empty());
  (void)unused;
}

}  // namespace
}  // namespace xb::solver
