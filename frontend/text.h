// Private to frontend/: the little Unicode and Go-compatibility helpers that
// the parser, the lexer and the dumper share (BuildKit is written in Go, and
// its output depends on Go's notion of a space, a letter and a quoted string).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xb::frontend::text {

// Decodes the UTF-8 sequence at s[i]; returns the code point and sets len.
// An invalid byte decodes as itself with len 1 (Go would say U+FFFD; we keep
// the byte so that nothing the user wrote is altered).
char32_t decode_slow(std::string_view s, size_t i, size_t& len);
inline char32_t decode(std::string_view s, size_t i, size_t& len) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    len = 1;
    return b;
  }
  return decode_slow(s, i, len);
}
void append_utf8_slow(std::string& out, char32_t cp);
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) out.push_back(static_cast<char>(cp));
  else append_utf8_slow(out, cp);
}

// Go's unicode.IsSpace.
bool is_space_slow(char32_t c);
inline bool is_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
  return is_space_slow(c);
}
// Go's unicode.IsLetter / IsDigit, exact for ASCII and approximate beyond
// (every non-space, non-punctuation code point above U+007F is a letter).
bool is_letter(char32_t c);
bool is_digit(char32_t c);

// strings.TrimSpace / TrimLeftFunc(unicode.IsSpace).
std::string_view trim_space(std::string_view s);
std::string_view trim_left_space(std::string_view s);

// ASCII lower/upper case.
std::string lower(std::string_view s);
std::string upper(std::string_view s);

// Go's strconv.Quote: "…" with Go escapes, printable Unicode kept.
std::string go_quote(std::string_view s);

// The byte offset of the first occurrence of '=' (npos if none).
// The variables a word refers to ($x, ${x}, ${x:-…}), escaped ones aside,
// in order (the build checks and the outline subrequest).
std::vector<std::string> variables(std::string_view w, char escape);

inline bool contains(std::string_view s, char c) { return s.find(c) != std::string_view::npos; }

}  // namespace xb::frontend::text
