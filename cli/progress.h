// The build progress display (BuildKit's look): a live view on a terminal,
// plain numbered lines for CI logs, or JSON events for tools.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "solver/solver.h"

namespace xb::cli {

enum class ProgressMode { automatic, tty, plain, json, quiet };

// "auto", "plain", "tty", "json"; throws Error(usage) for anything else.
ProgressMode parse_progress_mode(const std::string& text);

class ProgressDisplay : public solver::ProgressSink {
 public:
  // Renders to `out` (stderr); automatic picks tty when out is a terminal.
  static std::unique_ptr<ProgressDisplay> create(ProgressMode mode, FILE* out = stderr);
  // Writes a line outside the step view ("naming to …").
  virtual void message(const std::string& line) = 0;
  // Ends the live view (final redraw), then shows the output of every
  // failed step (BuildKit's "------ > [2/3] RUN …:" block); later events
  // are ignored.
  virtual void finish() = 0;

 protected:
  // Remembers a failed step's output block for print_failures().
  void remember_failure(const solver::ProgressEvent& ev);
  void print_failures(FILE* out);

 private:
  std::string failures_;
};

}  // namespace xb::cli
