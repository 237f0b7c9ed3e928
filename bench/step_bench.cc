// A RUN-like step end to end: prepare a snapshot on a busybox base, run
// `sh -c 'echo hi > /x'` in a container, diff the snapshot into a layer
// (written to a file, diff ID computed) and commit it. Prints median and p90
// of the whole step and of each phase. Needs root.
//
//   build/bench/xbuild_step_bench [ITERATIONS]    (XBUILD_SOURCE_DIR: repo root, default .)
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "executor/executor.h"
#include "snapshotter/snapshotter.h"

using namespace xb;
using Clock = std::chrono::steady_clock;

namespace {

// CPU time of this process and its reaped children, in ms: a figure the
// load of other processes on the machine does not inflate.
double cpu_ms() {
  double t = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage ru{};
    ::getrusage(who, &ru);
    t += ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
  }
  return t;
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void report(const char* name, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double median = v[v.size() / 2];
  double p90 = v[std::min(v.size() - 1, v.size() * 9 / 10)];
  std::printf("%-28s median %7.2f ms   p90 %7.2f ms   min %7.2f ms\n", name, median, p90, v.front());
}

}  // namespace

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::fprintf(stderr, "step_bench: needs root (containers, overlayfs)\n");
    return 2;
  }
  int iterations = argc > 1 ? std::atoi(argv[1]) : 50;
  const char* src = std::getenv("XBUILD_SOURCE_DIR");
  try {
    TempDir root("xb-step-bench");
    std::string tar = (root.path() / "rootfs.tar").string();
    std::string cmd = std::string("sh ") + (src ? src : ".") + "/tests/tools/make-busybox-rootfs " + tar;
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "step_bench: %s failed (set XBUILD_SOURCE_DIR to the repository)\n", cmd.c_str());
      return 1;
    }
    auto snap = snapshotter::open_snapshotter(root.path());
    snap->prepare("base-active", "");
    {
      UniqueFd fd = open_or_throw(tar, O_RDONLY);
      snap->apply_fd("base-active", fd.get());
    }
    snap->commit("base", "base-active");
    std::printf("driver: %s, %d iterations of sh -c 'echo hi > /x' → diff → commit\n",
                std::string(snap->driver()).c_str(), iterations);

    std::vector<double> cpu, total, t_prepare, t_run, t_diff, t_commit;
    for (int i = -3; i < iterations; ++i) {  // 3 warm-up rounds
      std::string key = "step-" + std::to_string(i + 3);
      double c0 = cpu_ms();
      auto t0 = Clock::now();
      executor::RunSpec spec;
      spec.root = snap->prepare(key, "base");
      auto t1 = Clock::now();
      spec.args = {"/bin/sh", "-c", "echo hi > /x"};
      executor::ExitStatus st = executor::run(spec);
      if (!st.ok()) {
        std::fprintf(stderr, "step_bench: the step failed: %s\n", st.describe().c_str());
        return 1;
      }
      auto t2 = Clock::now();
      AtomicFile layer(root.path() / ("layer-" + key + ".tar"));
      auto result = snap->diff(key, [&](const void* d, size_t n) {
        write_all(layer.fd(), std::string_view(static_cast<const char*>(d), n), "layer");
      });
      layer.commit(false);
      auto t3 = Clock::now();
      snap->commit("layer-" + result.diff_id.str() + "-" + key, key);
      auto t4 = Clock::now();
      if (i >= 0) {
        cpu.push_back(cpu_ms() - c0);
        total.push_back(ms(t4 - t0));
        t_prepare.push_back(ms(t1 - t0));
        t_run.push_back(ms(t2 - t1));
        t_diff.push_back(ms(t3 - t2));
        t_commit.push_back(ms(t4 - t3));
      }
    }
    report("step (start → committed)", total);
    report("  prepare", t_prepare);
    report("  run container", t_run);
    report("  diff → layer file", t_diff);
    report("  commit", t_commit);
    report("CPU time per step", cpu);
    double load[1] = {0};
    if (::getloadavg(load, 1) == 1)
      std::printf("load average during the run: %.2f (%ld CPUs)\n", load[0], ::sysconf(_SC_NPROCESSORS_ONLN));
  } catch (const Error& e) {
    std::fprintf(stderr, "step_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
