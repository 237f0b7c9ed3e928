#include "solver/cache_records.h"

#include <algorithm>
#include <map>
#include <set>

#include "solver/mounts.h"
#include "solver/solver.h"

namespace xb::solver {

std::vector<cache::CacheExport::Record> collect_records(
    Graph& graph, Vertex* target, const std::function<std::optional<std::vector<Layer>>(const CacheKey&)>& known) {
  std::vector<cache::CacheExport::Record> out;
  if (!target) return out;
  std::set<const Vertex*> final_chain;
  for (Vertex* v = target; v; v = v->parent) final_chain.insert(v);
  // Post-order: inputs before the steps that use them.
  std::vector<Vertex*> order;
  std::set<const Vertex*> seen;
  std::function<void(Vertex*)> dfs = [&](Vertex* v) {
    if (!v || !seen.insert(v).second) return;
    dfs(v->parent);
    for (Vertex* d : v->deps) dfs(d);
    order.push_back(v);
  };
  dfs(target);
  std::map<const Vertex*, std::vector<Layer>> derived;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Vertex* v = *it;
    if (v->kind == Vertex::Kind::source) continue;  // the base image: no step to cache
    CacheKey key = graph.key(*v);
    std::optional<std::vector<Layer>> layers = known(key);
    if (!layers)
      if (auto d = derived.find(v); d != derived.end()) layers = d->second;
    if (!layers || layers->empty()) continue;
    if (v->parent && !derived.count(v->parent)) derived[v->parent] = {layers->begin(), layers->end() - 1};
    out.push_back(cache::CacheExport::Record{key, std::move(*layers), final_chain.count(v) > 0});
  }
  return out;
}

std::vector<std::string> cache_mount_ids(const Vertex* target) {
  std::set<std::string> ids;
  std::set<const Vertex*> seen;
  std::vector<const Vertex*> todo = {target};
  while (!todo.empty()) {
    const Vertex* v = todo.back();
    todo.pop_back();
    if (!v || !seen.insert(v).second) continue;
    todo.push_back(v->parent);
    todo.insert(todo.end(), v->deps.begin(), v->deps.end());
    if (const auto* e = dynamic_cast<const ExecVertex*>(v))
      for (const auto& m : e->mounts)
        if (m.spec.type == MountSpec::Type::cache) ids.insert(cache_mount_id(m.spec));
  }
  return {ids.begin(), ids.end()};
}

namespace {

// mounts=true: each cache mount of the build as a tar in the store, unless
// it is larger than every spec's mounts-max-size; a mount this store has
// empty (the build never ran a step that restored it) keeps what an
// imported cache holds for it, so that re-exporting loses nothing.
void pack_mounts(store::Store& store, cache::CacheExport& cache, const BuildOptions& options) {
  bool wanted = false;
  std::optional<uint64_t> limit = 0;
  for (const auto& spec : options.cache_to) {
    if (!spec.mounts || spec.type == cache::CacheSpec::Type::inline_) continue;
    wanted = true;
    if (!spec.mounts_max_size) limit.reset();
    else if (limit) limit = std::max(*limit, *spec.mounts_max_size);
  }
  if (!wanted) return;
  for (const auto& id : cache.mount_ids) {
    cache::CacheExport::Mount m = pack_cache_mount(store, cache::cache_mount_path(store.root(), id), limit);
    if (!m.layer && m.bytes == 0 && cache.remote)
      if (auto r = cache.remote->mount(id)) m = {r->first.size, r->first};
    if (m.layer || m.bytes) cache.mounts.emplace(id, std::move(m));
  }
}

}  // namespace

void export_cache(store::Store& store, const BuildResult& result, const BuildOptions& options) {
  cache::CacheExport records = result.cache ? *result.cache : cache::CacheExport{};
  pack_mounts(store, records, options);
  cache::ExportOptions eo;
  eo.registry_config = options.registry_config;
  if (options.progress)
    eo.info = [&](const std::string& text) {
      ProgressEvent ev;
      ev.text = text;
      options.progress->event(ev);
    };
  for (const auto& spec : options.cache_to)
    if (spec.type != cache::CacheSpec::Type::inline_)  // in the image config already (build())
      cache::export_cache(store, records, spec, eo);
}

}  // namespace xb::solver
