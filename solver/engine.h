// The real engine's cache decision (private to solver/), a pure function so
// that it is unit-tested without a store or root (tests/solver/engine_test.cc).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "cache/cache.h"
#include "solver/graph.h"

namespace xb::solver {

// Whether a local cache record is a hit: its snapshot present (or none:
// layers only, as a kept remote hit), every layer's blob in the store. The
// state it stands for, or nullopt: a miss, and the step runs (an unreadable
// record or another version is a miss already in cache::LocalCache::get,
// and gets rewritten).
std::optional<FsState> cached_state(const cache::CacheRecord& record,
                                    const std::function<bool(const std::string& snapshot)>& has_snapshot,
                                    const std::function<bool(const Digest& blob)>& has_blob);

}  // namespace xb::solver
