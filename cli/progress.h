// The build progress display (BuildKit's look): a live view on a terminal,
// plain numbered lines for CI logs, or JSON events for tools.
#pragma once

#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "solver/solver.h"

namespace xb::cli {

// The last lines of a step's output (what a failure shows). add() takes the
// output as it comes, in pieces that may end mid-line.
class OutputTail {
 public:
  explicit OutputTail(size_t lines = 20) : max_(lines) {}
  void add(std::string_view text);
  std::string str() const;  // the lines, each ending in '\n' (a partial last line too)

 private:
  size_t max_;
  std::deque<std::string> lines_;
  std::string partial_;
};

enum class ProgressMode { automatic, tty, plain, json, quiet };

// "auto", "plain", "tty", "json"; throws Error(usage) for anything else.
ProgressMode parse_progress_mode(const std::string& text);

// Every display numbers the steps in the order they are first shown (as
// BuildKit's #N) and keeps the last 20 lines of each step's output, which it
// shows when the step fails.
class ProgressDisplay : public solver::ProgressSink {
 public:
  // Numbers the event's step and fills a failure's output, then show()s it.
  void event(const solver::ProgressEvent& event) final;
  // Renders to `out` (stderr); automatic picks tty when out is a terminal.
  static std::unique_ptr<ProgressDisplay> create(ProgressMode mode, FILE* out = stderr);
  // Writes a line outside the step view ("naming to …").
  virtual void message(const std::string& line) = 0;
  // Ends the live view (final redraw), then shows the output of every
  // failed step (BuildKit's "------ > [2/3] RUN …:" block); later events
  // are ignored.
  virtual void finish() = 0;

 protected:
  // The event with its step's display number (and, failed, its output).
  virtual void show(const solver::ProgressEvent& event) = 0;
  // Remembers a failed step's output block for print_failures().
  void remember_failure(const solver::ProgressEvent& ev);
  void print_failures(FILE* out);

 private:
  std::string failures_;
  std::mutex steps_mu_;
  std::map<int, int> numbers_;       // step id → display number
  std::map<int, OutputTail> tails_;  // step id → its last lines of output
};

}  // namespace xb::cli
