#include "common/parallel.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace xb {

void parallel_for(size_t count, size_t parallelism,
                  const std::function<void(size_t i, const std::atomic<bool>& stopping)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::exception_ptr first;
  auto worker = [&] {
    for (size_t i; !stopping.load() && (i = next.fetch_add(1)) < count;) {
      try {
        fn(i, stopping);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!first) first = std::current_exception();
        stopping = true;
      }
    }
  };
  size_t threads_wanted = std::min(std::max<size_t>(parallelism, 1), count);
  std::vector<std::thread> threads;
  for (size_t t = 1; t < threads_wanted; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace xb
