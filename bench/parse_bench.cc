// Parses a generated 10,000-instruction Dockerfile (mixed instructions,
// continuation lines, heredocs, JSON forms, flags) several times and prints
// the median time of each frontend stage. Not a test: timings vary by machine.
//   build/bench/xbuild_parse_bench [RUNS]
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "frontend/frontend.h"

namespace fe = xb::frontend;

namespace {

std::string generate(int instructions) {
  std::string out = "# syntax=docker/dockerfile:1\nARG BASE=debian:12\nARG VERSION=1.2.3\n";
  int n = 2;
  for (int i = 0; n < instructions; ++i) {
    std::string s = std::to_string(i);
    if (i % 100 == 0) {
      out += "FROM --platform=$BUILDPLATFORM ${BASE} AS stage" + s + "\n";
      ++n;
      continue;
    }
    switch (i % 10) {
      case 0: out += "WORKDIR /src/" + s + "\n"; break;
      case 1:
        out +=
            "RUN apt-get update \\\n    && apt-get install -y --no-install-recommends \\\n"
            "       curl ca-certificates git \\\n    # a comment inside\n    && rm -rf /var/lib/apt/lists/*\n";
        break;
      case 2: out += "COPY --from=stage0 --chown=1000:1000 --chmod=644 --link src/" + s + " /app/" + s + "/\n"; break;
      case 3: out += "ENV PATH=/opt/" + s + "/bin:$PATH LANG=C.UTF-8 VERSION=${VERSION}\n"; break;
      case 4:
        out += "RUN --mount=type=cache,target=/root/.cache/" + s +
               ",sharing=locked <<EOF\nset -e\nmake -j4 all\necho done " + s + "\nEOF\n";
        break;
      case 5: out += "LABEL org.opencontainers.image.version=\"" + s + "\" maintainer=\"me@example.com\"\n"; break;
      case 6: out += "ARG OPT_" + s + "=default\n"; break;
      case 7: out += "CMD [\"/app/bin/server\", \"--port\", \"80" + s + "\"]\n"; break;
      case 8: out += "COPY <<-EOT /etc/conf." + s + "\n\tkey=value\n\tother=${VERSION}\n\tEOT\n"; break;
      case 9: out += "EXPOSE 80 443/tcp\n"; break;
    }
    ++n;
  }
  return out;
}

// CPU time of this thread: on a shared machine, wall time mostly measures
// the other processes.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

template <typename F>
double median_ms(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    double a = thread_cpu_ms();
    f();
    t.push_back(thread_cpu_ms() - a);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 15;
  std::string text = generate(10000);
  size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  size_t nodes = fe::parse_ast(text).nodes.size();
  double ast_ms = median_ms(runs, [&] { fe::parse_ast(text); });
  double typed_ms = median_ms(runs, [&] { fe::parse_dockerfile(text); });
  fe::Env env{{"VERSION", "1.2.3"}, {"PATH", "/usr/bin:/bin"}};
  double expand_ms = median_ms(runs, [&] {
    for (int i = 0; i < 10000; ++i) fe::expand_word("/opt/${VERSION%.*}/bin:$PATH", env);
  });
  std::printf("input: %zu instructions, %zu lines, %zu bytes; median CPU time of %d runs\n", nodes, lines, text.size(),
              runs);
  std::printf("  parse_ast         %8.2f ms\n", ast_ms);
  std::printf("  parse_dockerfile  %8.2f ms  (syntax tree + typed instructions)\n", typed_ms);
  std::printf("  expand_word x1e4  %8.2f ms\n", expand_ms);
  return 0;
}
