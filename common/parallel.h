// Running the items of a list on several threads at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>

namespace xb {

// Calls fn(i, stopping) for every i in [0, count) on up to `parallelism`
// threads, the caller's included. After the first exception no item
// starts any more and `stopping` becomes true, so long items (a download)
// can give up early; that first exception (the cause; later ones are
// often consequences) is rethrown once every thread has returned.
void parallel_for(size_t count, size_t parallelism,
                  const std::function<void(size_t i, const std::atomic<bool>& stopping)>& fn);

}  // namespace xb
