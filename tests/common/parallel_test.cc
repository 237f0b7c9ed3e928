#include "common/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace xb {
namespace {

TEST(ParallelFor, EveryItemOnceWithinTheBound) {
  std::mutex mu;
  std::multiset<size_t> seen;
  std::atomic<int> running{0}, most{0};
  parallel_for(50, 3, [&](size_t i, const std::atomic<bool>&) {
    int now = ++running;
    for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    --running;
    std::lock_guard lock(mu);
    seen.insert(i);
  });
  ASSERT_EQ(seen.size(), 50u);
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(seen.count(i), 1u);
  EXPECT_LE(most.load(), 3);
}

TEST(ParallelFor, FirstFailureStopsTheRestAndIsRethrown) {
  std::atomic<int> started{0};
  try {
    parallel_for(1000, 2, [&](size_t i, const std::atomic<bool>&) {
      ++started;
      if (i == 3) throw std::runtime_error("item 3 failed");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "item 3 failed");
  }
  EXPECT_LT(started.load(), 20);
}

TEST(ParallelFor, NothingToDo) {
  int calls = 0;
  parallel_for(0, 4, [&](size_t, const std::atomic<bool>&) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(JobQueue, RunsEveryJobOnItsWorkersAndWaitSeesThemAllDone) {
  std::atomic<int> done{0}, running{0}, most{0};
  JobQueue q(3, 4);
  EXPECT_TRUE(q.enabled());
  for (int i = 0; i < 40; ++i)
    q.submit([&] {
      int now = ++running;
      for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      --running;
      ++done;
    });
  q.wait();
  EXPECT_EQ(done.load(), 40);
  EXPECT_LE(most.load(), 3);
  EXPECT_FALSE(JobQueue(0, 1).enabled());
}

TEST(JobQueue, TheFirstFailureStopsTheRestAndIsRethrown) {
  std::atomic<int> ran{0};
  JobQueue q(1, 100);
  q.submit([] { throw std::runtime_error("first"); });
  for (int i = 0; i < 20; ++i) {
    try {
      q.submit([&] {
        ++ran;
        throw std::runtime_error("later");
      });
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "first");  // submit after the failure rethrows it
      break;
    }
  }
  try {
    q.wait();
    ADD_FAILURE() << "wait() did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  EXPECT_EQ(ran.load(), 0);  // nothing started after the failure
}

TEST(CpuPool, RunsJobsSharedByEveryCaller) {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  for (int i = 0; i < 50; ++i)
    submit_cpu_job([&] {
      std::lock_guard lock(mu);
      ++done;
      cv.notify_all();
    });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done == 50; });
  EXPECT_EQ(done, 50);
}

// The pool's threads are joined when the process exits: a job that is
// running then finishes (its output is seen), instead of running on through
// the static destructors of a process that is going away.
TEST(CpuPoolDeathTest, AJobRunningAtExitFinishesBeforeTheProcessEnds) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        std::atomic<bool> started{false};
        submit_cpu_job([&started] {
          started = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          std::fputs("job finished\n", stderr);
        });
        while (!started) std::this_thread::yield();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "job finished");
}

}  // namespace
}  // namespace xb
