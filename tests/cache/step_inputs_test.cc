// Cache-miss explanations as pure logic: two descriptions of a step's inputs
// in, one reason line out (cache::explain_change), the bounded file lists,
// and the record fields that keep them (old records still read).
#include <gtest/gtest.h>

#include "cache/cache.h"

namespace xb::cache {
namespace {

using nlohmann::json;
using File = StepInputs::File;

StepInputs run_step(const std::string& instruction, const std::string& version, const std::string& base) {
  StepInputs in;
  in.add("instruction", Digest::of(instruction).str(), instruction);
  in.add("arg:VERSION", "=" + version, version);
  in.add("env:PATH", "=/bin", "/bin");
  in.add("base", Digest::of(base).str(), base);
  in.add("operation", Digest::of(instruction + version).str(), "", true);
  return in;
}

StepInputs copy_step(std::vector<File> files) {
  StepInputs in;
  in.add("instruction", "i", "COPY . /app");
  std::string fp;
  for (const auto& f : files) fp += f.path + f.content + std::to_string(f.mode);
  StepInputs::set_files(in.add("files", Digest::of(fp).str(), "."), std::move(files));
  in.add("content", Digest::of(fp).str(), "", true);
  return in;
}

TEST(StepInputs, SameInputsExplainNothing) {
  EXPECT_EQ(explain_change(run_step("RUN make", "1", "b@sha256:1"), run_step("RUN make", "1", "b@sha256:1")), "");
}

TEST(StepInputs, AnInstructionChangeNamesBothTexts) {
  EXPECT_EQ(explain_change(run_step("RUN make", "1", "b"), run_step("RUN make all", "1", "b")),
            "instruction changed: RUN make → RUN make all");
}

TEST(StepInputs, ABuildArgChangeShowsOldAndNewValue) {
  // The weak "operation" part changed too; it is not told when a strong part explains the miss.
  EXPECT_EQ(explain_change(run_step("RUN make", "1.0", "b"), run_step("RUN make", "2.0", "b")),
            "build arg VERSION changed: 1.0 → 2.0");
}

TEST(StepInputs, ArgsAndEnvSetAndUnset) {
  StepInputs a = run_step("RUN make", "1", "b"), b = a;
  b.parts.erase(b.parts.begin() + 1);  // VERSION no longer set
  b.add("env:CC", "=clang", "clang");
  EXPECT_EQ(explain_change(a, b), "env CC set: clang; build arg VERSION unset (was 1)");
}

TEST(StepInputs, ABaseImageChangeNamesTheDigests) {
  const std::string d1 = "sha256:" + std::string(64, '1'), d2 = "sha256:" + std::string(64, '2');
  EXPECT_EQ(explain_change(run_step("RUN make", "1", "busybox:latest@" + d1),
                           run_step("RUN make", "1", "busybox:latest@" + d2)),
            "base image busybox:latest changed: sha256:111111111111 → sha256:222222222222");
  EXPECT_EQ(explain_change(run_step("RUN make", "1", "busybox:1@" + d1), run_step("RUN make", "1", "alpine:3@" + d2)),
            "base image changed: busybox:1@sha256:111111111111 → alpine:3@sha256:222222222222");
}

TEST(StepInputs, OnlyAWeakPartChangedIsTold) {
  StepInputs a, b;
  a.add("instruction", "i", "COPY $X /");
  b.add("instruction", "i", "COPY $X /");
  a.add("sources", "1", "COPY a /", true);
  b.add("sources", "2", "COPY b /", true);
  EXPECT_EQ(explain_change(a, b), "sources changed: COPY a / → COPY b /");
}

TEST(StepInputs, AtMostThreeReasonsThenACount) {
  StepInputs a, b;
  for (int i = 0; i < 5; ++i) {
    a.add("arg:A" + std::to_string(i), "=0", "0");
    b.add("arg:A" + std::to_string(i), "=1", "1");
  }
  EXPECT_EQ(explain_change(a, b),
            "build arg A0 changed: 0 → 1; build arg A1 changed: 0 → 1; build arg A2 changed: 0 → 1; and 2 more");
}

TEST(StepInputs, TheParentStepIsNamed) {
  StepInputs a, b;
  a.add("instruction", "i", "RUN make");
  b.add("instruction", "i", "RUN make");
  a.add("parent", "sha256:1", "[2/3] COPY . /app");
  b.add("parent", "sha256:2", "[2/3] COPY . /app");
  EXPECT_EQ(explain_change(a, b), "parent step changed: [2/3] COPY . /app");
}

TEST(StepInputs, SecretsAreNamedNeverValued) {
  StepInputs a, b;
  a.add("secret:token", "x", "token");
  b.add("secret:token", "y", "token");
  b.add("secret:npm", "z", "npm");
  EXPECT_EQ(explain_change(a, b), "secret token mount changed; secret npm added: npm");
}

TEST(StepInputsFiles, ContentModeAddedRemoved) {
  StepInputs before = copy_step({{"src/app.py", 0100644, "aa"}, {"run.sh", 0100644, "bb"}, {"old.txt", 0100644, "cc"}});
  EXPECT_EQ(
      explain_change(before,
                     copy_step({{"src/app.py", 0100644, "a2"}, {"run.sh", 0100644, "bb"}, {"old.txt", 0100644, "cc"}})),
      "src/app.py: content changed");
  EXPECT_EQ(
      explain_change(before,
                     copy_step({{"src/app.py", 0100644, "aa"}, {"run.sh", 0100755, "bb"}, {"old.txt", 0100644, "cc"}})),
      "mode of run.sh changed (0644 → 0755)");
  EXPECT_EQ(explain_change(before, copy_step({{"src/app.py", 0100644, "aa"}, {"run.sh", 0100644, "bb"}})),
            "old.txt removed");
  EXPECT_EQ(explain_change(before, copy_step({{"src/app.py", 0100644, "aa"},
                                              {"src/b.py", 0100644, "1"},
                                              {"src/lib/c.py", 0100644, "2"},
                                              {"src/lib/", 040755, ""},
                                              {"src/d.py", 0100644, "3"},
                                              {"run.sh", 0100644, "bb"},
                                              {"old.txt", 0100644, "cc"}})),
            "3 files added under src/");
}

TEST(StepInputsFiles, ManyContentChangesAreCounted) {
  StepInputs a = copy_step({{"src/a", 0100644, "1"}, {"src/b", 0100644, "1"}, {"src/c", 0100644, "1"}});
  StepInputs b = copy_step({{"src/a", 0100644, "2"}, {"src/b", 0100644, "2"}, {"src/c", 0100644, "2"}});
  EXPECT_EQ(explain_change(a, b), "3 files changed under src/");
}

// Beyond kMaxFiles entries a part keeps one summary per top-level directory,
// so a record stays small however large the context; a change still says where.
TEST(StepInputsFiles, LongListsAreSummarizedPerTopLevelDirectory) {
  std::vector<File> files;
  for (size_t i = 0; i < StepInputs::kMaxFiles + 10; ++i) files.push_back({"src/f" + std::to_string(i), 0100644, "x"});
  files.push_back({"docs/readme", 0100644, "r"});
  StepInputs a = copy_step(files);
  const StepInputs::Part* p = a.find("files");
  ASSERT_EQ(p->files.size(), 2u);
  EXPECT_EQ(p->files[0].path, "docs/");
  EXPECT_EQ(p->files[0].count, 1u);
  EXPECT_EQ(p->files[1].path, "src/");
  EXPECT_EQ(p->files[1].count, StepInputs::kMaxFiles + 10);

  std::vector<File> more = files;
  for (int i = 0; i < 3; ++i) more.push_back({"src/new" + std::to_string(i), 0100644, "n"});
  EXPECT_EQ(explain_change(a, copy_step(more)), "3 files added under src/");
  std::vector<File> edited = files;
  edited.back().content = "r2";
  EXPECT_EQ(explain_change(a, copy_step(edited)), "files under docs/ changed");

  // Even a context of many top-level entries stays bounded.
  std::vector<File> wide;
  for (size_t i = 0; i < 3 * StepInputs::kMaxFiles; ++i) wide.push_back({"d" + std::to_string(i) + "/f", 0100644, "x"});
  EXPECT_LE(copy_step(wide).find("files")->files.size(), StepInputs::kMaxFiles + 1);
}

TEST(StepInputs, LongTextIsCut) {
  StepInputs in;
  in.add("instruction", "i", "RUN " + std::string(500, 'x'));
  EXPECT_LE(in.parts[0].text.size(), StepInputs::kMaxText);
  EXPECT_TRUE(in.parts[0].text.ends_with("..."));
}

TEST(StepInputs, RoundTripsThroughTheRecord) {
  CacheRecord r{
      "build-1", {}, "Dockerfile:3 stage-0 linux/amd64", copy_step({{"a", 0100644, "1"}, {"b/", 040755, ""}})};
  r.inputs.add("arg:V", "=1", "1");
  json j = r.to_json();
  EXPECT_EQ(j.at("v"), 1);
  EXPECT_EQ(CacheRecord::from_json(json::parse(j.dump())), r);
  std::vector<File> many;
  for (size_t i = 0; i < 2 * StepInputs::kMaxFiles; ++i) many.push_back({"s/" + std::to_string(i), 0100644, "x"});
  CacheRecord big{"build-2", {}, "x", copy_step(many)};
  EXPECT_EQ(CacheRecord::from_json(json::parse(big.to_json().dump())), big);
}

// A record written before issue 22 (no step, no inputs) reads as before:
// a hit stays a hit; a miss compared with it says the inputs are unknown.
TEST(StepInputs, RecordsWithoutInputsStillRead) {
  json old = json::parse(R"({"v":1,"snapshot":"build-0123","layers":[]})");
  CacheRecord r = CacheRecord::from_json(old);
  EXPECT_EQ(r.snapshot, "build-0123");
  EXPECT_TRUE(r.inputs.empty());
  EXPECT_EQ(r.step, "");
  EXPECT_EQ(r.to_json(), old);
}

}  // namespace
}  // namespace xb::cache
