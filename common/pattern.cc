// patternmatcher compiles each pattern to a regular expression; this keeps
// that expression as a token list matched by a set-of-positions simulation
// (linear, no backtracking: "**/**/**/…" against a deep path must not hang).
#include "common/pattern.h"

#include <algorithm>

#include "common/error.h"

namespace xb {

namespace {

// A path or pattern as runes: Go's regexp matches runes, so '?' and a class
// take one UTF-8 character. An invalid byte stays itself, kept apart from
// every valid rune (0x110000 + byte), so that nothing written is altered.
struct Rune {
  char32_t c;
  size_t len;  // bytes
};

Rune decode(std::string_view s, size_t i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1};
  size_t n = b0 >= 0xF0 && b0 < 0xF8 ? 3 : b0 >= 0xE0 ? 2 : b0 >= 0xC0 ? 1 : 0;
  Rune invalid{char32_t{0x110000} + b0, 1};
  if (n == 0 || i + n >= s.size()) return invalid;
  char32_t cp = b0 & (0x3F >> n);
  for (size_t k = 1; k <= n; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return invalid;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return invalid;
  return {cp, n + 1};
}

std::vector<char32_t> runes(std::string_view s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) {
    Rune r = decode(s, i);
    out.push_back(r.c);
    i += r.len;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  const char* ws = " \t\n\v\f\r";
  size_t a = s.find_first_not_of(ws);
  if (a == std::string_view::npos) return {};
  return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

}  // namespace

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string clean_path(std::string_view p) {
  if (p.empty()) return ".";
  bool rooted = p[0] == '/';
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    if (part.empty() || part == ".") {
    } else if (part == "..") {
      if (!parts.empty() && parts.back() != "..") parts.pop_back();
      else if (!rooted) parts.push_back(part);
    } else {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  if (rooted) out.push_back('/');
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k) out.push_back('/');
    out.append(parts[k].data(), parts[k].size());
  }
  if (out.empty()) return std::string(1, '.');
  return out;
}

struct PatternMatcher::Pattern {
  enum Kind { lit, any_but_slash, star_but_slash, dot_star, dirs_opt, klass, begin_anchor };
  struct Tok {
    Kind kind;
    char32_t c = 0;
    bool negated = false;
    std::vector<std::pair<char32_t, char32_t>> ranges;
  };
  std::string cleaned;
  bool exclusion = false;
  std::vector<Tok> toks;
  std::string literal_prefix;  // the part before the first wildcard, for can_skip_dir

  bool match(std::string_view path) const {
    std::vector<char32_t> t = runes(path);
    std::vector<char> cur(t.size() + 1, 0), next(t.size() + 1, 0);
    cur[0] = 1;
    for (const Tok& k : toks) {
      std::fill(next.begin(), next.end(), 0);
      bool any = false;
      for (size_t p = 0; p <= t.size(); ++p) {
        if (!cur[p]) continue;
        switch (k.kind) {
          case lit:
            if (p < t.size() && t[p] == k.c) next[p + 1] = 1;
            break;
          case any_but_slash:
            if (p < t.size() && t[p] != '/' && t[p] != '\n') next[p + 1] = 1;
            break;
          case star_but_slash: {
            next[p] = 1;
            for (size_t q = p; q < t.size() && t[q] != '/' && t[q] != '\n'; ++q) next[q + 1] = 1;
            break;
          }
          case dot_star: {
            next[p] = 1;
            for (size_t q = p; q < t.size() && t[q] != '\n'; ++q) next[q + 1] = 1;
            break;
          }
          case dirs_opt: {  // (.*/)?
            next[p] = 1;
            for (size_t q = p; q < t.size() && t[q] != '\n'; ++q)
              if (t[q] == '/') next[q + 1] = 1;
            break;
          }
          case klass:
            if (p < t.size() && t[p] != '\n') {
              bool in = false;
              for (const auto& [lo, hi] : k.ranges)
                if (t[p] >= lo && t[p] <= hi) in = true;
              if (in != k.negated) next[p + 1] = 1;
            }
            break;
          case begin_anchor:
            if (p == 0) next[0] = 1;
            break;
        }
      }
      std::swap(cur, next);
      for (char c : cur) any = any || c;
      if (!any) return false;
    }
    return cur[t.size()] != 0;
  }
};

namespace {

using P = PatternMatcher::Pattern;

[[noreturn]] void bad_pattern(std::string_view what, const std::string& pattern, const std::string& why) {
  std::string kind = what.empty() ? std::string() : std::string(what) + " ";
  throw Error(ErrorKind::invalid_argument, "invalid " + kind + "pattern \"" + pattern + "\": " + why);
}

// A character class after its '['; `i` ends on the closing ']'.
P::Tok compile_class(const std::vector<char32_t>& r, size_t& i, std::string_view what, const std::string& p) {
  P::Tok k{P::klass};
  size_t j = i + 1;
  if (j < r.size() && r[j] == '^') {
    k.negated = true;
    ++j;
  }
  bool first = true, closed = false;
  while (j < r.size()) {
    char32_t lo = r[j];
    if (lo == ']' && !first) {
      closed = true;
      break;
    }
    first = false;
    if (lo == '\\') {
      if (++j >= r.size()) break;
      lo = r[j];
    }
    char32_t hi = lo;
    if (j + 2 < r.size() && r[j + 1] == '-' && r[j + 2] != ']') {
      j += 2;
      hi = r[j];
      if (hi == '\\') {
        if (++j >= r.size()) break;
        hi = r[j];
      }
      if (hi < lo) bad_pattern(what, p, "bad character range");
    }
    k.ranges.emplace_back(lo, hi);
    ++j;
  }
  if (!closed) bad_pattern(what, p, "unclosed character class '['");
  i = j;
  return k;
}

std::shared_ptr<P> compile(std::string_view text, std::string_view what) {
  auto pat = std::make_shared<P>();
  std::string p(trim(text));
  if (p.empty()) return nullptr;
  p = clean_path(p);
  if (p[0] == '!') {
    if (p.size() == 1) bad_pattern(what, p, "illegal exclusion pattern \"!\"");
    pat->exclusion = true;
    p.erase(0, 1);
  }
  if (p.size() > 1 && p[0] == '/') p.erase(0, 1);
  pat->cleaned = p;
  std::vector<char32_t> r = runes(p);
  bool wildcard_seen = false;
  size_t byte = 0;  // offset of r[i] in p
  for (size_t i = 0; i < r.size(); ++i) {
    char32_t c = r[i];
    if (!wildcard_seen && (c == '*' || c == '?' || c == '[' || c == '\\')) {
      wildcard_seen = true;
      pat->literal_prefix = p.substr(0, byte);
    }
    byte += decode(p, byte).len;
    if (c == '*') {
      if (i + 1 < r.size() && r[i + 1] == '*') {
        ++i;
        byte += 1;
        if (i + 1 < r.size() && r[i + 1] == '/') {  // "**/" is "**"
          ++i;
          byte += 1;
        }
        pat->toks.push_back({i + 1 == r.size() ? P::dot_star : P::dirs_opt});
      } else {
        pat->toks.push_back({P::star_but_slash});
      }
    } else if (c == '?') {
      pat->toks.push_back({P::any_but_slash});
    } else if (c == '\\') {
      if (i + 1 >= r.size()) bad_pattern(what, p, "trailing backslash");
      pat->toks.push_back({P::lit, r[++i]});
      byte += decode(p, byte).len;
    } else if (c == '[') {
      size_t from = i;
      pat->toks.push_back(compile_class(r, i, what, p));
      for (size_t k = from + 1; k <= i; ++k) byte += decode(p, byte).len;
    } else if (c == '^') {
      // Not escaped by patternmatcher, so it is a regexp anchor.
      pat->toks.push_back({P::begin_anchor});
    } else {
      pat->toks.push_back({P::lit, c});
    }
  }
  if (!wildcard_seen) pat->literal_prefix = p;
  return pat;
}

}  // namespace

PatternMatcher::PatternMatcher(const std::vector<std::string>& patterns, std::string_view what) {
  for (const auto& p : patterns) {
    auto pat = compile(p, what);
    if (!pat) continue;
    has_exceptions_ = has_exceptions_ || pat->exclusion;
    std::string shown = pat->cleaned;
    if (pat->exclusion) shown.insert(shown.begin(), '!');
    texts_.push_back(std::move(shown));
    patterns_.push_back(std::move(pat));
  }
}

bool PatternMatcher::matches(std::string_view path_in) const {
  std::string file = clean_path(path_in);
  if (file.size() > 1 && file[0] == '/') file.erase(0, 1);
  std::vector<std::string_view> parents;
  if (auto slash = file.rfind('/'); slash != std::string::npos) {
    std::string_view parent = std::string_view(file).substr(0, slash);
    for (size_t i = 0; i <= parent.size(); ++i)
      if (i == parent.size() || parent[i] == '/') parents.push_back(parent.substr(0, i));
  }
  bool matched = false;
  for (const auto& p : patterns_) {
    // An inclusion cannot change a match, nor an exclusion a non-match.
    if (p->exclusion != matched) continue;
    bool m = p->match(file);
    for (size_t i = 0; !m && i < parents.size(); ++i) m = p->match(parents[i]);
    if (m) matched = !p->exclusion;
  }
  return matched;
}

namespace {

// Whether a pattern whose fixed prefix is `lit` could match `dir` or a path
// below it: unless the prefix leads elsewhere.
bool prefix_reaches(const std::string& lit, const std::string& dir_slash) {
  size_t n = std::min(lit.size(), dir_slash.size());
  return lit.compare(0, n, dir_slash, 0, n) == 0;
}

std::string as_dir(std::string_view dir_in) {
  std::string dir = clean_path(dir_in);
  if (dir.size() > 1 && dir[0] == '/') dir.erase(0, 1);
  return dir == "." ? std::string() : dir + "/";
}

}  // namespace

bool PatternMatcher::can_skip_dir(std::string_view dir_in) const {
  if (!matches(dir_in)) return false;
  if (!has_exceptions_) return true;
  std::string with_slash = as_dir(dir_in);
  for (const auto& p : patterns_)
    if (p->exclusion && prefix_reaches(p->literal_prefix, with_slash)) return false;
  return true;
}

bool PatternMatcher::could_match_below(std::string_view dir_in) const {
  std::string with_slash = as_dir(dir_in);
  for (const auto& p : patterns_)
    if (!p->exclusion && prefix_reaches(p->literal_prefix, with_slash)) return true;
  return false;
}

}  // namespace xb
