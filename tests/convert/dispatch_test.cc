// Conversion against BuildKit's images: the image config each conformance
// case's Dockerfile yields, compared with the config BuildKit produced
// (tests/conformance/image-cases/*/expected.json). Pure: a fake resolver
// stands in for the store, nothing runs.
#include "convert/convert.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "common/fs.h"

namespace xb::convert {

using solver::ExecVertex;
using solver::Vertex;
namespace {

namespace fs = std::filesystem;

fs::path cases_dir() {
  const char* d = std::getenv("XBUILD_SOURCE_DIR");
  return fs::path(d ? d : XBUILD_TEST_SOURCE_DIR) / "tests/conformance/image-cases";
}

// busybox as conformance-run imports it: one layer, no runtime config.
class FakeBusybox : public ImageResolver {
 public:
  store::Image resolve(const store::ImageRef& ref, const Platform& platform) override {
    resolved.push_back(ref.str());
    platforms.push_back(platform.str());
    Digest layer = Digest::of(platform == Platform::host() ? std::string("layer") : "layer " + platform.str());
    store::ImageConfig config;
    config.architecture = platform.architecture;
    config.variant = platform.variant;
    config.os = "linux";
    config.diff_ids = {layer};
    std::string cfg_json = config.to_json();
    store::Descriptor cfg{std::string(store::media_type::oci_config),
                          Digest::of(cfg_json),
                          static_cast<int64_t>(cfg_json.size()),
                          {},
                          std::nullopt,
                          {},
                          {}};
    store::Descriptor l{std::string(store::media_type::oci_layer), layer, 5, {}, std::nullopt, {}, {}};
    store::Manifest m{std::string(store::media_type::oci_manifest), cfg, {l}, {}, std::nullopt};
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
  std::vector<std::string> platforms;  // what each resolve asked for
};

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

struct CaseResult {
  Dispatched d;
  nlohmann::json config;  // the runtime config as docker writes it
};

CaseResult dispatch_case(const std::string& name, FakeBusybox& images) {
  fs::path dir = cases_dir() / name;
  DispatchOptions opts;
  if (fs::exists(dir / "build-flags")) {
    auto w = words(read_file(dir / "build-flags"));
    for (size_t i = 0; i + 1 < w.size(); i += 2) {
      if (w[i] == "--build-arg") {
        auto eq = w[i + 1].find('=');
        opts.build_args[w[i + 1].substr(0, eq)] = w[i + 1].substr(eq + 1);
      } else if (w[i] == "--target") {
        opts.target = w[i + 1];
      }
    }
  }
  auto df = frontend::parse_dockerfile(read_file(dir / "Dockerfile"), "Dockerfile");
  CaseResult r{dispatch(df, opts, images), {}};
  r.config = nlohmann::json::parse(r.d.image.to_json()).value("config", nlohmann::json::object());
  return r;
}

// imgdiff's normalized view: the fields users see, empty ones dropped.
nlohmann::json user_view(const nlohmann::json& cfg) {
  static const char* fields[] = {"User",    "Env",    "Entrypoint", "Cmd",         "WorkingDir", "ExposedPorts",
                                 "Volumes", "Labels", "StopSignal", "Healthcheck", "Shell",      "OnBuild"};
  nlohmann::json out = nlohmann::json::object();
  for (const char* f : fields) {
    if (!cfg.contains(f)) continue;
    const auto& v = cfg[f];
    if (v.is_null() || (v.is_string() && v.get<std::string>().empty()) || (v.is_array() && v.empty()) ||
        (v.is_object() && v.empty()))
      continue;
    out[f] = v;
  }
  return out;
}

class ConfigConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigConformance, ConfigIsBuildKits) {
  FakeBusybox images;
  CaseResult r = dispatch_case(GetParam(), images);
  auto expected = nlohmann::json::parse(read_file(cases_dir() / GetParam() / "expected.json"))["config"];
  EXPECT_EQ(user_view(r.config).dump(1), expected.dump(1));
}

INSTANTIATE_TEST_SUITE_P(ImageCases, ConfigConformance,
                         ::testing::Values("add-tar", "args", "basic-run", "config", "copy-semantics", "dockerignore",
                                           "heredoc", "links", "multistage", "whiteouts"));

TEST(Dispatch, LayersAndHistoryAsBuildKit) {
  FakeBusybox images;
  CaseResult r = dispatch_case("basic-run", images);
  // RUN, WORKDIR, RUN make layers; ENV and CMD do not.
  int layers = 0;
  std::vector<std::string> created_by;
  for (const auto& h : r.d.image.history) {
    if (!h.empty_layer) layers++;
    created_by.push_back(h.created_by);
  }
  EXPECT_EQ(layers, 3);
  EXPECT_EQ(created_by, (std::vector<std::string>{
                            "ENV GREETING=hello",
                            "RUN /bin/sh -c echo \"$GREETING world\" > /greeting && mkdir -p /opt/app/data # buildkit",
                            "WORKDIR /opt/app", "RUN /bin/sh -c echo built > built.txt # buildkit",
                            "CMD [\"cat\" \"/greeting\"]"}));
  EXPECT_EQ(r.d.definition.steps, 3);
}

// History times as BuildKit's exporter gives them: a step's entry takes its
// layer's time (kept with the cache, so a cached rebuild has the same config),
// an entry without a layer that of the layer before it, or of the first new
// layer when none is before it; the image is as old as its last entry.
store::HistoryEntry entry(std::string created, bool layer) {
  store::HistoryEntry h;
  h.created = std::move(created);
  h.empty_layer = !layer;
  return h;
}

Layer layer_made(const std::string& created) {
  Digest d = Digest::of(created);
  return Layer{d, d, 1, std::string(store::media_type::oci_layer), created};
}

std::vector<std::string> times(const store::ImageConfig& image) {
  std::vector<std::string> out;
  for (const auto& h : image.history) out.push_back(h.created);
  return out;
}

TEST(StampHistory, StepsTakeTheirLayersTimesAndTheImageTheLast) {
  store::ImageConfig image;
  // FROM busybox (one layer, dated by its own history), ENV, RUN, ENV, COPY, CMD
  image.history = {entry("2020-01-01T00:00:00Z", true),
                   entry("", false),
                   entry("", true),
                   entry("", false),
                   entry("", true),
                   entry("", false)};
  std::vector<Layer> layers = {Layer{Digest::of("base"), Digest::of("base"), 1, "", ""},
                               layer_made("2026-11-20T10:00:00.5Z"), layer_made("2026-11-21T09:00:00Z")};
  stamp_history(image, layers, std::nullopt, "2026-11-23T14:00:00Z");
  EXPECT_EQ(times(image),
            (std::vector<std::string>{"2020-01-01T00:00:00Z", "2026-11-20T10:00:00.5Z", "2026-11-20T10:00:00.5Z",
                                      "2026-11-20T10:00:00.5Z", "2026-11-21T09:00:00Z", "2026-11-21T09:00:00Z"}));
  EXPECT_EQ(image.created, "2026-11-21T09:00:00Z");  // not now: a cached rebuild is the same image
}

TEST(StampHistory, MetadataOnlyImagesAreAsOldAsTheirBase) {
  store::ImageConfig image;
  image.history = {entry("2020-01-01T00:00:00Z", true), entry("", false)};  // FROM busybox, LABEL
  stamp_history(image, {Layer{Digest::of("base"), Digest::of("base"), 1, "", ""}}, std::nullopt,
                "2026-11-23T14:00:00Z");
  EXPECT_EQ(times(image), (std::vector<std::string>{"2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"}));
  EXPECT_EQ(image.created, "2020-01-01T00:00:00Z");
  // FROM scratch and nothing else: no time anywhere but now.
  store::ImageConfig empty;
  empty.history = {entry("", false)};
  stamp_history(empty, {}, std::nullopt, "2026-11-23T14:00:00Z");
  EXPECT_EQ(empty.created, "2026-11-23T14:00:00Z");
}

TEST(StampHistory, SourceDateEpochDatesEveryNewEntryAndTheImage) {
  store::ImageConfig image;
  image.history = {entry("2020-01-01T00:00:00Z", true), entry("", true), entry("", false)};
  stamp_history(image, {Layer{Digest::of("base"), Digest::of("base"), 1, "", ""}, layer_made("2026-11-20T10:00:00Z")},
                1700000000, "2026-11-23T14:00:00Z");
  EXPECT_EQ(times(image),
            (std::vector<std::string>{"2020-01-01T00:00:00Z", "2023-11-14T22:13:20Z", "2023-11-14T22:13:20Z"}));
  EXPECT_EQ(image.created, "2023-11-14T22:13:20Z");
}

TEST(Dispatch, OnlyTheStagesTheTargetNeedsAreDispatched) {
  FakeBusybox images;
  CaseResult r = dispatch_case("multistage", images);
  // builder (2 RUN) and the final stage (2 COPY); "other" is never reached.
  EXPECT_EQ(r.d.definition.steps, 4);
  for (const auto& v : r.d.definition.vertices) EXPECT_EQ(v->name.find("never-copied"), std::string::npos) << v->name;
}

TEST(Dispatch, BuildArgsReachRunAndHistory) {
  FakeBusybox images;
  CaseResult r = dispatch_case("args", images);
  auto* run = dynamic_cast<ExecVertex*>(r.d.definition.target);
  ASSERT_NE(run, nullptr);
  auto has = [&](const std::string& kv) { return std::find(run->env.begin(), run->env.end(), kv) != run->env.end(); };
  EXPECT_TRUE(has("VERSION=2.5"));
  EXPECT_TRUE(has("FLAVOR=spicy"));
  EXPECT_TRUE(has("APP_ALT=fallback"));
  EXPECT_EQ(images.resolved, std::vector<std::string>{"docker.io/library/busybox:latest"});
}

TEST(Dispatch, UnknownTargetSuggestsTheNearStage) {
  FakeBusybox images;
  DispatchOptions opts;
  opts.target = "buidler";
  auto df = frontend::parse_dockerfile("FROM busybox AS builder\nRUN true\nFROM busybox\n");
  try {
    dispatch(df, opts, images);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean builder?"), std::string::npos) << e.what();
  }
}

TEST(Dispatch, InsecureRunNeedsTheEntitlement) {
  FakeBusybox images;
  DispatchOptions opts;
  auto df = frontend::parse_dockerfile("FROM busybox\nRUN --security=insecure true\n");
  try {
    dispatch(df, opts, images);
    FAIL();
  } catch (const Error& e) {
    ASSERT_TRUE(e.location());
    EXPECT_EQ(e.location()->line, 2);
  }
  opts.allow_insecure = true;
  EXPECT_NO_THROW(dispatch(df, opts, images));
}

// The names BuildKit v0.13's plain progress gave this Dockerfile: FROM
// counts only for an image; a stage on another stage (or scratch) starts
// at its first step ("[stage-2 1/3]", not "1/4").
TEST(Dispatch, StepCountsAsBuildKit) {
  FakeBusybox images;
  DispatchOptions opts;
  auto df = frontend::parse_dockerfile(
      "FROM busybox\nRUN echo one > /one\n\nFROM busybox AS b\nWORKDIR /w\nRUN echo two > /two\n\n"
      "FROM b\nCOPY --from=0 /one /one\nRUN cat /one /two\nENV X=1\nRUN echo hi\n");
  Dispatched d = dispatch(df, opts, images);
  std::set<std::string> names;
  for (const auto& v : d.definition.vertices) names.insert(v->name);
  EXPECT_EQ(names, (std::set<std::string>{"[stage-0 1/2] FROM docker.io/library/busybox:latest",
                                          "[stage-0 2/2] RUN echo one > /one", "[b 2/3] WORKDIR /w",
                                          "[b 3/3] RUN echo two > /two", "[stage-2 1/3] COPY --from=0 /one /one",
                                          "[stage-2 2/3] RUN cat /one /two", "[stage-2 3/3] RUN echo hi"}));
  df = frontend::parse_dockerfile("FROM scratch\nCOPY a /a\nCOPY a /b\n");
  d = dispatch(df, opts, images);
  names.clear();
  for (const auto& v : d.definition.vertices) names.insert(v->name);
  EXPECT_EQ(names, (std::set<std::string>{"[1/2] COPY a /a", "[2/2] COPY a /b"}));
}

// BuildKit's global build arg BUILDKIT_SANDBOX_HOSTNAME names RUN's host
// without an ARG, and a step's key depends on it.
TEST(Dispatch, SandboxHostnameBuildArg) {
  FakeBusybox images;
  DispatchOptions opts;
  auto df = frontend::parse_dockerfile("FROM busybox\nRUN hostname\n");
  Dispatched d = dispatch(df, opts, images);
  auto* run = dynamic_cast<ExecVertex*>(d.definition.target);
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->hostname, "buildkitsandbox");
  std::string plain = run->describe();
  opts.build_args["BUILDKIT_SANDBOX_HOSTNAME"] = "myhost";
  d = dispatch(df, opts, images);
  run = dynamic_cast<ExecVertex*>(d.definition.target);
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->hostname, "myhost");
  EXPECT_NE(run->describe(), plain);
  for (const auto& e : d.image.config.env) EXPECT_FALSE(e.starts_with("BUILDKIT_SANDBOX_HOSTNAME")) << e;
}

// BuildKit's network.host entitlement: a Dockerfile alone cannot take the
// host's network; --network=default follows the command line's --network.
TEST(Dispatch, HostNetworkRunNeedsTheEntitlement) {
  FakeBusybox images;
  DispatchOptions opts;
  opts.network = "none";
  auto df = frontend::parse_dockerfile("FROM busybox\nRUN --network=host true\n", "Dockerfile");
  try {
    dispatch(df, opts, images);
    FAIL() << "RUN --network=host ran without --allow network.host";
  } catch (const Error& e) {
    ASSERT_TRUE(e.location());
    EXPECT_EQ(e.location()->line, 2);
    EXPECT_NE(std::string(e.what()).find("--allow network.host"), std::string::npos) << e.what();
  }
  auto def = frontend::parse_dockerfile("FROM busybox\nRUN --network=default true\nRUN true\n");
  Dispatched d = dispatch(def, opts, images);
  int execs = 0;
  for (const auto& v : d.definition.vertices) {
    if (v->kind == Vertex::Kind::exec) {
      ++execs;
      EXPECT_EQ(static_cast<ExecVertex&>(*v).network, "none");
    }
  }
  EXPECT_EQ(execs, 2);
  opts.allow_network_host = true;
  d = dispatch(df, opts, images);
  for (const auto& v : d.definition.vertices) {
    if (v->kind == Vertex::Kind::exec) {
      EXPECT_EQ(static_cast<ExecVertex&>(*v).network, "host");
    }
  }
}

// BuildKit's behaviours of issue 15 that dispatch decides (the end-to-end
// claims are in tests/scripts/frontend_parity.sh).
std::string dispatch_error(const std::string& text, const DispatchOptions& opts = {}) {
  FakeBusybox images;
  try {
    auto df = frontend::parse_dockerfile(text);
    dispatch(df, opts, images);
  } catch (const Error& e) {
    return std::string(e.what()) + " @" + std::to_string(e.location() ? e.location()->line : 0);
  }
  return "no error";
}

TEST(Dispatch, OnlyEarlierStagesCanBeUsed) {
  DispatchOptions first;
  first.target = "first";
  EXPECT_NE(dispatch_error("FROM busybox AS first\nCOPY --from=later /a /a\nFROM busybox AS later\n", first)
                .find("cannot copy from stage \"later\", it needs to be defined before current stage \"first\" @2"),
            std::string::npos);
  EXPECT_NE(
      dispatch_error("FROM busybox AS first\nRUN --mount=from=later,target=/m true\nFROM busybox AS later\n", first)
          .find("cannot mount from stage \"later\" to \"/m\", stage needs to be defined before current command @2"),
      std::string::npos);
  EXPECT_EQ(dispatch_error("FROM busybox AS early\nFROM busybox\nCOPY --from=early /a /a\n"), "no error");
}

TEST(Dispatch, ErrorsAsBuildKit) {
  EXPECT_NE(dispatch_error("FROM --platform=$UNDECL busybox\n").find("failed to parse platform $UNDECL"),
            std::string::npos);
  EXPECT_NE(
      dispatch_error(
          "FROM busybox\nADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d f /f\n")
          .find("checksum can't be specified for non-HTTP sources @2"),
      std::string::npos);
  EXPECT_NE(dispatch_error("FROM busybox AS s\nFROM busybox\nARG S=s\nRUN --mount=from=$S,target=/m true\n")
                .find("'from' doesn't support variable expansion"),
            std::string::npos);
}

TEST(Dispatch, ProxyArgsReachRunButNotItsKeyOrTheImage) {
  FakeBusybox images;
  DispatchOptions opts;
  opts.build_args = {{"http_proxy", "http://p:1"}, {"NO_PROXY", "localhost"}};
  auto df = frontend::parse_dockerfile("FROM busybox\nRUN true\n");
  Dispatched d = dispatch(df, opts, images);
  auto* run = dynamic_cast<ExecVertex*>(d.definition.target);
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->proxy_env, (std::vector<std::string>{"HTTP_PROXY=http://p:1", "http_proxy=http://p:1",
                                                      "NO_PROXY=localhost", "no_proxy=localhost"}));
  EXPECT_EQ(run->describe().find("p:1"), std::string::npos);  // not in the cache key
  EXPECT_EQ(d.image.to_json().find("p:1"), std::string::npos);
}

TEST(Dispatch, ShebangHeredocRunsFromAnInlineFile) {
  FakeBusybox images;
  auto df = frontend::parse_dockerfile("FROM busybox\nRUN <<EOF\n#!/bin/awk -f\nBEGIN { print 1 }\nEOF\n");
  Dispatched d = dispatch(df, {}, images);
  auto* run = dynamic_cast<ExecVertex*>(d.definition.target);
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->args, (std::vector<std::string>{"/bin/sh", "-c", "/dev/pipes/EOF"}));
  ASSERT_EQ(run->files.size(), 1u);
  EXPECT_EQ(run->files[0].path, "/dev/pipes/EOF");
  EXPECT_EQ(run->files[0].content, "#!/bin/awk -f\nBEGIN { print 1 }\n");
  EXPECT_EQ(run->files[0].mode, 0755u);
}

TEST(Dispatch, ParentStageOnbuildTriggersRunInTheChild) {
  FakeBusybox images;
  auto df = frontend::parse_dockerfile(
      "FROM busybox AS parent\nONBUILD RUN <<EOF\necho hi > /t\nEOF\nFROM parent\nRUN true\n");
  Dispatched d = dispatch(df, {}, images);
  int runs = 0;
  for (const auto& v : d.definition.vertices)
    if (auto* e = dynamic_cast<ExecVertex*>(v.get())) {
      ++runs;
      if (runs == 1) {
        EXPECT_EQ(e->args, (std::vector<std::string>{"/bin/sh", "-c", "echo hi > /t\n"}));
      }
    }
  EXPECT_EQ(runs, 2);
  EXPECT_TRUE(d.image.config.on_build.empty());  // consumed, as BuildKit does
}

TEST(Dispatch, EnvPairsExpandWithTheEnvBeforeTheLine) {
  FakeBusybox images;
  auto df = frontend::parse_dockerfile("FROM busybox\nENV A=1 B=${A}x\nENV C=$A\nARG D=2 E=${D}y\nRUN true\n");
  Dispatched d = dispatch(df, {}, images);
  auto env = frontend::Env::from_list(d.image.config.env);
  EXPECT_EQ(env.get("B").value_or("unset"), "x");  // BuildKit v0.13 gives B=x
  EXPECT_EQ(env.get("C").value_or("unset"), "1");
  auto* run = dynamic_cast<ExecVertex*>(d.definition.target);
  ASSERT_NE(run, nullptr);
  EXPECT_NE(std::find(run->env.begin(), run->env.end(), "E=y"), run->env.end());  // likewise for ARG
  // UndefinedVar, as BuildKit's check reports it.
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].message, "Usage of undefined variable '$A'");
  EXPECT_EQ(d.findings[0].line, 2);
}

TEST(Dispatch, TargetStageArg) {
  FakeBusybox images;
  auto df = frontend::parse_dockerfile(
      "FROM busybox AS base\nARG TARGETSTAGE\nRUN true\nFROM base AS foo\nFROM base\n");
  auto value = [&](const std::string& target) {
    DispatchOptions opts;
    opts.target = target;
    Dispatched d = dispatch(df, opts, images);
    for (const auto& v : d.definition.vertices)
      if (auto* e = dynamic_cast<ExecVertex*>(v.get()))
        for (const auto& kv : e->env)
          if (kv.rfind("TARGETSTAGE=", 0) == 0) return kv;
    return std::string("unset");
  };
  EXPECT_EQ(value("foo"), "TARGETSTAGE=foo");
  EXPECT_EQ(value(""), "TARGETSTAGE=default");
}

// A build for another platform: FROM resolves for it, FROM --platform=$BUILDPLATFORM
// for the build's own, RUN runs the stage's platform's programs (in its key),
// and the TARGET*/BUILD* args are BuildKit's.
TEST(Dispatch, ForeignPlatformAndCrossStage) {
  FakeBusybox images;
  auto df = frontend::parse_dockerfile(
      "FROM --platform=$BUILDPLATFORM busybox AS cross\nARG TARGETARCH BUILDPLATFORM TARGETPLATFORM\n"
      "RUN echo $TARGETARCH > /t\n"
      "FROM busybox\nARG TARGETVARIANT\nCOPY --from=cross /t /t\nRUN uname -m > /arch\n");
  DispatchOptions opts;
  opts.platform = Platform::parse("linux/arm/v7");
  opts.build_platform = Platform::parse("linux/amd64");
  opts.name_platform = true;
  Dispatched d = dispatch(df, opts, images);
  EXPECT_EQ(images.platforms, (std::vector<std::string>{"linux/arm/v7", "linux/amd64"}));  // target first
  std::vector<ExecVertex*> runs;
  for (const auto& v : d.definition.vertices)
    if (auto* e = dynamic_cast<ExecVertex*>(v.get())) runs.push_back(e);
  ASSERT_EQ(runs.size(), 2u);
  auto has = [](const ExecVertex* e, const std::string& kv) {
    return std::find(e->env.begin(), e->env.end(), kv) != e->env.end();
  };
  EXPECT_EQ(runs[0]->platform, "linux/amd64");
  EXPECT_TRUE(has(runs[0], "TARGETARCH=arm"));
  EXPECT_TRUE(has(runs[0], "BUILDPLATFORM=linux/amd64"));
  EXPECT_TRUE(has(runs[0], "TARGETPLATFORM=linux/arm/v7"));
  EXPECT_EQ(runs[0]->name, "[linux/amd64 cross 2/2] RUN echo $TARGETARCH > /t");
  EXPECT_EQ(runs[1]->platform, "linux/arm/v7");
  EXPECT_TRUE(has(runs[1], "TARGETVARIANT=v7"));
  EXPECT_EQ(runs[1]->name, "[linux/arm/v7 stage-1 3/3] RUN uname -m > /arch");
  EXPECT_EQ(d.image.architecture, "arm");
  EXPECT_EQ(d.image.variant, "v7");

  // The same step for two platforms never shares a key.
  ExecVertex amd = *runs[1];
  amd.platform = "linux/amd64";
  EXPECT_NE(amd.describe(), runs[1]->describe());
}

TEST(Dispatch, ScratchTakesTheTargetPlatform) {
  FakeBusybox images;
  auto df = frontend::parse_dockerfile("FROM scratch\nCOPY a /a\n");
  DispatchOptions opts;
  opts.platform = Platform::parse("linux/arm64");
  Dispatched d = dispatch(df, opts, images);
  EXPECT_EQ(d.image.os, "linux");
  EXPECT_EQ(d.image.architecture, "arm64");
  EXPECT_EQ(d.image.variant, "");
}

}  // namespace
}  // namespace xb::convert
