#include "common/gotemplate.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "common/error.h"

namespace xb {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& why) { fail(ErrorKind::usage, "template: " + why); }

// One operand or function word of a command.
struct Arg {
  enum class Kind { field, string, number, word } kind;
  std::vector<std::string> path;  // field: ".A.B" → {A, B}; "." → {}
  std::string text;               // string/word/number text
};
using Command = std::vector<Arg>;
using Pipeline = std::vector<Command>;

}  // namespace

struct GoTemplate::Node {
  enum class Kind { text, action, range, if_, list } kind = Kind::list;
  std::string text;
  Pipeline pipe;
  std::vector<std::shared_ptr<Node>> children;  // list; range/if: body
  std::shared_ptr<Node> else_body;              // range/if
};

namespace {

using Node = GoTemplate::Node;

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

Pipeline parse_pipeline(const std::string& src, const std::string& action) {
  Pipeline pipe;
  Command cmd;
  size_t i = 0;
  while (i < src.size()) {
    char c = src[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '|') {
      if (cmd.empty()) bad("empty command before | in {{" + action + "}}");
      pipe.push_back(std::move(cmd));
      cmd.clear();
      ++i;
    } else if (c == '"' || c == '`') {
      std::string out;
      size_t j = i + 1;
      for (; j < src.size() && src[j] != c; ++j) {
        if (c == '"' && src[j] == '\\' && j + 1 < src.size()) {
          char n = src[++j];
          out += n == 'n' ? '\n' : n == 't' ? '\t' : n;
        } else {
          out += src[j];
        }
      }
      if (j >= src.size()) bad("unterminated string in {{" + action + "}}");
      cmd.push_back(Arg{Arg::Kind::string, {}, out});
      i = j + 1;
    } else if (c == '.') {
      Arg a{Arg::Kind::field, {}, {}};
      size_t j = i + 1;
      while (j <= src.size()) {
        size_t k = j;
        while (k < src.size() && (std::isalnum(static_cast<unsigned char>(src[k])) || src[k] == '_')) ++k;
        if (k > j) a.path.push_back(src.substr(j, k - j));
        if (k < src.size() && src[k] == '.' && k > j) {
          j = k + 1;
          continue;
        }
        j = k;
        break;
      }
      if (j < src.size() && !std::isspace(static_cast<unsigned char>(src[j])) && src[j] != '|')
        bad("unsupported syntax \"" + src.substr(i) + "\" in {{" + action + "}}");
      cmd.push_back(std::move(a));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') {
      size_t j = i + 1;
      while (j < src.size() && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
      cmd.push_back(Arg{Arg::Kind::number, {}, src.substr(i, j - i)});
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < src.size() && (std::isalnum(static_cast<unsigned char>(src[j])) || src[j] == '_')) ++j;
      cmd.push_back(Arg{Arg::Kind::word, {}, src.substr(i, j - i)});
      i = j;
    } else {
      bad(std::string("unsupported syntax \"") + c + "\" in {{" + action +
          "}} (variables and parentheses are not supported)");
    }
  }
  if (cmd.empty()) bad("empty command in {{" + action + "}}");
  pipe.push_back(std::move(cmd));
  for (const auto& command : pipe)
    for (size_t k = 1; k < command.size(); ++k)
      if (command[0].kind != Arg::Kind::word) bad("{{" + action + "}}: " + "only a function takes arguments");
  return pipe;
}

const json* field(const json& v, const std::string& name) {
  if (!v.is_object()) return nullptr;
  if (auto it = v.find(name); it != v.end()) return &*it;
  // docker's images rows say ID where inspect says Id: either works.
  auto lower = [](std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  };
  for (auto it = v.begin(); it != v.end(); ++it)
    if (lower(it.key()) == lower(name)) return &*it;
  return nullptr;
}

json eval_arg(const Arg& a, const json& dot) {
  switch (a.kind) {
    case Arg::Kind::string: return a.text;
    case Arg::Kind::number: return std::stoll(a.text);
    case Arg::Kind::word: bad("function \"" + a.text + "\" used as a value");
    case Arg::Kind::field: {
      const json* v = &dot;
      std::string shown;
      for (const auto& p : a.path) {
        shown += "." + p;
        if (v->is_null()) return nullptr;  // Go: a nil map yields <no value>
        const json* next = field(*v, p);
        if (!next) bad("can't evaluate field " + p + " at <" + shown + ">");
        v = next;
      }
      return *v;
    }
  }
  return nullptr;
}

bool truth(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v != 0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  if (v.is_array() || v.is_object()) return !v.empty();
  return true;
}

json call(const std::string& fn, const std::vector<json>& args) {
  auto want = [&](size_t n) {
    if (args.size() != n)
      bad("wrong number of args for " + fn + ": want " + std::to_string(n) + " got " + std::to_string(args.size()));
  };
  auto text = [&](const json& v) { return go_print(v); };
  if (fn == "json") {
    want(1);
    return args[0].dump();  // compact, as docker's json function
  }
  if (fn == "upper" || fn == "lower") {
    want(1);
    std::string s = text(args[0]);
    for (auto& c : s)
      c = static_cast<char>(fn == "upper" ? std::toupper(static_cast<unsigned char>(c))
                                          : std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  if (fn == "len") {
    want(1);
    if (args[0].is_string()) return args[0].get<std::string>().size();
    if (args[0].is_array() || args[0].is_object()) return args[0].size();
    bad("len of " + text(args[0]));
  }
  if (fn == "join") {
    want(2);
    if (!args[0].is_array()) bad("join: first argument is not a list");
    std::string out;
    for (size_t i = 0; i < args[0].size(); ++i) out += (i ? text(args[1]) : "") + text(args[0][i]);
    return out;
  }
  if (fn == "split") {
    want(2);
    std::string s = text(args[0]), sep = text(args[1]);
    json out = json::array();
    if (sep.empty()) bad("split: empty separator");
    size_t start = 0;
    for (size_t p; (p = s.find(sep, start)) != std::string::npos; start = p + sep.size())
      out.push_back(s.substr(start, p - start));
    out.push_back(s.substr(start));
    return out;
  }
  if (fn == "truncate") {
    want(2);
    std::string s = text(args[0]);
    if (!args[1].is_number_integer()) bad("truncate: length is not a number");
    auto n = args[1].get<long long>();
    return n >= 0 && static_cast<size_t>(n) < s.size() ? s.substr(0, static_cast<size_t>(n)) : s;
  }
  if (fn == "index") {
    if (args.size() < 2) bad("wrong number of args for index: want at least 2");
    json v = args[0];
    for (size_t i = 1; i < args.size(); ++i) {
      if (v.is_array()) {
        if (!args[i].is_number_integer()) bad("index: list index is not a number");
        auto k = args[i].get<long long>();
        if (k < 0 || static_cast<size_t>(k) >= v.size()) bad("index out of range: " + std::to_string(k));
        v = v[static_cast<size_t>(k)];
      } else if (v.is_object()) {
        std::string k = text(args[i]);
        v = v.contains(k) ? v[k] : json(nullptr);
      } else if (v.is_null()) {
        return nullptr;
      } else {
        bad("can't index item of type " + std::string(v.type_name()));
      }
    }
    return v;
  }
  bad("function \"" + fn + "\" not supported (known: json, index, join, split, upper, lower, len, truncate)");
}

json eval_pipe(const Pipeline& pipe, const json& dot) {
  json prev;
  bool have_prev = false;
  for (const auto& cmd : pipe) {
    if (cmd[0].kind == Arg::Kind::word) {
      std::vector<json> args;
      for (size_t i = 1; i < cmd.size(); ++i) args.push_back(eval_arg(cmd[i], dot));
      if (have_prev) args.push_back(prev);
      prev = call(cmd[0].text, args);
    } else {
      if (have_prev) bad("can't give argument to non-function");
      prev = eval_arg(cmd[0], dot);
    }
    have_prev = true;
  }
  return prev;
}

void render(const Node& n, const json& dot, std::string& out) {
  switch (n.kind) {
    case Node::Kind::text: out += n.text; return;
    case Node::Kind::action: out += go_print(eval_pipe(n.pipe, dot)); return;
    case Node::Kind::list:
      for (const auto& c : n.children) render(*c, dot, out);
      return;
    case Node::Kind::if_: {
      json v = eval_pipe(n.pipe, dot);
      if (truth(v)) {
        for (const auto& c : n.children) render(*c, dot, out);
      } else if (n.else_body) {
        render(*n.else_body, dot, out);
      }
      return;
    }
    case Node::Kind::range: {
      json v = eval_pipe(n.pipe, dot);
      if (!truth(v)) {
        if (n.else_body) render(*n.else_body, dot, out);
        return;
      }
      if (!v.is_array() && !v.is_object()) bad("range can't iterate over " + go_print(v));
      for (const auto& item : v)  // objects: values in key order, as Go ranges maps
        for (const auto& c : n.children) render(*c, item, out);
      return;
    }
  }
}

}  // namespace

GoTemplate::GoTemplate(GoTemplate&&) noexcept = default;
GoTemplate& GoTemplate::operator=(GoTemplate&&) noexcept = default;
GoTemplate::~GoTemplate() = default;

GoTemplate GoTemplate::parse(std::string_view text) {
  // The stack of open blocks: list nodes that receive children.
  auto root = std::make_shared<Node>();
  std::vector<std::shared_ptr<Node>> blocks{root};   // the owning range/if (root for the top)
  std::vector<std::shared_ptr<Node>> targets{root};  // where children go (body or else body)
  size_t i = 0;
  std::string s(text);
  bool trim_next = false;
  while (i <= s.size()) {
    size_t open = s.find("{{", i);
    std::string chunk = s.substr(i, open == std::string::npos ? std::string::npos : open - i);
    bool trim_before = open != std::string::npos && open + 2 < s.size() && s[open + 2] == '-' && open + 3 < s.size() &&
                       std::isspace(static_cast<unsigned char>(s[open + 3]));
    if (trim_next)
      chunk.erase(0, chunk.find_first_not_of(" \t\r\n") == std::string::npos ? chunk.size()
                                                                             : chunk.find_first_not_of(" \t\r\n"));
    if (trim_before) {
      size_t e = chunk.find_last_not_of(" \t\r\n");
      chunk.erase(e == std::string::npos ? 0 : e + 1);
    }
    if (!chunk.empty()) {
      auto t = std::make_shared<Node>();
      t->kind = Node::Kind::text;
      t->text = chunk;
      targets.back()->children.push_back(t);
    }
    if (open == std::string::npos) break;
    size_t close = s.find("}}", open + 2);
    if (close == std::string::npos) bad("unclosed action {{" + s.substr(open + 2));
    std::string inner = s.substr(open + 2, close - open - 2);
    if (trim_before) inner.erase(0, 1);
    trim_next = inner.size() >= 2 && inner.back() == '-' &&
                std::isspace(static_cast<unsigned char>(inner[inner.size() - 2]));
    if (trim_next) inner.pop_back();
    std::string action = trim(inner);
    i = close + 2;
    auto keyword = [&](std::string_view k) {
      return action == k || (action.rfind(std::string(k) + " ", 0) == 0) ||
             (action.rfind(std::string(k) + "\t", 0) == 0);
    };
    if (action.empty()) bad("empty action {{}}");
    if (action.rfind("/*", 0) == 0) continue;  // a comment
    if (keyword("range") || keyword("if")) {
      bool range = keyword("range");
      std::string rest = trim(action.substr(range ? 5 : 2));
      if (rest.find(":=") != std::string::npos || rest.find('$') != std::string::npos)
        bad("variables are not supported in {{" + action + "}}");
      auto n = std::make_shared<Node>();
      n->kind = range ? Node::Kind::range : Node::Kind::if_;
      n->pipe = parse_pipeline(rest, action);
      targets.back()->children.push_back(n);
      blocks.push_back(n);
      targets.push_back(n);  // children of the range/if node itself
    } else if (action == "else") {
      if (blocks.size() < 2) bad("{{else}} outside {{range}} or {{if}}");
      auto& b = blocks.back();
      if (b->else_body) bad("two {{else}} in one block");
      b->else_body = std::make_shared<Node>();
      targets.back() = b->else_body;
    } else if (action == "end") {
      if (blocks.size() < 2) bad("{{end}} without {{range}} or {{if}}");
      blocks.pop_back();
      targets.pop_back();
    } else if (keyword("with") || keyword("define") || keyword("template") || keyword("block") || keyword("else if")) {
      bad("{{" + action + "}} is not supported");
    } else if (action[0] == '$') {
      bad("variables are not supported in {{" + action + "}}");
    } else {
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::action;
      n->pipe = parse_pipeline(action, action);
      targets.back()->children.push_back(n);
    }
  }
  if (blocks.size() > 1) bad("unexpected EOF: a {{range}} or {{if}} has no {{end}}");
  GoTemplate t;
  t.root_ = root;
  return t;
}

std::string GoTemplate::render(const json& data) const {
  std::string out;
  xb::render(*root_, data, out);
  return out;
}

std::string go_print(const json& v) {
  if (v.is_null()) return "<no value>";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + go_print(v[i]);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "map[";
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      out += (first ? "" : " ") + it.key() + ":" + go_print(*it);
      first = false;
    }
    return out + "]";
  }
  return v.dump();
}

}  // namespace xb
