// Path patterns of COPY/ADD, private to solver/: Go's filepath.Match (the
// wildcards of source paths) and BuildKit's patternmatcher (--exclude and
// --parents patterns: .dockerignore syntax with `**` and `!` exceptions).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xb {

// Go filepath.Match on one string: '*' and '?' never match '/'; [a-z],
// [^x], '\\' escapes. A malformed pattern matches nothing (BuildKit ignores
// ErrBadPattern).
bool go_path_match(std::string_view pattern, std::string_view name);

// Whether one path element has an unescaped '*', '?' or '['.
bool has_wildcards(std::string_view element);

// Splits a cleaned absolute source path at its first element with a
// wildcard: ("/src", "*/x.txt"). The second part is empty without wildcards.
std::pair<std::string, std::string> split_wildcards(std::string_view path);

// Lexical cleaning like Go's path.Clean, for '/'-separated paths.
std::string clean_path(std::string_view path);

// patternmatcher semantics: the last matching pattern wins, `!` negates; a
// pattern also matches everything below a directory it matches.
class PathPatterns {
 public:
  PathPatterns() = default;
  explicit PathPatterns(const std::vector<std::string>& patterns);

  bool empty() const { return patterns_.empty(); }
  bool has_exceptions() const { return has_exceptions_; }
  // `path` relative, '/'-separated, no leading slash.
  bool matches(std::string_view path) const;
  // Whether something below directory `dir` could match (used to prune
  // walks for --parents include patterns).
  bool could_match_below(std::string_view dir) const;

 private:
  struct Pattern {
    std::vector<std::string> parts;  // "**" as its own element
    bool exception = false;
  };
  static bool match_parts(const std::vector<std::string>& parts, const std::vector<char>& elem, size_t path_size,
                          size_t end);
  std::vector<Pattern> patterns_;
  bool has_exceptions_ = false;
};

// Splits "a/b/c" into its non-empty elements.
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace xb
