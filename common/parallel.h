// Running the items of a list on several threads at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace xb {

// Calls fn(i, stopping) for every i in [0, count) on up to `parallelism`
// threads, the caller's included. After the first exception no item
// starts any more and `stopping` becomes true, so long items (a download)
// can give up early; that first exception (the cause; later ones are
// often consequences) is rethrown once every thread has returned.
void parallel_for(size_t count, size_t parallelism,
                  const std::function<void(size_t i, const std::atomic<bool>& stopping)>& fn);

// Jobs handed over one by one while the caller goes on (file contents to
// copy during a walk, layers to upload while others compress), run in order
// on a fixed set of worker threads. submit() blocks while max_queued jobs
// wait, which bounds what they hold (open files). After a job throws no
// other starts, and submit() and wait() rethrow that first exception. The
// destructor drops the jobs not yet started and joins.
class JobQueue {
 public:
  JobQueue(unsigned workers, size_t max_queued);
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  bool enabled() const { return !threads_.empty(); }  // false with 0 workers: run jobs yourself
  void submit(std::function<void()> job);
  // Until every job submitted so far has run; rethrows the first failure.
  void wait();

 private:
  void work();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable work_, room_, idle_;
  std::deque<std::function<void()>> queue_;
  size_t busy_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> threads_;
};

// Runs job on the process's pool of CPU workers (one per core), shared by
// every caller at once (the chunks of several layers being compressed) so
// that the total stays bounded. Its threads are joined when the process
// exits, none left running through static destructors. The job must not
// throw: it reports failure its own way (a throw terminates).
void submit_cpu_job(std::function<void()> job);

}  // namespace xb
