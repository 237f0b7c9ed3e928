// The cache rules of the build graph, with fake vertices and a fake engine
// that counts look-ups and executions: no root, no disk.
#include "solver/graph.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

namespace xb::solver {
namespace {

class FakeVertex : public Vertex {
 public:
  explicit FakeVertex(std::string op, Vertex* parent_ = nullptr, std::vector<Vertex*> deps_ = {}) : op_(std::move(op)) {
    parent = parent_;
    deps = std::move(deps_);
  }
  std::string describe() const override { return op_; }
  std::string content_key() override {
    content_calls++;
    return content;
  }
  std::string op_;
  std::string content;
  int content_calls = 0;
};

class FakeEngine : public Engine {
 public:
  std::optional<FsState> lookup(const CacheKey& key) override {
    lookups++;
    std::lock_guard l(mu);
    if (auto it = cache.find(key.str()); it != cache.end()) return it->second;
    return std::nullopt;
  }
  FsState execute(Vertex& v, const CacheKey& key, const FsState& parent, const std::vector<FsState>&) override {
    int now = ++running;
    int prev = max_running.load();
    while (now > prev && !max_running.compare_exchange_weak(prev, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    --running;
    if (v.describe() == fail_op) fail(ErrorKind::failed_precondition, "exit code 1");
    executions++;
    FsState out{"snap-" + v.describe(), parent.layers};
    std::lock_guard l(mu);
    executed.push_back(v.describe());
    cache[key.str()] = out;
    return out;
  }
  std::mutex mu;
  std::map<std::string, FsState> cache;
  std::vector<std::string> executed;
  std::atomic<int> lookups{0}, executions{0}, running{0}, max_running{0};
  int sleep_ms = 0;
  std::string fail_op;
};

TEST(GraphKey, SameOperationAndInputsGiveTheSameKey) {
  FakeEngine e;
  FakeVertex a1("from busybox"), b1("run echo", &a1);
  FakeVertex a2("from busybox"), b2("run echo", &a2);
  Graph g1(e, 2), g2(e, 2);
  EXPECT_EQ(g1.key(b1), g2.key(b2));
}

TEST(GraphKey, ChangesWithTheOperationTheParentTheContentAndTheDeps) {
  FakeEngine e;
  FakeVertex base("from busybox"), other_base("from alpine");
  FakeVertex run("run echo", &base), run2("run echo2", &base), run_on_other("run echo", &other_base);
  FakeVertex copy("copy . /", &base), copy_changed("copy . /", &base);
  copy.content = "ctx-v1";
  copy_changed.content = "ctx-v2";
  FakeVertex stage("run make", &base);
  FakeVertex copy_from("copy --from", &base, {&stage}), copy_from_other("copy --from", &base, {&run});
  Graph g(e, 2);
  std::set<std::string> keys = {
      g.key(run).str(),          g.key(run2).str(),      g.key(run_on_other).str(),   g.key(copy).str(),
      g.key(copy_changed).str(), g.key(copy_from).str(), g.key(copy_from_other).str()};
  EXPECT_EQ(keys.size(), 7u);
}

TEST(GraphKey, ContentIsComputedOncePerVertex) {
  FakeEngine e;
  FakeVertex base("from"), copy("copy", &base);
  Graph g(e, 2);
  g.key(copy);
  g.key(copy);
  g.solve(copy);
  EXPECT_EQ(copy.content_calls, 1);
}

TEST(GraphSolve, ASecondBuildRunsNothing) {
  FakeEngine e;
  {
    FakeVertex a("a"), b("b", &a), c("c", &b);
    Graph g(e, 2);
    g.solve(c);
    EXPECT_EQ(e.executions, 3);
    EXPECT_EQ(g.stats().executed, 3);
  }
  e.lookups = 0;
  FakeVertex a("a"), b("b", &a), c("c", &b);
  Graph g(e, 2);
  FsState s = g.solve(c);
  EXPECT_EQ(e.executions, 3);  // nothing more
  EXPECT_EQ(s.snapshot, "snap-c");
  // A cached target needs no look-up of its inputs at all.
  EXPECT_EQ(e.lookups, 1);
  // ... yet every step is reported cached, as BuildKit shows them.
  EXPECT_EQ(g.stats().cached, 3);
}

TEST(GraphSolve, AChangedStepRerunsItselfAndWhatFollowsOnly) {
  FakeEngine e;
  {
    FakeVertex a("a"), b("b", &a), c("c", &b);
    Graph g(e, 2);
    g.solve(c);
  }
  e.executed.clear();
  FakeVertex a("a"), b("b-changed", &a), c("c", &b);
  Graph g(e, 2);
  g.solve(c);
  EXPECT_EQ(e.executed, (std::vector<std::string>{"b-changed", "c"}));
}

TEST(GraphSolve, IgnoreCacheRunsEverythingAgain) {
  FakeEngine e;
  FakeVertex a("a"), b("b", &a);
  {
    Graph g(e, 2);
    g.solve(b);
  }
  a.ignore_cache = b.ignore_cache = true;
  Graph g(e, 2);
  g.solve(b);
  EXPECT_EQ(e.executions, 4);
}

TEST(GraphSolve, ASharedInputRunsOnce) {
  FakeEngine e;
  FakeVertex base("base"), left("left", &base), right("right", &base), join("join", &left, {&right});
  Graph g(e, 2);
  g.solve(join);
  EXPECT_EQ(e.executions, 4);
}

// A multi-platform build converts each platform on its own: a step that is
// the same for both (a FROM --platform=$BUILDPLATFORM stage) is two vertices
// with one key, solved at once from two threads, and must run once.
TEST(GraphSolve, VerticesWithOneKeyRunOnceEvenWithoutTheCache) {
  FakeEngine e;
  e.sleep_ms = 20;
  FakeVertex base1("base"), cross1("cross", &base1), amd("amd64", &cross1);
  FakeVertex base2("base"), cross2("cross", &base2), arm("arm64", &cross2);
  for (FakeVertex* v : {&base1, &cross1, &amd, &base2, &cross2, &arm}) v->ignore_cache = true;
  Graph g(e, 4);
  auto other = std::async(std::launch::async, [&] { return g.solve(arm); });
  g.solve(amd);
  other.get();
  EXPECT_EQ(e.executions, 4);  // base, cross, amd64, arm64
}

TEST(GraphSolve, IndependentInputsRunInParallelWithinTheBound) {
  FakeEngine e;
  e.sleep_ms = 50;
  FakeVertex base("base");
  FakeVertex s1("s1", &base), s2("s2", &base), s3("s3", &base);
  FakeVertex final_("final", &base, {&s1, &s2, &s3});
  Graph g(e, 2);
  g.solve(final_);
  EXPECT_EQ(e.executions, 5);
  EXPECT_EQ(e.max_running, 2);
}

TEST(GraphSolve, AFailureCarriesTheStepLocationAndStopsWhatDependsOnIt) {
  FakeEngine e;
  e.fail_op = "b";
  FakeVertex a("a"), b("b", &a), c("c", &b);
  b.location = SourceLocation{"Dockerfile", 3, 1, "RUN false"};
  Graph g(e, 2);
  try {
    g.solve(c);
    FAIL() << "no error";
  } catch (const Error& err) {
    ASSERT_TRUE(err.location());
    EXPECT_EQ(err.location()->line, 3);
  }
  EXPECT_EQ(e.executed, std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace xb::solver
