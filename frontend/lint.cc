// Build checks: BuildKit's Dockerfile linter (frontend/dockerfile/linter),
// the rules that need only the syntax tree and the typed instructions. Each
// message is BuildKit's wording, so that a finding reads the same in both.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "frontend/frontend.h"
#include "frontend/text.h"

namespace xb::frontend {

namespace {

bool all_lower(std::string_view s) { return text::lower(s) == s; }
bool all_upper(std::string_view s) { return text::upper(s) == s; }

class Checker {
 public:
  explicit Checker(const Dockerfile& df) : df_(df) {}

  std::vector<CheckFinding> run() {
    casing();
    for (const auto& node : df_.ast.nodes)
      if (node.command() == "from") from_line(node);
    for (const auto& stage : df_.stages) stage_rules(stage);
    std::stable_sort(out_.begin(), out_.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
    return std::move(out_);
  }

 private:
  void add(std::string rule, std::string message, int line) {
    out_.push_back({std::move(rule), std::move(message), line});
  }

  // ConsistentInstructionCasing: every keyword in the majority's casing.
  void casing() {
    int lower = 0, upper = 0;
    for (const auto& n : df_.ast.nodes) {
      if (all_lower(n.keyword))
        ++lower;
      else if (all_upper(n.keyword))
        ++upper;
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

  // StageNameCasing, FromAsCasing, DuplicateStageName, ReservedStageName,
  // RedundantTargetPlatform.
  // The variables a word refers to ($x, ${x}, ${x:-…}), escaped ones aside.
  static std::vector<std::string> variables(std::string_view w, char escape) {
    std::vector<std::string> out;
    auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] == escape) {
        ++i;
        continue;
      }
      if (w[i] != '$' || i + 1 >= w.size()) continue;
      size_t j = i + 1 + (w[i + 1] == '{' ? 1 : 0);
      size_t k = j;
      while (k < w.size() && name_char(w[k])) ++k;
      if (k > j) out.emplace_back(w.substr(j, k - j));
      i = k - 1;
    }
    return out;
  }

  // UndefinedArgInFrom: FROM may use only ARGs declared before the first
  // FROM, and the predefined platform args.
  void from_args(const Node& n, std::string_view word) {
    static const std::vector<std::string> predefined = {"TARGETPLATFORM", "TARGETOS",     "TARGETARCH",
                                                        "TARGETVARIANT",  "BUILDPLATFORM", "BUILDOS",
                                                        "BUILDARCH",      "BUILDVARIANT",  "TARGETSTAGE"};
    std::vector<std::string> known = predefined;
    for (const auto& a : df_.meta_args) known.push_back(a.key);
    for (const auto& v : variables(word, df_.ast.escape)) {
      if (std::find(known.begin(), known.end(), v) != known.end()) continue;
      std::string msg = "FROM argument '" + v + "' is not declared";
      if (auto near = suggest(v, known)) msg += " (did you mean " + *near + "?)";
      add("UndefinedArgInFrom", msg, n.start_line);
    }
  }

  void from_line(const Node& n) {
    if (!n.args.empty()) from_args(n, n.args[0]);
    for (const auto& f : n.flags) {
      std::string_view v = f;
      if (v.rfind("--platform=", 0) != 0) continue;
      v.remove_prefix(11);
      from_args(n, v);
      if (v == "$TARGETPLATFORM" || v == "${TARGETPLATFORM}")
        add("RedundantTargetPlatform",
            "Setting platform to predefined " + std::string(v) +
                " in FROM is redundant as this is the default behavior",
            n.start_line);
    }
    if (n.args.size() != 3) return;
    const std::string& as = n.args[1];
    const std::string& name = n.args[2];
    if (all_lower(n.keyword) != all_lower(as))
      add("FromAsCasing", "'" + as + "' and '" + n.keyword + "' keywords' casing do not match", n.start_line);
    if (!all_lower(name))
      add("StageNameCasing", "Stage name '" + name + "' should be lowercase", n.start_line);
    std::string lname = text::lower(name);
    if (lname == "scratch" || lname == "context")
      add("ReservedStageName", "Stage name should not use the same name as reserved stage \"" + lname + "\"",
          n.start_line);
    if (!stage_names_.insert(lname).second)
      add("DuplicateStageName", "Duplicate stage name \"" + lname + "\", stage names should be unique",
          n.start_line);
  }

  void stage_rules(const Stage& stage) {
    std::map<std::string, std::vector<int>> singles;  // CMD, ENTRYPOINT, HEALTHCHECK lines
    bool shell_set = false;
    // A base stage's absolute WORKDIR counts too (BuildKit checks the
    // stage's state, which starts from its base stage's).
    bool absolute_workdir = abs_workdir_.count(text::lower(stage.from.base_name)) > 0;
    for (const auto& ins : stage.instructions) {
      int line = ins.location.line;
      switch (ins.kind) {
        case InstructionKind::shell:
          shell_set = true;
          break;
        case InstructionKind::maintainer:
          add("MaintainerDeprecated", "Maintainer instruction is deprecated in favor of using label", line);
          break;
        case InstructionKind::cmd:
        case InstructionKind::entrypoint: {
          const CommandLine& c = ins.kind == InstructionKind::cmd
                                     ? std::get<CmdCmd>(ins.command).command
                                     : std::get<EntrypointCmd>(ins.command).command;
          std::string name(name_of(ins.kind));
          // With its own SHELL a stage chose the shell form on purpose.
          if (c.prepend_shell && !shell_set)
            add("JSONArgsRecommended",
                "JSON arguments recommended for " + name +
                    " to prevent unintended behavior related to OS signals",
                line);
          singles[name].push_back(line);
          break;
        }
        case InstructionKind::healthcheck:
          singles["HEALTHCHECK"].push_back(line);
          break;
        case InstructionKind::env:
        case InstructionKind::label: {
          const auto& kvs = ins.kind == InstructionKind::env ? std::get<EnvCmd>(ins.command).env
                                                             : std::get<LabelCmd>(ins.command).labels;
          std::string name(name_of(ins.kind));
          if (std::any_of(kvs.begin(), kvs.end(), [](const KeyValue& kv) { return kv.no_delim; }))
            add("LegacyKeyValueFormat",
                "\"" + name + " key=value\" should be used instead of legacy \"" + name +
                    " key value\" format",
                line);
          break;
        }
        case InstructionKind::workdir: {
          const std::string& p = std::get<WorkdirCmd>(ins.command).path;
          if (!p.empty() && (p[0] == '/' || p[0] == '$'))
            absolute_workdir = true;
          else if (!absolute_workdir)
            add("WorkdirRelativePath",
                "Relative workdir " + text::go_quote(p) +
                    " can have unexpected results if the base image changes",
                line);
          break;
        }
        case InstructionKind::expose:
          for (const auto& port : std::get<ExposeCmd>(ins.command).ports) {
            auto slash = port.find('/');
            if (slash != std::string::npos && !all_lower(port.substr(slash)))
              add("ExposeProtoCasing",
                  "Defined protocol '" + port + "' in EXPOSE instruction should be lowercase", line);
          }
          break;
        default:
          break;
      }
    }
    if (absolute_workdir && !stage.from.stage_name.empty()) abs_workdir_.insert(stage.from.stage_name);
    for (const auto& [name, lines] : singles)
      for (size_t i = 0; i + 1 < lines.size(); ++i)
        add("MultipleInstructionsDisallowed",
            "Multiple " + name +
                " instructions should not be used in the same stage because only the last one will be used",
            lines[i]);
  }

  const Dockerfile& df_;
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
                    " (want skip=RULE,RULE|all and/or error=true|false, separated by ';')");
  };
  // BuildKit splits into at most two parts: skip=…;error=….
  size_t semi = v.find(';');
  std::vector<std::string_view> parts = {v.substr(0, semi)};
  if (semi != std::string_view::npos) parts.push_back(v.substr(semi + 1));
  for (auto part : parts) {
    auto eq = part.find('=');
    if (eq == std::string_view::npos) bad(text::go_quote(part));
    std::string key(text::trim_space(part.substr(0, eq)));
    std::string val(text::trim_space(part.substr(eq + 1)));
    if (key == "skip") {
      if (val == "all") {
        c.skip_all = true;
        continue;
      }
      size_t i = 0;
      while (i <= val.size()) {
        size_t j = val.find(',', i);
        if (j == std::string::npos) j = val.size();
        c.skip.insert(std::string(text::trim_space(std::string_view(val).substr(i, j - i))));
        i = j + 1;
      }
    } else if (key == "error") {
      // Go's strconv.ParseBool.
      static const std::set<std::string> yes = {"1", "t", "T", "TRUE", "true", "True"};
      static const std::set<std::string> no = {"0", "f", "F", "FALSE", "false", "False"};
      if (yes.count(val))
        c.error = true;
      else if (no.count(val))
        c.error = false;
      else
        bad(text::go_quote(part) + ": error wants true or false");
    } else {
      bad(text::go_quote(key));
    }
  }
  return c;
}

std::vector<CheckFinding> run_checks(const Dockerfile& df, const CheckConfig& config) {
  if (config.skip_all) return {};
  std::vector<CheckFinding> all = Checker(df).run();
  std::vector<CheckFinding> out;
  for (auto& f : all)
    if (!config.skip.count(f.rule)) out.push_back(std::move(f));
  return out;
}

}  // namespace xb::frontend
