// The process-wide stop flag (common/interrupt.h) that SIGINT/SIGTERM set.
#include "common/interrupt.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/error.h"

namespace xb {
namespace {

struct Reset {
  ~Reset() { reset_interrupt(); }
};

TEST(Interrupt, FlagThrowsCancelledNamingTheSignal) {
  Reset r;
  EXPECT_NO_THROW(check_interrupt());
  request_interrupt(SIGTERM);
  request_interrupt(SIGINT);  // the first one wins
  EXPECT_EQ(interrupt_signal(), SIGTERM);
  try {
    check_interrupt();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::cancelled);
    EXPECT_STREQ(e.what(), "interrupted (SIGTERM)");
  }
}

TEST(Interrupt, NeverThrowsWhileUnwinding) {
  Reset r;
  request_interrupt(SIGINT);
  struct Cleanup {
    bool threw = false;
    ~Cleanup() {
      try {
        check_interrupt();
      } catch (...) {
        threw = true;
      }
      EXPECT_FALSE(threw);
    }
  };
  try {
    Cleanup c;
    throw 1;
  } catch (int) {
  }
}

TEST(Interrupt, SleepEndsEarly) {
  Reset r;
  std::thread t([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    request_interrupt(SIGINT);
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(interruptible_sleep(std::chrono::seconds(30)), Error);
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(Interrupt, HandlerSetsTheFlagAndRunsTheHook) {
  Reset r;
  static std::atomic<int> hooked{0};
  set_interrupt_hook([]() noexcept { ++hooked; });
  install_interrupt_handlers();
  ::raise(SIGINT);
  EXPECT_EQ(interrupt_signal(), SIGINT);
  EXPECT_EQ(hooked.load(), 1);
  set_interrupt_hook(nullptr);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
}

}  // namespace
}  // namespace xb
