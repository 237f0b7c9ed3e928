#include "common/interrupt.h"

#include <signal.h>
#include <string.h>

#include <atomic>
#include <exception>
#include <string>
#include <thread>

#include "common/error.h"

namespace xb {

namespace {
std::atomic<int> g_signal{0};
std::atomic<void (*)() noexcept> g_hook{nullptr};
static_assert(std::atomic<int>::is_always_lock_free);

void on_signal(int sig) { request_interrupt(sig); }
}  // namespace

void request_interrupt(int sig) noexcept {
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
  if (auto hook = g_hook.load()) hook();
}

int interrupt_signal() noexcept { return g_signal.load(std::memory_order_relaxed); }

void check_interrupt() {
  int sig = interrupt_signal();
  // Never from cleanup that runs while an exception unwinds (a destructor
  // that removes a snapshot and waits for a lock): that would terminate.
  if (!sig || std::uncaught_exceptions() > 0) return;
  const char* name = sigabbrev_np(sig);
  fail(ErrorKind::cancelled,
       std::string("interrupted (") + (name ? std::string("SIG") + name : std::to_string(sig)) + ")");
}

void interruptible_sleep(std::chrono::milliseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  for (;;) {
    check_interrupt();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(50)));
  }
}

void set_interrupt_hook(void (*hook)() noexcept) noexcept { g_hook.store(hook); }

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

void reset_interrupt() noexcept { g_signal.store(0); }

}  // namespace xb
