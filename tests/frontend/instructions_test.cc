// Stage 2: typed instructions, flags, stages, args, and error locations.
#include <gtest/gtest.h>

#include <set>

#include "frontend/frontend.h"

namespace fe = xb::frontend;

namespace {

template <typename T>
const T& as(const fe::Instruction& in) {
  return std::get<T>(in.command);
}

TEST(Instructions, StagesMetaArgsAndEveryInstruction) {
  auto df = fe::parse_dockerfile(
      "ARG BASE=alpine\n"
      "ARG TAG\n"
      "FROM --platform=$BUILDPLATFORM ${BASE}:${TAG:-3.19} AS Build\n"
      "RUN --mount=type=cache,target=/root/.cache,sharing=locked --network=none make\n"
      "COPY --from=build --chown=1:2 --chmod=755 --link --exclude=*.o --exclude=tmp --parents a b /dst/\n"
      "ADD --checksum=sha256:abc --keep-git-dir=true https://x/y.git /src\n"
      "ENV A=1 B=\"two words\"\n"
      "ENV LEGACY value with spaces\n"
      "LABEL a=b\n"
      "EXPOSE 80/tcp 443\n"
      "USER app:app\n"
      "WORKDIR /w\n"
      "VOLUME [\"/v1\", \"/v2\"]\n"
      "STOPSIGNAL SIGTERM\n"
      "ARG X Y=2\n"
      "ONBUILD RUN echo hi\n"
      "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\n"
      "SHELL [\"/bin/bash\", \"-c\"]\n"
      "MAINTAINER me\n"
      "CMD [\"run\"]\n"
      "ENTRYPOINT exec app\n"
      "FROM scratch\n"
      "HEALTHCHECK NONE\n");
  ASSERT_EQ(df.meta_args.size(), 2u);
  EXPECT_EQ(df.meta_args[0].key, "BASE");
  EXPECT_EQ(*df.meta_args[0].default_value, "alpine");
  EXPECT_FALSE(df.meta_args[1].default_value);
  ASSERT_EQ(df.stages.size(), 2u);
  const auto& s = df.stages[0];
  EXPECT_EQ(s.from.stage_name, "build");
  EXPECT_EQ(s.from.base_name, "${BASE}:${TAG:-3.19}");
  EXPECT_EQ(s.from.platform, "$BUILDPLATFORM");
  EXPECT_EQ(s.location.line, 3);
  EXPECT_EQ(df.find_stage("BUILD"), &df.stages[0]);
  EXPECT_EQ(df.find_stage("1"), &df.stages[1]);
  ASSERT_EQ(s.instructions.size(), 18u);

  const auto& run = as<fe::RunCmd>(s.instructions[0]);
  EXPECT_EQ(run.command.args, std::vector<std::string>{"make"});
  EXPECT_TRUE(run.command.prepend_shell);
  EXPECT_EQ(run.network, "none");
  ASSERT_EQ(run.mounts.size(), 1u);
  EXPECT_EQ(run.mounts[0].type, fe::Mount::Type::cache);
  EXPECT_EQ(run.mounts[0].target, "/root/.cache");
  EXPECT_EQ(run.mounts[0].id, "/root/.cache");
  EXPECT_EQ(run.mounts[0].sharing, fe::Mount::Sharing::locked);
  EXPECT_FALSE(run.mounts[0].read_only);

  const auto& cp = as<fe::CopyCmd>(s.instructions[1]);
  EXPECT_EQ(cp.from, "build");
  EXPECT_EQ(cp.chown, "1:2");
  EXPECT_EQ(cp.chmod, "755");
  EXPECT_TRUE(cp.link);
  EXPECT_TRUE(cp.parents);
  EXPECT_EQ(cp.excludes, (std::vector<std::string>{"*.o", "tmp"}));
  EXPECT_EQ(cp.sources, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cp.dest, "/dst/");

  const auto& ad = as<fe::AddCmd>(s.instructions[2]);
  EXPECT_EQ(ad.checksum, "sha256:abc");
  EXPECT_TRUE(ad.keep_git_dir);

  const auto& env = as<fe::EnvCmd>(s.instructions[3]);
  ASSERT_EQ(env.env.size(), 2u);
  EXPECT_EQ(env.env[1].key, "B");
  EXPECT_EQ(env.env[1].value, "\"two words\"");  // quotes go at expansion
  const auto& legacy = as<fe::EnvCmd>(s.instructions[4]);
  EXPECT_EQ(legacy.env[0].value, "value with spaces");
  EXPECT_TRUE(legacy.env[0].no_delim);

  EXPECT_EQ(as<fe::ExposeCmd>(s.instructions[6]).ports, (std::vector<std::string>{"80/tcp", "443"}));
  EXPECT_EQ(as<fe::UserCmd>(s.instructions[7]).user, "app:app");
  EXPECT_EQ(as<fe::VolumeCmd>(s.instructions[9]).volumes, (std::vector<std::string>{"/v1", "/v2"}));
  const auto& arg = as<fe::ArgCmd>(s.instructions[11]);
  ASSERT_EQ(arg.args.size(), 2u);
  EXPECT_EQ(*arg.args[1].default_value, "2");
  EXPECT_EQ(as<fe::OnbuildCmd>(s.instructions[12]).expression, "RUN echo hi");
  const auto& hc = as<fe::HealthcheckCmd>(s.instructions[13]);
  EXPECT_EQ(hc.test, (std::vector<std::string>{"CMD-SHELL", "curl -f http://localhost/"}));
  EXPECT_EQ(hc.interval_ns, 5000000000);
  EXPECT_EQ(hc.retries, 3);
  EXPECT_EQ(as<fe::ShellCmd>(s.instructions[14]).shell, (std::vector<std::string>{"/bin/bash", "-c"}));
  const auto& cmd = as<fe::CmdCmd>(s.instructions[16]);
  EXPECT_FALSE(cmd.command.prepend_shell);
  EXPECT_EQ(as<fe::EntrypointCmd>(s.instructions[17]).command.args, std::vector<std::string>{"exec app"});
  EXPECT_EQ(as<fe::HealthcheckCmd>(df.stages[1].instructions[0]).test, std::vector<std::string>{"NONE"});
  for (const auto& in : s.instructions) EXPECT_EQ(in.location.file, "Dockerfile");
  EXPECT_EQ(s.instructions[5].location.line, 9);
  EXPECT_EQ(s.instructions[5].location.line_text, "LABEL a=b");
}

TEST(Instructions, HeredocSources) {
  auto df = fe::parse_dockerfile("FROM a\nCOPY <<EOF <<-'RAW' file /dst/\nhello $X\nEOF\n\tkeep $Y\n\tRAW\n");
  const auto& cp = std::get<fe::CopyCmd>(df.stages[0].instructions[0].command);
  EXPECT_EQ(cp.sources, std::vector<std::string>{"file"});
  ASSERT_EQ(cp.source_contents.size(), 2u);
  EXPECT_EQ(cp.source_contents[0].path, "EOF");
  EXPECT_EQ(cp.source_contents[0].data, "hello $X\n");
  EXPECT_TRUE(cp.source_contents[0].expand);
  EXPECT_EQ(cp.source_contents[1].data, "keep $Y\n");
  EXPECT_FALSE(cp.source_contents[1].expand);
}

TEST(Instructions, RunMounts) {
  auto m = fe::parse_mount("type=secret,id=npmrc,required");
  EXPECT_EQ(m.type, fe::Mount::Type::secret);
  EXPECT_EQ(m.target, "/run/secrets/npmrc");
  EXPECT_TRUE(m.required);
  auto b = fe::parse_mount("type=bind,from=build,source=/out,target=/in,rw");
  EXPECT_FALSE(b.read_only);
  EXPECT_EQ(b.from, "build");
  auto t = fe::parse_mount("type=tmpfs,target=/t,size=64m");
  EXPECT_EQ(*t.size_bytes, 64u * 1024 * 1024);
  auto s = fe::parse_mount("type=ssh");
  EXPECT_EQ(s.id, "default");
  EXPECT_EQ(fe::parse_mount("target=/x").type, fe::Mount::Type::bind);
  EXPECT_THROW(fe::parse_mount("type=bind"), xb::Error);
  EXPECT_THROW(fe::parse_mount("type=volume,target=/x"), xb::Error);
  EXPECT_THROW(fe::parse_mount("type=cache,target=/x,colour=red"), xb::Error);
  EXPECT_THROW(fe::parse_mount("type=secret,mode=999"), xb::Error);
}

// BuildKit's parseMount: each value expanded alone at dispatch; at parse
// time a value with a variable waits, except from=.
TEST(Instructions, RunMountValuesExpandAtDispatch) {
  EXPECT_NO_THROW(fe::parse_mount("type=$T,target=$TGT,rw"));
  fe::Env env{{"T", "cache"}, {"TGT", "/c"}, {"ID", "x"}};
  auto m = fe::parse_mount("type=$T,target=$TGT,id=${ID}-1", {}, &env);
  EXPECT_EQ(m.type, fe::Mount::Type::cache);
  EXPECT_EQ(m.target, "/c");
  EXPECT_EQ(m.id, "x-1");
  try {
    fe::parse_mount("from=$STAGE,target=/m");
    FAIL();
  } catch (const xb::Error& e) {
    EXPECT_NE(e.message().find("'from' doesn't support variable expansion, define alias stage instead"),
              std::string::npos);
  }
  // Bare flags are not expanded, and a value cannot add fields.
  EXPECT_THROW(fe::parse_mount("target=/m,$RW", {}, &env), xb::Error);
  fe::Env sneaky{{"T", "bind,target=/etc"}};
  EXPECT_THROW(fe::parse_mount("type=$T,target=/m", {}, &sneaky), xb::Error);
  // Validated once expanded: still no target.
  fe::Env empty;
  EXPECT_THROW(fe::parse_mount("type=bind,target=$NONE", {}, &empty), xb::Error);
}

TEST(Instructions, HeredocBodiesKeepQuotes) {
  fe::Env env{{"A", "aval"}};
  EXPECT_EQ(fe::expand_heredoc("q \"x\" 'y' '$A' \\$A \\\\ ${A:-d}\n", env), "q \"x\" 'y' 'aval' $A \\ aval\n");
}

TEST(Instructions, OnbuildKeepsItsHeredocs) {
  auto df = fe::parse_dockerfile("FROM busybox\nONBUILD RUN <<EOF\necho hi\nEOF\nONBUILD COPY <<X /x\nbody\nX\n");
  const auto& ins = df.stages[0].instructions;
  ASSERT_EQ(ins.size(), 2u);
  EXPECT_EQ(as<fe::OnbuildCmd>(ins[0]).expression, "RUN <<EOF\necho hi\nEOF");
  EXPECT_EQ(as<fe::OnbuildCmd>(ins[1]).expression, "COPY <<X /x\nbody\nX");
}

TEST(Checks, DirectiveAndFindings) {
  auto c = fe::parse_check_directive("skip=JSONArgsRecommended, StageNameCasing;error=true");
  EXPECT_TRUE(c.error);
  EXPECT_EQ(c.skip, (std::set<std::string>{"JSONArgsRecommended", "StageNameCasing"}));
  EXPECT_TRUE(fe::parse_check_directive("skip=all").skip_all);
  EXPECT_THROW(fe::parse_check_directive("error=maybe"), xb::Error);
  EXPECT_THROW(fe::parse_check_directive("fail=true"), xb::Error);

  auto df = fe::parse_dockerfile(
      "FROM busybox as Build\n"  // FromAsCasing, StageNameCasing
      "MAINTAINER me\n"          // MaintainerDeprecated
      "ENV A b\n"                // LegacyKeyValueFormat
      "WORKDIR rel\n"            // WorkdirRelativePath
      "EXPOSE 80/TCP\n"          // ExposeProtoCasing
      "CMD echo one\n"           // JSONArgsRecommended, MultipleInstructionsDisallowed
      "CMD [\"two\"]\n"
      "copy a b\n"                 // ConsistentInstructionCasing
      "FROM busybox AS build\n");  // DuplicateStageName
  std::vector<std::string> got;
  for (const auto& f : fe::run_checks(df, {})) got.push_back(f.rule + ":" + std::to_string(f.line));
  EXPECT_EQ(got, (std::vector<std::string>{"FromAsCasing:1", "StageNameCasing:1", "MaintainerDeprecated:2",
                                           "LegacyKeyValueFormat:3", "WorkdirRelativePath:4", "ExposeProtoCasing:5",
                                           "JSONArgsRecommended:6", "MultipleInstructionsDisallowed:6",
                                           "ConsistentInstructionCasing:8", "DuplicateStageName:9"}));
  auto undeclared = fe::run_checks(
      fe::parse_dockerfile("ARG TAG=1\nARG BASE\nFROM --platform=$BUILDPLATFORM busybox:${TAG} AS a\n"
                           "FROM ${BASES:-busybox}\nFROM \\$NOT_A_VAR\n"),
      {});
  std::erase_if(undeclared, [](const auto& f) { return f.rule != "UndefinedArgInFrom"; });
  ASSERT_EQ(undeclared.size(), 1u);
  EXPECT_EQ(undeclared[0].message, "FROM argument 'BASES' is not declared (did you mean BASE?)");
  EXPECT_EQ(undeclared[0].line, 4);
  EXPECT_EQ(fe::plain_variables("$A ${B} ${C:-d} '$D' \"$E\" \\$F $1 ${G}x $A"),
            (std::vector<std::string>{"A", "B", "E", "G"}));
  // A base stage's absolute WORKDIR makes a relative one fine.
  EXPECT_TRUE(fe::run_checks(fe::parse_dockerfile("FROM busybox AS a\nWORKDIR /w\nFROM a\nWORKDIR rel\n"), {}).empty());
  fe::CheckConfig skip;
  skip.skip_all = true;
  EXPECT_TRUE(fe::run_checks(df, skip).empty());
  auto finding = fe::run_checks(fe::parse_dockerfile("FROM busybox as b\n"), {});
  ASSERT_EQ(finding.size(), 1u);
  EXPECT_EQ(finding[0].message, "'as' and 'FROM' keywords' casing do not match");
}

TEST(Instructions, MetaArgsBuildArgsAndFromResolution) {
  auto df = fe::parse_dockerfile(
      "ARG REG=docker.io\nARG IMG=${REG}/library/alpine\nARG UNSET\n"
      "FROM ${IMG}:${TAG:-latest}\nARG IMG\nARG TARGETARCH\nARG LOCAL=${IMG}-x\nFROM $UNSET\n");
  fe::Env platform = fe::platform_args(xb::Platform::parse("linux/arm64"), xb::Platform::host());
  auto meta = fe::resolve_meta_args(df, {{"REG", "reg.local:5000"}}, platform);
  EXPECT_EQ(*meta.get("IMG"), "reg.local:5000/library/alpine");
  EXPECT_FALSE(meta.contains("UNSET"));
  EXPECT_EQ(fe::resolve_base_name(df.stages[0], meta, df.ast.escape), "reg.local:5000/library/alpine:latest");
  EXPECT_THROW(fe::resolve_base_name(df.stages[1], meta, df.ast.escape), xb::Error);

  const auto& ins = df.stages[0].instructions;
  fe::Env stage_env;
  auto img = fe::resolve_stage_arg(std::get<fe::ArgCmd>(ins[0].command).args[0], stage_env, {}, meta, platform, '\\');
  EXPECT_EQ(*img, "reg.local:5000/library/alpine");
  stage_env.set("IMG", *img);
  auto arch = fe::resolve_stage_arg(std::get<fe::ArgCmd>(ins[1].command).args[0], stage_env, {}, meta, platform, '\\');
  EXPECT_EQ(*arch, "arm64");
  auto local = fe::resolve_stage_arg(std::get<fe::ArgCmd>(ins[2].command).args[0], stage_env, {}, meta, platform, '\\');
  EXPECT_EQ(*local, "reg.local:5000/library/alpine-x");
  auto over = fe::resolve_stage_arg(std::get<fe::ArgCmd>(ins[2].command).args[0], stage_env, {{"LOCAL", "cli"}}, meta,
                                    platform, '\\');
  EXPECT_EQ(*over, "cli");
}

TEST(Instructions, PlatformsAndProxyArgs) {
  EXPECT_EQ(xb::Platform::parse("linux/arm/v7").str(), "linux/arm/v7");
  EXPECT_EQ(xb::Platform::parse("linux/arm64/v8").str(), "linux/arm64");
  EXPECT_EQ(xb::Platform::parse("linux/x86_64").str(), "linux/amd64");
  EXPECT_THROW(xb::Platform::parse("linux//amd64"), xb::Error);
  EXPECT_EQ(xb::Platform::host().os, "linux");
  EXPECT_FALSE(xb::Platform::host().architecture.empty());
  fe::Env p = fe::platform_args(xb::Platform::parse("linux/arm/v7"), xb::Platform::parse("linux/amd64"));
  EXPECT_EQ(*p.get("TARGETPLATFORM"), "linux/arm/v7");
  EXPECT_EQ(*p.get("TARGETVARIANT"), "v7");
  EXPECT_EQ(*p.get("BUILDARCH"), "amd64");
  EXPECT_TRUE(fe::is_proxy_arg("HTTP_PROXY"));
  EXPECT_TRUE(fe::is_proxy_arg("no_proxy"));
  EXPECT_FALSE(fe::is_proxy_arg("PROXY"));
}

TEST(Instructions, WhichInstructionsExpand) {
  EXPECT_TRUE(fe::expands(fe::InstructionKind::env));
  EXPECT_TRUE(fe::expands(fe::InstructionKind::copy));
  EXPECT_TRUE(fe::expands(fe::InstructionKind::workdir));
  EXPECT_FALSE(fe::expands(fe::InstructionKind::cmd));
  EXPECT_FALSE(fe::expands(fe::InstructionKind::entrypoint));
  EXPECT_FALSE(fe::expands(fe::InstructionKind::shell));
  EXPECT_FALSE(fe::expands(fe::InstructionKind::healthcheck));
}

}  // namespace
