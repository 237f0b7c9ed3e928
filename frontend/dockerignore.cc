// .dockerignore with the semantics of moby/patternmatcher as BuildKit uses
// it: patterns cleaned like filepath.Clean, Go filepath.Match syntax plus
// `**`, `!` exceptions, the last matching pattern wins, and a path is
// excluded when it or one of its parent directories matches.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "frontend/frontend.h"
#include "frontend/text.h"

namespace xb::frontend {

namespace {

// Go's path.Clean on a '/'-separated path.
std::string clean(std::string_view p) {
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

// Runes, with invalid bytes kept distinct (see lex.cc).
std::vector<char32_t> runes(std::string_view s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    char32_t c = text::decode(s, i, len);
    out.push_back(len == 1 && c >= 0x80 ? 0x110000 + c : c);
    i += len;
  }
  return out;
}

}  // namespace

// A compiled pattern: the regular expression patternmatcher builds, as a
// token list matched by a set-of-positions simulation (linear, no backtracking).
struct DockerIgnore::Pattern {
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

[[noreturn]] void bad_pattern(const std::string& pattern, const std::string& why) {
  throw Error(ErrorKind::invalid_argument, "invalid .dockerignore pattern \"" + pattern + "\": " + why);
}

std::shared_ptr<DockerIgnore::Pattern> compile(std::string p) {
  using P = DockerIgnore::Pattern;
  auto pat = std::make_shared<P>();
  p = std::string(text::trim_space(p));
  if (p.empty()) return nullptr;
  p = clean(p);
  if (p[0] == '!') {
    if (p.size() == 1) bad_pattern(p, "illegal exclusion pattern \"!\"");
    pat->exclusion = true;
    p = p.substr(1);
  }
  pat->cleaned = p;
  std::vector<char32_t> r = runes(p);
  bool wildcard_seen = false;
  for (size_t i = 0; i < r.size(); ++i) {
    char32_t c = r[i];
    if (c == '*' || c == '?' || c == '[' || c == '\\') wildcard_seen = true;
    if (!wildcard_seen) {
      if (c >= 0x110000) pat->literal_prefix += static_cast<char>(c - 0x110000);
      else text::append_utf8(pat->literal_prefix, c);
    }
    if (c == '*') {
      if (i + 1 < r.size() && r[i + 1] == '*') {
        ++i;
        if (i + 1 < r.size() && r[i + 1] == '/') ++i;  // "**/" is "**"
        if (i + 1 == r.size()) pat->toks.push_back({P::dot_star});
        else pat->toks.push_back({P::dirs_opt});
      } else {
        pat->toks.push_back({P::star_but_slash});
      }
    } else if (c == '?') {
      pat->toks.push_back({P::any_but_slash});
    } else if (c == '\\') {
      if (i + 1 < r.size()) pat->toks.push_back({P::lit, r[++i]});
      else bad_pattern(p, "trailing backslash");
    } else if (c == '[') {
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
          if (hi < lo) bad_pattern(p, "bad character range");
        }
        k.ranges.emplace_back(lo, hi);
        ++j;
      }
      if (!closed) bad_pattern(p, "unclosed character class '['");
      pat->toks.push_back(std::move(k));
      i = j;
    } else if (c == '^') {
      // Not escaped by patternmatcher, so it is a regexp anchor.
      pat->toks.push_back({P::begin_anchor});
    } else {
      pat->toks.push_back({P::lit, c});
    }
  }
  return pat;
}

}  // namespace

DockerIgnore::DockerIgnore(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    auto pat = compile(p);
    if (!pat) continue;
    has_exclusions_ = has_exclusions_ || pat->exclusion;
    std::string shown = pat->cleaned;
    if (pat->exclusion) shown.insert(shown.begin(), '!');
    texts_.push_back(std::move(shown));
    patterns_.push_back(std::move(pat));
  }
}

DockerIgnore DockerIgnore::parse(std::string_view text, std::string_view file) {
  std::vector<std::string> out;
  size_t i = 0;
  int line_no = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  while (i < text.size()) {
    size_t nl = text.find('\n', i);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(i, nl - i);
    i = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line[0] == '#') continue;
    std::string p(text::trim_space(line));
    if (p.empty()) continue;
    bool invert = p[0] == '!';
    if (invert) p = std::string(text::trim_space(std::string_view(p).substr(1)));
    if (!p.empty()) {
      p = clean(p);
      if (p.size() > 1 && p[0] == '/') p.erase(0, 1);
    }
    if (invert) p.insert(p.begin(), '!');
    try {
      compile(p);
    } catch (Error& e) {
      SourceLocation loc;
      loc.file = std::string(file);
      loc.line = line_no;
      loc.line_text = std::string(line);
      e.at(loc);
      throw;
    }
    out.push_back(std::move(p));
  }
  return DockerIgnore(out);
}

const std::vector<std::string>& DockerIgnore::patterns() const { return texts_; }

bool DockerIgnore::matches(std::string_view path_in) const {
  std::string file = clean(path_in);
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

bool DockerIgnore::can_skip_dir(std::string_view dir_in) const {
  if (!matches(dir_in)) return false;
  if (!has_exclusions_) return true;
  std::string dir = clean(dir_in);
  if (dir.size() > 1 && dir[0] == '/') dir.erase(0, 1);
  std::string with_slash = dir + "/";
  for (const auto& p : patterns_) {
    if (!p->exclusion) continue;
    const std::string& lit = p->literal_prefix;
    // The exception could match below dir unless its fixed prefix leads elsewhere.
    bool diverges = lit.compare(0, std::min(lit.size(), with_slash.size()), with_slash, 0,
                                std::min(lit.size(), with_slash.size())) != 0;
    if (!diverges) return false;
  }
  return true;
}

DockerIgnore read_dockerignore(const std::string& context_dir, const std::string& dockerfile_path,
                               const FileReader& read) {
  namespace fs = std::filesystem;
  FileReader get = read ? read : [](const std::string& p) -> std::optional<std::string> {
    if (!fs::exists(p)) return std::nullopt;
    return read_file(p);
  };
  if (!dockerfile_path.empty()) {
    std::string specific = fs::path(dockerfile_path).string() + ".dockerignore";
    if (auto text = get(specific)) return DockerIgnore::parse(*text, specific);
  }
  std::string generic = (fs::path(context_dir) / ".dockerignore").string();
  if (auto text = get(generic)) return DockerIgnore::parse(*text, generic);
  return DockerIgnore();
}

}  // namespace xb::frontend
