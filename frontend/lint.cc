// Build checks: BuildKit's Dockerfile linter (frontend/dockerfile/linter),
// the rules that need only the syntax tree and the typed instructions. Each
// message is BuildKit's wording, so that a finding reads the same in both.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "frontend/frontend.h"
#include "frontend/text.h"

namespace xb::frontend {

namespace {

#define XB_RULE_URL(slug) "https://docs.docker.com/go/dockerfile/rule/" slug "/"
// BuildKit's ruleset.go, in its order: name, description, URL.
const std::vector<CheckRule> kRules = {
    {"StageNameCasing", "Stage names should be lowercase", XB_RULE_URL("stage-name-casing")},
    {"FromAsCasing", "The 'as' keyword should match the case of the 'from' keyword", XB_RULE_URL("from-as-casing")},
    {"NoEmptyContinuation", "Empty continuation lines will become errors in a future release",
     XB_RULE_URL("no-empty-continuation")},
    {"ConsistentInstructionCasing",
     "All commands within the Dockerfile should use the same casing (either upper or lower)",
     XB_RULE_URL("consistent-instruction-casing")},
    {"DuplicateStageName", "Stage names should be unique", XB_RULE_URL("duplicate-stage-name")},
    {"ReservedStageName", "Reserved words should not be used as stage names", XB_RULE_URL("reserved-stage-name")},
    {"JSONArgsRecommended",
     "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
     XB_RULE_URL("json-args-recommended")},
    {"MaintainerDeprecated", "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
     XB_RULE_URL("maintainer-deprecated")},
    {"UndefinedArgInFrom", "FROM command must use declared ARGs", XB_RULE_URL("undefined-arg-in-from")},
    {"WorkdirRelativePath",
     "Relative workdir without an absolute workdir declared within the build can have unexpected results if "
     "the base image changes",
     XB_RULE_URL("workdir-relative-path")},
    {"UndefinedVar", "Variables should be defined before their use", XB_RULE_URL("undefined-var")},
    {"MultipleInstructionsDisallowed", "Multiple instructions of the same type should not be used in the same stage",
     XB_RULE_URL("multiple-instructions-disallowed")},
    {"LegacyKeyValueFormat", "Legacy key/value format with whitespace separator should not be used",
     XB_RULE_URL("legacy-key-value-format")},
    {"InvalidBaseImagePlatform", "Base image platform does not match expected target platform",
     XB_RULE_URL("invalid-base-image-platform")},
    {"RedundantTargetPlatform",
     "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
     XB_RULE_URL("redundant-target-platform")},
    {"SecretsUsedInArgOrEnv", "Sensitive data should not be used in the ARG or ENV commands",
     XB_RULE_URL("secrets-used-in-arg-or-env")},
    {"InvalidDefaultArgInFrom", "Default value for global ARG results in an empty or invalid base image name",
     XB_RULE_URL("invalid-default-arg-in-from")},
    {"FromPlatformFlagConstDisallowed", "FROM --platform flag should not use a constant value",
     XB_RULE_URL("from-platform-flag-const-disallowed")},
    {"CopyIgnoredFile", "Attempting to Copy file that is excluded by .dockerignore", XB_RULE_URL("copy-ignored-file"),
     true},
    {"InvalidDefinitionDescription",
     "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this "
     "is not intended to be a description comment, add an empty line or comment between the instruction and the "
     "comment.",
     XB_RULE_URL("invalid-definition-description"), true},
    {"ExposeProtoCasing", "Protocol in EXPOSE instruction should be lowercase", XB_RULE_URL("expose-proto-casing")},
    {"ExposeInvalidFormat",
     "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a "
     "future release",
     XB_RULE_URL("expose-invalid-format")},
};
#undef XB_RULE_URL

// BuildKit's isSecretKey: a key with one of these words as an '_'-separated
// part is taken for a secret, unless a part says "public".
bool is_secret_key(std::string_view key) {
  static const std::set<std::string> secret = {"apikey",   "auth",  "credential", "credentials", "key",
                                               "password", "pword", "passwd",     "secret",      "token"};
  bool hit = false;
  size_t i = 0;
  while (i <= key.size()) {
    size_t j = key.find('_', i);
    if (j == std::string_view::npos) j = key.size();
    std::string part = text::lower(key.substr(i, j - i));
    if (part == "public") return false;
    hit = hit || secret.count(part) > 0;
    i = j + 1;
  }
  return hit;
}

// Whether `s` is an image reference docker would accept (distribution's
// reference grammar, the part InvalidDefaultArgInFrom needs): [host[:port]/]
// lower-case path components, an optional :tag and @digest.
bool valid_reference(std::string_view s) {
  if (s.empty()) return false;
  if (auto at = s.find('@'); at != std::string_view::npos) {
    std::string_view d = s.substr(at + 1);
    auto colon = d.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 >= d.size()) return false;
    for (char c : d.substr(colon + 1))
      if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    s = s.substr(0, at);
  }
  auto slash = s.rfind('/');
  auto colon = s.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    std::string_view tag = s.substr(colon + 1);
    if (tag.empty() || tag.size() > 128) return false;
    for (size_t i = 0; i < tag.size(); ++i) {
      char c = tag[i];
      bool word = std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      if (!(word || (i > 0 && (c == '.' || c == '-')))) return false;
    }
    s = s.substr(0, colon);
  }
  if (s.empty()) return false;
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('/', i);
    if (j == std::string_view::npos) j = s.size();
    parts.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  size_t first = 0;
  if (parts.size() > 1 && (parts[0].find_first_of(".:") != std::string_view::npos || parts[0] == "localhost")) {
    for (char c : parts[0])
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
        return false;
    first = 1;
  }
  for (size_t k = first; k < parts.size(); ++k) {
    std::string_view p = parts[k];
    if (p.empty()) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(p.front()) || !alnum(p.back())) return false;
    for (size_t n = 0; n < p.size(); ++n) {
      char c = p[n];
      if (alnum(c) || c == '-') continue;
      if (c == '.' && alnum(p[n + 1])) continue;
      if (c == '_' && (alnum(p[n + 1]) || (p[n + 1] == '_' && alnum(p[n + 2])))) {
        if (p[n + 1] == '_') ++n;
        continue;
      }
      return false;
    }
  }
  return true;
}

bool all_lower(std::string_view s) { return text::lower(s) == s; }
bool all_upper(std::string_view s) { return text::upper(s) == s; }

class Checker {
 public:
  Checker(const Dockerfile& df, const CheckConfig& config, const CheckContext& ctx)
      : df_(df), config_(config), ctx_(ctx) {}

  std::vector<CheckFinding> run() {
    casing();
    for (int line : df_.ast.empty_continuation_lines) add("NoEmptyContinuation", "Empty continuation line", line);
    for (const auto& node : df_.ast.nodes)
      if (node.command() == "from") from_line(node);
    meta_args();
    for (const auto& stage : df_.stages) {
      if (!stage.from.stage_name.empty()) definition_description(stage.location.line, "FROM", {stage.from.stage_name});
      if (ctx_.stages && !ctx_.stages->count(stage.index)) continue;
      stage_rules(stage);
    }
    std::stable_sort(out_.begin(), out_.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
    return std::move(out_);
  }

 private:
  void add(std::string rule, std::string message, int line) {
    out_.push_back({std::move(rule), std::move(message), line});
  }

  bool experimental(std::string_view rule) const {
    return config_.experimental_all || config_.experimental.count(std::string(rule)) > 0;
  }

  // The defaults of the meta ARGs, each expanded with the ones before it
  // and the platform args, no --build-arg applied: what a FROM line gives
  // when the build names no args.
  void meta_args() {
    for (size_t i = 0; i < df_.meta_args.size(); ++i) {
      int line = i < df_.meta_arg_locations.size() ? df_.meta_arg_locations[i].line : 0;
      secret_key("ARG", df_.meta_args[i].key, line);
    }
    // InvalidDefinitionDescription: one check per ARG instruction.
    std::map<int, std::vector<std::string>> by_line;
    for (size_t i = 0; i < df_.meta_args.size() && i < df_.meta_arg_locations.size(); ++i)
      by_line[df_.meta_arg_locations[i].line].push_back(df_.meta_args[i].key);
    for (const auto& [line, keys] : by_line) definition_description(line, "ARG", keys);
    Platform host = Platform::host();
    Env defaults;
    try {
      defaults = resolve_meta_args(df_, {}, platform_args(host, host));
    } catch (const Error&) {
      return;  // the build itself reports a bad default
    }
    for (const auto& stage : df_.stages) {
      const std::string& base = stage.from.base_name;
      if (base.find('$') == std::string::npos) continue;
      std::string image;
      try {
        image = expand_word(base, defaults, df_.ast.escape);
      } catch (const Error&) {
        continue;  // the build itself reports a bad expansion
      }
      if (!valid_reference(image))
        add("InvalidDefaultArgInFrom", "Default value for ARG " + base + " results in empty or invalid base image name",
            stage.location.line);
    }
  }

  void secret_key(std::string_view instruction, const std::string& key, int line) {
    if (is_secret_key(key))
      add("SecretsUsedInArgOrEnv",
          "Do not use ARG or ENV instructions for sensitive data (" + std::string(instruction) + " " +
              text::go_quote(key) + ")",
          line);
  }

  // InvalidDefinitionDescription (experimental): a comment right above an
  // ARG or a named FROM must start with the name it describes. A blank line
  // or an empty `#` between them means the comment is not a description.
  void definition_description(int line, std::string_view instruction, const std::vector<std::string>& keys) {
    if (!experimental("InvalidDefinitionDescription") || keys.empty() || line < 2) return;
    for (const auto& d : df_.ast.directives)
      if (d.line == line - 1) return;
    std::string_view above = text::trim_space(df_.ast.lines[static_cast<size_t>(line - 2)]);
    if (above.empty() || above[0] != '#') return;
    std::string_view comment = text::trim_space(above.substr(1));
    if (comment.empty()) return;
    std::string_view first = comment.substr(0, comment.find(' '));
    if (std::find(keys.begin(), keys.end(), first) != keys.end()) return;
    std::string example = keys.size() > 1 ? "<arg_key>" : keys[0];
    add("InvalidDefinitionDescription",
        "Comment for " + std::string(instruction) + " should follow the format: `# " + example + " <description>`",
        line);
  }

  // CopyIgnoredFile (experimental): a COPY or ADD source from the context
  // that .dockerignore excludes.
  void ignored_sources(const std::vector<std::string>& sources, std::string_view cmd, int line) {
    if (!ctx_.ignore || !experimental("CopyIgnoredFile")) return;
    for (const auto& src : sources) {
      if (src.find('$') != std::string::npos || src.find("://") != std::string::npos) continue;
      std::string clean = std::filesystem::path(src).lexically_normal().generic_string();
      while (clean.rfind('/', 0) == 0) clean.erase(0, 1);
      if (clean.empty() || clean == ".") continue;
      if (ctx_.ignore->matches(clean))
        add("CopyIgnoredFile",
            "Attempting to " + std::string(cmd) + " file " + text::go_quote(clean) +
                " that is excluded by .dockerignore",
            line);
    }
  }

  // ConsistentInstructionCasing: every keyword in the majority's casing.
  void casing() {
    int lower = 0, upper = 0;
    for (const auto& n : df_.ast.nodes) {
      if (all_lower(n.keyword)) ++lower;
      else if (all_upper(n.keyword)) ++upper;
    }
    bool want_lower = lower > upper;
    for (const auto& n : df_.ast.nodes) {
      bool ok = want_lower ? all_lower(n.keyword) : all_upper(n.keyword);
      if (!ok)
        add("ConsistentInstructionCasing",
            "Command '" + n.keyword + "' should match the case of the command majority (" +
                (want_lower ? "lowercase" : "uppercase") + ")",
            n.start_line);
    }
  }

  // UndefinedArgInFrom: FROM may use only ARGs declared before the first
  // FROM, and the predefined platform args.
  void from_args(const Node& n, std::string_view word) {
    static const std::vector<std::string> predefined = {"TARGETPLATFORM", "TARGETOS",      "TARGETARCH",
                                                        "TARGETVARIANT",  "BUILDPLATFORM", "BUILDOS",
                                                        "BUILDARCH",      "BUILDVARIANT",  "TARGETSTAGE"};
    std::vector<std::string> known = predefined;
    for (const auto& a : df_.meta_args) known.push_back(a.key);
    for (const auto& v : text::variables(word, df_.ast.escape)) {
      if (std::find(known.begin(), known.end(), v) != known.end()) continue;
      std::string msg = "FROM argument '" + v + "' is not declared";
      if (auto near = suggest(v, known)) msg += " (did you mean " + *near + "?)";
      add("UndefinedArgInFrom", msg, n.start_line);
    }
  }

  // StageNameCasing, FromAsCasing, DuplicateStageName, ReservedStageName,
  // RedundantTargetPlatform.
  void from_line(const Node& n) {
    if (!n.args.empty()) from_args(n, n.args[0]);
    for (const auto& f : n.flags) {
      std::string_view v = f;
      if (v.rfind("--platform=", 0) != 0) continue;
      v.remove_prefix(11);
      from_args(n, v);
      const_platform(n, v);
      if (v == "$TARGETPLATFORM" || v == "${TARGETPLATFORM}")
        add("RedundantTargetPlatform",
            "Setting platform to predefined " + std::string(v) +
                " in FROM is redundant as this is the default behavior",
            n.start_line);
    }
    if (n.args.size() != 3) return;
    const std::string& as = n.args[1];
    const std::string& name = n.args[2];
    // A FROM in mixed case is ConsistentInstructionCasing's finding alone.
    bool from_lower = all_lower(n.keyword), from_upper = all_upper(n.keyword);
    if ((from_lower && !all_lower(as)) || (from_upper && !all_upper(as)))
      add("FromAsCasing", "'" + as + "' and '" + n.keyword + "' keywords' casing do not match", n.start_line);
    if (!all_lower(name)) add("StageNameCasing", "Stage name '" + name + "' should be lowercase", n.start_line);
    std::string lname = text::lower(name);
    if (lname == "scratch" || lname == "context")
      add("ReservedStageName", "Stage name should not use the same name as reserved stage \"" + lname + "\"",
          n.start_line);
    if (!stage_names_.insert(lname).second)
      add("DuplicateStageName", "Duplicate stage name \"" + lname + "\", stage names should be unique", n.start_line);
  }

  // FromPlatformFlagConstDisallowed: a constant --platform, unless the
  // stage's name says it is for that platform (`AS build_amd64`).
  void const_platform(const Node& n, std::string_view value) {
    if (value.find('$') != std::string_view::npos) return;
    Platform p;
    try {
      p = Platform::parse(value);
    } catch (const Error&) {
      return;
    }
    std::string name = n.args.size() == 3 ? text::lower(n.args[2]) : "";
    for (const std::string& part : {p.os, p.architecture, p.variant})
      if (!part.empty() && name.find(part) != std::string::npos) return;
    add("FromPlatformFlagConstDisallowed",
        "FROM --platform flag should not use constant value " + text::go_quote(value), n.start_line);
  }

  void stage_rules(const Stage& stage) {
    std::map<std::string, std::vector<int>> singles;  // CMD, ENTRYPOINT, HEALTHCHECK lines
    // A SHELL in this stage or in its base stage: the shell form is chosen.
    bool shell_set = shell_stages_.count(text::lower(stage.from.base_name)) > 0;
    // A base stage's absolute WORKDIR counts too (BuildKit checks the
    // stage's state, which starts from its base stage's).
    bool absolute_workdir = abs_workdir_.count(text::lower(stage.from.base_name)) > 0;
    for (const auto& ins : stage.instructions) {
      int line = ins.location.line;
      switch (ins.kind) {
        case InstructionKind::shell: shell_set = true; break;
        case InstructionKind::maintainer:
          add("MaintainerDeprecated", "Maintainer instruction is deprecated in favor of using label", line);
          break;
        case InstructionKind::cmd:
        case InstructionKind::entrypoint: {
          const CommandLine& c = ins.kind == InstructionKind::cmd ? std::get<CmdCmd>(ins.command).command
                                                                  : std::get<EntrypointCmd>(ins.command).command;
          std::string name(name_of(ins.kind));
          // With its own SHELL a stage chose the shell form on purpose.
          if (c.prepend_shell && !shell_set)
            add("JSONArgsRecommended",
                "JSON arguments recommended for " + name + " to prevent unintended behavior related to OS signals",
                line);
          singles[name].push_back(line);
          break;
        }
        case InstructionKind::healthcheck: singles["HEALTHCHECK"].push_back(line); break;
        case InstructionKind::arg: {
          std::vector<std::string> keys;
          for (const auto& a : std::get<ArgCmd>(ins.command).args) {
            secret_key("ARG", a.key, line);
            keys.push_back(a.key);
          }
          definition_description(line, "ARG", keys);
          break;
        }
        case InstructionKind::copy: {
          const auto& c = std::get<CopyCmd>(ins.command);
          if (c.from.empty()) ignored_sources(c.sources, "Copy", line);
          break;
        }
        case InstructionKind::add: ignored_sources(std::get<AddCmd>(ins.command).sources, "Add", line); break;
        case InstructionKind::env:
        case InstructionKind::label: {
          const auto& kvs = ins.kind == InstructionKind::env ? std::get<EnvCmd>(ins.command).env
                                                             : std::get<LabelCmd>(ins.command).labels;
          std::string name(name_of(ins.kind));
          if (ins.kind == InstructionKind::env)
            for (const auto& kv : kvs) secret_key("ENV", kv.key, line);
          if (std::any_of(kvs.begin(), kvs.end(), [](const KeyValue& kv) { return kv.no_delim; }))
            add("LegacyKeyValueFormat",
                "\"" + name + " key=value\" should be used instead of legacy \"" + name + " key value\" format", line);
          break;
        }
        case InstructionKind::workdir: {
          const std::string& p = std::get<WorkdirCmd>(ins.command).path;
          if (!p.empty() && (p[0] == '/' || p[0] == '$')) absolute_workdir = true;
          else if (!absolute_workdir)
            add("WorkdirRelativePath",
                "Relative workdir " + text::go_quote(p) + " can have unexpected results if the base image changes",
                line);
          break;
        }
        case InstructionKind::expose:
          for (const auto& port : std::get<ExposeCmd>(ins.command).ports) {
            auto slash = port.find('/');
            if (slash != std::string::npos && !all_lower(port.substr(slash)))
              add("ExposeProtoCasing", "Defined protocol '" + port + "' in EXPOSE instruction should be lowercase",
                  line);
            if (port.find(':') != std::string::npos)
              add("ExposeInvalidFormat",
                  "EXPOSE instruction should not define an IP address or host-port mapping, found '" + port + "'",
                  line);
          }
          break;
        default: break;
      }
    }
    if (absolute_workdir && !stage.from.stage_name.empty()) abs_workdir_.insert(stage.from.stage_name);
    if (shell_set && !stage.from.stage_name.empty()) shell_stages_.insert(stage.from.stage_name);
    for (const auto& [name, lines] : singles)
      for (size_t i = 0; i + 1 < lines.size(); ++i)
        add("MultipleInstructionsDisallowed",
            "Multiple " + name +
                " instructions should not be used in the same stage because only the last one will be used",
            lines[i]);
  }

  const Dockerfile& df_;
  const CheckConfig& config_;
  const CheckContext& ctx_;
  std::set<std::string> shell_stages_;  // stages with a SHELL (theirs or their base's)
  std::set<std::string> stage_names_;
  std::set<std::string> abs_workdir_;  // stages whose WORKDIR is absolute
  std::vector<CheckFinding> out_;
};

}  // namespace

std::vector<std::string> plain_variables(std::string_view w, char escape) {
  std::vector<std::string> out;
  auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  bool single = false, dbl = false;
  for (size_t i = 0; i < w.size(); ++i) {
    char c = w[i];
    if (single) {
      single = c != '\'';
      continue;
    }
    if (c == escape) {
      ++i;
      continue;
    }
    if (c == '\'' && !dbl) {
      single = true;
      continue;
    }
    if (c == '"') {
      dbl = !dbl;
      continue;
    }
    if (c != '$' || i + 1 >= w.size()) continue;
    bool brace = w[i + 1] == '{';
    size_t j = i + 1 + (brace ? 1 : 0), k = j;
    while (k < w.size() && name_char(w[k])) ++k;
    // $x, or ${x} with nothing between the name and '}' (a modifier such
    // as ${x:-default} handles the unset case itself).
    bool plain = k > j && !std::isdigit(static_cast<unsigned char>(w[j])) && (!brace || (k < w.size() && w[k] == '}'));
    if (plain && std::find(out.begin(), out.end(), std::string(w.substr(j, k - j))) == out.end())
      out.emplace_back(w.substr(j, k - j));
    i = k > i + 1 ? k - 1 : i;
  }
  return out;
}

CheckConfig parse_check_directive(std::string_view value) {
  CheckConfig c;
  std::string_view v = text::trim_space(value);
  if (v.empty()) return c;
  auto bad = [&](const std::string& why) {
    throw Error(ErrorKind::invalid_argument,
                "invalid check option " + why +
                    " (want skip=RULE,RULE|all, error=true|false, experimental=RULE,RULE|all, separated by ';')");
  };
  // skip=…;error=…;experimental=…, each at most once.
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t semi = v.find(';', start);
    parts.push_back(v.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start));
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  for (auto part : parts) {
    auto eq = part.find('=');
    if (eq == std::string_view::npos) bad(text::go_quote(part));
    std::string key(text::trim_space(part.substr(0, eq)));
    std::string val(text::trim_space(part.substr(eq + 1)));
    if (key == "skip" || key == "experimental") {
      bool& all = key == "skip" ? c.skip_all : c.experimental_all;
      std::set<std::string>& rules = key == "skip" ? c.skip : c.experimental;
      if (val == "all") {
        all = true;
        continue;
      }
      size_t i = 0;
      while (i <= val.size()) {
        size_t j = val.find(',', i);
        if (j == std::string::npos) j = val.size();
        rules.insert(std::string(text::trim_space(std::string_view(val).substr(i, j - i))));
        i = j + 1;
      }
    } else if (key == "error") {
      // Go's strconv.ParseBool.
      static const std::set<std::string> yes = {"1", "t", "T", "TRUE", "true", "True"};
      static const std::set<std::string> no = {"0", "f", "F", "FALSE", "false", "False"};
      if (yes.count(val)) c.error = true;
      else if (no.count(val)) c.error = false;
      else bad(text::go_quote(part) + ": error wants true or false");
    } else {
      bad(text::go_quote(key));
    }
  }
  return c;
}

const std::vector<CheckRule>& check_rules() { return kRules; }

const CheckRule* find_check_rule(std::string_view name) {
  for (const auto& r : kRules)
    if (r.name == name) return &r;
  return nullptr;
}

std::vector<CheckFinding> run_checks(const Dockerfile& df, const CheckConfig& config, const CheckContext& context) {
  std::vector<CheckFinding> all = Checker(df, config, context).run();
  std::vector<CheckFinding> out;
  for (auto& f : all) {
    // As BuildKit's linter: skip=all silences the default rules, but an
    // experimental rule named explicitly still runs.
    const CheckRule* rule = find_check_rule(f.rule);
    bool exp = rule && rule->experimental;
    if (exp ? !(config.experimental_all || config.experimental.count(f.rule))
            : (config.skip_all || config.skip.count(f.rule)))
      continue;
    out.push_back(std::move(f));
  }
  return out;
}

std::string format_source_excerpt(const Ast& ast, int start, int end) {
  // errdefs.Source.Print splits the file on '\n': a final newline gives one
  // more (empty) line, which the context may show.
  std::vector<std::string> lines = ast.lines;
  lines.emplace_back();
  int n = static_cast<int>(lines.size());
  if (end < start) end = start;
  if (start < 1 || start > n) return "";
  if (end > n) end = n;
  int first = start, last = end;
  int pad = start == end ? 4 : 2;
  for (int p = 0; p < pad;) {
    if (first > 1) {
      --first;
      ++p;
    }
    if (last != n) {
      ++last;
      ++p;
    }
    ++p;
  }
  std::string out = ast.file + ":" + std::to_string(start) + "\n--------------------\n";
  for (int i = first; i <= last; ++i) {
    char num[16];
    std::snprintf(num, sizeof num, " %3d | ", i);
    out += num;
    out += (i >= start && i <= end) ? ">>> " : "    ";
    out += lines[static_cast<size_t>(i - 1)] + "\n";
  }
  return out + "--------------------\n";
}

std::string format_check_report(const Ast& ast, const std::vector<CheckFinding>& findings) {
  std::vector<CheckFinding> sorted = findings;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
  std::string out;
  if (sorted.empty()) return "Check complete, no warnings found.\n";
  out = "Check complete, " +
        (sorted.size() == 1 ? std::string("1 warning has been found!")
                            : std::to_string(sorted.size()) + " warnings have been found!") +
        "\n";
  for (const auto& f : sorted) {
    out += "\nWARNING: " + f.rule;
    if (const CheckRule* r = find_check_rule(f.rule); r && !r->url.empty()) out += " - " + std::string(r->url);
    out += "\n" + f.message + "\n";
    if (f.line > 0) out += format_source_excerpt(ast, f.line, f.line);
  }
  return out;
}

std::string format_warning_summary(const std::vector<CheckFinding>& findings) {
  if (findings.empty()) return "";
  std::string out = "\n " +
                    (findings.size() == 1 ? std::string("1 warning found")
                                          : std::to_string(findings.size()) + " warnings found") +
                    " (use xbuild build --check to expand):\n";
  for (const auto& f : findings) {
    out += " - " + f.rule + ": " + f.message;
    if (f.line > 0) out += " (line " + std::to_string(f.line) + ")";
    out += "\n";
  }
  return out;
}

}  // namespace xb::frontend
