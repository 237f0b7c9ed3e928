#include "fileop/pattern.h"

#include <cstdint>
#include <optional>

namespace xb::fileop {

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
  if (base.empty()) base.assign(1, '.');
  return {base, rest};
}

}  // namespace xb::fileop
