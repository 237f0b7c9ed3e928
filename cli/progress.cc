#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/error.h"
#include "common/json.h"

namespace xb::cli {

namespace {

using Clock = std::chrono::steady_clock;
using solver::ProgressEvent;

std::string seconds(Clock::duration d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1fs", std::chrono::duration<double>(d).count());
  return buf;
}

// Plain: BuildKit's --progress=plain. Every event is a line, prefixed with
// the step number, so interleaved steps stay readable in CI logs.
class PlainDisplay : public ProgressDisplay {
 public:
  explicit PlainDisplay(FILE* out) : out_(out), start_(Clock::now()) {}

  void show(const ProgressEvent& ev) override {
    std::lock_guard lock(mu_);
    switch (ev.kind) {
      case ProgressEvent::Kind::info: fprintf(out_, "#0 %s\n", ev.text.c_str()); break;
      case ProgressEvent::Kind::step_started:
        fprintf(out_, "#%d %s\n", ev.step, ev.name.c_str());
        if (!ev.reason.empty()) fprintf(out_, "#%d cache miss: %s\n", ev.step, ev.reason.c_str());
        break;
      case ProgressEvent::Kind::step_cached:
        fprintf(out_, "#%d %s\n#%d CACHED\n", ev.step, ev.name.c_str(), ev.step);
        break;
      case ProgressEvent::Kind::step_done: fprintf(out_, "#%d DONE %s\n", ev.step, seconds(ev.elapsed).c_str()); break;
      case ProgressEvent::Kind::step_failed:
        fprintf(out_, "#%d ERROR: %s\n", ev.step, first_line(ev.text).c_str());
        remember_failure(ev);
        break;
      case ProgressEvent::Kind::step_log: {
        std::string& partial = partial_[ev.step];
        partial += ev.text;
        size_t nl;
        while ((nl = partial.find('\n')) != std::string::npos) {
          fprintf(out_, "#%d %.3f %s\n", ev.step, std::chrono::duration<double>(Clock::now() - start_).count(),
                  partial.substr(0, nl).c_str());
          partial.erase(0, nl + 1);
        }
        break;
      }
    }
    fflush(out_);
  }
  void message(const std::string& line) override {
    std::lock_guard lock(mu_);
    fprintf(out_, "%s\n", line.c_str());
    fflush(out_);
  }
  void finish() override {
    std::lock_guard lock(mu_);
    print_failures(out_);
  }

 private:
  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
  FILE* out_;
  Clock::time_point start_;
  std::mutex mu_;
  std::map<int, std::string> partial_;
};

// JSON: one object per line, for tools.
class JsonDisplay : public ProgressDisplay {
 public:
  explicit JsonDisplay(FILE* out) : out_(out), start_(Clock::now()) {}
  void show(const ProgressEvent& ev) override {
    static const char* kinds[] = {"step_started", "step_cached", "step_done", "step_failed", "step_log", "info"};
    nlohmann::json j = {{"type", kinds[static_cast<int>(ev.kind)]},
                        {"time", std::chrono::duration<double>(Clock::now() - start_).count()}};
    if (ev.step) j["step"] = ev.step;
    if (!ev.name.empty()) j["name"] = ev.name;
    if (!ev.text.empty()) j["text"] = ev.text;
    if (!ev.output.empty()) j["output"] = ev.output;
    if (!ev.reason.empty()) j["cache_miss"] = ev.reason;
    if (ev.kind == ProgressEvent::Kind::step_log) j["stream"] = ev.stderr_stream ? "stderr" : "stdout";
    if (ev.elapsed.count()) j["elapsed"] = std::chrono::duration<double>(ev.elapsed).count();
    std::lock_guard lock(mu_);
    fprintf(out_, "%s\n", dump_json(j).c_str());
    fflush(out_);
  }
  void message(const std::string& line) override {
    nlohmann::json j = {{"type", "message"}, {"text", line}};
    std::lock_guard lock(mu_);
    fprintf(out_, "%s\n", dump_json(j).c_str());
  }
  void finish() override {}

 private:
  FILE* out_;
  Clock::time_point start_;
  std::mutex mu_;
};

// TTY: a live view redrawn in place: a header with the elapsed time, one
// line per step with its time or CACHED, and the last lines of the output
// of running steps.
class TtyDisplay : public ProgressDisplay {
 public:
  explicit TtyDisplay(FILE* out) : out_(out), start_(Clock::now()) {}

  void show(const ProgressEvent& ev) override {
    std::lock_guard lock(mu_);
    if (done_) return;
    if (ev.kind == ProgressEvent::Kind::info) {
      infos_.push_back(ev.text);
    } else {
      Step& s = step(ev);
      switch (ev.kind) {
        case ProgressEvent::Kind::step_started:
          s.state = State::running;
          s.started = Clock::now();
          s.reason = ev.reason;
          break;
        case ProgressEvent::Kind::step_cached: s.state = State::cached; break;
        case ProgressEvent::Kind::step_done:
          s.state = State::done;
          s.elapsed = ev.elapsed;
          s.logs.clear();
          break;
        case ProgressEvent::Kind::step_failed:
          s.state = State::failed;
          s.elapsed = ev.elapsed;
          remember_failure(ev);
          break;
        case ProgressEvent::Kind::step_log:
          s.partial += ev.text;
          for (size_t nl; (nl = s.partial.find('\n')) != std::string::npos;) {
            s.logs.push_back(s.partial.substr(0, nl));
            s.partial.erase(0, nl + 1);
            if (s.logs.size() > 6) s.logs.pop_front();
          }
          break;
        default: break;
      }
    }
    auto now = Clock::now();
    if (now - last_draw_ > std::chrono::milliseconds(80) || ev.kind != ProgressEvent::Kind::step_log) draw();
  }

  void message(const std::string& line) override {
    std::lock_guard lock(mu_);
    messages_.push_back(line);
    if (!done_) draw();
    else fprintf(out_, "%s\n", line.c_str());
  }

  void finish() override {
    std::lock_guard lock(mu_);
    if (done_) return;
    draw();
    done_ = true;
    print_failures(out_);
  }

 private:
  enum class State { waiting, running, cached, done, failed };
  struct Step {
    int number = 0;
    std::string name;
    State state = State::waiting;
    Clock::time_point started;
    Clock::duration elapsed{};
    std::deque<std::string> logs;
    std::string partial;
    std::string reason;  // why it missed the cache
  };

  Step& step(const ProgressEvent& ev) {
    for (auto& s : steps_)
      if (s.number == ev.step) return s;
    steps_.push_back(Step{ev.step, ev.name});
    return steps_.back();
  }

  int width() const {
    struct winsize ws {};
    if (ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
    return 80;
  }

  std::string fit(std::string s, size_t w) const {
    if (s.size() > w) s = s.substr(0, w > 3 ? w - 3 : w) + "...";
    return s;
  }

  void draw() {
    last_draw_ = Clock::now();
    size_t w = static_cast<size_t>(width());
    std::vector<std::string> lines;
    int finished = 0;
    for (auto& s : steps_)
      if (s.state == State::done || s.state == State::cached) finished++;
    lines.push_back("\x1b[1m[+] Building " + seconds(Clock::now() - start_) + " (" + std::to_string(finished) + "/" +
                    std::to_string(steps_.size()) + ")\x1b[0m");
    for (auto& i : infos_) lines.push_back(fit(" => " + i, w));
    for (auto& s : steps_) {
      std::string left, right;
      switch (s.state) {
        case State::waiting: left = " => " + s.name; break;
        case State::running:
          left = " => " + s.name;
          right = seconds(Clock::now() - s.started);
          break;
        case State::cached:
          left = " => CACHED " + s.name;
          right = "0.0s";
          break;
        case State::done:
          left = " => " + s.name;
          right = seconds(s.elapsed);
          break;
        case State::failed:
          left = " => ERROR " + s.name;
          right = seconds(s.elapsed);
          break;
      }
      left = fit(left, w - right.size() - 1);
      std::string line = left +
                         std::string(w - left.size() - right.size() > 0 ? w - left.size() - right.size() : 1, ' ') +
                         right;
      if (s.state == State::failed) line = "\x1b[31m" + line + "\x1b[0m";
      else if (s.state == State::running) line = "\x1b[34m" + line + "\x1b[0m";
      lines.push_back(line);
      // Why it runs, folded away once it is done.
      if ((s.state == State::running || s.state == State::failed) && !s.reason.empty())
        lines.push_back("\x1b[2m => => cache miss: " + fit(s.reason, w > 20 ? w - 20 : w) + "\x1b[0m");
      if (s.state == State::running || s.state == State::failed)
        for (auto& l : s.logs) lines.push_back("\x1b[2m => => " + fit(l, w - 7) + "\x1b[0m");
    }
    for (auto& m : messages_) lines.push_back(fit(" => " + m, w));
    std::string out;
    if (drawn_lines_) out += "\x1b[" + std::to_string(drawn_lines_) + "A";
    out += "\r\x1b[J";
    for (auto& l : lines) out += l + "\n";
    fputs(out.c_str(), out_);
    fflush(out_);
    drawn_lines_ = static_cast<int>(lines.size());
  }

  FILE* out_;
  Clock::time_point start_;
  Clock::time_point last_draw_{};
  std::mutex mu_;
  std::vector<Step> steps_;
  std::vector<std::string> infos_;
  std::vector<std::string> messages_;
  int drawn_lines_ = 0;
  bool done_ = false;
};

// Quiet (-q): nothing but a failed step's output, which the user needs.
class QuietDisplay : public ProgressDisplay {
 public:
  explicit QuietDisplay(FILE* out) : out_(out) {}
  void show(const ProgressEvent& ev) override {
    std::lock_guard lock(mu_);
    if (ev.kind == ProgressEvent::Kind::step_failed) remember_failure(ev);
  }
  void message(const std::string&) override {}
  void finish() override {
    std::lock_guard lock(mu_);
    print_failures(out_);
  }

 private:
  FILE* out_;
  std::mutex mu_;
};

}  // namespace

void OutputTail::add(std::string_view text) {
  for (char c : text) {
    if (c != '\n') {
      partial_ += c;
      continue;
    }
    lines_.push_back(std::move(partial_));
    partial_.clear();
    if (lines_.size() > max_) lines_.pop_front();
  }
}

std::string OutputTail::str() const {
  std::string out;
  for (const auto& l : lines_) out += l + "\n";
  if (!partial_.empty()) out += partial_ + "\n";
  return out;
}

void ProgressDisplay::event(const ProgressEvent& in) {
  if (in.step == 0) return show(in);
  ProgressEvent ev = in;
  {
    std::lock_guard lock(steps_mu_);
    auto [it, fresh] = numbers_.emplace(in.step, static_cast<int>(numbers_.size()) + 1);
    ev.step = it->second;
    if (ev.kind == ProgressEvent::Kind::step_log) tails_[in.step].add(ev.text);
    if (ev.kind == ProgressEvent::Kind::step_failed && ev.output.empty())
      if (auto t = tails_.find(in.step); t != tails_.end()) ev.output = t->second.str();
  }
  show(ev);
}

void ProgressDisplay::remember_failure(const ProgressEvent& ev) {
  if (ev.output.empty()) return;
  failures_ += "------\n > " + ev.name + ":\n" + ev.output;
  if (!ev.output.ends_with('\n')) failures_ += "\n";
  failures_ += "------\n";
}

void ProgressDisplay::print_failures(FILE* out) {
  if (failures_.empty()) return;
  fputs(failures_.c_str(), out);
  fflush(out);
  failures_.clear();
}

ProgressMode parse_progress_mode(const std::string& text) {
  if (text == "auto") return ProgressMode::automatic;
  if (text == "plain") return ProgressMode::plain;
  if (text == "tty") return ProgressMode::tty;
  if (text == "json" || text == "rawjson") return ProgressMode::json;
  if (text == "quiet") return ProgressMode::quiet;
  fail(ErrorKind::usage, "--progress " + text + ": want auto, plain, tty or json");
}

std::unique_ptr<ProgressDisplay> ProgressDisplay::create(ProgressMode mode, FILE* out) {
  if (mode == ProgressMode::automatic) mode = isatty(fileno(out)) ? ProgressMode::tty : ProgressMode::plain;
  switch (mode) {
    case ProgressMode::tty: return std::make_unique<TtyDisplay>(out);
    case ProgressMode::json: return std::make_unique<JsonDisplay>(out);
    case ProgressMode::quiet: return std::make_unique<QuietDisplay>(out);
    default: return std::make_unique<PlainDisplay>(out);
  }
}

}  // namespace xb::cli
