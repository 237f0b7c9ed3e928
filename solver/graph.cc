#include "solver/graph.h"

#include "common/interrupt.h"

#include <future>

namespace xb::solver {

struct Graph::Slot {
  std::mutex key_mu;
  std::optional<CacheKey> key;
  std::string content;  // digest of content_key(), for an explanation
  std::mutex solve_mu;
  std::optional<FsState> result;
  std::optional<bool> misses;  // Graph::must_run, once known (under key_mu)
};

Graph::Graph(Engine& engine, int parallelism) : engine_(engine), exec_free_(parallelism < 1 ? 1 : parallelism) {}

Graph::~Graph() = default;

Graph::Slot& Graph::slot(Vertex& v) {
  std::lock_guard lock(mu_);
  auto& s = slots_[&v];
  if (!s) s = std::make_unique<Slot>();
  return *s;
}

namespace {
void put_field(Sha256& h, std::string_view tag, std::string_view value) {
  // Length-prefixed, so that no two different field lists hash alike.
  std::string head = std::string(tag) + ":" + std::to_string(value.size()) + ":";
  h.update(head);
  h.update(value);
}

std::string_view kind_name(Vertex::Kind k) {
  switch (k) {
    case Vertex::Kind::source: return "source";
    case Vertex::Kind::exec: return "exec";
    case Vertex::Kind::file: return "file";
  }
  return "?";
}
}  // namespace

CacheKey Graph::key(Vertex& v) {
  Slot& s = slot(v);
  std::lock_guard lock(s.key_mu);
  if (s.key) return *s.key;
  Sha256 h;
  put_field(h, "version", "xbuild-cache-key/1");
  if (!key_salt_.empty()) put_field(h, "salt", key_salt_);
  put_field(h, "kind", kind_name(v.kind));
  put_field(h, "op", v.describe());
  std::string content;
  try {
    content = v.content_key();
  } catch (Error& e) {
    if (v.location.line > 0) e.at(v.location);  // a missing source is the instruction's error
    throw;
  }
  put_field(h, "content", content);
  s.content = Digest::of(content).str();
  put_field(h, "parent", v.parent ? key(*v.parent).str() : "");
  for (Vertex* d : v.deps) put_field(h, "dep", key(*d).str());
  s.key = h.finish();
  return *s.key;
}

// A step that ignores the cache reruns, and so does every step built on
// it, as in BuildKit (an edge whose input found no cache key cannot match:
// solver/edge.go's noCacheMatchPossible): --no-cache-filter's stage and
// whatever copies from it or continues it.
bool Graph::must_run(Vertex& v) {
  Slot& s = slot(v);
  {
    std::lock_guard lock(s.key_mu);
    if (s.misses) return *s.misses;
  }
  bool m = v.ignore_cache || (v.parent && must_run(*v.parent));
  for (Vertex* d : v.deps) m = m || must_run(*d);
  std::lock_guard lock(s.key_mu);
  s.misses = m;
  return m;
}

FsState Graph::solve(Vertex& v) {
  Slot& s = slot(v);
  std::lock_guard lock(s.solve_mu);
  if (s.result) return *s.result;
  if (auto st = v.source_state()) {
    // Like BuildKit's "FROM … CACHED": the image is already in the store.
    if (first_report(v)) engine_.on_cached(v, {});
    s.result = std::move(*st);
    return *s.result;
  }
  CacheKey k = key(v);
  Keyed* same;
  {
    std::lock_guard lock(mu_);
    auto& p = keyed_[k];
    if (!p) p = std::make_unique<Keyed>();
    same = p.get();
  }
  // A step another vertex of this solve has the key of (the same step for
  // another platform) waits for that one and takes its result.
  std::lock_guard kl(same->mu);
  if (same->result) {
    report_cached_inputs(v);
    if (first_report(v)) engine_.on_cached(v, {});
    s.result = same->result;
    return *s.result;
  }
  auto start = std::chrono::steady_clock::now();
  if (!must_run(v)) {
    if (auto hit = engine_.lookup(k)) {
      engine_.on_hit(v, k);
      report_cached_inputs(v);
      if (first_report(v)) engine_.on_cached(v, std::chrono::steady_clock::now() - start);
      std::lock_guard sl(stats_mu_);
      stats_.cached++;
      s.result = std::move(*hit);
      same->result = s.result;
      return *s.result;
    }
  }
  s.result = solve_uncached(v, s);
  same->result = s.result;
  return *s.result;
}

FsState Graph::solve_uncached(Vertex& v, Slot& s) {
  CacheKey k = *s.key;
  // Inputs first: the dependencies in parallel with the parent.
  std::vector<std::future<FsState>> dep_futures;
  for (Vertex* d : v.deps) dep_futures.push_back(std::async(std::launch::async, [this, d] { return solve(*d); }));
  FsState parent;
  std::exception_ptr failure;
  try {
    if (v.parent) parent = solve(*v.parent);
  } catch (...) {
    failure = std::current_exception();
  }
  std::vector<FsState> deps;
  for (auto& f : dep_futures) {
    try {
      deps.push_back(f.get());
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);

  {
    std::unique_lock lock(exec_mu_);
    exec_cv_.wait(lock, [this] { return exec_free_ > 0; });
    exec_free_--;
  }
  struct Release {
    Graph* g;
    ~Release() {
      std::lock_guard lock(g->exec_mu_);
      g->exec_free_++;
      g->exec_cv_.notify_one();
    }
  } release{this};

  check_interrupt();  // a signal stops the build before its next step
  {
    // Only a miss is explained: a cached build pays nothing for it.
    cache::StepInputs inputs;
    std::string reason;
    try {
      inputs = inputs_of(v, s);
      reason = explain_miss(v.ignore_cache, k, engine_.previous(v), inputs);
    } catch (const std::exception&) {
      // An explanation never fails the build (a file gone since the step was keyed: the step says so itself).
      reason = "unknown (its inputs could not be listed)";
    }
    engine_.on_miss(v, k, inputs, reason);
  }
  first_report(v);
  engine_.on_started(v);
  auto start = std::chrono::steady_clock::now();
  try {
    FsState out = engine_.execute(v, k, parent, deps);
    engine_.on_done(v, std::chrono::steady_clock::now() - start);
    std::lock_guard sl(stats_mu_);
    stats_.executed++;
    return out;
  } catch (Error& e) {
    if (v.location.line > 0) e.at(v.location);
    engine_.on_failed(v, e, std::chrono::steady_clock::now() - start);
    throw;
  }
}

namespace {
// What the display shows of an input: an image by reference and digest.
std::string input_text(const Vertex& v) {
  if (const cache::StepInputs::Part* p = v.inputs.find("image")) return p->text;
  return v.name;
}
}  // namespace

cache::StepInputs Graph::inputs_of(Vertex& v, Slot& s) {
  cache::StepInputs in = v.inputs;
  v.describe_inputs(in);
  if (v.parent)
    in.add(v.parent->kind == Vertex::Kind::source ? "base" : "parent", key(*v.parent).str(), input_text(*v.parent));
  for (size_t i = 0; i < v.deps.size(); ++i)
    in.add("input:" + std::to_string(i), key(*v.deps[i]).str(), input_text(*v.deps[i]));
  if (!key_salt_.empty()) in.add("build setting", key_salt_, key_salt_);
  in.add("operation", Digest::of(v.describe()).str(), "", true);
  in.add("content", s.content, "", true);
  return in;
}

std::string explain_miss(bool no_cache, const CacheKey& key, const std::optional<Engine::Previous>& previous,
                         const cache::StepInputs& now) {
  if (no_cache) return "--no-cache";
  if (!previous) return "never built";
  if (previous->gone) return "never built (its last build is no longer in the cache)";
  if (previous->key == key) return "its cached result is incomplete (a snapshot or layer is gone)";
  if (previous->inputs.empty())
    return "the last build's inputs are unknown (an older xbuild, or a remote cache, built it)";
  std::string why = cache::explain_change(previous->inputs, now);
  return why.empty() ? "cache key changed (another xbuild version)" : why;
}

bool Graph::first_report(Vertex& v) {
  CacheKey k = key(v);
  std::lock_guard sl(stats_mu_);
  return reported_.insert(k).second;
}

void Graph::report_cached_inputs(Vertex& v) {
  std::vector<Vertex*> inputs;
  if (v.parent) inputs.push_back(v.parent);
  inputs.insert(inputs.end(), v.deps.begin(), v.deps.end());
  for (Vertex* in : inputs) {
    report_cached_inputs(*in);
    if (!first_report(*in)) continue;
    engine_.on_cached(*in, {});
    if (in->kind != Vertex::Kind::source) {
      std::lock_guard sl(stats_mu_);
      stats_.cached++;
    }
  }
}

SolveStats Graph::stats() const {
  std::lock_guard sl(const_cast<std::mutex&>(stats_mu_));
  return stats_;
}

}  // namespace xb::solver
