// Context hashing and copy_files on a 10,000-file, ~500 MB tree.
//   build/bench/xbuild_context_bench [DIR]   (default /tmp/xbuild-context-bench)
// The tree is generated once (deterministically) and reused. "cold" means no
// stat cache (contents read, from the page cache unless you drop it).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "fileop/fileop.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kFiles = 10000;
constexpr int kDirs = 100;

uint64_t next(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// 100 files of 4 MiB and 9,900 of 0–20 KiB: about 500 MB in all.
size_t size_of(int i, uint64_t& rng) { return i % 100 == 0 ? (4u << 20) : next(rng) % (20 << 10); }

void generate(const fs::path& dir) {
  if (fs::exists(dir / ".complete")) return;
  fs::remove_all(dir);
  std::printf("generating %d files in %s ...\n", kFiles, dir.c_str());
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  std::string buf;
  for (int i = 0; i < kFiles; ++i) {
    fs::path d = dir / ("d" + std::to_string(i % kDirs)) / ("s" + std::to_string((i / kDirs) % 10));
    fs::create_directories(d);
    size_t n = size_of(i, rng);
    buf.resize(n);
    for (size_t k = 0; k + 8 <= n; k += 8) {
      uint64_t v = next(rng);
      std::memcpy(&buf[k], &v, 8);
    }
    xb::write_file_atomic(d / ("f" + std::to_string(i) + ".bin"), buf, 0644, false);
  }
  xb::write_file_atomic(dir / ".complete", "", 0644, false);
}

double cpu_ms() {
  struct timespec ts;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

uint64_t tree_bytes(const fs::path& dir) {
  uint64_t total = 0;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::path("/tmp/xbuild-context-bench");
    fs::path ctx = dir / "ctx";
    generate(ctx);
    uint64_t bytes = tree_bytes(ctx);
    fs::path cache = dir / "stat-cache";
    fs::remove(cache);
    xb::fileop::ContextSelection sel;
    sel.patterns = {"."};

    // Wall time, and CPU time (user + system, both threads) since the
    // previous row: on a shared machine the latter is the steadier number.
    std::printf("\n%-34s %10s %10s %12s %12s\n", "operation", "wall ms", "cpu ms", "files read", "MB read");
    auto row = [](const char* what, double ms, double cpu, const xb::fileop::ContextHasher::Stats* s) {
      if (s) {
        std::printf("%-34s %10.1f %10.1f %12llu %12.1f\n", what, ms, cpu, (unsigned long long)s->files_hashed,
                    s->bytes_hashed / 1e6);
      } else {
        std::printf("%-34s %10.1f %10.1f %12s %12s\n", what, ms, cpu, "-", "-");
      }
    };

    std::string first;
    {
      auto t = Clock::now();
      double c = cpu_ms();
      xb::fileop::ContextHasher h(ctx, {}, {}, cache);
      first = h.key(sel).str();
      double key_ms = ms_since(t), key_cpu = cpu_ms() - c;
      h.save();
      row("cold hash (no stat cache)", key_ms, key_cpu, &h.stats());
      row("  + save stat cache", ms_since(t) - key_ms, cpu_ms() - c - key_cpu, nullptr);
    }
    // Let the coarse clock pass the files' timestamps (none is racy then).
    usleep(20000);
    for (int run = 0; run < 3; ++run) {
      auto t = Clock::now();
      double c = cpu_ms();
      xb::fileop::ContextHasher h(ctx, {}, {}, cache);
      double load_ms = ms_since(t), load_cpu = cpu_ms() - c;
      std::string k = h.key(sel).str();
      double ms = ms_since(t), cpu = cpu_ms() - c;
      if (k != first) throw std::runtime_error("warm key differs from cold key");
      h.save();
      row(run == 0 ? "warm hash (load cache + key)" : "warm hash again", ms, cpu, &h.stats());
      if (run == 0) row("  of which loading the cache", load_ms, load_cpu, nullptr);
    }
    {
      xb::fileop::ContextHasher h(ctx);
      auto t = Clock::now();
      double c = cpu_ms();
      h.key(sel);
      xb::fileop::ContextHasher::Stats first_stats = h.stats();
      row("in-memory, no cache file", ms_since(t), cpu_ms() - c, &first_stats);
      t = Clock::now();
      c = cpu_ms();
      h.key(sel);
      xb::fileop::ContextHasher::Stats again = h.stats();
      again.files_hashed -= first_stats.files_hashed;
      again.bytes_hashed -= first_stats.bytes_hashed;
      row("  same hasher again", ms_since(t), cpu_ms() - c, &again);
    }

    fs::path target = dir / "target";
    fs::remove_all(target);
    fs::create_directories(target);
    xb::fileop::CopySource src;
    src.root = ctx;
    src.pattern = ".";
    xb::fileop::CopyOptions opt;
    opt.dest = "/app/";
    auto t = Clock::now();
    double c = cpu_ms();
    xb::fileop::copy_files(target, {src}, opt);
    double copy_ms = ms_since(t);
    row("copy_files whole tree", copy_ms, cpu_ms() - c, nullptr);
    std::printf("\n%d files, %.1f MB; copy %.0f MB/s\n", kFiles, bytes / 1e6, bytes / 1e6 / (copy_ms / 1e3));
    fs::remove_all(target);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "context_bench: %s\n", e.what());
    return 1;
  }
}
