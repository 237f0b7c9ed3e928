// The progress display's bookkeeping (cli/progress): steps numbered in the
// order they are first shown, whatever their ids, and a failed step's last
// lines of output, as BuildKit's "------ > [2/3] RUN …:" block shows them.
#include "cli/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace xb::cli {
namespace {

using solver::ProgressEvent;

ProgressEvent step_event(ProgressEvent::Kind kind, int id, std::string name, std::string text = {}) {
  ProgressEvent ev;
  ev.kind = kind;
  ev.step = id;
  ev.name = std::move(name);
  ev.text = std::move(text);
  return ev;
}

// Renders a plain display into a memory buffer.
struct Plain {
  char* buf = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buf, &size);
  std::unique_ptr<ProgressDisplay> display = ProgressDisplay::create(ProgressMode::plain, out);
  std::string text() {
    fflush(out);
    return std::string(buf, size);
  }
  ~Plain() {
    display.reset();
    fclose(out);
    free(buf);
  }
};

TEST(Progress, StepsAreNumberedInTheOrderTheyAreFirstShown) {
  Plain p;
  p.display->event(step_event(ProgressEvent::Kind::step_started, 7, "[2/2] RUN b"));
  p.display->event(step_event(ProgressEvent::Kind::step_cached, 3, "[1/2] FROM a"));
  p.display->event(step_event(ProgressEvent::Kind::step_done, 7, "[2/2] RUN b"));
  ProgressEvent info;
  info.text = "pulling a";
  p.display->event(info);
  EXPECT_EQ(p.text(), "#1 [2/2] RUN b\n#2 [1/2] FROM a\n#2 CACHED\n#1 DONE 0.0s\n#0 pulling a\n");
}

// Issue 22: why a step missed the cache, under its header (plain), as a
// field (json), folded away once the step is done (tty).
struct Rendered {
  char* buf = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buf, &size);
  std::unique_ptr<ProgressDisplay> display;
  explicit Rendered(ProgressMode m) : display(ProgressDisplay::create(m, out)) {}
  std::string text() {
    fflush(out);
    return std::string(buf, size);
  }
  ~Rendered() {
    display.reset();
    fclose(out);
    free(buf);
  }
};

TEST(Progress, AMissSaysWhyInEveryMode) {
  ProgressEvent started = step_event(ProgressEvent::Kind::step_started, 4, "[2/2] COPY src/ /app/");
  started.reason = "src/app.py: content changed";
  {
    Rendered r(ProgressMode::plain);
    r.display->event(started);
    EXPECT_EQ(r.text(), "#1 [2/2] COPY src/ /app/\n#1 cache miss: src/app.py: content changed\n");
  }
  {
    Rendered r(ProgressMode::json);
    r.display->event(started);
    auto j = nlohmann::json::parse(r.text());
    EXPECT_EQ(j.at("type"), "step_started");
    EXPECT_EQ(j.at("cache_miss"), "src/app.py: content changed");
  }
  {
    Rendered r(ProgressMode::tty);
    r.display->event(started);
    EXPECT_NE(r.text().find("cache miss: src/app.py: content changed"), std::string::npos);
    size_t shown = r.text().size();
    r.display->event(step_event(ProgressEvent::Kind::step_done, 4, "[2/2] COPY src/ /app/"));
    r.display->finish();
    // The last redraw (after the final clear) no longer has it.
    std::string last = r.text().substr(shown);
    last = last.substr(last.rfind("\x1b[J"));
    EXPECT_EQ(last.find("cache miss"), std::string::npos) << last;
  }
}

TEST(Progress, AFailedStepShowsItsLastTwentyLines) {
  Plain p;
  p.display->event(step_event(ProgressEvent::Kind::step_started, 4, "[1/1] RUN make"));
  std::string out;
  for (int i = 1; i <= 25; ++i) out += "line " + std::to_string(i) + "\n";
  // Output comes in pieces that end mid-line; the last line has no newline.
  p.display->event(step_event(ProgressEvent::Kind::step_log, 4, "", out.substr(0, 17)));
  p.display->event(step_event(ProgressEvent::Kind::step_log, 4, "", out.substr(17) + "no newline"));
  p.display->event(step_event(ProgressEvent::Kind::step_failed, 4, "[1/1] RUN make", "exit code: 2"));
  p.display->finish();
  std::string text = p.text();
  std::string expected = "------\n > [1/1] RUN make:\n";
  for (int i = 6; i <= 25; ++i) expected += "line " + std::to_string(i) + "\n";
  expected += "no newline\n------\n";
  ASSERT_NE(text.find(expected), std::string::npos) << text;
  EXPECT_EQ(text.substr(text.find("------")).find("line 5\n"),
            std::string::npos);  // 20 whole lines and the partial one
}

TEST(Progress, AFailureWithoutOutputShowsNoBlock) {
  Plain p;
  p.display->event(step_event(ProgressEvent::Kind::step_log, 1, "", "other step\n"));
  p.display->event(step_event(ProgressEvent::Kind::step_failed, 2, "[2/2] COPY x /", "not found"));
  p.display->finish();
  EXPECT_EQ(p.text().find("------"), std::string::npos) << p.text();
}

TEST(Progress, OutputTailKeepsTheLastLines) {
  OutputTail t(2);
  t.add("a\nb");
  t.add("\nc\nd");
  EXPECT_EQ(t.str(), "b\nc\nd\n");  // two whole lines and the partial one
  OutputTail empty;
  EXPECT_EQ(empty.str(), "");
}

}  // namespace
}  // namespace xb::cli
