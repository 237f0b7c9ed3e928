// Cache keys of converted Dockerfiles: the same on every machine for the
// same Dockerfile and context (store and context paths, file times and the
// base image's import time do not enter), and a changed context file changes
// exactly the keys of the steps that read it and those after them.
#include <gtest/gtest.h>

#include <fstream>

#include "common/fs.h"
#include "convert/convert.h"
#include "solver/graph.h"

namespace xb::solver {
namespace {

namespace fs = std::filesystem;

// Computes keys, runs nothing.
class KeysOnly : public Engine {
 public:
  std::optional<FsState> lookup(const CacheKey&) override { return std::nullopt; }
  FsState execute(Vertex&, const CacheKey&, const FsState&, const std::vector<FsState>&) override {
    ADD_FAILURE() << "a key computation ran a step";
    return {};
  }
};

// --- keys are the same on every machine

class Base : public convert::ImageResolver {
 public:
  explicit Base(std::string created) : created_(std::move(created)) {}
  store::Image resolve(const store::ImageRef&, const Platform&) override {
    Digest l = Digest::of("busybox rootfs");
    store::ImageConfig config;
    config.architecture = "amd64";
    config.os = "linux";
    config.created = created_;  // an import at another time: another manifest digest
    config.diff_ids = {l};
    std::string cj = config.to_json();
    store::Descriptor cd{std::string(store::media_type::oci_config),
                         Digest::of(cj),
                         static_cast<int64_t>(cj.size()),
                         {},
                         std::nullopt,
                         {},
                         {}};
    store::Manifest m{std::string(store::media_type::oci_manifest),
                      cd,
                      {store::Descriptor{std::string(store::media_type::oci_layer), l, 9, {}, std::nullopt, {}, {}}},
                      {},
                      std::nullopt};
    std::string mj = m.to_json();
    store::Descriptor md{std::string(store::media_type::oci_manifest),
                         Digest::of(mj),
                         static_cast<int64_t>(mj.size()),
                         {},
                         std::nullopt,
                         {},
                         {}};
    return store::Image{md, md, m, config};
  }
  std::string created_;
};

std::vector<std::string> keys_of(const fs::path& ctx, const fs::path& stat_cache, const std::string& created) {
  std::string text =
      "FROM busybox AS build\nWORKDIR /src\nCOPY src.c .\nRUN make\n"
      "FROM busybox\nARG V=1\nCOPY --from=build /src/out /out\nCOPY app.txt /app/\nRUN "
      "--mount=type=bind,source=lib,"
      "target=/lib2 cat /lib2/x\nADD <<EOF /etc/motd\nhello\nEOF\n";
  auto df = frontend::parse_dockerfile(text, "Dockerfile");
  ContextKeys context(std::make_unique<ContextHasher>(ctx, IgnorePredicate{}, SkipDirPredicate{}, stat_cache));
  Base images(created);
  convert::Dispatched d = convert::dispatch(df, convert::DispatchOptions{}, images);
  attach_context(d.definition.vertices, BuildContext{ctx, {}, {}, &context, nullptr});
  KeysOnly e;
  Graph g(e, 1);
  std::vector<std::string> out;
  for (const auto& v : d.definition.vertices) out.push_back(v->name + " " + g.key(*v).str());
  context.save();
  return out;
}

void write(const fs::path& p, const std::string& text, int64_t mtime) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
  fs::last_write_time(p, fs::file_time_type(std::chrono::seconds(mtime)));
}

TEST(CacheKeys, SameDockerfileAndContextGiveTheSameKeysOnAnotherMachine) {
  // Two "machines": other store paths, other context paths, other file
  // times, another import of the same base image; a warm stat cache on one.
  TempDir m1("machine1"), m2("machine2");
  for (auto [dir, t] : {std::pair{m1.path(), int64_t{1600000000}}, std::pair{m2.path(), int64_t{1700000000}}}) {
    write(dir / "some/where/ctx/app.txt", "app", t);
    write(dir / "some/where/ctx/lib/x", "x", t);
    write(dir / "some/where/ctx/src.c", "int main;", t);
  }
  auto k1 = keys_of(m1.path() / "some/where/ctx", m1.path() / "statcache.bin", "2024-01-01T00:00:00Z");
  auto k1_warm = keys_of(m1.path() / "some/where/ctx", m1.path() / "statcache.bin", "2024-01-01T00:00:00Z");
  auto k2 = keys_of(m2.path() / "some/where/ctx", m2.path() / "elsewhere.bin", "2025-06-01T12:00:00Z");
  ASSERT_GE(k1.size(), 7u);
  EXPECT_EQ(k1, k1_warm);
  EXPECT_EQ(k1, k2);

  // A changed context file changes the keys of the steps that read it, and of those after them only.
  write(m2.path() / "some/where/ctx/app.txt", "app v2", 1700000000);
  auto k3 = keys_of(m2.path() / "some/where/ctx", m2.path() / "elsewhere.bin", "2025-06-01T12:00:00Z");
  ASSERT_EQ(k3.size(), k1.size());
  int changed = 0;
  bool seen_app = false;
  for (size_t i = 0; i < k1.size(); ++i) {
    bool differs = k1[i] != k3[i];
    if (k1[i].find("COPY app.txt") != std::string::npos) seen_app = true;
    EXPECT_EQ(differs, seen_app) << k1[i];
    changed += differs;
  }
  EXPECT_TRUE(seen_app);
  EXPECT_EQ(changed, 3);  // COPY app.txt, the RUN and the ADD after it
}

}  // namespace
}  // namespace xb::solver
