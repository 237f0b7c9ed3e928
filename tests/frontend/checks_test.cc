// BuildKit's build checks, one test per rule. The Dockerfiles and expected
// findings are those of BuildKit's own lint tests
// (frontend/dockerfile/dockerfile_lint_test.go, the `--call=check` results),
// since the reference BuildKit v0.13 predates the checks.
#include <gtest/gtest.h>

#include "frontend/frontend.h"

namespace fe = xb::frontend;

namespace {

using Findings = std::vector<std::string>;

// "Rule:line:message" per finding, in line order.
Findings lint(const std::string& dockerfile, const std::string& directive = "", const fe::CheckContext& ctx = {}) {
  auto df = fe::parse_dockerfile(dockerfile);
  Findings out;
  for (const auto& f : fe::run_checks(df, fe::parse_check_directive(directive), ctx))
    out.push_back(f.rule + ":" + std::to_string(f.line) + ":" + f.message);
  return out;
}

}  // namespace

TEST(Checks, StageNameCasingAndFromAsCasing) {
  EXPECT_EQ(
      lint("\n# warning: stage name should be lowercase\n#\nFROM scratch AS BadStageName\n\n"
           "# warning: 'as' should match 'FROM' cmd casing.\n#\nFROM scratch as base2\n\nFROM scratch AS base3\n"),
      (Findings{"StageNameCasing:4:Stage name 'BadStageName' should be lowercase",
                "FromAsCasing:8:'as' and 'FROM' keywords' casing do not match"}));
  EXPECT_EQ(
      lint("\n# warning: 'AS' should match 'from' cmd casing.\n#\nfrom scratch AS base\n\nfrom scratch as base2\n"),
      (Findings{"FromAsCasing:4:'AS' and 'from' keywords' casing do not match"}));
}

TEST(Checks, NoEmptyContinuation) {
  EXPECT_EQ(
      lint("\nFROM scratch\n# warning: empty continuation line\nCOPY Dockerfile \\\n\n.\nCOPY Dockerfile \\\n.\n"),
      (Findings{"NoEmptyContinuation:6:Empty continuation line"}));
}

TEST(Checks, ConsistentInstructionCasing) {
  EXPECT_EQ(lint("\n#\nFrom scratch as base\nFROM scratch AS base2\n"),
            (Findings{"ConsistentInstructionCasing:3:Command 'From' should match the case of the command majority "
                      "(uppercase)"}));
  EXPECT_EQ(lint("\nFROM scratch\ncopy Dockerfile /foo\nCOPY Dockerfile /bar\n"),
            (Findings{"ConsistentInstructionCasing:3:Command 'copy' should match the case of the command majority "
                      "(uppercase)"}));
  EXPECT_EQ(lint("\nfrom scratch\nCOPY Dockerfile /foo\ncopy Dockerfile /bar\n"),
            (Findings{"ConsistentInstructionCasing:3:Command 'COPY' should match the case of the command majority "
                      "(lowercase)"}));
  EXPECT_EQ(lint("\nFROM scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\ncopy Dockerfile /baz\n"),
            (Findings{"ConsistentInstructionCasing:2:Command 'FROM' should match the case of the command majority "
                      "(lowercase)"}));
  EXPECT_TRUE(lint("\nfrom scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\n").empty());
  EXPECT_TRUE(lint("\nFROM alpine\nRUN <<'EOT'\nenv\nEOT\n").empty());  // a heredoc body is no instruction
}

TEST(Checks, DuplicateAndReservedStageNames) {
  EXPECT_EQ(lint("\nFROM scratch AS b\nFROM scratch AS b\n"),
            (Findings{"DuplicateStageName:3:Duplicate stage name \"b\", stage names should be unique"}));
  EXPECT_TRUE(lint("\nFROM scratch AS b1\nFROM scratch AS b2\n").empty());
  EXPECT_EQ(lint("\nFROM scratch AS scratch\nFROM scratch AS context\n"),
            (Findings{"ReservedStageName:2:Stage name should not use the same name as reserved stage \"scratch\"",
                      "ReservedStageName:3:Stage name should not use the same name as reserved stage \"context\""}));
  EXPECT_TRUE(lint("\nFROM scratch\nFROM scratch AS a\n").empty());
}

TEST(Checks, JSONArgsRecommended) {
  EXPECT_EQ(lint("\nFROM scratch\nCMD mycommand\n"),
            (Findings{"JSONArgsRecommended:3:JSON arguments recommended for CMD to prevent unintended behavior "
                      "related to OS signals"}));
  EXPECT_EQ(lint("\nFROM scratch\nENTRYPOINT mycommand\n"),
            (Findings{"JSONArgsRecommended:3:JSON arguments recommended for ENTRYPOINT to prevent unintended "
                      "behavior related to OS signals"}));
  EXPECT_TRUE(lint("\nFROM scratch\nSHELL [\"/usr/bin/customshell\"]\nCMD mycommand\n").empty());
  // A SHELL in the base stage counts too.
  EXPECT_TRUE(
      lint("\nFROM scratch AS base\nSHELL [\"/usr/bin/customshell\"]\n\nFROM base\nENTRYPOINT mycommand\n").empty());
}

TEST(Checks, MaintainerDeprecated) {
  EXPECT_EQ(lint("\nFROM scratch\nMAINTAINER me@example.org\n"),
            (Findings{"MaintainerDeprecated:3:Maintainer instruction is deprecated in favor of using label"}));
  EXPECT_TRUE(lint("\nFROM scratch\nLABEL org.opencontainers.image.authors=\"me@example.org\"\n").empty());
}

TEST(Checks, UndefinedArgInFrom) {
  EXPECT_TRUE(lint("\nARG base=scratch\nFROM $base\nCOPY Dockerfile .\n").empty());
  EXPECT_TRUE(lint("\nARG BUILDPLATFORM=linux/amd64\nFROM --platform=$BUILDPLATFORM scratch\n").empty());
  EXPECT_TRUE(lint("\nFROM --platform=$BUILDPLATFORM scratch\n").empty());
  EXPECT_TRUE(lint("\nARG DEBUG\nFROM scratch${DEBUG}\n").empty());
  EXPECT_TRUE(lint("\nARG DEBUG\nFROM scra${DEBUG:-tch}\n").empty());
  EXPECT_TRUE(lint("\nARG DEBUG=\"\"\nFROM scratch${DEBUG-@bogus}\n").empty());
  EXPECT_EQ(lint("\nFROM --platform=$BULIDPLATFORM scratch\n"),
            (Findings{"UndefinedArgInFrom:2:FROM argument 'BULIDPLATFORM' is not declared (did you mean "
                      "BUILDPLATFORM?)"}));
  EXPECT_EQ(lint("\nARG MY_OS=linux\nARG MY_ARCH=amd64\nFROM --platform=linux/${MYARCH} busybox\n"),
            (Findings{"UndefinedArgInFrom:4:FROM argument 'MYARCH' is not declared (did you mean MY_ARCH?)"}));
  EXPECT_EQ(lint("\nARG tag=latest\nFROM busybox:${tag}${version} AS b\n"),
            (Findings{"UndefinedArgInFrom:3:FROM argument 'version' is not declared"}));
}

TEST(Checks, WorkdirRelativePath) {
  EXPECT_EQ(lint("\nFROM scratch\nWORKDIR app/\n"),
            (Findings{"WorkdirRelativePath:3:Relative workdir \"app/\" can have unexpected results if the base "
                      "image changes"}));
  EXPECT_TRUE(lint("\nFROM scratch AS a\nWORKDIR /app\n\nFROM a AS b\nWORKDIR subdir/\n").empty());
}

TEST(Checks, MultipleInstructionsDisallowed) {
  auto msg = [](const std::string& what, int line) {
    return "MultipleInstructionsDisallowed:" + std::to_string(line) + ":Multiple " + what +
           " instructions should not be used in the same stage because only the last one will be used";
  };
  EXPECT_EQ(lint("\nFROM scratch\nENTRYPOINT [\"/myapp\"]\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myapp\"]\n"
                 "CMD [\"/myotherapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myotherapp\"]\n"),
            (Findings{msg("ENTRYPOINT", 3), msg("CMD", 5), msg("HEALTHCHECK", 7)}));
  EXPECT_EQ(lint("\nFROM scratch\nENTRYPOINT [\"/myapp\"]\nCMD [\"/myapp\"]\nHEALTHCHECK CMD [\"/myapp\"]\n"
                 "COPY <<EOF /a.txt\nHello, World!\nEOF\nENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myotherapp\"]\n"
                 "HEALTHCHECK CMD [\"/myotherapp\"]\n"),
            (Findings{msg("ENTRYPOINT", 3), msg("CMD", 4), msg("HEALTHCHECK", 5)}));
  EXPECT_TRUE(lint("\nFROM scratch AS a\nENTRYPOINT [\"/myapp\"]\nCMD [\"/myapp\"]\n\nFROM a AS b\n"
                   "ENTRYPOINT [\"/myotherapp\"]\nCMD [\"/myotherapp\"]\n")
                  .empty());
}

TEST(Checks, LegacyKeyValueFormatOnlyInReachedStagesForABuild) {
  EXPECT_EQ(lint("\nFROM scratch\nENV testkey value\nLABEL key value\n"),
            (Findings{"LegacyKeyValueFormat:3:\"ENV key=value\" should be used instead of legacy \"ENV key value\" "
                      "format",
                      "LegacyKeyValueFormat:4:\"LABEL key=value\" should be used instead of legacy \"LABEL key "
                      "value\" format"}));
  EXPECT_TRUE(lint("\nFROM scratch\nENV testkey=value\nLABEL key=value\n").empty());
  // BuildKit: a build reports the stages it reaches, --call=check all of them.
  std::string two = "\nFROM scratch AS a\n\nFROM a AS b\nENV testkey value\n\nFROM a AS c\n";
  auto df = fe::parse_dockerfile(two);
  fe::Env none;
  std::set<int> reached = fe::stage_closure(df, 2, none);
  EXPECT_EQ(reached, (std::set<int>{0, 2}));
  fe::CheckContext build;
  build.stages = &reached;
  EXPECT_TRUE(lint(two, "", build).empty());
  EXPECT_EQ(lint(two).size(), 1u);
}

TEST(Checks, RedundantTargetPlatform) {
  EXPECT_EQ(lint("\nFROM --platform=$TARGETPLATFORM scratch\n"),
            (Findings{"RedundantTargetPlatform:2:Setting platform to predefined $TARGETPLATFORM in FROM is redundant "
                      "as this is the default behavior"}));
  EXPECT_EQ(lint("\nFROM --platform=${TARGETPLATFORM} scratch\n"),
            (Findings{"RedundantTargetPlatform:2:Setting platform to predefined ${TARGETPLATFORM} in FROM is "
                      "redundant as this is the default behavior"}));
}

TEST(Checks, SecretsUsedInArgOrEnv) {
  auto msg = [](int line, const std::string& what) {
    return "SecretsUsedInArgOrEnv:" + std::to_string(line) +
           ":Do not use ARG or ENV instructions for sensitive data (" + what + ")";
  };
  EXPECT_EQ(lint("\nFROM scratch\nARG SECRET_PASSPHRASE\nENV SUPER_Secret=foo\nENV password=bar secret=baz\n"
                 "ARG super_duper_secret_token=foo auth=bar\nENV apikey=bar sunflower=foo\nENV git_key=\n"
                 "ENV PUBLIC_KEY=\nARG public_token\n"),
            (Findings{msg(3, "ARG \"SECRET_PASSPHRASE\""), msg(4, "ENV \"SUPER_Secret\""), msg(5, "ENV \"password\""),
                      msg(5, "ENV \"secret\""), msg(6, "ARG \"super_duper_secret_token\""), msg(6, "ARG \"auth\""),
                      msg(7, "ENV \"apikey\""), msg(8, "ENV \"git_key\"")}));
  EXPECT_EQ(lint("ARG API_TOKEN\nFROM scratch\n"), (Findings{msg(1, "ARG \"API_TOKEN\"")}));
}

TEST(Checks, InvalidDefaultArgInFrom) {
  auto msg = [](const std::string& base) {
    return "InvalidDefaultArgInFrom:3:Default value for ARG " + base + " results in empty or invalid base image name";
  };
  EXPECT_EQ(lint("\nARG VERSION\nFROM busybox:$VERSION\n"), (Findings{msg("busybox:$VERSION")}));
  EXPECT_EQ(lint("\nARG IMAGE\nFROM $IMAGE\n"), (Findings{msg("$IMAGE")}));
  EXPECT_EQ(lint("\nARG SFX=\"box:\"\nFROM busy${SFX}\n"), (Findings{msg("busy${SFX}")}));
  EXPECT_TRUE(lint("\nARG VERSION=\"latest\"\nFROM busybox:${VERSION}\n").empty());
  EXPECT_TRUE(lint("\nARG BUSYBOX_VARIANT=\"\"\nFROM busybox:stable${BUSYBOX_VARIANT}\n").empty());
  EXPECT_TRUE(lint("\n\tARG BUSYBOX_VARIANT\n\tFROM busybox:stable${BUSYBOX_VARIANT}\n").empty());
  EXPECT_TRUE(lint("ARG REG=localhost:5000\nFROM ${REG}/team/app_x@sha256:0123abcd\n").empty());
  EXPECT_EQ(lint("ARG N=Busybox\n\nFROM ${N}\n").size(), 1u);  // upper case is no repository name
}

TEST(Checks, FromPlatformFlagConstDisallowed) {
  EXPECT_EQ(lint("\nFROM --platform=linux/amd64 scratch\n"),
            (Findings{"FromPlatformFlagConstDisallowed:2:FROM --platform flag should not use constant value "
                      "\"linux/amd64\""}));
  EXPECT_TRUE(lint("\nFROM --platform=linux/amd64 scratch AS my_amd64_stage\n").empty());
  EXPECT_TRUE(lint("\nFROM --platform=linux/amd64 scratch AS linux\n").empty());
}

TEST(Checks, CopyIgnoredFileIsExperimental) {
  auto ignore = fe::DockerIgnore::parse("\nDockerfile\n");
  fe::CheckContext ctx;
  ctx.ignore = &ignore;
  std::string df = "\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n";
  EXPECT_TRUE(lint(df, "", ctx).empty());
  Findings want = {"CopyIgnoredFile:3:Attempting to Copy file \"Dockerfile\" that is excluded by .dockerignore",
                   "CopyIgnoredFile:4:Attempting to Add file \"Dockerfile\" that is excluded by .dockerignore"};
  EXPECT_EQ(lint(df, "experimental=CopyIgnoredFile", ctx), want);
  EXPECT_EQ(lint(df, "skip=all;experimental=CopyIgnoredFile", ctx), want);
  auto foobar = fe::DockerIgnore::parse("\nfoobar\n");
  ctx.ignore = &foobar;
  EXPECT_TRUE(lint("\nFROM scratch AS base\nCOPY Dockerfile /foobar\nADD Dockerfile /windy\n\nFROM base\n"
                   "COPY --from=base /foobar /Dockerfile\n",
                   "experimental=all", ctx)
                  .empty());
}

TEST(Checks, InvalidDefinitionDescriptionIsExperimental) {
  std::string d = "check=experimental=InvalidDefinitionDescription";
  EXPECT_TRUE(lint("# " + d +
                       "\n# foo this is the foo\nARG foo=bar\n\n# base this is the base image\n"
                       "FROM scratch AS base\n\n# version this is the version number\nARG version=latest\n\n"
                       "# baz this is the baz\nARG foo=baz bar=qux baz=quux\n#\nARG bit=bat\n\n"
                       "# comment for something other than ARG or FROM\nCOPY Dockerfile .\n",
                   "experimental=InvalidDefinitionDescription")
                  .empty());
  auto msg = [](int line, const std::string& ins, const std::string& key) {
    return "InvalidDefinitionDescription:" + std::to_string(line) + ":Comment for " + ins +
           " should follow the format: `# " + key + " <description>`";
  };
  EXPECT_EQ(
      lint("# " + d +
               "\n# bar this is the bar\nARG foo=bar\n# BasE this is the BasE image\n"
               "FROM scratch AS base\n# definitely a bad comment\nARG version=latest\n"
               "# definitely a bad comment\nARG foo=baz bar=qux baz=quux\n",
           "experimental=InvalidDefinitionDescription"),
      (Findings{msg(3, "ARG", "foo"), msg(5, "FROM", "base"), msg(7, "ARG", "version"), msg(9, "ARG", "<arg_key>")}));
}

TEST(Checks, ExposeRules) {
  EXPECT_EQ(lint("FROM scratch\nEXPOSE 80/TcP 127.0.0.1:80:80\n"),
            (Findings{"ExposeProtoCasing:2:Defined protocol '80/TcP' in EXPOSE instruction should be lowercase",
                      "ExposeInvalidFormat:2:EXPOSE instruction should not define an IP address or host-port "
                      "mapping, found '127.0.0.1:80:80'"}));
}

TEST(Checks, CheckOption) {
  std::string df = "FROM scratch as base\ncopy Dockerfile .\n";
  EXPECT_TRUE(lint(df, "skip=all").empty());
  EXPECT_TRUE(lint(df, "skip=all;error=true").empty());
  EXPECT_TRUE(lint(df, "skip=ConsistentInstructionCasing,FromAsCasing").empty());
  EXPECT_EQ(lint(df, "skip=ConsistentInstructionCasing"),
            (Findings{"FromAsCasing:1:'as' and 'FROM' keywords' casing do not match"}));
  auto c = fe::parse_check_directive(" skip = A , B ; error = True ; experimental=all");
  EXPECT_EQ(c.skip, (std::set<std::string>{"A", "B"}));
  EXPECT_TRUE(c.error);
  EXPECT_TRUE(c.experimental_all);
  EXPECT_THROW(fe::parse_check_directive("nonsense"), xb::Error);
  // Every rule has BuildKit's documentation URL.
  for (const auto& r : fe::check_rules()) EXPECT_EQ(r.url.rfind("https://docs.docker.com/go/dockerfile/rule/", 0), 0u);
  EXPECT_EQ(fe::find_check_rule("JSONArgsRecommended")->url,
            "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/");
  EXPECT_EQ(fe::find_check_rule("Nope"), nullptr);
}

// The text of `--call=check`: buildx's printResult around BuildKit's
// lint.PrintTo and errdefs.Source.Print.
TEST(Checks, CheckReportText) {
  auto df = fe::parse_dockerfile("FROM busybox as base\nCMD echo hi\n");
  auto findings = fe::run_checks(df, {});
  EXPECT_EQ(fe::format_check_report(df.ast, findings),
            "Check complete, 2 warnings have been found!\n"
            "\n"
            "WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n"
            "'as' and 'FROM' keywords' casing do not match\n"
            "Dockerfile:1\n"
            "--------------------\n"
            "   1 | >>> FROM busybox as base\n"
            "   2 |     CMD echo hi\n"
            "   3 |     \n"
            "--------------------\n"
            "\n"
            "WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\n"
            "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals\n"
            "Dockerfile:2\n"
            "--------------------\n"
            "   1 |     FROM busybox as base\n"
            "   2 | >>> CMD echo hi\n"
            "   3 |     \n"
            "--------------------\n");
  EXPECT_EQ(fe::format_check_report(df.ast, {}), "Check complete, no warnings found.\n");
  EXPECT_EQ(fe::format_warning_summary(findings),
            "\n 2 warnings found (use xbuild build --check to expand):\n"
            " - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)\n"
            " - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to "
            "OS signals (line 2)\n");
  EXPECT_EQ(fe::format_warning_summary({}), "");
  // Two lines of context either side at most, the file's end respected.
  auto long_df = fe::parse_dockerfile("FROM a\nRUN 1\nRUN 2\nRUN 3\nRUN 4\nRUN 5\nRUN 6\n");
  EXPECT_EQ(fe::format_source_excerpt(long_df.ast, 4, 4),
            "Dockerfile:4\n--------------------\n   2 |     RUN 1\n   3 |     RUN 2\n   4 | >>> RUN 3\n"
            "   5 |     RUN 4\n   6 |     RUN 5\n--------------------\n");
}

// outline and targets: the outputs of buildx 0.13's --print=outline|targets
// against BuildKit v0.13 (../shared/tools/buildkit-daemon), recorded.
const char* kOutlineDockerfile =
    "ARG ALPINE_VERSION=3.19\n"
    "# GO_VERSION sets the Go version\n"
    "ARG GO_VERSION=1.21\n"
    "ARG NOVAL\n"
    "\n"
    "# base is the base stage\n"
    "FROM busybox AS base\n"
    "# FOO is a stage arg\n"
    "ARG FOO=bar\n"
    "ARG BAR\n"
    "RUN --mount=type=secret,id=mysecret --mount=type=ssh echo hi\n"
    "RUN --mount=type=secret,id=other,required=true --mount=type=ssh,id=key,required=true echo $FOO\n"
    "\n"
    "FROM base AS build\n"
    "ARG GO_VERSION\n"
    "RUN echo ${GO_VERSION}\n"
    "\n"
    "# release publishes the binary\n"
    "# in two lines\n"
    "FROM build AS release\n"
    "COPY --from=base /bin/sh /x\n"
    "\n"
    "FROM busybox\n";

TEST(Subrequests, OutlineAsBuildKit) {
  auto df = fe::parse_dockerfile(kOutlineDockerfile);
  fe::Env platform = fe::platform_args(xb::Platform::host(), xb::Platform::host());
  EXPECT_EQ(fe::format_outline(fe::outline(df, "build", {}, platform)),
            "TARGET: build\n"
            "\n"
            "BUILD ARG    VALUE   DESCRIPTION\n"
            "GO_VERSION   1.21    sets the Go version\n"
            "FOO          bar     is a stage arg\n"
            "BAR                  \n"
            "\n"
            "SECRET     REQUIRED\n"
            "mysecret   \n"
            "other      true\n"
            "\n"
            "SSH       REQUIRED\n"
            "default   \n"
            "key       true\n"
            "\n");
  EXPECT_EQ(fe::format_outline(fe::outline(df, "base", {}, platform)),
            "TARGET:      base\n"
            "DESCRIPTION: is the base stage\n"
            "\n"
            "BUILD ARG   VALUE   DESCRIPTION\n"
            "FOO         bar     is a stage arg\n"
            "BAR                 \n"
            "\n"
            "SECRET     REQUIRED\n"
            "mysecret   \n"
            "other      true\n"
            "\n"
            "SSH       REQUIRED\n"
            "default   \n"
            "key       true\n"
            "\n");
  auto release = fe::outline(df, "release", {}, platform);
  EXPECT_EQ(release.description, "publishes the binary");
  ASSERT_EQ(release.args.size(), 3u);
  EXPECT_EQ(release.args[0].line, 3);                                    // GO_VERSION: where the meta ARG declares it
  EXPECT_EQ(fe::format_outline(fe::outline(df, "", {}, platform)), "");  // the unnamed last stage uses nothing
  EXPECT_THROW(fe::outline(df, "relase", {}, platform), xb::Error);
}

TEST(Subrequests, OutlineValuesAndMetaArgsInFrom) {
  auto df = fe::parse_dockerfile(
      "# BASE the base image\nARG BASE=busybox\nARG UNUSED=1\n# stage1 comment with blank\n\n"
      "FROM $BASE AS stage1\n# X\nARG X=${BASE}-x\nARG Y=1 Z=2\nRUN --mount=type=cache,target=/c echo\n\n"
      "FROM stage1\n# not a description\nARG Y\n");
  fe::Env platform = fe::platform_args(xb::Platform::host(), xb::Platform::host());
  EXPECT_EQ(fe::format_outline(fe::outline(df, "stage1", {{"Y", "9"}}, platform)),
            "TARGET:      stage1\n"
            "DESCRIPTION: comment with blank\n"
            "\n"
            "BUILD ARG   VALUE     DESCRIPTION\n"
            "BASE        busybox   the base image\n"
            "X           -x        \n"
            "Y           9         \n"
            "Z           2         \n"
            "\n");
  EXPECT_EQ(fe::format_outline(fe::outline(df, "", {{"Y", "9"}}, platform)),
            "BUILD ARG   VALUE     DESCRIPTION\n"
            "BASE        busybox   the base image\n"
            "X           -x        \n"
            "Z           2         \n"
            "Y           9         \n"
            "\n");
}

TEST(Subrequests, TargetsAsBuildKit) {
  auto df = fe::parse_dockerfile(kOutlineDockerfile);
  EXPECT_EQ(fe::format_targets(fe::targets(df)),
            "TARGET    DESCRIPTION\n"
            "base      is the base stage\n"
            "build     \n"
            "release   publishes the binary\n"
            "(default) \n");
  auto t = fe::targets(fe::parse_dockerfile("from busybox AS Base\nCMD echo hi\n"));
  EXPECT_EQ(fe::format_targets(t), "TARGET         DESCRIPTION\nbase (default) \n");
}
