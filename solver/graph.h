// The build graph (private to solver/): vertices, their cache keys, and the
// scheduler that runs what misses the cache. The graph knows operations only
// through Vertex: it never sees overlayfs, namespaces or Dockerfiles, so its
// caching rules are unit-tested with fake vertices (tests/solver/graph_test.cc).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/cache.h"
#include "common/digest.h"
#include "common/error.h"

namespace xb::solver {

// Layers and cache keys are the cache's vocabulary (cache/cache.h): the
// graph computes keys, the cache stores what they yield.
using cache::Layer;

// The file system a vertex yields: its layers from the bottom up, and the
// committed snapshot that holds it unpacked ("" while it is not unpacked,
// or for the empty file system).
struct FsState {
  std::string snapshot;
  std::vector<Layer> layers;
};

// The cache key of a vertex: the digest of its operation, its content inputs
// and its inputs' keys. A pure function (see Graph::key).
using CacheKey = cache::CacheKey;

class Vertex {
 public:
  enum class Kind { source, exec, file };
  virtual ~Vertex() = default;

  Kind kind = Kind::exec;
  int id = 0;                 // 1-based, unique in its definition: what progress events name it by
  std::string name;           // what the progress display shows
  SourceLocation location;    // the Dockerfile instruction
  Vertex* parent = nullptr;   // the root file system it changes (null: empty)
  std::vector<Vertex*> deps;  // other file systems it reads (COPY --from, RUN --mount from=)
  bool ignore_cache = false;  // --no-cache
  // The same step in another build (its Dockerfile location and stage), and
  // the named parts of its key that convert/ gives (instruction, args, env;
  // cache::StepInputs): what a miss is explained with and its record keeps.
  std::string step;
  cache::StepInputs inputs;

  // The operation, canonically: what it runs, with which env, user, workdir,
  // mounts, network; never a secret's value.
  virtual std::string describe() const = 0;
  // Key material that needs I/O (the content of the context files a COPY
  // reads). Called once, when the key is first needed.
  virtual std::string content_key() { return {}; }
  // A source vertex yields its file system without running (an image's
  // layers); others return nullopt and are run.
  virtual std::optional<FsState> source_state() { return std::nullopt; }
  // Adds the parts of the key that need I/O (the files a copy selects, a
  // URL's content). Called only when the vertex misses the cache.
  virtual void describe_inputs(cache::StepInputs&) {}
};

// How the graph reaches the world: the cache, and running a vertex. The
// real one (solver/build.cc) uses the store, snapshotter and executor; the
// unit tests use a fake that counts.
class Engine {
 public:
  virtual ~Engine() = default;
  // A cached result for key, if one is usable (its snapshot and blobs exist).
  virtual std::optional<FsState> lookup(const CacheKey& key) = 0;
  // Runs v on top of parent with the given dependency states, commits and
  // records the result under key.
  virtual FsState execute(Vertex& v, const CacheKey& key, const FsState& parent, const std::vector<FsState>& deps) = 0;
  // The last recorded build of v's step (Vertex::step), to explain a miss:
  // its key and inputs (gone: the index names a record that is no more).
  // nullopt: never built.
  struct Previous {
    CacheKey key;
    cache::StepInputs inputs;
    bool gone = false;
  };
  virtual std::optional<Previous> previous(const Vertex&) { return std::nullopt; }
  // v missed and runs next: why (one line), and the inputs its record keeps.
  virtual void on_miss(Vertex&, const CacheKey&, const cache::StepInputs&, const std::string& /*reason*/) {}
  // v was looked up and hit: the last build of its step is now key.
  virtual void on_hit(Vertex&, const CacheKey&) {}
  // Progress: a vertex was found in the cache / started / finished.
  virtual void on_cached(Vertex&, std::chrono::steady_clock::duration) {}
  virtual void on_started(Vertex&) {}
  virtual void on_done(Vertex&, std::chrono::steady_clock::duration) {}
  virtual void on_failed(Vertex&, const Error&, std::chrono::steady_clock::duration) {}
};

// Why a step misses, in one line: "--no-cache", "never built", or what
// changed since the previous build of the same step (cache::explain_change).
std::string explain_miss(bool no_cache, const CacheKey& key, const std::optional<Engine::Previous>& previous,
                         const cache::StepInputs& now);

struct SolveStats {
  int executed = 0;
  int cached = 0;
};

// Solves vertices: keys first (no execution), then the cache from the
// target down, so that a cached target needs none of its inputs; what misses
// runs after its inputs, independent inputs in parallel (at most
// `parallelism` vertices execute at once).
class Graph {
 public:
  Graph(Engine& engine, int parallelism);
  ~Graph();
  // Build-wide settings that change what every step's layer holds, not what
  // it computes (SOURCE_DATE_EPOCH clamps mtimes in the diff): they enter
  // every key, so a layer made without them is never reused with them.
  // Empty (the default) leaves keys as they are. Set before solving.
  void set_key_salt(std::string salt) { key_salt_ = std::move(salt); }

  CacheKey key(Vertex& v);
  FsState solve(Vertex& v);
  SolveStats stats() const;

 private:
  struct Slot;
  Slot& slot(Vertex& v);
  FsState solve_uncached(Vertex& v, Slot& s);
  // v's inputs as its record keeps them: convert's parts, its files, its
  // parent and inputs by key, and the operation and content as a fallback.
  cache::StepInputs inputs_of(Vertex& v, Slot& s);
  bool must_run(Vertex& v);
  // Whether v is reported for the first time (each step is shown once; two
  // vertices with one key are one step).
  bool first_report(Vertex& v);
  // A cache hit on v also stands for the steps it was built from: show
  // them as cached (in order, deepest first) without touching them.
  void report_cached_inputs(Vertex& v);

  Engine& engine_;
  std::mutex mu_;
  std::map<const Vertex*, std::unique_ptr<Slot>> slots_;
  // Results by cache key: vertices with one key (the same step in several
  // targets of a multi-platform build) are solved once.
  struct Keyed {
    std::mutex mu;
    std::optional<FsState> result;
  };
  std::map<CacheKey, std::unique_ptr<Keyed>> keyed_;  // under mu_
  std::mutex exec_mu_;
  std::condition_variable exec_cv_;
  int exec_free_;
  std::mutex stats_mu_;
  SolveStats stats_;
  std::set<CacheKey> reported_;  // under stats_mu_
  std::string key_salt_;
};

}  // namespace xb::solver
