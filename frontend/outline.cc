// BuildKit's Dockerfile subrequests `frontend.outline` and `frontend.targets`
// (buildx --call=outline|targets), and the stage graph they and the build
// checks share. The text forms are BuildKit's printers, whose columns are
// Go text/tabwriter's.
#include <algorithm>
#include <functional>
#include <map>

#include "frontend/frontend.h"
#include "frontend/text.h"

namespace xb::frontend {

namespace {

// Go's tabwriter for the tables BuildKit prints (every row has the same
// cells): each tab-terminated cell padded to its column's widest plus
// `padding`; the text after the last tab as it is.
std::string tabulate(const std::vector<std::vector<std::string>>& rows, size_t padding) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i + 1 < r.size(); ++i) {
      if (width.size() <= i) width.resize(i + 1, 0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out.append(width[i] + padding - r[i].size(), ' ');
    }
    out += "\n";
  }
  return out;
}

// A definition's description: BuildKit takes the first comment line above
// it (blank lines between do not matter) that starts with "NAME ".
std::string description(const Node* node, const std::string& name) {
  if (!node || name.empty()) return "";
  for (const auto& c : node->comments)
    if (c.size() > name.size() && c.compare(0, name.size(), name) == 0 && c[name.size()] == ' ')
      return c.substr(name.size() + 1);
  return "";
}

const Node* node_at(const Dockerfile& df, int line) {
  for (const auto& n : df.ast.nodes)
    if (n.start_line == line) return &n;
  return nullptr;
}

std::string expand_or_raw(const std::string& word, const EnvLookup& env, char escape) {
  try {
    return expand_word(word, env, escape);
  } catch (const Error&) {
    return word;
  }
}

// The index of the stage `name` names (a stage name or a number), or -1
// for an image.
int stage_index(const Dockerfile& df, const std::string& name, int before) {
  const Stage* s = df.find_stage(name);
  return s && s->index < before ? s->index : -1;
}

}  // namespace

std::set<int> stage_closure(const Dockerfile& df, int stage, const EnvLookup& meta_args) {
  std::set<int> seen;
  std::function<void(int)> visit = [&](int i) {
    if (i < 0 || i >= static_cast<int>(df.stages.size()) || !seen.insert(i).second) return;
    const Stage& st = df.stages[static_cast<size_t>(i)];
    char esc = df.ast.escape;
    visit(stage_index(df, expand_or_raw(st.from.base_name, meta_args, esc), i));
    for (const auto& ins : st.instructions) {
      if (ins.kind == InstructionKind::copy) {
        const auto& from = std::get<CopyCmd>(ins.command).from;
        if (!from.empty()) visit(stage_index(df, expand_or_raw(from, meta_args, esc), i));
      } else if (ins.kind == InstructionKind::run) {
        for (const auto& m : std::get<RunCmd>(ins.command).mounts)
          if (!m.from.empty()) visit(stage_index(df, m.from, i));
      }
    }
  };
  visit(stage);
  return seen;
}

Outline outline(const Dockerfile& df, const std::string& target, const std::map<std::string, std::string>& build_args,
                const Env& platform) {
  Outline o;
  if (df.stages.empty()) return o;
  const Stage* t = target.empty() ? &df.stages.back() : df.find_stage(target);
  if (!t) {
    std::vector<std::string> names;
    for (const auto& s : df.stages)
      if (!s.from.stage_name.empty()) names.push_back(s.from.stage_name);
    std::string hint;
    if (auto near = suggest(target, names)) hint = " (did you mean " + *near + "?)";
    fail(ErrorKind::invalid_argument, "target stage \"" + target + "\" could not be found" + hint);
  }
  o.name = t->from.stage_name;
  o.description = description(node_at(df, t->location.line), o.name);
  Env meta;
  try {
    meta = resolve_meta_args(df, build_args, platform);
  } catch (const Error&) {
    meta = platform;
  }
  char esc = df.ast.escape;
  std::map<std::string, size_t> meta_index;  // key → index in df.meta_args
  for (size_t i = 0; i < df.meta_args.size(); ++i) meta_index[df.meta_args[i].key] = i;

  // BuildKit visits the target first, then its base, then the stages it
  // copies or mounts from; the first stage to declare a name gives it.
  std::set<std::string> seen_arg, seen_secret, seen_ssh;
  auto meta_arg = [&](const std::string& key) {
    auto it = meta_index.find(key);
    if (it == meta_index.end() || !seen_arg.insert(key).second) return;
    size_t i = it->second;
    int line = i < df.meta_arg_locations.size() ? df.meta_arg_locations[i].line : 0;
    OutlineArg a{key, description(node_at(df, line), key), std::string(meta.get(key).value_or("")), line};
    o.args.push_back(std::move(a));
  };
  std::set<int> visited;
  std::function<void(int)> visit = [&](int idx) {
    if (idx < 0 || !visited.insert(idx).second) return;
    const Stage& st = df.stages[static_cast<size_t>(idx)];
    for (const auto& v : text::variables(st.from.base_name, esc)) meta_arg(v);
    for (const auto& v : text::variables(st.from.platform, esc)) meta_arg(v);
    Env env;  // the stage's ARG and ENV values so far (its base image's aside)
    std::vector<int> deps;
    for (const auto& ins : st.instructions) {
      int line = ins.location.line;
      switch (ins.kind) {
        case InstructionKind::arg:
          for (const auto& a : std::get<ArgCmd>(ins.command).args) {
            std::string value;
            if (auto b = build_args.find(a.key); b != build_args.end()) value = b->second;
            else if (a.default_value) value = expand_or_raw(*a.default_value, env, esc);
            else if (meta_index.count(a.key)) value = std::string(meta.get(a.key).value_or(""));
            env.set(a.key, value);
            if (!a.default_value && meta_index.count(a.key)) {
              meta_arg(a.key);  // declared without a default: the meta ARG describes it
              continue;
            }
            if (!seen_arg.insert(a.key).second) continue;
            o.args.push_back({a.key, description(node_at(df, line), a.key), value, line});
          }
          break;
        case InstructionKind::env:
          for (const auto& kv : std::get<EnvCmd>(ins.command).env) env.set(kv.key, expand_or_raw(kv.value, env, esc));
          break;
        case InstructionKind::copy: {
          const auto& from = std::get<CopyCmd>(ins.command).from;
          if (!from.empty()) deps.push_back(stage_index(df, expand_or_raw(from, meta, esc), idx));
          break;
        }
        case InstructionKind::run:
          for (const auto& m : std::get<RunCmd>(ins.command).mounts) {
            if (!m.from.empty()) deps.push_back(stage_index(df, m.from, idx));
            bool secret = m.type == Mount::Type::secret;
            if (!secret && m.type != Mount::Type::ssh) continue;
            std::string name = m.id;
            if (name.empty() && secret) {
              auto slash = m.target.rfind('/');
              name = slash == std::string::npos ? m.target : m.target.substr(slash + 1);
            }
            auto& list = secret ? o.secrets : o.ssh;
            auto& seen = secret ? seen_secret : seen_ssh;
            if (seen.insert(name).second) {
              list.push_back({name, m.required, line});
            } else {
              for (auto& e : list)
                if (e.name == name) e.required = e.required || m.required;
            }
          }
          break;
        default: break;
      }
    }
    visit(stage_index(df, expand_or_raw(st.from.base_name, meta, esc), idx));
    for (int d : deps) visit(d);
  };
  visit(t->index);
  auto by_line = [](const auto& a, const auto& b) { return a.line < b.line; };
  std::stable_sort(o.args.begin(), o.args.end(), by_line);
  std::stable_sort(o.secrets.begin(), o.secrets.end(), by_line);
  std::stable_sort(o.ssh.begin(), o.ssh.end(), by_line);
  return o;
}

std::string format_outline(const Outline& o) {
  std::string out;
  if (!o.name.empty() || !o.description.empty()) {
    std::vector<std::vector<std::string>> rows = {{"TARGET:", o.name.empty() ? "(default)" : o.name}};
    if (!o.description.empty()) rows.push_back({"DESCRIPTION:", o.description});
    out += tabulate(rows, 1) + "\n";
  }
  if (!o.args.empty()) {
    std::vector<std::vector<std::string>> rows = {{"BUILD ARG", "VALUE", "DESCRIPTION"}};
    for (const auto& a : o.args) rows.push_back({a.name, a.value, a.description});
    out += tabulate(rows, 3) + "\n";
  }
  for (const auto* list : {&o.secrets, &o.ssh}) {
    if (list->empty()) continue;
    std::vector<std::vector<std::string>> rows = {{list == &o.secrets ? "SECRET" : "SSH", "REQUIRED"}};
    for (const auto& s : *list) rows.push_back({s.name, s.required ? "true" : ""});
    out += tabulate(rows, 3) + "\n";
  }
  return out;
}

std::vector<TargetInfo> targets(const Dockerfile& df) {
  std::vector<TargetInfo> out;
  for (const auto& st : df.stages) {
    bool last = st.index + 1 == static_cast<int>(df.stages.size());
    if (st.from.stage_name.empty() && !last) continue;
    TargetInfo t;
    t.name = st.from.stage_name;
    t.description = description(node_at(df, st.location.line), t.name);
    t.base = st.from.base_name;
    t.is_default = last;
    t.line = st.location.line;
    out.push_back(std::move(t));
  }
  return out;
}

std::string format_targets(const std::vector<TargetInfo>& targets) {
  std::vector<std::vector<std::string>> rows = {{"TARGET", "DESCRIPTION"}};
  for (const auto& t : targets) {
    std::string name = t.name;
    if (t.is_default) name = name.empty() ? "(default)" : name + " (default)";
    rows.push_back({name, t.description});
  }
  return tabulate(rows, 1);
}

}  // namespace xb::frontend
