// The real engine's parts without root: its cache decision (a record is a hit
// only when everything it names is there), and a fully cached solve() that
// takes the result from the store's record and runs nothing.
#include "solver/engine.h"

#include <gtest/gtest.h>

#include <set>

#include "common/fs.h"
#include "snapshotter/snapshotter.h"
#include "solver/solver.h"

namespace xb::solver {
namespace {

namespace fs = std::filesystem;

Layer layer(const std::string& content) {
  Digest d = Digest::of(content);
  return Layer{d, d, content.size(), std::string(store::media_type::oci_layer), "2024-01-01T00:00:00Z"};
}

nlohmann::json record(const std::string& snapshot, const std::vector<Layer>& layers) {
  nlohmann::json rec = {{"v", 1}, {"snapshot", snapshot}, {"layers", nlohmann::json::array()}};
  for (const auto& l : layers) rec["layers"].push_back(l.to_json());
  return rec;
}

struct World {
  std::set<std::string> snapshots;
  std::set<Digest> blobs;
  // As the engine reads a record: cache::LocalCache::get, then cached_state.
  std::optional<FsState> lookup(const nlohmann::json& json) const {
    cache::CacheRecord rec;
    try {
      rec = cache::CacheRecord::from_json(json);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    return cached_state(
        rec, [&](const std::string& s) { return snapshots.count(s) > 0; },
        [&](const Digest& b) { return blobs.count(b) > 0; });
  }
};

TEST(EngineCache, ARecordIsAHitWhenItsSnapshotAndBlobsAreThere) {
  Layer a = layer("a"), b = layer("b");
  World w{{"build-1"}, {a.blob, b.blob}};
  auto hit = w.lookup(record("build-1", {a, b}));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->snapshot, "build-1");
  EXPECT_EQ(hit->layers, (std::vector<Layer>{a, b}));
}

TEST(EngineCache, AMissingSnapshotOrBlobIsAMiss) {
  Layer a = layer("a"), b = layer("b");
  EXPECT_FALSE((World{{}, {a.blob, b.blob}}.lookup(record("build-1", {a, b}))));   // snapshot pruned
  EXPECT_FALSE((World{{"build-1"}, {a.blob}}.lookup(record("build-1", {a, b}))));  // a blob gone
}

TEST(EngineCache, ALayersOnlyRecordNeedsNoSnapshot) {
  // A remote hit kept locally: its layers are unpacked when a step needs them.
  Layer a = layer("a");
  auto hit = World{{}, {a.blob}}.lookup(record("", {a}));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->snapshot, "");
}

TEST(EngineCache, UnreadableOrOtherVersionRecordsAreMisses) {
  Layer a = layer("a");
  World w{{"s"}, {a.blob}};
  auto other = record("s", {a});
  other["v"] = 2;
  EXPECT_FALSE(w.lookup(other));
  EXPECT_FALSE(w.lookup(nlohmann::json::object()));
  EXPECT_FALSE(w.lookup(nlohmann::json{{"v", 1}, {"snapshot", "s"}, {"layers", {{{"blob", "nonsense"}}}}}));
  EXPECT_FALSE(w.lookup(nlohmann::json("not an object")));
}

// A step that must not run.
class MkdirStep : public FileVertex {
 public:
  MkdirStep() {
    kind = Kind::file;
    action = Action::mkdir;
    path = "/app";
    id = 1;
    name = "[1/1] WORKDIR /app";
  }
};

class NothingRuns : public Engine {
 public:
  std::optional<FsState> lookup(const CacheKey&) override { return std::nullopt; }
  FsState execute(Vertex&, const CacheKey&, const FsState&, const std::vector<FsState>&) override { return {}; }
};

TEST(EngineCache, AFullyCachedSolveTakesTheRecordAndRunsNothing) {
  TempDir tmp("engine-test");
  fs::create_directories(tmp.path() / "ctx");
  store::Store st(tmp.path() / "store");
  Definition def;
  def.vertices.push_back(std::make_unique<MkdirStep>());
  def.target = def.vertices.back().get();
  def.steps = 1;
  // The key the solver computes for the step (no salt without SOURCE_DATE_EPOCH).
  NothingRuns keys;
  CacheKey key = Graph(keys, 1).key(*def.target);
  // Its result: one layer in the store, recorded without a snapshot.
  std::string bytes = "a layer's bytes";
  Digest blob = st.put_blob(bytes);
  Layer l{blob, blob, bytes.size(), std::string(store::media_type::oci_layer), "2024-01-01T00:00:00Z"};
  st.records("cache").put_json(std::string(key.hex()), record("", {l}));

  BuildOptions opts;
  opts.context_dir = tmp.path() / "ctx";
  Solved solved = solve(st, def, opts);
  EXPECT_EQ(solved.layers, std::vector<Layer>{l});
  EXPECT_EQ(solved.steps, 1);
  EXPECT_EQ(solved.cached_steps, 1);
  // No step ran and no layer was unpacked: the store holds no snapshot.
  EXPECT_TRUE(snapshotter::open_snapshotter(st.root())->list().empty());
}

}  // namespace
}  // namespace xb::solver
