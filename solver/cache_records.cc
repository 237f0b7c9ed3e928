#include "solver/cache_records.h"

#include <map>
#include <set>

#include "solver/solver.h"

namespace xb::solver {

std::vector<cache::CacheExport::Record> collect_records(
    Graph& graph, Vertex* target,
    const std::function<std::optional<std::vector<Layer>>(const CacheKey&)>& known) {
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

void export_cache(store::Store& store, const BuildResult& result, const BuildOptions& options) {
  static const cache::CacheExport empty;
  const cache::CacheExport& records = result.cache ? *result.cache : empty;
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
