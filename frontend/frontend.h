// frontend/: the Dockerfile frontend, BuildKit's dockerfile frontend in three
// stages, each usable and tested alone (docs/dev/frontend.md):
//
//   1. parse_ast():        text → syntax tree (one Node per instruction, with
//                          start and end lines), BuildKit's parser.Parse;
//   2. parse_dockerfile(): syntax tree → stages of typed instructions with
//                          every flag parsed and validated, BuildKit's
//                          instructions.Parse;
//   3. expand_word()/expand_words(): BuildKit's shell lexer (word expansion),
//                          called by the solver while it dispatches a stage.
//
// Plus .dockerignore matching (DockerIgnore). Nothing here does I/O except
// read_dockerignore(), which reads the files it is named. Every error is an
// xb::Error of kind invalid_argument carrying a SourceLocation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/error.h"
#include "common/platform.h"
#include "common/pattern.h"

namespace xb::frontend {

// ───────────────────────────── 1. syntax tree ─────────────────────────────

// A heredoc attached to an instruction (`RUN <<EOF`, `COPY <<-"EOF" /dst`).
struct Heredoc {
  std::string name;     // the delimiter word, quotes removed ("EOF")
  int fd = 0;           // `3<<EOF` → 3; 0 when not given
  bool expand = true;   // false when any part of the delimiter was quoted
  bool chomp = false;   // `<<-`: leading tabs are stripped (see content)
  std::string content;  // the lines up to the delimiter, newlines kept; for
                        // chomp, the leading tabs are already removed
};

// One instruction as BuildKit's parser sees it. `args` is BuildKit's Next
// chain: the words the line parser for this instruction produced (for ENV
// and LABEL triples key, value, "=" or ""; for ONBUILD empty, the trigger
// is in `child`).
struct Node {
  std::string keyword;             // as written, e.g. "COPY" or "copy"
  std::vector<std::string> flags;  // "--from=build", in order
  std::vector<std::string> args;
  bool json = false;  // exec (JSON array) form
  std::vector<Heredoc> heredocs;
  std::shared_ptr<Node> child;        // ONBUILD's trigger instruction
  std::string original;               // the logical line (continuations joined)
  std::vector<std::string> comments;  // comment lines right before it
  int start_line = 0;                 // 1-based, inclusive
  int end_line = 0;                   // 1-based, inclusive (heredoc bodies included)

  // The lower-cased keyword ("copy").
  std::string command() const;
};

struct Directive {
  std::string name;  // "syntax", "escape" or "check" (lower-cased)
  std::string value;
  int line = 0;
};

struct Ast {
  std::string file;                // for error locations, e.g. "Dockerfile"
  std::vector<std::string> lines;  // the source lines (for error locations)
  char escape = '\\';              // from `# escape=` (\ or `)
  std::vector<Directive> directives;
  std::vector<Node> nodes;
  std::vector<std::string> warnings;          // e.g. empty continuation lines
  std::vector<int> empty_continuation_lines;  // the last line of each instruction that had one
  int start_line = 0;
  int end_line = 0;

  // A location for errors about `line` (1-based), with its text.
  SourceLocation location(int line, int column = 0) const;
};

// Parses Dockerfile text. Errors (bad directive, unterminated heredoc, a
// file with no instructions) name file:line. Unknown instructions are kept
// (BuildKit's parser keeps them; parse_dockerfile() rejects them).
Ast parse_ast(std::string_view text, std::string_view file = "Dockerfile");

// BuildKit's AST dump (`(copy ["--from=a"] "x" "/y")`), one line per
// instruction, each ending in '\n' — the format of the conformance results.
std::string dump_ast(const Ast& ast);

// ───────────────────────────── 3. expansion ───────────────────────────────
// (declared before the typed instructions because they refer to it)

// Where expansion looks variables up. nullopt means unset (which differs
// from set-but-empty for ${x-w}, ${x+w}, ${x?msg}).
class EnvLookup {
 public:
  virtual ~EnvLookup() = default;
  virtual std::optional<std::string_view> get(std::string_view name) const = 0;
};

// An ordered environment (ENV / ARG state): set() replaces an existing key in
// place, so that to_list() keeps first-definition order as an image config does.
class Env : public EnvLookup {
 public:
  Env() = default;
  Env(std::initializer_list<std::pair<std::string, std::string>> init);
  // From "K=V" strings (an image config's Env); a later duplicate wins.
  static Env from_list(const std::vector<std::string>& kv);

  std::optional<std::string_view> get(std::string_view name) const override;
  void set(std::string_view name, std::string_view value);
  void erase(std::string_view name);
  bool contains(std::string_view name) const { return get(name).has_value(); }
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  std::vector<std::string> to_list() const;  // "K=V", in order

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// Expands one word as BuildKit's ProcessWord: quotes removed, escapes
// applied, $x ${x} ${x:-w} ${x-w} ${x:+w} ${x+w} ${x:?m} ${x?m} ${x#p}
// ${x##p} ${x%p} ${x%%p} ${x/p/r} ${x//p/r} substituted; no splitting.
// Throws Error(invalid_argument) on a syntax error or a failed ${x?m}.
std::string expand_word(std::string_view word, const EnvLookup& env, char escape = '\\');

// A COPY/ADD heredoc body with an unquoted delimiter (`COPY <<EOF /f`), as
// BuildKit expands it: variables substituted and `\` escapes applied, but
// quotes are ordinary characters and stay; the escape character is `\`
// whatever `# escape=` says.
std::string expand_heredoc(std::string_view body, const EnvLookup& env);

// As expand_word, then split into words the way BuildKit's ProcessWords
// does (unquoted whitespace, including whitespace that came from a
// variable, separates words; quoted text never splits).
std::vector<std::string> expand_words(std::string_view word, const EnvLookup& env, char escape = '\\');

// ──────────────────────── 2. typed instructions ───────────────────────────

struct KeyValue {
  std::string key;
  std::string value;
  bool no_delim = false;  // legacy `ENV k v` / `LABEL k v` form
};

// ARG name[=default]
struct ArgDef {
  std::string key;
  std::optional<std::string> default_value;  // unexpanded
};

// A command as written in shell or exec form.
struct CommandLine {
  std::vector<std::string> args;  // shell form: exactly one string
  bool prepend_shell = false;     // true for shell form: run via SHELL
};

// RUN --mount=type=…
struct Mount {
  enum class Type { bind, cache, tmpfs, secret, ssh };
  enum class Sharing { shared, private_, locked };
  Type type = Type::bind;
  std::string from;       // stage name or image (bind, cache)
  std::string source;     // path in `from` (bind, cache)
  std::string target;     // mount point; secret: default /run/secrets/<id>
  bool read_only = true;  // bind: default ro; cache/tmpfs: rw (rw/ro/readonly/readwrite)
  std::string id;         // cache id (default: target), secret/ssh id (ssh default "default")
  Sharing sharing = Sharing::shared;
  std::optional<std::uint64_t> size_bytes;  // tmpfs size
  std::optional<std::uint32_t> mode;        // secret, ssh, cache: file mode (octal)
  std::optional<std::uint32_t> uid, gid;    // secret, ssh, cache
  bool required = false;                    // secret, ssh
  std::string env;                          // secret: expose as this env variable
};

struct FromCmd {
  std::string base_name;   // unexpanded; resolve with resolve_base_name()
  std::string stage_name;  // AS name, lower-cased; empty if none
  std::string platform;    // --platform, unexpanded; empty if none
};
struct RunCmd {
  CommandLine command;
  std::vector<Heredoc> heredocs;        // `RUN <<EOF` bodies (files for the shell)
  std::vector<Mount> mounts;            // --mount values parsed as written (validated early; fields
                                        // with a variable are left out until dispatch)
  std::vector<std::string> raw_mounts;  // the same, unparsed: the solver re-parses each with
                                        // parse_mount() and the stage's ENV/ARG state
  std::string network;                  // "" (default), "none", "host", "default"
  std::string security;                 // "" (sandbox), "insecure", "sandbox"
};
struct CmdCmd {
  CommandLine command;
};
struct EntrypointCmd {
  CommandLine command;
};
struct ShellCmd {
  std::vector<std::string> shell;
};
struct EnvCmd {
  std::vector<KeyValue> env;
};
struct LabelCmd {
  std::vector<KeyValue> labels;
};
struct MaintainerCmd {
  std::string maintainer;
};
struct ExposeCmd {
  std::vector<std::string> ports;
};
struct UserCmd {
  std::string user;
};
struct WorkdirCmd {
  std::string path;
};
struct VolumeCmd {
  std::vector<std::string> volumes;
};
struct StopSignalCmd {
  std::string signal;
};
struct ArgCmd {
  std::vector<ArgDef> args;
};
struct OnbuildCmd {
  std::string expression;
};  // the trigger as written, e.g. "RUN make"

// A COPY or ADD source given as a heredoc: `COPY <<EOF /dst`.
struct SourceContent {
  std::string path;  // the heredoc name, used as the file name
  std::string data;
  bool expand = true;
};

struct CopyCmd {
  std::vector<std::string> sources;  // unexpanded
  std::vector<SourceContent> source_contents;
  std::string dest;                   // unexpanded
  std::string from;                   // --from
  std::string chown, chmod;           // --chown, --chmod
  bool link = false;                  // --link
  bool parents = false;               // --parents
  std::vector<std::string> excludes;  // --exclude (repeatable)
};
struct AddCmd {
  std::vector<std::string> sources;
  std::vector<SourceContent> source_contents;
  std::string dest;
  std::string chown, chmod;
  bool link = false;
  std::vector<std::string> excludes;
  std::string checksum;        // --checksum
  bool keep_git_dir = false;   // --keep-git-dir
  std::optional<bool> unpack;  // --unpack
};

struct HealthcheckCmd {
  // NONE: test = {"NONE"}; CMD ["a"]: {"CMD", "a"}; CMD a b: {"CMD-SHELL", "a b"}
  std::vector<std::string> test;
  std::int64_t interval_ns = 0, timeout_ns = 0, start_period_ns = 0, start_interval_ns = 0;
  int retries = 0;
};

using Command =
    std::variant<RunCmd, CmdCmd, EntrypointCmd, ShellCmd, EnvCmd, LabelCmd, MaintainerCmd, ExposeCmd, UserCmd,
                 WorkdirCmd, VolumeCmd, StopSignalCmd, ArgCmd, OnbuildCmd, CopyCmd, AddCmd, HealthcheckCmd>;

enum class InstructionKind {
  run,
  cmd,
  entrypoint,
  shell,
  env,
  label,
  maintainer,
  expose,
  user,
  workdir,
  volume,
  stopsignal,
  arg,
  onbuild,
  copy,
  add,
  healthcheck
};

struct Instruction {
  InstructionKind kind;
  Command command;
  SourceLocation location;  // file, start line, column 1, the first line's text
  int end_line = 0;
  std::string original;  // the logical line, for cache keys and messages
};

// The instruction's keyword in upper case ("COPY").
std::string_view name_of(InstructionKind kind);

// Whether the solver must expand this instruction's words with the current
// ENV/ARG state before use (BuildKit's SupportsSingleWordExpansion list):
// ENV, LABEL, ARG (defaults), COPY, ADD (sources, dest, --chown, --chmod,
// --from, --checksum, --exclude), EXPOSE, USER, WORKDIR, VOLUME,
// STOPSIGNAL, and RUN's --mount values. RUN/CMD/ENTRYPOINT/SHELL/
// HEALTHCHECK/MAINTAINER/ONBUILD are not expanded (the shell does it).
bool expands(InstructionKind kind);

// Parses a RUN --mount value as BuildKit's parseMount. With `env`, every
// key=value field's value is expanded first (the solver, at dispatch); without
// it (parse time), fields holding a variable are left for later, and a
// variable in from= is an error.
Mount parse_mount(std::string_view value, const SourceLocation& where = {}, const EnvLookup* env = nullptr,
                  char escape = '\\');

struct Stage {
  FromCmd from;
  int index = 0;
  SourceLocation location;                // the FROM line
  std::vector<Instruction> instructions;  // in order, FROM excluded
};

struct Dockerfile {
  Ast ast;
  std::string syntax;             // `# syntax=` value, if any
  std::vector<ArgDef> meta_args;  // ARGs before the first FROM, in order
  std::vector<SourceLocation> meta_arg_locations;
  std::vector<Stage> stages;

  // The stage named `name` (lower-cased match) or with that decimal index.
  const Stage* find_stage(std::string_view name) const;
};

// Parses and converts: every instruction typed, flags validated. Errors
// name file:line:column, show the line and suggest the near instruction or
// flag ("unknown instruction: COPPY (did you mean COPY?)").
Dockerfile parse_dockerfile(std::string_view text, std::string_view file = "Dockerfile");
// The conversion alone, from an AST.
Dockerfile to_dockerfile(Ast ast);

// ─────────────────────── args, platforms, stages ──────────────────────────

// Args every Dockerfile may use without declaring them with a value
// (--build-arg HTTP_PROXY=… works without `ARG HTTP_PROXY`): the proxy
// variables, upper and lower case.
bool is_proxy_arg(std::string_view name);

// TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT, BUILDPLATFORM,
// BUILDOS, BUILDARCH, BUILDVARIANT for the given platforms.
Env platform_args(const Platform& target, const Platform& build);

// The values of the meta ARGs (those before the first FROM): each default
// expanded with the ones before it, --build-arg values overriding, the
// platform args available. This Env is what FROM lines expand with.
Env resolve_meta_args(const Dockerfile& df, const std::map<std::string, std::string>& build_args, const Env& platform);

// FROM's image name (or stage name) with the meta args expanded; errors if
// it expands to nothing. Likewise --platform.
std::string resolve_base_name(const Stage& stage, const Env& meta_args, char escape);
std::string resolve_platform(const Stage& stage, const Env& meta_args, char escape);

// The value an `ARG key[=default]` inside a stage gives `key` (BuildKit's
// rule): the --build-arg value if given; else the default expanded with
// `env` (the stage's current ENV/ARG state); else, for an ARG without
// default, the meta arg of the same name if one is declared; else the
// platform arg of that name; else nullopt (declared but unset).
std::optional<std::string> resolve_stage_arg(const ArgDef& arg, const EnvLookup& env,
                                             const std::map<std::string, std::string>& build_args, const Env& meta_args,
                                             const Env& platform, char escape);

// ───────────────────────────── build checks ───────────────────────────────

// `# check=skip=RULE,RULE;error=true;experimental=RULE` (or the
// BUILDKIT_DOCKERFILE_CHECK build arg): which checks to skip, whether a
// finding fails the build, which experimental checks to run.
struct CheckConfig {
  std::set<std::string> skip;
  bool skip_all = false;               // skip=all
  bool error = false;                  // error=true
  std::set<std::string> experimental;  // experimental=RULE,RULE
  bool experimental_all = false;       // experimental=all
};
// Throws Error(invalid_argument) naming the bad option.
CheckConfig parse_check_directive(std::string_view value);

// One finding of BuildKit's linter: the rule ("FromAsCasing"), BuildKit's
// message, the 1-based line.
struct CheckFinding {
  std::string rule;
  std::string message;
  int line = 0;
};

// A rule of BuildKit's linter (frontend/dockerfile/linter/ruleset.go):
// its name, one-line description and documentation URL.
struct CheckRule {
  std::string_view name;
  std::string_view description;
  std::string_view url;
  bool experimental = false;  // runs only when `experimental=` names it
};
// Every rule, in BuildKit's order.
const std::vector<CheckRule>& check_rules();
// The rule named `name`, or null.
const CheckRule* find_check_rule(std::string_view name);

class DockerIgnore;
// What some rules need beyond the Dockerfile.
struct CheckContext {
  // CopyIgnoredFile (experimental): the build's .dockerignore.
  const DockerIgnore* ignore = nullptr;
  // The stages the build reaches (stage_closure()); null: all of them, as
  // `--call=check` lints. The rules BuildKit checks while it dispatches a
  // stage (LegacyKeyValueFormat, JSONArgsRecommended, WorkdirRelativePath,
  // SecretsUsedInArgOrEnv, MultipleInstructionsDisallowed, ExposeProtoCasing,
  // ExposeInvalidFormat, CopyIgnoredFile) report only those stages; the
  // rules on the whole file report everywhere.
  const std::set<int>* stages = nullptr;
};

// BuildKit's checks that need no image (every rule of check_rules() except
// UndefinedVar, which convert/ checks while it expands words, and
// InvalidBaseImagePlatform, which needs the base image), minus the skipped
// and the experimental ones not enabled, in line order.
std::vector<CheckFinding> run_checks(const Dockerfile& df, const CheckConfig& config, const CheckContext& context = {});

// The findings as `--call=check` prints them (buildx's printResult and
// BuildKit's lint.PrintTo): "Check complete, N warnings have been found!",
// then per finding "WARNING: Rule - URL", the message and the source lines
// around it; "Check complete, no warnings found." when there are none.
std::string format_check_report(const Ast& ast, const std::vector<CheckFinding>& findings);
// The source excerpt BuildKit prints under a finding or an error
// (errdefs.Source.Print): "FILE:LINE", a rule, up to 4 lines of context
// with ">>>" marking lines start..end, a rule.
std::string format_source_excerpt(const Ast& ast, int start, int end);
// buildx's summary after a build: " N warnings found (use docker --debug to
// expand):" and " - Rule: message (line N)" per finding; "" for none.
std::string format_warning_summary(const std::vector<CheckFinding>& findings);

// The stages `stage` needs: itself, its base stage, the stages its COPY
// --from and RUN --mount from= name, and theirs, in any order. Names with a
// variable are expanded with `meta_args` (the stage's own args aside).
std::set<int> stage_closure(const Dockerfile& df, int stage, const EnvLookup& meta_args);

// ─────────────────────── subrequests: outline, targets ────────────────────
// BuildKit's `frontend.outline` and `frontend.targets` (buildx --call).

struct OutlineArg {
  std::string name, description, value;
  int line = 0;  // where it is declared
};
struct OutlineSecret {  // also SSH
  std::string name;
  bool required = false;
  int line = 0;
};
struct Outline {
  std::string name, description;  // the target stage's
  std::vector<OutlineArg> args;
  std::vector<OutlineSecret> secrets;
  std::vector<OutlineSecret> ssh;
};
// The build arguments, secrets and SSH sockets the target (empty: the last
// stage) uses, with the values `build_args` give them.
Outline outline(const Dockerfile& df, const std::string& target, const std::map<std::string, std::string>& build_args,
                const Env& platform);
// buildx's text form (BuildKit's outline.PrintOutline).
std::string format_outline(const Outline& o);

struct TargetInfo {
  std::string name, description, base;
  bool is_default = false;
  int line = 0;
};
// The named stages and the default (last) one, in file order.
std::vector<TargetInfo> targets(const Dockerfile& df);
// buildx's text form (BuildKit's targets.PrintTargets).
std::string format_targets(const std::vector<TargetInfo>& targets);

// For UndefinedVar (which the solver checks while it expands, knowing the
// stage's variables): the names a word uses as $x or ${x}, outside single
// quotes and not escaped; ${x:-…} and the other modifiers are left out.
std::vector<std::string> plain_variables(std::string_view word, char escape = '\\');

// ───────────────────────────── .dockerignore ──────────────────────────────

// BuildKit's patternmatcher (common/pattern.h, the matcher COPY --exclude
// uses too): Go filepath.Match syntax plus `**`, `!` exceptions, the last
// matching line wins; paths are relative to the context root, '/'-separated.
class DockerIgnore {
 public:
  DockerIgnore() = default;
  // Parses .dockerignore text (comments, blank lines, leading / and ./
  // cleaned). Throws Error(invalid_argument) on a bad pattern.
  static DockerIgnore parse(std::string_view text, std::string_view file = ".dockerignore");
  explicit DockerIgnore(const std::vector<std::string>& patterns);

  // Whether `path` (e.g. "src/a.o") is excluded from the context. A path
  // inside an excluded directory is excluded too (parent matching).
  bool matches(std::string_view path) const;
  // Whether the directory `dir` is excluded and no exception pattern could
  // re-include anything below it, so that a walk can skip it entirely.
  bool can_skip_dir(std::string_view dir) const;
  bool empty() const { return matcher_.empty(); }
  const std::vector<std::string>& patterns() const;

 private:
  PatternMatcher matcher_;
};

// The ignore file for a build: `<dockerfile>.dockerignore` next to the
// Dockerfile if it exists, else `<context>/.dockerignore`, else empty.
// `read` gives a file's content, or nullopt when it does not exist (the
// solver's reads stay inside the context); default: read_file.
using FileReader = std::function<std::optional<std::string>(const std::string& path)>;
DockerIgnore read_dockerignore(const std::string& context_dir, const std::string& dockerfile_path,
                               const FileReader& read = {});

// ───────────────────────────────── helpers ────────────────────────────────

// The candidate nearest to `word` by edit distance (case-insensitive), if
// near enough to be a plausible typo; used for "did you mean" hints.
std::optional<std::string> suggest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace xb::frontend
