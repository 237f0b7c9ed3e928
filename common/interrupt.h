// One stop flag for the whole process: SIGINT, SIGTERM and SIGHUP set it
// (cli/main.cc installs the handler), and every place that waits or loops
// for long checks it — curl transfers (their progress callback), retry
// back-offs, blob writes, the executor's wait loop (through cancel_all) — so
// that any command stops within a second, unwinding through the destructors
// that remove mounts, containers, cgroups and temporary files. The process
// then exits 128 + the signal (130 for SIGINT, 143 for SIGTERM).
#pragma once

#include <chrono>

namespace xb {

// Records sig as the reason to stop (the first one wins) and runs the hook
// given to set_interrupt_hook. Async-signal-safe.
void request_interrupt(int sig) noexcept;
// The signal that asked the process to stop, or 0.
int interrupt_signal() noexcept;
inline bool interrupted() noexcept { return interrupt_signal() != 0; }
// Throws Error(cancelled, "interrupted (SIGINT)") once a signal came.
void check_interrupt();
// Sleeps up to d, returning early (and throwing) on an interrupt.
void interruptible_sleep(std::chrono::milliseconds d);
// An async-signal-safe function that request_interrupt also calls (the CLI
// sets executor::cancel_all, which kills running containers).
void set_interrupt_hook(void (*hook)() noexcept) noexcept;
// Installs request_interrupt for SIGINT, SIGTERM and SIGHUP (no SA_RESTART,
// so that blocking calls return EINTR and notice).
void install_interrupt_handlers();
// For tests: clears the flag.
void reset_interrupt() noexcept;

}  // namespace xb
