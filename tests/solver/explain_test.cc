// Why a step missed, as the graph tells its engine: with fake vertices and an
// engine that remembers the inputs of what it ran (as the local cache
// records do), no root, no disk.
#include <gtest/gtest.h>

#include "solver/graph.h"

namespace xb::solver {
namespace {

class Step : public Vertex {
 public:
  Step(std::string op, std::string step_id, Vertex* parent_ = nullptr, Kind k = Kind::exec) : op_(std::move(op)) {
    parent = parent_;
    step = std::move(step_id);
    kind = k;
    inputs.add("instruction", Digest::of(op_).str(), op_);
  }
  std::string describe() const override { return op_; }
  std::string content_key() override { return content; }
  void describe_inputs(cache::StepInputs& in) override {
    describe_calls++;
    cache::StepInputs::set_files(in.add("files", Digest::of(content).str(), "."), files);
  }
  std::optional<FsState> source_state() override {
    if (kind != Kind::source) return std::nullopt;
    return FsState{};
  }
  std::string op_;
  std::string content;
  std::vector<cache::StepInputs::File> files;
  int describe_calls = 0;
};

// Records per key as the real engine does: the inputs of each step that ran,
// and an index from step identity to the last key.
class RecordingEngine : public Engine {
 public:
  std::optional<FsState> lookup(const CacheKey& key) override {
    if (records.count(key.str())) return FsState{"snap", {}};
    return std::nullopt;
  }
  FsState execute(Vertex& v, const CacheKey& key, const FsState&, const std::vector<FsState>&) override {
    records[key.str()] = pending.at(&v);
    last.insert_or_assign(v.step, key);
    return FsState{"snap", {}};
  }
  std::optional<Previous> previous(const Vertex& v) override {
    auto it = last.find(v.step);
    if (it == last.end()) return std::nullopt;
    return Previous{it->second, records.at(it->second.str()), false};
  }
  void on_miss(Vertex& v, const CacheKey&, const cache::StepInputs& in, const std::string& reason) override {
    pending[&v] = in;
    reasons[v.step] = reason;
  }
  std::map<std::string, cache::StepInputs> records;
  std::map<std::string, CacheKey> last;
  std::map<const Vertex*, cache::StepInputs> pending;
  std::map<std::string, std::string> reasons;
};

TEST(ExplainMiss, NeverBuiltThenTheChangedFileThenTheParentThenNoCache) {
  RecordingEngine e;
  {
    Step base("image", "", nullptr, Vertex::Kind::source), copy("COPY . /app", "Dockerfile:2"),
        run("RUN make", "Dockerfile:3", &copy);
    copy.parent = &base;
    copy.content = "v1";
    copy.files = {{"src/app.py", 0100644, "1"}};
    Graph g(e, 1);
    g.solve(run);
    EXPECT_EQ(e.reasons["Dockerfile:2"], "never built");
    EXPECT_EQ(e.reasons["Dockerfile:3"], "never built");
  }
  e.reasons.clear();
  {
    Step base("image", "", nullptr, Vertex::Kind::source), copy("COPY . /app", "Dockerfile:2"),
        run("RUN make", "Dockerfile:3", &copy);
    copy.parent = &base;
    copy.content = "v2";
    copy.files = {{"src/app.py", 0100644, "2"}};
    copy.name = "[2/3] COPY . /app";
    Graph g(e, 1);
    g.solve(run);
    EXPECT_EQ(e.reasons["Dockerfile:2"], "src/app.py: content changed");
    EXPECT_EQ(e.reasons["Dockerfile:3"], "parent step changed: [2/3] COPY . /app");
  }
  e.reasons.clear();
  {
    // A cached step is not described at all: explanations cost only misses.
    Step base("image", "", nullptr, Vertex::Kind::source), copy("COPY . /app", "Dockerfile:2"),
        run("RUN make", "Dockerfile:3", &copy);
    copy.parent = &base;
    copy.content = "v2";
    Graph g(e, 1);
    g.solve(run);
    EXPECT_TRUE(e.reasons.empty());
    EXPECT_EQ(copy.describe_calls, 0);
    EXPECT_EQ(run.describe_calls, 0);
  }
  {
    Step base("image", "", nullptr, Vertex::Kind::source), copy("COPY . /app", "Dockerfile:2");
    copy.parent = &base;
    copy.content = "v2";
    copy.ignore_cache = true;
    Graph g(e, 1);
    g.solve(copy);
    EXPECT_EQ(e.reasons["Dockerfile:2"], "--no-cache");
  }
}

TEST(ExplainMiss, TheBaseImageIsNamedByReferenceAndDigest) {
  RecordingEngine e;
  const std::string d1 = "sha256:" + std::string(64, 'a'), d2 = "sha256:" + std::string(64, 'b');
  for (const std::string& d : {d1, d2}) {
    Step base("image layers " + d, "", nullptr, Vertex::Kind::source), run("RUN make", "Dockerfile:2");
    base.inputs = {};
    base.inputs.add("image", d, "busybox:latest@" + d);
    run.parent = &base;
    Graph g(e, 1);
    g.solve(run);
  }
  EXPECT_EQ(e.reasons["Dockerfile:2"], "base image busybox:latest changed: sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb");
}

TEST(ExplainMiss, WithoutAComparableRecord) {
  cache::StepInputs now;
  now.add("instruction", "x", "RUN x");
  CacheKey k = Digest::of("k"), other = Digest::of("other");
  EXPECT_EQ(explain_miss(false, k, std::nullopt, now), "never built");
  EXPECT_EQ(explain_miss(false, k, Engine::Previous{other, {}, true}, now),
            "never built (its last build is no longer in the cache)");
  EXPECT_EQ(explain_miss(false, k, Engine::Previous{k, now, false}, now),
            "its cached result is incomplete (a snapshot or layer is gone)");
  EXPECT_EQ(explain_miss(false, k, Engine::Previous{other, {}, false}, now),
            "the last build's inputs are unknown (an older xbuild, or a remote cache, built it)");
  EXPECT_EQ(explain_miss(true, k, Engine::Previous{other, now, false}, now), "--no-cache");
}

}  // namespace
}  // namespace xb::solver
