// Path patterns with the semantics of moby/patternmatcher, as BuildKit uses
// it for .dockerignore and for COPY/ADD --exclude (and --parents' include
// patterns): Go filepath.Match syntax plus `**`, `!` exceptions, the last
// matching pattern wins, and a path matches when it or one of its parent
// directories does. The one matcher of xbuild (the frontend reads
// .dockerignore with it, fileop selects with it), with one error rule: a
// malformed pattern is an error, as patternmatcher.New returns one.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

// Lexical cleaning like Go's path.Clean, for '/'-separated paths ("a/../b"
// → "b", "" → ".", "/.." → "/"; a relative path keeps its leading "..").
std::string clean_path(std::string_view path);

// Splits "a/b/c" into its non-empty elements.
std::vector<std::string_view> split_path(std::string_view path);

class PatternMatcher {
 public:
  PatternMatcher() = default;
  // patternmatcher.New: each pattern trimmed and cleaned like
  // filepath.Clean, a leading '/' dropped, blank ones skipped, a leading
  // '!' makes an exception. A malformed one throws Error(invalid_argument)
  // `invalid WHAT pattern "p": why` (WHAT: ".dockerignore", "--exclude");
  // callers add where it was written.
  explicit PatternMatcher(const std::vector<std::string>& patterns, std::string_view what = "");

  // Whether `path` (relative, '/'-separated, e.g. "src/a.o") or one of its
  // parent directories matches (MatchesOrParentMatches).
  bool matches(std::string_view path) const;
  // Whether directory `dir` matches and no exception could re-include
  // anything below it, so that a walk can skip it entirely.
  bool can_skip_dir(std::string_view dir) const;
  // Whether something below directory `dir` could match a non-exception
  // pattern (walks for --parents include patterns prune with it).
  bool could_match_below(std::string_view dir) const;

  bool empty() const { return patterns_.empty(); }
  bool has_exceptions() const { return has_exceptions_; }
  // The patterns as compiled ("!" kept on exceptions).
  const std::vector<std::string>& patterns() const { return texts_; }

  struct Pattern;  // private; defined in pattern.cc

 private:
  std::vector<std::shared_ptr<const Pattern>> patterns_;
  std::vector<std::string> texts_;
  bool has_exceptions_ = false;
};

}  // namespace xb
