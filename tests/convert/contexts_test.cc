// Named contexts and ADD of a git repository in the conversion: which
// neutral source step FROM, COPY --from and ADD get (BuildKit's named
// context rules). Pure: a fake resolver, nothing runs or is fetched.
#include <gtest/gtest.h>

#include "convert/convert.h"

namespace xb::convert {
namespace {

using solver::FileVertex;
using solver::GitSourceVertex;
using solver::LocalSourceVertex;
using solver::SourceVertex;

class FakeImages : public ImageResolver {
 public:
  store::Image resolve(const store::ImageRef& ref, const Platform& /*platform*/) override {
    resolved.push_back(ref.str());
    store::ImageConfig config;
    config.os = "linux";
    config.architecture = store::Platform::host().architecture;
    config.config.env = {"FROM_IMAGE=1"};
    std::string cfg_json = config.to_json();
    store::Descriptor cfg{std::string(store::media_type::oci_config),
                          Digest::of(cfg_json),
                          static_cast<int64_t>(cfg_json.size()),
                          {},
                          std::nullopt,
                          {},
                          {}};
    store::Manifest m{std::string(store::media_type::oci_manifest), cfg, {}, {}, std::nullopt};
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
  std::vector<std::string> resolved;
};

Dispatched run(const std::string& text, const DispatchOptions& opts, FakeImages& images) {
  return dispatch(frontend::parse_dockerfile(text, "Dockerfile"), opts, images);
}

NamedContext local(const std::string& dir) {
  NamedContext c;
  c.kind = NamedContext::Kind::local;
  c.value = dir;
  c.dir = dir;
  return c;
}

TEST(NamedContexts, ContextNameIsBuildKitsLookupKey) {
  EXPECT_EQ(context_name("docker.io/library/alpine:latest"), "alpine");
  EXPECT_EQ(context_name("alpine"), "alpine");
  EXPECT_EQ(context_name("alpine:3.19"), "alpine:3.19");
  EXPECT_EQ(context_name("reg:5000/x/y:latest"), "reg:5000/x/y");
  EXPECT_EQ(context_name("Not A Ref"), "Not A Ref");
}

TEST(NamedContexts, FromImageNameTakesTheDockerImageContext) {
  DispatchOptions o;
  NamedContext c;
  c.kind = NamedContext::Kind::image;
  c.value = "docker-image://busybox:1";
  c.ref = store::ImageRef::parse("busybox:1");
  o.contexts["alpine"] = c;
  FakeImages images;
  Dispatched d = run("FROM alpine:latest\nRUN true\n", o, images);
  ASSERT_EQ(images.resolved.size(), 1u);
  EXPECT_EQ(images.resolved[0], "docker.io/library/busybox:1");
}

TEST(NamedContexts, FromADirectoryIsALocalSourceWithAnEmptyConfig) {
  DispatchOptions o;
  o.contexts["nd"] = local("/ctx/nd");
  FakeImages images;
  Dispatched d = run("FROM nd\n", o, images);
  auto* src = dynamic_cast<LocalSourceVertex*>(d.definition.target);
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->dir, "/ctx/nd");
  EXPECT_EQ(d.image.config.working_dir, "/");  // BuildKit's emptyImage
  EXPECT_TRUE(images.resolved.empty());
}

TEST(NamedContexts, AStageOfTheSameNameIsReplaced) {
  DispatchOptions o;
  o.contexts["base"] = local("/ctx/b");
  FakeImages images;
  Dispatched d = run("FROM busybox AS base\nRUN echo stage\nFROM base\n", o, images);
  EXPECT_TRUE(images.resolved.empty());  // the stage's FROM is never resolved
  ASSERT_NE(dynamic_cast<LocalSourceVertex*>(d.definition.target), nullptr);
  for (const auto& v : d.definition.vertices) EXPECT_EQ(dynamic_cast<solver::ExecVertex*>(v.get()), nullptr);
  EXPECT_EQ(d.image.config.working_dir, "");  // no emptyImage for a replaced stage (BuildKit)
}

TEST(NamedContexts, CopyFromAndMountFromReadTheContext) {
  DispatchOptions o;
  o.contexts["nd"] = local("/ctx/nd");
  FakeImages images;
  Dispatched d = run("FROM busybox\nCOPY --from=nd /a /b\nRUN --mount=from=nd,target=/m true\n", o, images);
  auto* run_step = dynamic_cast<solver::ExecVertex*>(d.definition.target);
  ASSERT_NE(run_step, nullptr);
  ASSERT_EQ(run_step->deps.size(), 1u);
  EXPECT_NE(dynamic_cast<LocalSourceVertex*>(run_step->deps[0]), nullptr);
  auto* copy = dynamic_cast<FileVertex*>(run_step->parent);
  ASSERT_NE(copy, nullptr);
  ASSERT_EQ(copy->deps.size(), 1u);
  EXPECT_EQ(copy->deps[0], run_step->deps[0]);  // one source step per context
}

TEST(NamedContexts, AStageNameWinsOverAContextOnlyWhenNoContextReplacesIt) {
  DispatchOptions o;
  FakeImages images;
  o.contexts["other"] = local("/ctx/o");
  Dispatched d = run("FROM busybox AS s\nFROM busybox\nCOPY --from=s /a /b\n", o, images);
  auto* copy = dynamic_cast<FileVertex*>(d.definition.target);
  ASSERT_NE(copy, nullptr);
  EXPECT_NE(dynamic_cast<SourceVertex*>(copy->deps.at(0)), nullptr);
}

TEST(AddGit, IsAGitSourceCopiedToDest) {
  DispatchOptions o;
  FakeImages images;
  Dispatched d = run(
      "FROM busybox\nADD https://example.com/r.git#v1:sub /src\n"
      "ADD --keep-git-dir=true git@example.com:o/r.git /kept\n",
      o, images);
  auto* kept = dynamic_cast<FileVertex*>(d.definition.target);
  ASSERT_NE(kept, nullptr);
  auto* g2 = dynamic_cast<GitSourceVertex*>(kept->deps.at(0));
  ASSERT_NE(g2, nullptr);
  EXPECT_TRUE(g2->keep_git_dir);
  EXPECT_EQ(g2->ref.remote, "git@example.com:o/r.git");
  auto* first = dynamic_cast<FileVertex*>(kept->parent);
  ASSERT_NE(first, nullptr);
  auto* g1 = dynamic_cast<GitSourceVertex*>(first->deps.at(0));
  ASSERT_NE(g1, nullptr);
  EXPECT_FALSE(g1->keep_git_dir);
  EXPECT_EQ(g1->ref.ref, "v1");
  EXPECT_EQ(g1->ref.subdir, "sub");
  EXPECT_EQ(first->sources.at(0).pattern, ".");
  EXPECT_EQ(first->source_inputs.at(0).kind, solver::InputRef::Kind::vertex);
  EXPECT_EQ(d.image.history.at(0).created_by, "ADD https://example.com/r.git#v1:sub /src # buildkit");
}

TEST(AddGit, ChecksumIsRefused) {
  DispatchOptions o;
  FakeImages images;
  EXPECT_THROW(
      run("FROM busybox\nADD --checksum=sha256:" + std::string(64, 'a') + " https://e.com/r.git /x\n", o, images),
      Error);
}

}  // namespace
}  // namespace xb::convert
