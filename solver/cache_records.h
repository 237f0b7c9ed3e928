// What the graph hands the cache for --cache-to (private to solver/): the
// key and layer chain of every step a target depends on.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "solver/graph.h"

namespace xb::solver {

// The records of every step the target depends on (parents and COPY --from
// / RUN --mount inputs), each with its layer chain: as `known` says (the
// results of this build, the local and the remote caches), else derived
// from a step above it on the same chain (each step adds exactly one
// layer). Steps whose chain nobody knows are left out.
std::vector<cache::CacheExport::Record> collect_records(
    Graph& graph, Vertex* target, const std::function<std::optional<std::vector<Layer>>(const CacheKey&)>& known);

// The ids of the cache mounts (RUN --mount=type=cache) of every exec step
// the target depends on, sorted, once each: what --cache-to mounts=true
// exports.
std::vector<std::string> cache_mount_ids(const Vertex* target);

}  // namespace xb::solver
