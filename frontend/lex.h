// Private to frontend/: BuildKit's shell lexer (frontend/dockerfile/shell)
// with its options, which the parser needs for heredoc detection and the
// public expand_word()/expand_words() wrap.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/frontend.h"

namespace xb::frontend {

struct LexOptions {
  char escape = '\\';
  bool raw_quotes = false;   // keep quote characters in the result
  bool raw_escapes = false;  // keep escape characters in the result
  bool skip_unset = false;   // leave $x / ${x…} of unset variables as written
  bool skip_quotes = false;  // quotes are ordinary characters
};

struct LexResult {
  std::string word;                // ProcessWord's result
  std::vector<std::string> words;  // ProcessWords' result
};

// Throws Error(invalid_argument, "failed to process \"…\": …").
LexResult lex(std::string_view input, const EnvLookup& env, const LexOptions& options);

// BuildKit's parser.ParseHeredoc: a heredoc marker word (<<EOF, <<-'EOF',
// 3<<EOF) without content; nullopt if the word is not one (parser.cc).
std::optional<Heredoc> parse_heredoc_marker(std::string_view word);

// An EnvLookup with nothing set.
const EnvLookup& empty_env();

}  // namespace xb::frontend
