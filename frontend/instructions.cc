// Stage 2: syntax tree → stages of typed instructions, as BuildKit's
// instructions package does it: every flag parsed and validated, argument
// counts checked, errors located and with a "did you mean" hint.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "common/size.h"
#include "frontend/frontend.h"
#include "frontend/lex.h"
#include "frontend/text.h"

namespace xb::frontend {

namespace {

const std::vector<std::string>& instruction_names() {
  static const std::vector<std::string> names = {"ADD",    "ARG",   "CMD",         "COPY",  "ENTRYPOINT", "ENV",
                                                 "EXPOSE", "FROM",  "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD",
                                                 "RUN",    "SHELL", "STOPSIGNAL",  "USER",  "VOLUME",     "WORKDIR"};
  return names;
}

// Everything an instruction parser needs to report errors well.
struct Request {
  const Ast& ast;
  const Node& node;
  std::string cmd;  // lower case
  const std::vector<std::string>& args;

  SourceLocation where(std::string_view needle = {}) const {
    SourceLocation loc = ast.location(node.start_line, 1);
    if (!needle.empty()) {
      auto at = loc.line_text.find(needle);
      if (at != std::string::npos) loc.column = static_cast<int>(at) + 1;
    } else {
      // Point at the keyword, past any indentation.
      size_t i = 0;
      while (i < loc.line_text.size() && (loc.line_text[i] == ' ' || loc.line_text[i] == '\t')) ++i;
      loc.column = static_cast<int>(i) + 1;
    }
    return loc;
  }
  [[noreturn]] void fail(std::string message, std::string_view needle = {}) const {
    Error e(ErrorKind::invalid_argument, std::move(message));
    e.at(where(needle));
    throw e;
  }
  std::string upper() const { return text::upper(cmd); }
};

// BuildKit's BFlags: --name=value words declared per instruction.
class Flags {
 public:
  enum class Type { boolean, string, list };
  explicit Flags(const Request& req) : req_(req) {}
  void add(std::string name, Type type) { specs_.push_back({std::move(name), type}); }

  void parse() {
    for (const auto& raw : req_.node.flags) {
      if (raw.size() < 2 || raw.compare(0, 2, "--") != 0) req_.fail("Arg \"" + raw + "\" must start with \"--\"", raw);
      std::string arg = raw.substr(2);
      if (arg.empty()) req_.fail("empty flag (\"--\") in " + req_.upper(), raw);
      std::string name = arg;
      std::optional<std::string> value;
      if (auto eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
      }
      const Spec* spec = nullptr;
      for (const auto& s : specs_)
        if (s.name == name) spec = &s;
      if (!spec) {
        std::vector<std::string> names;
        for (const auto& s : specs_) names.push_back(s.name);
        std::string msg = "unknown flag: --" + name + " for " + req_.upper();
        if (auto near = suggest(name, names)) msg += " (did you mean --" + *near + "?)";
        else if (!names.empty()) {
          msg += " (valid flags:";
          for (const auto& n : names) msg += " --" + n;
          msg += ")";
        }
        req_.fail(msg, raw);
      }
      if (spec->type != Type::list && seen_.count(name)) req_.fail("Duplicate flag specified: --" + name, raw);
      seen_.insert(name);
      if (spec->type == Type::boolean) {
        std::string v = value ? text::lower(*value) : "true";
        if (v != "true" && v != "false")
          req_.fail("expecting boolean value for flag --" + name + ", not: " + *value, raw);
        bools_[name] = v == "true";
      } else {
        if (!value) req_.fail("Missing a value on flag: --" + name, raw);
        if (spec->type == Type::string) strings_[name] = *value;
        else lists_[name].push_back(*value);
      }
    }
  }
  std::string str(const std::string& name) const {
    auto it = strings_.find(name);
    return it == strings_.end() ? std::string() : it->second;
  }
  bool is_set(const std::string& name) const { return seen_.count(name) > 0; }
  bool flag(const std::string& name) const {
    auto it = bools_.find(name);
    return it != bools_.end() && it->second;
  }
  std::optional<bool> opt_flag(const std::string& name) const {
    auto it = bools_.find(name);
    if (it == bools_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> list(const std::string& name) const {
    auto it = lists_.find(name);
    return it == lists_.end() ? std::vector<std::string>{} : it->second;
  }

 private:
  struct Spec {
    std::string name;
    Type type;
  };
  const Request& req_;
  std::vector<Spec> specs_;
  std::set<std::string> seen_;
  std::map<std::string, bool> bools_;
  std::map<std::string, std::string> strings_;
  std::map<std::string, std::vector<std::string>> lists_;
};

void at_least(const Request& r, size_t n) {
  if (r.args.size() < n) r.fail(r.upper() + " requires at least " + (n == 1 ? "one argument" : "two arguments"));
}
void exactly_one(const Request& r) {
  if (r.args.size() != 1) r.fail(r.upper() + " requires exactly one argument");
}

std::vector<KeyValue> key_values(const Request& r) {
  if (r.args.empty()) r.fail(r.upper() + " requires at least one argument");
  if (r.args.size() % 3 != 0) r.fail("Bad input to " + r.upper() + ", too many arguments");
  std::vector<KeyValue> out;
  for (size_t i = 0; i < r.args.size(); i += 3) {
    if (r.args[i].empty()) r.fail(r.upper() + " names can not be blank");
    out.push_back({r.args[i], r.args[i + 1], r.args[i + 2].empty()});
  }
  return out;
}

CommandLine command_line(const Request& r) {
  CommandLine c;
  c.args = r.args;
  c.prepend_shell = !r.node.json;
  if (c.prepend_shell && c.args.size() > 1) {
    // Shell form is one string; the parser already keeps it whole.
    std::string joined;
    for (size_t i = 0; i < c.args.size(); ++i) joined += (i ? " " : "") + c.args[i];
    c.args = {joined};
  }
  return c;
}

// Go's time.ParseDuration, for HEALTHCHECK options.
std::optional<std::int64_t> parse_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return std::nullopt;
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    long double v = 0;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (s[i] - '0');
      ++i;
      digits = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        v += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
        digits = true;
      }
    }
    if (!digits) return std::nullopt;
    size_t u = i;
    while (u < s.size() && !((s[u] >= '0' && s[u] <= '9') || s[u] == '.')) ++u;
    std::string_view unit = s.substr(i, u - i);
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3L;
    else if (unit == "ms") mult = 1e6L;
    else if (unit == "s") mult = 1e9L;
    else if (unit == "m") mult = 60e9L;
    else if (unit == "h") mult = 3600e9L;
    else return std::nullopt;
    total += v * mult;
    if (total > 9.2e18L) return std::nullopt;
    s.remove_prefix(u);
  }
  auto ns = static_cast<std::int64_t>(total);
  return neg ? -ns : ns;
}

std::int64_t health_interval(const Request& r, const Flags& f, const std::string& name) {
  std::string v = f.str(name);
  if (v.empty()) return 0;
  auto d = parse_duration(v);
  if (!d) r.fail("time: invalid duration \"" + v + "\" for --" + name, "--" + name);
  if (*d == 0) return 0;
  if (*d < 1000000) r.fail("Interval \"" + name + "\" cannot be less than 1ms", "--" + name);
  return *d;
}

// BuildKit's parseSourcesAndDest: each source that is a heredoc marker takes
// the next heredoc body, in order; the others stay paths.
std::vector<SourceContent> heredoc_sources(const Request& r, std::vector<std::string>& srcs) {
  std::vector<SourceContent> out;
  std::vector<std::string> kept;
  size_t next = 0;
  for (const auto& s : srcs) {
    std::optional<Heredoc> marker;
    if (next < r.node.heredocs.size()) {
      try {
        marker = parse_heredoc_marker(s);
      } catch (const Error& e) {
        r.fail(e.message());
      }
    }
    if (marker) {
      const Heredoc& h = r.node.heredocs[next++];
      out.push_back({h.name, h.content, h.expand});
    } else {
      kept.push_back(s);
    }
  }
  srcs = std::move(kept);
  return out;
}

bool valid_stage_name(std::string_view s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

// ── RUN --mount ──

std::vector<std::string> split_csv(std::string_view s) {
  // encoding/csv: fields separated by ',', a field may be "quoted" ("" inside
  // is a quote).
  std::vector<std::string> out;
  std::string field;
  size_t i = 0;
  while (true) {
    field.clear();
    if (i < s.size() && s[i] == '"') {
      ++i;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += s[i++];
      }
      while (i < s.size() && s[i] != ',') field += s[i++];
    } else {
      while (i < s.size() && s[i] != ',') field += s[i++];
    }
    out.push_back(field);
    if (i >= s.size()) break;
    ++i;  // ','
  }
  return out;
}

std::optional<std::uint64_t> parse_uint(std::string_view s, int base) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    int d = (c >= '0' && c <= '9') ? c - '0' : -1;
    if (d < 0 || d >= base) return std::nullopt;
    if (v > (UINT64_MAX - static_cast<std::uint64_t>(d)) / static_cast<std::uint64_t>(base)) return std::nullopt;
    v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
  }
  return v;
}

[[noreturn]] void mount_fail(const SourceLocation& where, std::string message) {
  Error e(ErrorKind::invalid_argument, std::move(message));
  if (where.line > 0) e.at(where);
  throw e;
}

}  // namespace

Mount parse_mount(std::string_view value, const SourceLocation& where, const EnvLookup* env, char escape) {
  Mount m;
  bool type_set = false, ro_set = false;
  std::string sharing;
  // BuildKit's parseMount: each field's value is expanded on its own (a
  // variable can never add fields); bare flags (rw, ro, required) are not.
  // Without an environment (parse time), a value with a variable waits for
  // dispatch, except from=, which may never hold one.
  bool deferred = false;
  std::vector<std::string> fields;
  for (auto& f : split_csv(value)) {
    auto eq = f.find('=');
    if (eq == std::string::npos) {
      fields.push_back(std::move(f));
      continue;
    }
    std::string key = text::lower(f.substr(0, eq));
    std::string val = f.substr(eq + 1);
    if (env) {
      try {
        val = expand_word(val, *env, escape);
      } catch (Error& e) {
        if (where.line > 0) e.at(where);
        throw;
      }
    } else if (auto dollar = val.find('$'); dollar != std::string::npos && dollar + 1 < val.size()) {
      if (key == "from") mount_fail(where, "'from' doesn't support variable expansion, define alias stage instead");
      deferred = true;
      continue;
    }
    fields.push_back(f.substr(0, eq + 1) + val);
  }
  // The type decides the defaults, so find it first.
  for (const auto& f : fields) {
    auto eq = f.find('=');
    if (eq == std::string::npos || text::lower(f.substr(0, eq)) != "type") continue;
    std::string t = text::lower(f.substr(eq + 1));
    if (t == "bind") m.type = Mount::Type::bind;
    else if (t == "cache") m.type = Mount::Type::cache;
    else if (t == "tmpfs") m.type = Mount::Type::tmpfs;
    else if (t == "secret") m.type = Mount::Type::secret;
    else if (t == "ssh") m.type = Mount::Type::ssh;
    else {
      std::string msg = "unsupported mount type \"" + f.substr(eq + 1) + "\"";
      if (auto near = suggest(t, {"bind", "cache", "tmpfs", "secret", "ssh"})) msg += " (did you mean " + *near + "?)";
      mount_fail(where, msg);
    }
    type_set = true;
  }
  (void)type_set;
  m.read_only = m.type == Mount::Type::bind;
  static const std::vector<std::string> keys = {
      "type", "from",     "source", "src",     "target", "dst", "destination", "readonly", "ro", "readwrite",
      "rw",   "required", "id",     "sharing", "mode",   "uid", "gid",         "size",     "env"};
  for (const auto& f : fields) {
    if (f.empty()) continue;
    auto eq = f.find('=');
    std::string key = text::lower(f.substr(0, eq));
    bool has_value = eq != std::string::npos;
    std::string val = has_value ? f.substr(eq + 1) : std::string();
    auto boolean = [&]() {
      if (!has_value) return true;
      std::string v = text::lower(val);
      if (v == "true" || v == "1" || v == "t") return true;
      if (v == "false" || v == "0" || v == "f") return false;
      mount_fail(where, "invalid value for " + key + ": " + val);
    };
    auto need_value = [&]() {
      if (!has_value) mount_fail(where, "invalid field '" + f + "' must be a key=value pair");
    };
    if (key == "type") continue;
    if (key == "readonly" || key == "ro") {
      m.read_only = boolean();
      ro_set = true;
    } else if (key == "readwrite" || key == "rw") {
      m.read_only = !boolean();
      ro_set = true;
    } else if (key == "required") {
      m.required = boolean();
    } else if (key == "from") {
      need_value();
      m.from = val;
    } else if (key == "source" || key == "src") {
      need_value();
      m.source = val;
    } else if (key == "target" || key == "dst" || key == "destination") {
      need_value();
      m.target = val;
    } else if (key == "id") {
      need_value();
      m.id = val;
    } else if (key == "sharing") {
      need_value();
      std::string v = text::lower(val);
      if (v == "shared") m.sharing = Mount::Sharing::shared;
      else if (v == "private") m.sharing = Mount::Sharing::private_;
      else if (v == "locked") m.sharing = Mount::Sharing::locked;
      else mount_fail(where, "unsupported sharing value \"" + val + "\"");
      sharing = v;
    } else if (key == "mode") {
      need_value();
      auto v = parse_uint(val, 8);
      if (!v || *v > 07777) mount_fail(where, "invalid mode \"" + val + "\" (want octal, like 0400)");
      m.mode = static_cast<std::uint32_t>(*v);
    } else if (key == "uid" || key == "gid") {
      need_value();
      auto v = parse_uint(val, 10);
      if (!v || *v > UINT32_MAX) mount_fail(where, "invalid " + key + " \"" + val + "\"");
      (key == "uid" ? m.uid : m.gid) = static_cast<std::uint32_t>(*v);
    } else if (key == "size") {
      need_value();
      auto v = xb::parse_size(val, SizeUnits::binary);  // BuildKit: units.RAMInBytes
      if (!v) mount_fail(where, "invalid size \"" + val + "\"");
      m.size_bytes = *v;
    } else if (key == "env") {
      need_value();
      m.env = val;
    } else {
      std::string msg = "unexpected key '" + key + "' in '" + f + "'";
      if (auto near = suggest(key, keys)) msg += " (did you mean " + *near + "?)";
      mount_fail(where, msg);
    }
  }
  if (deferred) return m;  // checked again once expanded
  switch (m.type) {
    case Mount::Type::bind:
    case Mount::Type::cache:
    case Mount::Type::tmpfs:
      if (m.target.empty()) mount_fail(where, "mount target is required (--mount=…,target=/path)");
      if (m.type == Mount::Type::cache && m.id.empty()) m.id = m.target;
      if (m.type != Mount::Type::cache && !sharing.empty()) mount_fail(where, "sharing is only valid for cache mounts");
      break;
    case Mount::Type::secret:
      if (!m.from.empty()) mount_fail(where, "secret mount should not have a from");
      if (!sharing.empty()) mount_fail(where, "secret mount should not define sharing");
      if (m.source.empty() && m.target.empty() && m.id.empty() && m.env.empty())
        mount_fail(where, "invalid secret mount: one of source, target, id or env is required");
      if (!m.source.empty() && !m.id.empty()) mount_fail(where, "both source and id can't be set");
      if (m.id.empty()) {
        std::string base = !m.source.empty() ? m.source : m.target;
        auto slash = base.find_last_of('/');
        m.id = slash == std::string::npos ? base : base.substr(slash + 1);
      }
      if (m.target.empty() && m.env.empty()) m.target = "/run/secrets/" + m.id;
      if (!ro_set) m.read_only = true;
      break;
    case Mount::Type::ssh:
      if (!m.from.empty()) mount_fail(where, "ssh mount should not have a from");
      if (m.id.empty()) m.id = "default";
      // No default target here: llb gives the Nth ssh mount of a RUN
      // /run/buildkit/ssh_agent.N (convert/ does).
      if (!ro_set) m.read_only = true;
      break;
  }
  return m;
}

namespace {

Instruction make(InstructionKind kind, Command cmd, const Request& r) {
  Instruction in{kind, std::move(cmd), r.where(), r.node.end_line, r.node.original};
  return in;
}

// One instruction node → typed instruction (FROM is handled by the caller).
Instruction convert(const Ast& ast, const Node& node) {
  Request r{ast, node, node.command(), node.args};
  Flags f(r);
  const std::string& c = r.cmd;
  if (c == "run") {
    f.add("mount", Flags::Type::list);
    f.add("network", Flags::Type::string);
    f.add("security", Flags::Type::string);
    f.parse();
    at_least(r, 1);
    RunCmd run;
    run.command = command_line(r);
    run.heredocs = node.heredocs;
    run.raw_mounts = f.list("mount");
    for (const auto& m : run.raw_mounts) run.mounts.push_back(parse_mount(m, r.where("--mount")));
    run.network = f.str("network");
    if (f.is_set("network") && run.network != "default" && run.network != "none" && run.network != "host")
      r.fail("unsupported network mode \"" + run.network + "\" (use default, none or host)", "--network");
    run.security = f.str("security");
    if (f.is_set("security") && run.security != "sandbox" && run.security != "insecure")
      r.fail("unsupported security mode \"" + run.security + "\" (use sandbox or insecure)", "--security");
    return make(InstructionKind::run, std::move(run), r);
  }
  if (c == "cmd" || c == "entrypoint") {
    f.parse();
    if (c == "cmd") return make(InstructionKind::cmd, CmdCmd{command_line(r)}, r);
    return make(InstructionKind::entrypoint, EntrypointCmd{command_line(r)}, r);
  }
  if (c == "shell") {
    f.parse();
    at_least(r, 1);
    if (!node.json) r.fail("SHELL requires the arguments to be in JSON form");
    return make(InstructionKind::shell, ShellCmd{r.args}, r);
  }
  if (c == "env") {
    f.parse();
    return make(InstructionKind::env, EnvCmd{key_values(r)}, r);
  }
  if (c == "label") {
    f.parse();
    return make(InstructionKind::label, LabelCmd{key_values(r)}, r);
  }
  if (c == "maintainer") {
    f.parse();
    exactly_one(r);
    return make(InstructionKind::maintainer, MaintainerCmd{r.args[0]}, r);
  }
  if (c == "expose") {
    f.parse();
    at_least(r, 1);
    return make(InstructionKind::expose, ExposeCmd{r.args}, r);
  }
  if (c == "user") {
    f.parse();
    exactly_one(r);
    return make(InstructionKind::user, UserCmd{r.args[0]}, r);
  }
  if (c == "workdir") {
    f.parse();
    exactly_one(r);
    return make(InstructionKind::workdir, WorkdirCmd{r.args[0]}, r);
  }
  if (c == "stopsignal") {
    f.parse();
    exactly_one(r);
    return make(InstructionKind::stopsignal, StopSignalCmd{r.args[0]}, r);
  }
  if (c == "volume") {
    f.parse();
    at_least(r, 1);
    VolumeCmd v;
    for (const auto& a : r.args) {
      std::string t(text::trim_space(a));
      if (t.empty()) r.fail("VOLUME specified can not be an empty string");
      v.volumes.push_back(t);
    }
    return make(InstructionKind::volume, std::move(v), r);
  }
  if (c == "arg") {
    f.parse();
    at_least(r, 1);
    ArgCmd a;
    for (const auto& word : r.args) {
      auto eq = word.find('=');
      ArgDef def;
      if (eq == std::string::npos) {
        def.key = word;
      } else {
        def.key = word.substr(0, eq);
        def.default_value = word.substr(eq + 1);
      }
      if (def.key.empty()) r.fail("ARG names can not be blank");
      a.args.push_back(std::move(def));
    }
    return make(InstructionKind::arg, std::move(a), r);
  }
  if (c == "onbuild") {
    f.parse();
    if (!node.child) r.fail("ONBUILD requires at least one argument");
    std::string trigger = text::upper(node.child->keyword);
    if (trigger == "ONBUILD") r.fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (trigger == "MAINTAINER" || trigger == "FROM") r.fail(trigger + " isn't allowed as an ONBUILD trigger");
    // Validate the trigger now, so that a typo fails here and not in a child build.
    Node child = *node.child;
    child.start_line = node.start_line;
    child.end_line = node.end_line;
    if (child.heredocs.empty()) child.heredocs = node.heredocs;
    if (child.command() != "from") convert(ast, child);
    // The expression is the original text after the ONBUILD keyword.
    std::string_view orig = text::trim_space(node.original);
    size_t i = 0;
    while (i < orig.size() && !std::isspace(static_cast<unsigned char>(orig[i]))) ++i;
    // Heredoc bodies follow, each with its delimiter line, as BuildKit keeps
    // them in the image's OnBuild so that a child build can parse them again.
    std::string expression(text::trim_space(orig.substr(i)));
    for (const auto& h : child.heredocs) expression += "\n" + h.content + h.name;
    return make(InstructionKind::onbuild, OnbuildCmd{std::move(expression)}, r);
  }
  if (c == "copy" || c == "add") {
    bool is_copy = c == "copy";
    f.add("chown", Flags::Type::string);
    f.add("chmod", Flags::Type::string);
    f.add("link", Flags::Type::boolean);
    f.add("exclude", Flags::Type::list);
    if (is_copy) {
      f.add("from", Flags::Type::string);
      f.add("parents", Flags::Type::boolean);
    } else {
      f.add("checksum", Flags::Type::string);
      f.add("keep-git-dir", Flags::Type::boolean);
      f.add("unpack", Flags::Type::boolean);
    }
    f.parse();
    if (r.args.size() < 2)
      r.fail(r.upper() + " requires at least two arguments, but only " + (r.args.empty() ? "none was" : "one was") +
             " provided. Destination could not be determined.");
    std::vector<std::string> srcs(r.args.begin(), r.args.end() - 1);
    std::vector<SourceContent> contents = node.json ? std::vector<SourceContent>{} : heredoc_sources(r, srcs);
    if (is_copy) {
      CopyCmd cp;
      cp.sources = std::move(srcs);
      cp.source_contents = std::move(contents);
      cp.dest = r.args.back();
      cp.from = f.str("from");
      cp.chown = f.str("chown");
      cp.chmod = f.str("chmod");
      cp.link = f.flag("link");
      cp.parents = f.flag("parents");
      cp.excludes = f.list("exclude");
      return make(InstructionKind::copy, std::move(cp), r);
    }
    AddCmd ad;
    ad.sources = std::move(srcs);
    ad.source_contents = std::move(contents);
    ad.dest = r.args.back();
    ad.chown = f.str("chown");
    ad.chmod = f.str("chmod");
    ad.link = f.flag("link");
    ad.excludes = f.list("exclude");
    ad.checksum = f.str("checksum");
    ad.keep_git_dir = f.flag("keep-git-dir");
    ad.unpack = f.opt_flag("unpack");
    return make(InstructionKind::add, std::move(ad), r);
  }
  if (c == "healthcheck") {
    f.add("interval", Flags::Type::string);
    f.add("timeout", Flags::Type::string);
    f.add("start-period", Flags::Type::string);
    f.add("start-interval", Flags::Type::string);
    f.add("retries", Flags::Type::string);
    f.parse();
    at_least(r, 1);
    HealthcheckCmd h;
    std::string type = text::upper(r.args[0]);
    if (type == "NONE") {
      if (r.args.size() != 1) r.fail("HEALTHCHECK NONE takes no arguments");
      h.test = {"NONE"};
      return make(InstructionKind::healthcheck, std::move(h), r);
    }
    if (type != "CMD") r.fail("Unknown type \"" + r.args[0] + "\" in HEALTHCHECK (try CMD)");
    if (r.args.size() < 2) r.fail("Missing command after HEALTHCHECK CMD");
    h.test.emplace_back(node.json ? "CMD" : "CMD-SHELL");
    for (size_t i = 1; i < r.args.size(); ++i) h.test.push_back(r.args[i]);
    h.interval_ns = health_interval(r, f, "interval");
    h.timeout_ns = health_interval(r, f, "timeout");
    h.start_period_ns = health_interval(r, f, "start-period");
    h.start_interval_ns = health_interval(r, f, "start-interval");
    if (f.is_set("retries")) {
      std::string v = f.str("retries");
      bool neg = !v.empty() && v[0] == '-';
      auto n = parse_uint(neg ? std::string_view(v).substr(1) : std::string_view(v), 10);
      if (!n || *n > 1000000000) r.fail("invalid --retries value \"" + v + "\"", "--retries");
      if (neg && *n != 0) r.fail("--retries cannot be negative (" + v + ")", "--retries");
      h.retries = static_cast<int>(*n);
    }
    return make(InstructionKind::healthcheck, std::move(h), r);
  }
  std::string msg = "unknown instruction: " + node.keyword;
  if (auto near = suggest(node.keyword, instruction_names())) msg += " (did you mean " + *near + "?)";
  r.fail(msg);
}

Stage convert_from(const Ast& ast, const Node& node, int index) {
  Request r{ast, node, node.command(), node.args};
  Flags f(r);
  f.add("platform", Flags::Type::string);
  f.parse();
  Stage s;
  s.index = index;
  s.location = r.where();
  const auto& a = node.args;
  if (a.size() == 3 && text::lower(a[1]) == "as") {
    s.from.stage_name = text::lower(a[2]);
    if (!valid_stage_name(s.from.stage_name))
      r.fail("invalid name for build stage: " + text::go_quote(a[2]) +
                 ", name can't start with a number or contain symbols",
             a[2]);
  } else if (a.size() != 1) {
    r.fail("FROM requires either one or three arguments");
  }
  s.from.base_name = a[0];
  s.from.platform = f.str("platform");
  return s;
}

}  // namespace

std::string_view name_of(InstructionKind kind) {
  switch (kind) {
    case InstructionKind::run: return "RUN";
    case InstructionKind::cmd: return "CMD";
    case InstructionKind::entrypoint: return "ENTRYPOINT";
    case InstructionKind::shell: return "SHELL";
    case InstructionKind::env: return "ENV";
    case InstructionKind::label: return "LABEL";
    case InstructionKind::maintainer: return "MAINTAINER";
    case InstructionKind::expose: return "EXPOSE";
    case InstructionKind::user: return "USER";
    case InstructionKind::workdir: return "WORKDIR";
    case InstructionKind::volume: return "VOLUME";
    case InstructionKind::stopsignal: return "STOPSIGNAL";
    case InstructionKind::arg: return "ARG";
    case InstructionKind::onbuild: return "ONBUILD";
    case InstructionKind::copy: return "COPY";
    case InstructionKind::add: return "ADD";
    case InstructionKind::healthcheck: return "HEALTHCHECK";
  }
  return "?";
}

bool expands(InstructionKind kind) {
  switch (kind) {
    case InstructionKind::env:
    case InstructionKind::label:
    case InstructionKind::arg:
    case InstructionKind::copy:
    case InstructionKind::add:
    case InstructionKind::expose:
    case InstructionKind::user:
    case InstructionKind::workdir:
    case InstructionKind::volume:
    case InstructionKind::stopsignal:
    case InstructionKind::run:  // its --mount values only
      return true;
    default: return false;
  }
}

const Stage* Dockerfile::find_stage(std::string_view name) const {
  std::string lname = text::lower(name);
  for (const auto& s : stages)
    if (!s.from.stage_name.empty() && s.from.stage_name == lname) return &s;
  if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      name.size() < 9) {
    size_t i = std::stoul(std::string(name));
    if (i < stages.size()) return &stages[i];
  }
  return nullptr;
}

Dockerfile to_dockerfile(Ast ast) {
  Dockerfile df;
  for (const auto& d : ast.directives)
    if (d.name == "syntax") df.syntax = d.value;
  for (const auto& node : ast.nodes) {
    if (node.command() == "from") {
      df.stages.push_back(convert_from(ast, node, static_cast<int>(df.stages.size())));
      continue;
    }
    Instruction in = convert(ast, node);
    if (df.stages.empty()) {
      if (in.kind != InstructionKind::arg) {
        Error e(ErrorKind::invalid_argument,
                std::string(name_of(in.kind)) + " before the first FROM: only ARG may come before FROM");
        throw e.at(in.location);
      }
      for (auto& a : std::get<ArgCmd>(in.command).args) {
        df.meta_args.push_back(a);
        df.meta_arg_locations.push_back(in.location);
      }
      continue;
    }
    df.stages.back().instructions.push_back(std::move(in));
  }
  if (df.stages.empty()) {
    Error e(ErrorKind::invalid_argument, "no FROM instruction: a Dockerfile needs at least one stage");
    throw e.at(ast.location(ast.end_line > 0 ? ast.end_line : 1));
  }
  df.ast = std::move(ast);
  return df;
}

Dockerfile parse_dockerfile(std::string_view text, std::string_view file) {
  return to_dockerfile(parse_ast(text, file));
}

std::optional<std::string> suggest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string w = text::lower(word);
  if (w.empty() || w.size() > 64) return std::nullopt;
  std::optional<std::string> best;
  size_t best_d = SIZE_MAX;
  for (const auto& cand : candidates) {
    std::string c = text::lower(cand);
    // Edit distance counting a swap of neighbours as one edit (optimal
    // string alignment): "tset" is one typo away from "test".
    std::vector<size_t> before(c.size() + 1), prev(c.size() + 1), cur(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= w.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (w[i - 1] == c[j - 1] ? 0 : 1)});
        if (i > 1 && j > 1 && w[i - 1] == c[j - 2] && w[i - 2] == c[j - 1])
          cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
      std::swap(before, prev);
      std::swap(prev, cur);
    }
    size_t d = prev[c.size()];
    if (d < best_d) {
      best_d = d;
      best = cand;
    }
  }
  // Near enough to be a typo: at most a third of the word, and at least 1 edit allowed.
  size_t limit = std::max<size_t>(1, (w.size() + 1) / 3);
  if (best && best_d <= limit && best_d > 0) return best;
  return std::nullopt;
}

}  // namespace xb::frontend
