// Stage 1: Dockerfile text → syntax tree, as BuildKit's parser package does
// it (frontend/dockerfile/parser): line-oriented, with continuation lines,
// directives, heredocs and one line parser per instruction. PEGTL grammars
// handle the token-level pieces (directives, heredoc markers, JSON arrays);
// the line structure is a small loop, as in BuildKit.
#include <tao/pegtl.hpp>

#include <algorithm>

#include "frontend/frontend.h"
#include "frontend/lex.h"
#include "frontend/text.h"

namespace pg = tao::pegtl;

namespace xb::frontend {

namespace {

// ── grammars ──

namespace gram {
using namespace tao::pegtl;

// `# name = value` (after the '#' and leading spaces are removed).
struct re_space : one<' ', '\t', '\n', '\f', '\r'> {};
struct directive_name : seq<alpha, star<alnum>> {};
struct directive : seq<directive_name, star<re_space>, one<'='>> {};

// A heredoc marker word: ^(\d*)<<(-?)([^<]*)$
struct heredoc_fd : star<digit> {};
struct heredoc_chomp : opt<one<'-'>> {};
struct heredoc_rest : star<not_one<'<'>> {};
struct heredoc_marker : seq<heredoc_fd, string<'<', '<'>, heredoc_chomp, heredoc_rest, eof> {};

// JSON, as strict as Go's json.Unmarshal into []interface{}: any JSON value
// may appear, but the top level must be an array; strings are collected.
struct ws : one<' ', '\t', '\n', '\r'> {};
struct unicode_esc : seq<one<'u'>, rep<4, xdigit>> {};
struct escaped : sor<one<'"', '\\', '/', 'b', 'f', 'n', 'r', 't'>, unicode_esc> {};
struct unescaped : not_range<0x00, 0x1F> {};
struct jchar : if_then_else<one<'\\'>, escaped, unescaped> {};
struct jstring_content : until<at<one<'"'>>, jchar> {};
struct jstring : seq<one<'"'>, jstring_content, one<'"'>> {};
struct digits : plus<digit> {};
struct number
    : seq<opt<one<'-'>>, sor<one<'0'>, digits>, opt<one<'.'>, digits>, opt<one<'e', 'E'>, opt<one<'-', '+'>>, digits>> {
};
struct literal : sor<string<'t', 'r', 'u', 'e'>, string<'f', 'a', 'l', 's', 'e'>, string<'n', 'u', 'l', 'l'>> {};
struct value;
struct array : seq<one<'['>, star<ws>, opt<list<seq<value, star<ws>>, seq<one<','>, star<ws>>>>, one<']'>> {};
struct member : seq<jstring, star<ws>, one<':'>, star<ws>, value, star<ws>> {};
struct object : seq<one<'{'>, star<ws>, opt<list<member, seq<one<','>, star<ws>>>>, one<'}'>> {};
struct value : sor<jstring, number, object, array, literal> {};

struct top_string_content : jstring_content {};
struct top_string : seq<one<'"'>, top_string_content, one<'"'>> {};
struct top_other : sor<number, object, array, literal> {};
struct top_element : seq<sor<top_string, top_other>, star<ws>> {};
struct top_array
    : seq<star<ws>, one<'['>, star<ws>, opt<list<top_element, seq<one<','>, star<ws>>>>, one<']'>, star<ws>, eof> {};
}  // namespace gram

struct JsonState {
  std::vector<std::string> strings;
  bool non_string = false;
};

// Go's json decoding of a string's content (escapes; lone surrogates → U+FFFD).
std::string json_unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = s[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        auto hex = [&](size_t at) {
          return static_cast<char32_t>(std::stoul(std::string(s.substr(at, 4)), nullptr, 16));
        };
        char32_t cp = hex(i + 1);
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < s.size() + 0 && s[i + 1] == '\\' && s[i + 2] == 'u') {
          char32_t lo = hex(i + 3);
          if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xD800 && cp < 0xE000) {
          cp = 0xFFFD;
        }
        text::append_utf8(out, cp);
        break;
      }
      default: out += e;  // " \ /
    }
  }
  return out;
}

template <typename Rule>
struct json_action : pg::nothing<Rule> {};
template <>
struct json_action<gram::top_string_content> {
  template <typename Input>
  static void apply(const Input& in, JsonState& st) {
    st.strings.push_back(json_unescape(in.string_view()));
  }
};
template <>
struct json_action<gram::top_other> {
  template <typename Input>
  static void apply(const Input&, JsonState& st) {
    st.non_string = true;
  }
};

// Go's json refuses nesting beyond 10000 levels; we stop far earlier so that
// the recursive grammar cannot exhaust the stack. Either way the text is not
// a JSON array and falls back to shell form.
constexpr int kMaxJsonDepth = 400;
bool json_too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

enum class JsonResult { ok, not_json, not_strings };

JsonResult parse_json_array(std::string_view rest, std::vector<std::string>& out) {
  rest = text::trim_left_space(rest);
  if (rest.empty() || rest[0] != '[') return JsonResult::not_json;
  if (json_too_deep(rest)) return JsonResult::not_json;
  JsonState st;
  pg::memory_input in(rest.data(), rest.size(), "json");
  bool ok = false;
  try {
    ok = pg::parse<gram::top_array, json_action>(in, st);
  } catch (const pg::parse_error&) {
    ok = false;
  }
  if (!ok) return JsonResult::not_json;
  if (st.non_string) return JsonResult::not_strings;
  out = std::move(st.strings);
  return JsonResult::ok;
}

// ── directives ──

struct Directives {
  char escape = '\\';
  bool done = false;
  std::vector<Directive> seen;
};

bool is_re_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

// BuildKit's possibleParserDirective; throws on a repeated or invalid one.
void possible_directive(Directives& d, std::string_view line, int line_no) {
  if (d.done) return;
  if (line.empty() || line[0] != '#') {
    d.done = true;
    return;
  }
  std::string_view body = text::trim_left_space(line.substr(1));
  pg::memory_input in(body.data(), body.size(), "directive");
  bool ok = false;
  try {
    ok = pg::parse<gram::directive>(in);
  } catch (const pg::parse_error&) {
  }
  if (!ok) {
    d.done = true;
    return;
  }
  size_t eq = body.find('=');
  std::string name = text::lower(text::trim_space(body.substr(0, eq)));
  while (!name.empty() && is_re_space(name.back())) name.pop_back();
  std::string_view value = body.substr(eq + 1);
  size_t lead = 0;
  while (lead < value.size() && is_re_space(value[lead])) ++lead;
  std::string_view v = value.substr(lead);
  while (!v.empty() && is_re_space(v.back())) v.remove_suffix(1);
  std::string val(v);
  if (val.empty()) {
    // `(.+?)` needs one character: the regexp backtracks and takes the last space.
    if (lead == 0) {
      d.done = true;
      return;
    }
    val = std::string(1, value[lead - 1]);
  }
  if (name != "syntax" && name != "escape" && name != "check") {
    d.done = true;
    return;
  }
  for (const auto& s : d.seen)
    if (s.name == name) throw Error(ErrorKind::invalid_argument, "only one " + name + " parser directive can be used");
  if (name == "escape") {
    if (val != "`" && val != "\\")
      throw Error(ErrorKind::invalid_argument, "invalid escape token '" + val + "' does not match ` or \\");
    d.escape = val[0];
  }
  d.seen.push_back({name, val, line_no});
}

// ── line helpers ──

std::string_view trim_newline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool is_comment(std::string_view raw) {
  std::string_view t = text::trim_left_space(trim_newline(raw));
  return !t.empty() && t[0] == '#';
}

// processLine: newline and (optionally) leading space removed; a line that
// is a comment from its first byte becomes empty.
std::string_view process_line(Directives& d, std::string_view raw, bool strip_left, int line_no) {
  std::string_view token = trim_newline(raw);
  if (strip_left) token = text::trim_left_space(token);
  possible_directive(d, token, line_no);
  if (!token.empty() && token[0] == '#') return {};
  return token;
}

// trimContinuationCharacter: `([^E])E[ \t]*$|^E[ \t]*$` for escape E.
bool trim_continuation(std::string_view& line, char escape) {
  size_t end = line.size();
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  if (end == 0 || line[end - 1] != escape) return false;
  size_t esc = end - 1;
  if (esc > 0 && line[esc - 1] == escape) return false;
  line = line.substr(0, esc);
  return true;
}

// ── line parsers (BuildKit's line_parsers.go) ──

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// reWhitespace.Split(s, n): [\t\v\f\r ]+ separates (note: not \n).
bool is_split_space(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }
std::vector<std::string> split_ws(std::string_view s, int n) {
  std::vector<std::string> out;
  size_t i = 0;
  while (true) {
    if (n > 0 && static_cast<int>(out.size()) == n - 1) {
      out.emplace_back(s.substr(i));
      break;
    }
    size_t j = i;
    while (j < s.size() && !is_split_space(s[j])) ++j;
    out.emplace_back(s.substr(i, j - i));
    if (j >= s.size()) break;
    while (j < s.size() && is_split_space(s[j])) ++j;
    i = j;
  }
  return out;
}

// parseWords: words separated by spaces, quotes and escapes kept.
std::vector<std::string> parse_words(std::string_view rest, char escape) {
  enum { in_spaces, in_word, in_quote } phase = in_spaces;
  std::vector<std::string> words;
  std::string word;
  char32_t quote = 0;
  bool blank_ok = false;
  char32_t ch = 0;
  size_t w = 0;
  auto put = [&](size_t at, size_t len) { word.append(rest.substr(at, len)); };
  for (size_t pos = 0; pos <= rest.size(); pos += w) {
    if (pos != rest.size()) ch = text::decode(rest, pos, w);
    else w = 1;
    if (phase == in_spaces) {
      if (pos == rest.size()) break;
      if (text::is_space(ch)) continue;
      phase = in_word;
    }
    if (pos == rest.size()) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == in_word) {
      if (text::is_space(ch)) {
        phase = in_spaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = in_quote;
      }
      if (ch == static_cast<unsigned char>(escape)) {
        if (pos + w == rest.size()) continue;  // an escape at the end is dropped
        put(pos, w);
        pos += w;
        ch = text::decode(rest, pos, w);
      }
      put(pos, w);
      continue;
    }
    // in_quote
    if (ch == quote) phase = in_word;
    if (ch == static_cast<unsigned char>(escape) && quote != '\'') {
      if (pos + w == rest.size()) {
        phase = in_word;
        continue;
      }
      put(pos, w);
      pos += w;
      ch = text::decode(rest, pos, w);
    }
    put(pos, w);
  }
  return words;
}

// extractBuilderFlags: leading `--flag[=value]` words. (BuildKit walks bytes
// and re-encodes them as runes; we keep the bytes, see docs/dev/frontend.md.)
std::string_view extract_flags(std::string_view line, std::vector<std::string>& words) {
  enum { in_spaces, in_word, in_quote } phase = in_spaces;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  char ch = 0;
  for (size_t pos = 0; pos <= line.size(); ++pos) {
    if (pos != line.size()) ch = line[pos];
    if (phase == in_spaces) {
      if (pos == line.size()) break;
      if (is_ascii_space(ch)) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') return line.substr(pos);
      phase = in_word;
    }
    if (pos == line.size()) {
      if (word != "--" && (blank_ok || !word.empty())) words.push_back(word);
      break;
    }
    if (phase == in_word) {
      if (is_ascii_space(ch)) {
        phase = in_spaces;
        if (word == "--") return line.substr(pos);
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = in_quote;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == line.size()) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    if (ch == quote) {
      phase = in_word;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == line.size()) {
        phase = in_word;
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return {};
}

[[noreturn]] void fail_here(std::string message) { throw Error(ErrorKind::invalid_argument, std::move(message)); }

void parse_name_val(Node& n, std::string_view rest, const char* key, char escape) {
  auto words = parse_words(rest, escape);
  if (words.empty()) return;
  if (!text::contains(words[0], '=')) {
    auto parts = split_ws(rest, 2);
    if (parts.size() < 2) fail_here(std::string(key) + " must have two arguments");
    n.args = {parts[0], parts[1], ""};
    return;
  }
  for (const auto& w : words) {
    auto eq = w.find('=');
    if (eq == std::string::npos)
      fail_here("Syntax error - can't find = in " + text::go_quote(w) + ". Must be of the form: name=value");
    n.args.push_back(w.substr(0, eq));
    n.args.push_back(w.substr(eq + 1));
    n.args.emplace_back("=");
  }
}

void parse_maybe_json(Node& n, std::string_view rest) {
  if (rest.empty()) return;
  std::vector<std::string> arr;
  switch (parse_json_array(rest, arr)) {
    case JsonResult::ok:
      n.args = std::move(arr);
      n.json = true;
      return;
    case JsonResult::not_strings: fail_here("when using JSON array syntax, arrays must be comprised of strings only");
    case JsonResult::not_json: n.args = {std::string(rest)};
  }
}

void parse_maybe_json_to_list(Node& n, std::string_view rest) {
  std::vector<std::string> arr;
  switch (parse_json_array(rest, arr)) {
    case JsonResult::ok:
      n.args = std::move(arr);
      n.json = true;
      return;
    case JsonResult::not_strings: fail_here("when using JSON array syntax, arrays must be comprised of strings only");
    case JsonResult::not_json:
      if (!rest.empty()) n.args = split_ws(rest, -1);
  }
}

Node node_from_line(std::string_view line, char escape, int depth);

void dispatch(Node& n, std::string_view rest, char escape, int depth) {
  const std::string cmd = n.command();
  if (cmd == "add" || cmd == "copy" || cmd == "volume") {
    parse_maybe_json_to_list(n, rest);
  } else if (cmd == "arg") {
    n.args = parse_words(rest, escape);
  } else if (cmd == "cmd" || cmd == "entrypoint" || cmd == "run" || cmd == "shell") {
    parse_maybe_json(n, rest);
  } else if (cmd == "env") {
    parse_name_val(n, rest, "ENV", escape);
  } else if (cmd == "label") {
    parse_name_val(n, rest, "LABEL", escape);
  } else if (cmd == "expose" || cmd == "from") {
    if (!rest.empty()) n.args = split_ws(rest, -1);
  } else if (cmd == "healthcheck") {
    size_t sep = 0;
    while (sep < rest.size() && !is_ascii_space(rest[sep])) ++sep;
    size_t next = sep;
    while (next < rest.size() && is_ascii_space(rest[next])) ++next;
    if (sep == 0) return;
    Node tmp;
    parse_maybe_json(tmp, rest.substr(next));
    n.args.emplace_back(rest.substr(0, sep));
    for (auto& a : tmp.args) n.args.push_back(std::move(a));
    n.json = tmp.json;
  } else if (cmd == "maintainer" || cmd == "stopsignal" || cmd == "user" || cmd == "workdir") {
    if (!rest.empty()) n.args = {std::string(rest)};
  } else if (cmd == "onbuild") {
    if (rest.empty()) return;
    // ONBUILD ONBUILD … is rejected later; nesting is bounded here anyway.
    if (depth > 8) fail_here("ONBUILD nested too deeply");
    n.child = std::make_shared<Node>(node_from_line(rest, escape, depth + 1));
  } else {
    n.args = {""};  // BuildKit's parseIgnore: an empty next node
  }
}

Node node_from_line(std::string_view line, char escape, int depth) {
  Node n;
  std::string_view trimmed = text::trim_space(line);
  size_t i = 0;
  while (i < trimmed.size() && !is_split_space(trimmed[i])) ++i;
  n.keyword = std::string(trimmed.substr(0, i));
  std::string_view rest;
  if (i < trimmed.size()) {
    size_t j = i;
    while (j < trimmed.size() && is_split_space(trimmed[j])) ++j;
    rest = extract_flags(trimmed.substr(j), n.flags);
  }
  rest = text::trim_space(rest);
  n.original = std::string(line);
  dispatch(n, rest, escape, depth);
  return n;
}

bool can_contain_heredoc(const Node& n) {
  const Node* node = &n;
  if (node->command() == "onbuild" && node->child) node = node->child.get();
  std::string c = node->command();
  if (c != "add" && c != "copy" && c != "run") return false;
  return !node->json;
}

std::vector<Heredoc> heredocs_from_line(std::string_view line) {
  // Every heredoc marker contains "<<" as written; most lines have none.
  if (line.find("<<") == std::string_view::npos) return {};
  LexOptions o;
  o.raw_quotes = true;
  o.raw_escapes = true;
  o.skip_unset = true;
  std::vector<std::string> words;
  try {
    words = lex(line, empty_env(), o).words;
  } catch (const Error&) {
    return {};
  }
  std::vector<Heredoc> docs;
  for (const auto& w : words)
    if (auto h = parse_heredoc_marker(w)) docs.push_back(std::move(*h));
  return docs;
}

std::string chomp_tabs(std::string_view content) {
  std::string out;
  bool line_start = true;
  for (char c : content) {
    if (line_start && c == '\t') continue;
    line_start = c == '\n';
    out += c;
  }
  return out;
}

}  // namespace

// A word like <<EOF, <<-"EOF" or 3<<EOF (BuildKit's ParseHeredoc); nullopt
// when the word is not a heredoc marker.
std::optional<Heredoc> parse_heredoc_marker(std::string_view word) {
  pg::memory_input in(word.data(), word.size(), "heredoc");
  bool ok = false;
  try {
    ok = pg::parse<gram::heredoc_marker>(in);
  } catch (const pg::parse_error&) {
  }
  if (!ok) return std::nullopt;
  size_t lt = word.find("<<");
  std::string_view fd = word.substr(0, lt);
  std::string_view after = word.substr(lt + 2);
  bool chomp = !after.empty() && after[0] == '-';
  std::string_view rest = chomp ? after.substr(1) : after;
  if (rest.empty()) return std::nullopt;
  LexOptions o;
  o.skip_unset = true;
  auto words = lex(rest, empty_env(), o).words;
  if (words.size() != 1) return std::nullopt;
  o.raw_quotes = true;
  auto raw = lex(rest, empty_env(), o).words;
  if (raw.size() != words.size())
    throw Error(ErrorKind::invalid_argument,
                "internal lexing of heredoc produced inconsistent results: " + std::string(rest));
  auto quotes = [](const std::string& s) {
    return std::count(s.begin(), s.end(), '\'') + std::count(s.begin(), s.end(), '"');
  };
  Heredoc h;
  h.name = words[0];
  h.expand = quotes(words[0]) == quotes(raw[0]);
  h.chomp = chomp;
  int fdv = 0;
  for (char c : fd) fdv = fdv > 100000 ? fdv : fdv * 10 + (c - '0');
  h.fd = fdv;
  return h;
}

std::string Node::command() const { return text::lower(keyword); }

SourceLocation Ast::location(int line, int column) const {
  SourceLocation loc;
  loc.file = file;
  loc.line = line;
  loc.column = column;
  if (line >= 1 && static_cast<size_t>(line) <= lines.size()) loc.line_text = lines[static_cast<size_t>(line) - 1];
  return loc;
}

Ast parse_ast(std::string_view input, std::string_view file) {
  Ast ast;
  ast.file = std::string(file);
  // Split into lines, each keeping its '\n' (BuildKit's scanLines).
  std::vector<std::string_view> raw;
  for (size_t i = 0; i < input.size();) {
    size_t nl = input.find('\n', i);
    size_t end = nl == std::string_view::npos ? input.size() : nl + 1;
    raw.push_back(input.substr(i, end - i));
    i = end;
  }
  if (!raw.empty() && raw[0].substr(0, 3) == "\xEF\xBB\xBF") raw[0].remove_prefix(3);
  ast.lines.reserve(raw.size());
  for (auto r : raw) ast.lines.emplace_back(trim_newline(r));

  Directives d;
  std::vector<std::string> comments;
  size_t idx = 0;
  int current = 0;
  auto located = [&](Error& e, int line) -> Error& { return e.at(ast.location(line)); };
  while (idx < raw.size()) {
    std::string_view bytes = raw[idx++];
    if (is_comment(bytes)) comments.emplace_back(text::trim_space(bytes.substr(1)));
    std::string_view processed;
    try {
      processed = process_line(d, bytes, true, current + 1);
    } catch (Error& e) {
      throw located(e, current + 1);
    }
    ++current;
    const int start = current;
    std::string_view first = processed;
    bool continued = trim_continuation(first, d.escape);
    if (!continued && first.empty()) continue;
    std::string line(first);
    bool empty_continuation = false;
    while (continued && idx < raw.size()) {
      std::string_view r = raw[idx++];
      std::string_view b;
      try {
        b = process_line(d, r, false, current + 1);
      } catch (Error& e) {
        throw located(e, current + 1);
      }
      ++current;
      if (is_comment(r)) continue;
      if (text::trim_left_space(trim_newline(b)).empty()) {
        empty_continuation = true;
        continue;
      }
      continued = trim_continuation(b, d.escape);
      line += b;
    }
    if (empty_continuation) {
      ast.warnings.push_back("[WARNING]: Empty continuation line found in:\n    " + line);
      ast.empty_continuation_lines.push_back(current);  // BuildKit's NoEmptyContinuation line
    }

    Node node;
    try {
      node = node_from_line(line, d.escape, 0);
    } catch (Error& e) {
      throw located(e, start);
    }
    if (can_contain_heredoc(node)) {
      std::vector<Heredoc> docs;
      try {
        docs = heredocs_from_line(line);
      } catch (Error& e) {
        throw located(e, start);
      }
      for (auto& h : docs) {
        bool terminated = false;
        while (idx < raw.size()) {
          std::string_view r = raw[idx++];
          ++current;
          std::string_view candidate = trim_newline(r);
          if (h.chomp) {
            while (!candidate.empty() && candidate[0] == '\t') candidate.remove_prefix(1);
          }
          if (candidate == h.name) {
            terminated = true;
            break;
          }
          h.content += r;
        }
        if (!terminated) {
          Error e(ErrorKind::invalid_argument,
                  "unterminated heredoc: no line \"" + h.name + "\" ends it (heredoc started here)");
          throw located(e, start);
        }
        if (h.chomp) h.content = chomp_tabs(h.content);
        node.heredocs.push_back(std::move(h));
      }
    }
    node.start_line = start;
    node.end_line = current;
    node.comments = std::move(comments);
    comments.clear();
    if (ast.nodes.empty()) ast.start_line = start;
    ast.end_line = current;
    ast.nodes.push_back(std::move(node));
  }
  ast.escape = d.escape;
  ast.directives = d.seen;
  if (ast.nodes.empty()) {
    Error e(ErrorKind::invalid_argument, "file with no instructions");
    throw e.at(ast.location(current > 0 ? current : 1));
  }
  return ast;
}

namespace {
void dump_node(std::string& out, const Node& n) {
  out += text::lower(n.keyword);
  if (!n.flags.empty()) {
    out += " [";
    for (size_t i = 0; i < n.flags.size(); ++i) {
      if (i) out += ' ';
      out += text::go_quote(n.flags[i]);
    }
    out += ']';
  }
  if (n.child) {
    out += " (";
    dump_node(out, *n.child);
    out += ')';
  }
  for (const auto& a : n.args) {
    out += ' ';
    out += text::go_quote(a);
  }
}
}  // namespace

std::string dump_ast(const Ast& ast) {
  std::string out;
  for (const auto& n : ast.nodes) {
    std::string line;
    dump_node(line, n);
    // Go's Dump trims the assembled string; only an empty keyword could
    // leave leading space, which a parsed node never has.
    out += "(" + line + ")\n";
  }
  return out;
}

}  // namespace xb::frontend
