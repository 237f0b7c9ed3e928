#include "common/parallel.h"

#include <algorithm>
#include <cstdint>
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

JobQueue::JobQueue(unsigned workers, size_t max_queued) : max_queued_(std::max<size_t>(max_queued, 1)) {
  for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

JobQueue::~JobQueue() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  work_.notify_all();
  for (auto& t : threads_) t.join();
}

void JobQueue::submit(std::function<void()> job) {
  std::unique_lock lock(mu_);
  room_.wait(lock, [this] { return queue_.size() < max_queued_ || failure_; });
  if (failure_) std::rethrow_exception(failure_);
  queue_.push_back(std::move(job));
  work_.notify_one();
}

void JobQueue::wait() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return (queue_.empty() && busy_ == 0) || (failure_ && busy_ == 0); });
  if (failure_) std::rethrow_exception(failure_);
}

void JobQueue::work() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;
    auto job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    room_.notify_one();
    std::exception_ptr err;
    if (!failure_) {
      lock.unlock();
      try {
        job();
      } catch (...) {
        err = std::current_exception();
      }
      job = nullptr;  // whatever the job holds (open files) goes outside the lock
      lock.lock();
    }
    if (err && !failure_) failure_ = err;
    --busy_;
    if (failure_) {
      queue_.clear();
      room_.notify_all();
    }
    if (queue_.empty() && busy_ == 0) idle_.notify_all();
  }
}

void submit_cpu_job(std::function<void()> job) {
  static JobQueue pool(std::thread::hardware_concurrency() ? std::thread::hardware_concurrency() : 2, SIZE_MAX);
  pool.submit([job = std::move(job)]() noexcept { job(); });
}

}  // namespace xb
