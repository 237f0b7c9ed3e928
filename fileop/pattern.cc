#include "fileop/pattern.h"

#include <cstdint>
#include <optional>

namespace xb {

namespace {

// Decodes one UTF-8 code point (invalid bytes decode as themselves, one byte
// long, which is what Go's RuneError handling amounts to for matching).
uint32_t decode_rune(std::string_view s, size_t& len) {
  auto b0 = static_cast<unsigned char>(s[0]);
  auto cont = [&](size_t i) -> int {
    if (i >= s.size()) return -1;
    auto b = static_cast<unsigned char>(s[i]);
    return (b & 0xC0) == 0x80 ? (b & 0x3F) : -1;
  };
  if (b0 < 0x80) {
    len = 1;
    return b0;
  }
  if ((b0 & 0xE0) == 0xC0) {
    int c1 = cont(1);
    if (c1 >= 0) {
      len = 2;
      return ((b0 & 0x1Fu) << 6) | static_cast<uint32_t>(c1);
    }
  } else if ((b0 & 0xF0) == 0xE0) {
    int c1 = cont(1), c2 = cont(2);
    if (c1 >= 0 && c2 >= 0) {
      len = 3;
      return ((b0 & 0x0Fu) << 12) | (static_cast<uint32_t>(c1) << 6) | static_cast<uint32_t>(c2);
    }
  } else if ((b0 & 0xF8) == 0xF0) {
    int c1 = cont(1), c2 = cont(2), c3 = cont(3);
    if (c1 >= 0 && c2 >= 0 && c3 >= 0) {
      len = 4;
      return ((b0 & 0x07u) << 18) | (static_cast<uint32_t>(c1) << 12) | (static_cast<uint32_t>(c2) << 6) |
             static_cast<uint32_t>(c3);
    }
  }
  len = 1;
  return 0xFFFD;
}

// Splits off the leading stars and the chunk up to the next unbracketed star.
void scan_chunk(std::string_view& pattern, bool& star, std::string_view& chunk) {
  star = false;
  while (!pattern.empty() && pattern[0] == '*') {
    pattern.remove_prefix(1);
    star = true;
  }
  bool in_range = false;
  size_t i = 0;
  for (; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      if (i + 1 < pattern.size()) ++i;
    } else if (c == '[') {
      in_range = true;
    } else if (c == ']') {
      in_range = false;
    } else if (c == '*' && !in_range) {
      break;
    }
  }
  chunk = pattern.substr(0, i);
  pattern.remove_prefix(i);
}

// One range endpoint of a [...] class; nullopt on a malformed class.
std::optional<uint32_t> get_esc(std::string_view& chunk) {
  if (chunk.empty() || chunk[0] == '-' || chunk[0] == ']') return std::nullopt;
  if (chunk[0] == '\\') {
    chunk.remove_prefix(1);
    if (chunk.empty()) return std::nullopt;
  }
  size_t n;
  uint32_t r = decode_rune(chunk, n);
  chunk.remove_prefix(n);
  if (chunk.empty()) return std::nullopt;
  return r;
}

enum class ChunkResult { match, no_match, bad_pattern };

// Matches `chunk` at the start of `s`; on a match, `rest` is what is left.
ChunkResult match_chunk(std::string_view chunk, std::string_view s, std::string_view& rest) {
  while (!chunk.empty()) {
    switch (chunk[0]) {
      case '[': {
        if (s.empty()) return ChunkResult::no_match;
        size_t n;
        uint32_t r = decode_rune(s, n);
        s.remove_prefix(n);
        chunk.remove_prefix(1);
        bool negated = !chunk.empty() && chunk[0] == '^';
        if (negated) chunk.remove_prefix(1);
        bool matched = false;
        int nrange = 0;
        for (;;) {
          if (!chunk.empty() && chunk[0] == ']' && nrange > 0) {
            chunk.remove_prefix(1);
            break;
          }
          auto lo = get_esc(chunk);
          if (!lo) return ChunkResult::bad_pattern;
          uint32_t hi = *lo;
          if (chunk[0] == '-') {
            chunk.remove_prefix(1);
            auto h = get_esc(chunk);
            if (!h) return ChunkResult::bad_pattern;
            hi = *h;
          }
          if (*lo <= r && r <= hi) matched = true;
          ++nrange;
        }
        if (matched == negated) return ChunkResult::no_match;
        break;
      }
      case '?': {
        if (s.empty() || s[0] == '/') return ChunkResult::no_match;
        size_t n;
        decode_rune(s, n);
        s.remove_prefix(n);
        chunk.remove_prefix(1);
        break;
      }
      case '\\':
        chunk.remove_prefix(1);
        if (chunk.empty()) return ChunkResult::bad_pattern;
        [[fallthrough]];
      default:
        if (s.empty() || chunk[0] != s[0]) return ChunkResult::no_match;
        s.remove_prefix(1);
        chunk.remove_prefix(1);
    }
  }
  rest = s;
  return ChunkResult::match;
}

}  // namespace

bool go_path_match(std::string_view pattern, std::string_view name) {
  while (!pattern.empty()) {
    bool star;
    std::string_view chunk;
    scan_chunk(pattern, star, chunk);
    if (star && chunk.empty()) return name.find('/') == std::string_view::npos;
    std::string_view rest;
    ChunkResult r = match_chunk(chunk, name, rest);
    if (r == ChunkResult::match && (rest.empty() || !pattern.empty())) {
      name = rest;
      continue;
    }
    if (r == ChunkResult::bad_pattern) return false;
    bool advanced = false;
    if (star) {
      for (size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
        r = match_chunk(chunk, name.substr(i + 1), rest);
        if (r == ChunkResult::match) {
          if (pattern.empty() && !rest.empty()) continue;
          name = rest;
          advanced = true;
          break;
        }
        if (r == ChunkResult::bad_pattern) return false;
      }
    }
    if (!advanced) return false;
  }
  return name.empty();
}

bool has_wildcards(std::string_view element) {
  for (size_t i = 0; i < element.size(); ++i) {
    char c = element[i];
    if (c == '\\') {
      ++i;
    } else if (c == '*' || c == '?' || c == '[') {
      return true;
    }
  }
  return false;
}

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

std::string clean_path(std::string_view path) {
  bool absolute = !path.empty() && path[0] == '/';
  std::vector<std::string_view> out;
  for (auto part : split_path(path)) {
    if (part == ".") continue;
    if (part == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (!absolute) {
        out.push_back(part);
      }
      continue;
    }
    out.push_back(part);
  }
  std::string s = absolute ? "/" : "";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i) s += '/';
    s += out[i];
  }
  if (s.empty()) s = ".";
  return s;
}

std::pair<std::string, std::string> split_wildcards(std::string_view path) {
  std::string base = path.starts_with('/') ? "/" : "";
  std::string rest;
  bool found = false;
  for (auto part : split_path(path)) {
    if (!found && has_wildcards(part)) found = true;
    std::string& into = found ? rest : base;
    if (!into.empty() && into.back() != '/') into += '/';
    into += part;
  }
  if (base.empty()) base = ".";
  return {base, rest};
}

PathPatterns::PathPatterns(const std::vector<std::string>& patterns) {
  for (const auto& text : patterns) {
    std::string_view t = text;
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.empty()) continue;
    Pattern p;
    if (t[0] == '!') {
      p.exception = true;
      has_exceptions_ = true;
      t.remove_prefix(1);
    }
    std::string cleaned = clean_path(t);
    if (cleaned.starts_with('/')) cleaned.erase(0, 1);
    if (cleaned == "." || cleaned.empty()) continue;
    for (auto part : split_path(cleaned)) {
      // patternmatcher reads "**" inside an element as "*" that may cross
      // '/'; only a whole "**" element is common, other uses count as "*".
      std::string s(part);
      if (s != "**") {
        for (size_t k; (k = s.find("**")) != std::string::npos;) s.erase(k, 1);
      }
      p.parts.push_back(std::move(s));
    }
    patterns_.push_back(std::move(p));
  }
}

// Whether parts matches path[0, end), by dynamic programming over (pattern
// element, path element): a backtracking walk is exponential in the number
// of "**" elements ("**/**/**/…" against a deep path hung a build).
// elem[i * path_size + j] says whether parts[i] (not "**") matches path[j].
bool PathPatterns::match_parts(const std::vector<std::string>& parts, const std::vector<char>& elem, size_t path_size,
                               size_t end) {
  const size_t P = parts.size(), W = end + 1;
  // ok[i * W + j]: parts[i..] matches path[j, end).
  std::vector<char> ok((P + 1) * W, 0);
  ok[P * W + end] = 1;
  for (size_t i = P; i-- > 0;) {
    if (parts[i] == "**") {
      // Any number of elements, at least one when it is the last element
      // ("a/**" is what is below a): OR of ok[i+1][k] for k >= j + min.
      size_t min = i + 1 == P ? 1 : 0;
      bool any = false;
      for (size_t j = W; j-- > 0;) {
        if (j + min <= end) any = any || ok[(i + 1) * W + j + min];
        ok[i * W + j] = any;
      }
    } else {
      for (size_t j = 0; j < end; ++j) ok[i * W + j] = elem[i * path_size + j] && ok[(i + 1) * W + j + 1];
    }
  }
  return ok[0];
}

bool PathPatterns::matches(std::string_view path) const {
  auto elems = split_path(path);
  bool matched = false;
  std::vector<char> elem;
  for (const auto& p : patterns_) {
    elem.assign(p.parts.size() * elems.size(), 0);
    for (size_t i = 0; i < p.parts.size(); ++i)
      if (p.parts[i] != "**")
        for (size_t j = 0; j < elems.size(); ++j) elem[i * elems.size() + j] = go_path_match(p.parts[i], elems[j]);
    bool m = false;
    // The path itself, or (parent matching) the ancestor with as many elements
    // as the pattern, as patternmatcher does.
    for (size_t n = 1; n <= elems.size() && !m; ++n) m = match_parts(p.parts, elem, elems.size(), n);
    if (m) matched = !p.exception;
  }
  return matched;
}

bool PathPatterns::could_match_below(std::string_view dir) const {
  auto elems = split_path(dir);
  for (const auto& p : patterns_) {
    if (p.exception) continue;
    bool ok = true;
    for (size_t i = 0; i < elems.size(); ++i) {
      if (i >= p.parts.size()) break;  // the pattern matched an ancestor
      if (p.parts[i] == "**") break;
      if (!go_path_match(p.parts[i], elems[i])) {
        ok = false;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

}  // namespace xb
