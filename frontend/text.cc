#include "frontend/text.h"

#include <cctype>
#include <cstdio>

namespace xb::frontend::text {

char32_t decode_slow(std::string_view s, size_t i, size_t& len) {
  auto b0 = static_cast<unsigned char>(s[i]);
  len = 1;
  if (b0 < 0x80) return b0;
  int n = 0;
  char32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 1;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 2;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 3;
    cp = b0 & 0x07;
  } else {
    return b0;
  }
  if (i + static_cast<size_t>(n) >= s.size()) return b0;
  for (int k = 1; k <= n; ++k) {
    auto b = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
    if ((b & 0xC0) != 0x80) return b0;
    cp = (cp << 6) | (b & 0x3F);
  }
  // Reject overlong forms and surrogates, as Go does.
  if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return b0;
  len = static_cast<size_t>(n) + 1;
  return cp;
}

void append_utf8_slow(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_space_slow(char32_t c) {
  switch (c) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200A;
  }
}

static bool is_unicode_punct(char32_t c) {
  return (c >= 0x80 && c <= 0xBF && c != 0xAA && c != 0xB5 && c != 0xBA) || c == 0xD7 || c == 0xF7 ||
         (c >= 0x2000 && c <= 0x206F) || (c >= 0x3000 && c <= 0x3003) || (c >= 0xFF01 && c <= 0xFF0F) ||
         (c >= 0xFE30 && c <= 0xFE4F);
}

bool is_digit(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 0x660 && c <= 0x669) || (c >= 0x6F0 && c <= 0x6F9) ||
         (c >= 0x966 && c <= 0x96F) || (c >= 0xFF10 && c <= 0xFF19);
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return !is_space(c) && !is_unicode_punct(c) && !is_digit(c);
}

std::string_view trim_left_space(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len;
    char32_t c = decode(s, i, len);
    if (!is_space(c)) break;
    i += len;
  }
  return s.substr(i);
}

std::string_view trim_space(std::string_view s) {
  s = trim_left_space(s);
  // Trailing: walk back over ASCII spaces and the multi-byte spaces we know.
  while (!s.empty()) {
    size_t start = s.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && s.size() - start < 4) --start;
    size_t len;
    char32_t c = decode(s, start, len);
    if (start + len != s.size()) {
      // The tail is not one well-formed character; check the last byte alone.
      c = static_cast<unsigned char>(s.back());
      start = s.size() - 1;
      if (c >= 0x80) break;
    }
    if (!is_space(c)) break;
    s = s.substr(0, start);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

static bool is_printable(char32_t c) {
  if (c < 0x20 || c == 0x7F) return false;
  if (c >= 0x80 && c < 0xA0) return false;
  if (c == 0xAD) return false;  // soft hyphen (format character)
  if (c >= 0xD800 && c <= 0xDFFF) return false;
  if (c == 0xFEFF || (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) ||
      c == 0xFFFE || c == 0xFFFF)
    return false;
  if (is_space(c) && c != ' ') return false;
  if (c >= 0xE000 && c <= 0xF8FF) return false;  // private use
  return c <= 0x10FFFF;
}

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    size_t len;
    char32_t c = decode(s, i, len);
    bool invalid = len == 1 && c >= 0x80;
    if (invalid) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (is_printable(c)) {
      out.append(s.substr(i, len));
    } else {
      switch (c) {
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (c < 0x20 || c == 0x7F) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
          else if (c < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          else std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
          out += buf;
      }
    }
    i += len;
  }
  out += '"';
  return out;
}

std::vector<std::string> variables(std::string_view w, char escape) {
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

}  // namespace xb::frontend::text
