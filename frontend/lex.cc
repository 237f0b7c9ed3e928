// BuildKit's shell lexer (frontend/dockerfile/shell/lex.go) re-implemented:
// the same state machine, the same errors, the same quirks (see
// docs/dev/frontend.md for the two deliberate differences).
#include "frontend/lex.h"

#include <algorithm>
#include <cctype>

#include "frontend/text.h"

namespace xb::frontend {

namespace {

constexpr char32_t kEof = 0xFFFFFFFF;
// ${a:-${a:-${a:-…}}} recursion is bounded so that no input exhausts the stack.
constexpr int kMaxDepth = 200;

class EmptyEnv : public EnvLookup {
 public:
  std::optional<std::string_view> get(std::string_view) const override { return std::nullopt; }
};

[[noreturn]] void lex_fail(std::string message) { throw Error(ErrorKind::invalid_argument, std::move(message)); }

// Words under construction: BuildKit's wordsStruct.
struct Words {
  std::string buf;
  std::vector<std::string> words;
  bool in_word = false;

  void add_char(char32_t c) {
    if (text::is_space(c) && in_word) {
      if (!buf.empty()) {
        words.push_back(std::move(buf));
        buf.clear();
        in_word = false;
      }
    } else if (!text::is_space(c)) {
      add_raw_char(c);
    }
  }
  void add_raw_char(char32_t c) {
    text::append_utf8(buf, c);
    in_word = true;
  }
  void add_string(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      size_t len;
      char32_t c = text::decode(s, i, len);
      if (len == 1 && c >= 0x80) {
        buf += s[i];  // an invalid byte, kept as is
        in_word = true;
      } else {
        add_char(c);
      }
      i += len;
    }
  }
  void add_raw_string(std::string_view s) {
    buf += s;
    in_word = true;
  }
  std::vector<std::string> take() {
    if (!buf.empty()) {
      words.push_back(std::move(buf));
      buf.clear();
      in_word = false;
    }
    return std::move(words);
  }
};

// Pattern matching works on runes; an invalid byte becomes a rune of its own
// above the Unicode range so that it round-trips unchanged.
char32_t rune_at(std::string_view s, size_t i, size_t& len) {
  char32_t c = text::decode(s, i, len);
  if (len == 1 && c >= 0x80) return 0x110000 + c;
  return c;
}

// ── shell patterns for ${x#p} ${x%p} ${x/p/r} ──
// Go compiles them to regular expressions (* → .* or .*?, ? → .); we match
// the same language with the same leftmost-first preference directly.
struct PatTok {
  enum Kind { star, any, lit } kind;
  char32_t c = 0;
};

std::vector<PatTok> compile_pattern(std::string_view pattern) {
  std::vector<PatTok> out;
  for (size_t i = 0; i < pattern.size();) {
    size_t len;
    char32_t c = rune_at(pattern, i, len);
    i += len;
    if (c == '*') {
      out.push_back({PatTok::star});
      continue;
    }
    if (c == '?') {
      out.push_back({PatTok::any});
      continue;
    }
    if (c == '\\') {
      // } and / inside ${} are escaped, but the escape is not part of the pattern.
      if (i < pattern.size() && (pattern[i] == '}' || pattern[i] == '/')) continue;
      if (i >= pattern.size()) lex_fail("invalid escape '\\'");
      c = rune_at(pattern, i, len);
      i += len;
      if (c != '*' && c != '?' && c != '\\') {
        std::string s = "invalid escape '\\";
        if (c < 0x110000) text::append_utf8(s, c);
        lex_fail(s + "'");
      }
    }
    out.push_back({PatTok::lit, c});
  }
  return out;
}

std::vector<char32_t> to_runes(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    out.push_back(rune_at(s, i, len));
    i += len;
  }
  return out;
}

std::string from_runes(const std::vector<char32_t>& r, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    if (r[i] >= 0x110000) out += static_cast<char>(r[i] - 0x110000);
    else text::append_utf8(out, r[i]);
  }
  return out;
}

// Finds the leftmost-first match of a pattern in runes, starting at or after
// `from` (or only at `from` when anchored). Returns [begin, end) or nothing.
class Matcher {
 public:
  Matcher(const std::vector<PatTok>& pat, const std::vector<char32_t>& text, bool greedy)
      : pat_(pat), text_(text), greedy_(greedy) {
    size_t p = pat_.size(), t = text_.size();
    if ((p + 1) * (t + 1) > 64u * 1024 * 1024) lex_fail("pattern substitution too large");
    can_.assign((p + 1) * (t + 1), 0);
    for (size_t j = 0; j <= t; ++j) at(p, j) = 1;
    for (size_t i = p; i-- > 0;) {
      for (size_t j = t + 1; j-- > 0;) {
        bool ok = false;
        const PatTok& tok = pat_[i];
        bool has = j < t;
        switch (tok.kind) {
          case PatTok::lit: ok = has && text_[j] == tok.c && at(i + 1, j + 1); break;
          case PatTok::any: ok = has && text_[j] != '\n' && at(i + 1, j + 1); break;
          case PatTok::star: ok = at(i + 1, j) || (has && text_[j] != '\n' && at(i, j + 1)); break;
        }
        at(i, j) = ok;
      }
    }
  }

  std::optional<std::pair<size_t, size_t>> find(size_t from, bool anchored) const {
    for (size_t s = from; s <= text_.size(); ++s) {
      if (at(0, s)) return std::make_pair(s, walk(s));
      if (anchored) break;
    }
    return std::nullopt;
  }

 private:
  unsigned char& at(size_t i, size_t j) { return can_[i * (text_.size() + 1) + j]; }
  unsigned char at(size_t i, size_t j) const { return can_[i * (text_.size() + 1) + j]; }

  size_t walk(size_t j) const {
    for (size_t i = 0; i < pat_.size(); ++i) {
      if (pat_[i].kind != PatTok::star) {
        ++j;
        continue;
      }
      // at(i, j) holds, so some k works: the largest (greedy) or smallest.
      size_t best = j, k = j;
      if (greedy_ || !at(i + 1, j)) {
        while (k < text_.size() && text_[k] != '\n') {
          ++k;
          if (at(i + 1, k)) {
            best = k;
            if (!greedy_) break;
          }
        }
      }
      j = best;
    }
    return j;
  }

  const std::vector<PatTok>& pat_;
  const std::vector<char32_t>& text_;
  bool greedy_;
  std::vector<unsigned char> can_;
};

std::string trim_prefix(const std::vector<PatTok>& pat, const std::vector<char32_t>& value, bool greedy) {
  Matcher m(pat, value, greedy);
  auto hit = m.find(0, true);
  if (!hit) return from_runes(value, 0, value.size());
  return from_runes(value, hit->second, value.size());
}

std::string trim_suffix(std::vector<PatTok> pat, std::vector<char32_t> value, bool greedy) {
  // Reversing both turns "shortest/longest rightmost" into a leftmost search.
  std::reverse(pat.begin(), pat.end());
  std::reverse(value.begin(), value.end());
  Matcher m(pat, value, greedy);
  auto hit = m.find(0, true);
  size_t cut = hit ? hit->second : 0;
  std::vector<char32_t> rest(value.begin() + static_cast<long>(cut), value.end());
  std::reverse(rest.begin(), rest.end());
  return from_runes(rest, 0, rest.size());
}

// Go's Regexp.ReplaceAllString expands $0, $name and ${name} in the
// replacement; the pattern has no groups, so only $0 (the match) is non-empty.
void append_template(std::string& out, std::string_view repl, std::string_view match) {
  for (size_t i = 0; i < repl.size(); ++i) {
    if (repl[i] != '$') {
      out += repl[i];
      continue;
    }
    if (i + 1 < repl.size() && repl[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    size_t j = i + 1;
    bool brace = j < repl.size() && repl[j] == '{';
    if (brace) ++j;
    size_t start = j;
    while (j < repl.size() && (std::isalnum(static_cast<unsigned char>(repl[j])) || repl[j] == '_')) ++j;
    std::string_view name = repl.substr(start, j - start);
    if (name.empty() || (brace && (j >= repl.size() || repl[j] != '}'))) {
      out += '$';
      continue;
    }
    if (brace) ++j;
    bool numeric = std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (numeric && name.find_first_not_of('0') == std::string_view::npos) out += match;
    i = j - 1;
  }
}

std::string replace(std::string_view value_s, std::string_view pattern, std::string_view replacement, bool all) {
  std::vector<PatTok> pat = compile_pattern(pattern);
  std::vector<char32_t> value = to_runes(value_s);
  Matcher m(pat, value, true);
  if (!all) {
    auto hit = m.find(0, false);
    if (!hit) return from_runes(value, 0, value.size());
    return from_runes(value, 0, hit->first) + std::string(replacement) + from_runes(value, hit->second, value.size());
  }
  std::string out;
  size_t search = 0, last_end = 0;
  while (search <= value.size()) {
    auto hit = m.find(search, false);
    if (!hit) break;
    out += from_runes(value, last_end, hit->first);
    // As Go: an empty match right after the previous match is not replaced.
    if (hit->second > last_end || hit->first == 0)
      append_template(out, replacement, from_runes(value, hit->first, hit->second));
    last_end = hit->second;
    if (search + 1 > hit->second) ++search;
    else search = hit->second;
  }
  out += from_runes(value, last_end, value.size());
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view input, const EnvLookup& env, const LexOptions& o)
      : in_(input), env_(env), opt_(o), raw_escapes_(o.raw_escapes) {}

  LexResult run() {
    LexResult r;
    auto [word, words] = process_stop_on(kEof, raw_escapes_);
    r.word = std::move(word);
    r.words = std::move(words);
    return r;
  }

 private:
  char32_t peek() const {
    if (pos_ >= in_.size()) return kEof;
    size_t len;
    return text::decode(in_, pos_, len);
  }
  char32_t next() {
    if (pos_ >= in_.size()) return kEof;
    size_t len;
    char32_t c = text::decode(in_, pos_, len);
    pos_ += len;
    return c;
  }
  static void put(std::string& out, char32_t c) { text::append_utf8(out, c); }
  bool is_escape(char32_t c) const { return c == static_cast<unsigned char>(opt_.escape); }

  std::pair<std::string, std::vector<std::string>> process_stop_on(char32_t stop, bool raw_escapes) {
    if (++depth_ > kMaxDepth) lex_fail("expression nested too deeply");
    bool saved_raw = raw_escapes_;
    raw_escapes_ = raw_escapes;
    std::string result;
    Words words;
    while (peek() != kEof) {
      char32_t c = peek();
      if (stop != kEof && c == stop) {
        next();
        raw_escapes_ = saved_raw;
        --depth_;
        return {std::move(result), words.take()};
      }
      if (c == '$' || (!opt_.skip_quotes && (c == '\'' || c == '"'))) {
        std::string tmp = c == '$' ? process_dollar() : c == '\'' ? process_single_quote() : process_double_quote();
        result += tmp;
        if (c == '$') words.add_string(tmp);
        else words.add_raw_string(tmp);
        continue;
      }
      size_t at = pos_;
      c = next();
      bool invalid_byte = c >= 0x80 && pos_ - at == 1;
      if (is_escape(c)) {
        if (raw_escapes_) {
          words.add_raw_char(c);
          put(result, c);
        }
        at = pos_;
        c = next();
        if (c == kEof) break;
        if (c >= 0x80 && pos_ - at == 1) {
          words.add_raw_string(in_.substr(at, 1));
          result += in_[at];
          continue;
        }
        words.add_raw_char(c);
      } else if (invalid_byte) {
        words.add_raw_string(in_.substr(at, 1));
        result += in_[at];
        continue;
      } else {
        words.add_char(c);
      }
      put(result, c);
    }
    raw_escapes_ = saved_raw;
    --depth_;
    if (stop != kEof) {
      std::string s;
      put(s, stop);
      lex_fail("unexpected end of statement while looking for matching " + s);
    }
    return {std::move(result), words.take()};
  }

  std::string process_single_quote() {
    std::string result;
    char32_t c = next();
    if (opt_.raw_quotes) put(result, c);
    for (;;) {
      size_t at = pos_;
      c = next();
      if (c == kEof) lex_fail("unexpected end of statement while looking for matching single-quote");
      if (c == '\'') {
        if (opt_.raw_quotes) put(result, c);
        return result;
      }
      result.append(in_.substr(at, pos_ - at));
    }
  }

  std::string process_double_quote() {
    std::string result;
    char32_t c = next();
    if (opt_.raw_quotes) put(result, c);
    for (;;) {
      char32_t p = peek();
      if (p == kEof) lex_fail("unexpected end of statement while looking for matching double-quote");
      if (p == '"') {
        c = next();
        if (opt_.raw_quotes) put(result, c);
        return result;
      }
      if (p == '$') {
        result += process_dollar();
        continue;
      }
      size_t at = pos_;
      c = next();
      if (is_escape(c)) {
        if (raw_escapes_) put(result, c);
        char32_t q = peek();
        if (q == kEof) continue;  // an escape at the end of the word is dropped
        if (q == '"' || q == '$' || is_escape(q)) {
          at = pos_;
          c = next();
        }
      }
      result.append(in_.substr(at, pos_ - at));
    }
  }

  std::string process_name() {
    std::string name;
    while (peek() != kEof) {
      char32_t c = peek();
      if (name.empty() && text::is_digit(c)) {
        while (peek() != kEof && text::is_digit(peek())) put(name, next());
        return name;
      }
      if (name.empty() &&
          (c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' || c == '0')) {
        put(name, next());
        return name;
      }
      if (!text::is_letter(c) && !text::is_digit(c) && c != '_') break;
      put(name, next());
    }
    return name;
  }

  std::string process_dollar() {
    next();  // '$'
    if (peek() != '{') {
      std::string name = process_name();
      if (name.empty()) return "$";
      auto v = env_.get(name);
      if (!v && opt_.skip_unset) return "$" + name;
      return v ? std::string(*v) : std::string();
    }
    next();  // '{'
    char32_t p = peek();
    if (p == kEof) lex_fail("syntax error: missing '}'");
    if (p == '{' || p == '}' || p == ':') lex_fail("syntax error: bad substitution");
    std::string name = process_name();
    char32_t c = next();
    std::string chs;
    if (c != kEof) put(chs, c);
    bool null_is_unset = false;
    switch (c) {
      case '}': {
        auto v = env_.get(name);
        if (!v && opt_.skip_unset) return "${" + name + "}";
        return v ? std::string(*v) : std::string();
      }
      case ':':
        null_is_unset = true;
        c = next();
        if (c != kEof) put(chs, c);
        [[fallthrough]];
      case '+':
      case '-':
      case '?':
      case '#':
      case '%': {
        bool raw = c == '#' || c == '%';
        if (null_is_unset && raw) lex_fail("unsupported modifier (" + chs + ") in substitution");
        std::string word;
        try {
          word = process_stop_on('}', raw).first;
        } catch (const Error&) {
          if (peek() == kEof) lex_fail("syntax error: missing '}'");
          throw;
        }
        auto v = env_.get(name);
        if (opt_.skip_unset && !v) return "${" + name + chs + word + "}";
        std::string value = v ? std::string(*v) : std::string();
        switch (c) {
          case '-':
            if (!v || (null_is_unset && value.empty())) return word;
            return value;
          case '+':
            if (!v || (null_is_unset && value.empty())) return "";
            return word;
          case '?':
            if (!v) lex_fail(name + ": " + (word.empty() ? "is not allowed to be unset" : word));
            if (null_is_unset && value.empty())
              lex_fail(name + ": " + (word.empty() ? "is not allowed to be empty" : word));
            return value;
          case '%':
          case '#': {
            bool greedy = false;
            if (!word.empty() && static_cast<unsigned char>(word[0]) == c) {
              greedy = true;
              word.erase(0, 1);
            }
            std::vector<PatTok> pat = compile_pattern(word);
            if (c == '%') return trim_suffix(std::move(pat), to_runes(value), greedy);
            return trim_prefix(pat, to_runes(value), greedy);
          }
          default: lex_fail("unsupported modifier (" + chs + ") in substitution");
        }
      }
      case '/': {
        bool all = peek() == '/';
        if (all) next();
        std::string pattern, replacement;
        try {
          pattern = process_stop_on('/', true).first;
        } catch (const Error&) {
          if (peek() == kEof) lex_fail("syntax error: missing '/' in ${}");
          throw;
        }
        try {
          replacement = process_stop_on('}', true).first;
        } catch (const Error&) {
          if (peek() == kEof) lex_fail("syntax error: missing '}'");
          throw;
        }
        auto v = env_.get(name);
        if (opt_.skip_unset && !v) return "${" + name + "/" + pattern + "/" + replacement + "}";
        try {
          return replace(v ? *v : std::string_view(), pattern, replacement, all);
        } catch (const Error& e) {
          lex_fail("invalid pattern (" + pattern + ") in substitution: " + e.message());
        }
      }
      default: lex_fail("unsupported modifier (" + chs + ") in substitution");
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
  const EnvLookup& env_;
  LexOptions opt_;
  bool raw_escapes_;
  int depth_ = 0;
};

}  // namespace

const EnvLookup& empty_env() {
  static const EmptyEnv env;
  return env;
}

LexResult lex(std::string_view input, const EnvLookup& env, const LexOptions& options) {
  try {
    return Lexer(input, env, options).run();
  } catch (const Error& e) {
    std::string quoted = text::go_quote(input);
    throw Error(ErrorKind::invalid_argument, "failed to process " + quoted + ": " + e.message());
  }
}

std::string expand_word(std::string_view word, const EnvLookup& env, char escape) {
  LexOptions o;
  o.escape = escape;
  return lex(word, env, o).word;
}

std::string expand_heredoc(std::string_view body, const EnvLookup& env) {
  LexOptions o;  // BuildKit's ExpandRaw: NewLex('\\') with SkipProcessQuotes
  o.skip_quotes = true;
  return lex(body, env, o).word;
}

std::vector<std::string> expand_words(std::string_view word, const EnvLookup& env, char escape) {
  LexOptions o;
  o.escape = escape;
  return lex(word, env, o).words;
}

// ── Env ──

Env::Env(std::initializer_list<std::pair<std::string, std::string>> init) {
  for (const auto& [k, v] : init) set(k, v);
}

Env Env::from_list(const std::vector<std::string>& kv) {
  Env env;
  for (const auto& e : kv) {
    auto eq = e.find('=');
    if (eq == std::string::npos) env.set(e, "");
    else env.set(std::string_view(e).substr(0, eq), std::string_view(e).substr(eq + 1));
  }
  return env;
}

std::optional<std::string_view> Env::get(std::string_view name) const {
  for (const auto& [k, v] : entries_)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

void Env::set(std::string_view name, std::string_view value) {
  for (auto& [k, v] : entries_)
    if (k == name) {
      v = value;
      return;
    }
  entries_.emplace_back(std::string(name), std::string(value));
}

void Env::erase(std::string_view name) {
  std::erase_if(entries_, [&](const auto& e) { return e.first == name; });
}

std::vector<std::string> Env::to_list() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [k, v] : entries_) out.push_back(k + "=" + v);
  return out;
}

}  // namespace xb::frontend
