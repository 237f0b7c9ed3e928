// Which files one COPY/ADD source selects, private to fileop/. Shared by
// copy_files (which copies them) and ContextHasher (which fingerprints
// them), so that a cache key covers exactly what the copy takes.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>
#include <vector>

#include "fileop/fileop.h"
#include "fileop/pattern.h"
#include "fileop/rootfs.h"

namespace xb::fileop {

// One source pattern, parsed as BuildKit's Dockerfile frontend does.
struct SourcePattern {
  std::string path;     // cleaned, absolute inside the source root ("/src/*.txt")
  std::string include;  // --parents: the pattern kept below the pivot ("" otherwise)
  static SourcePattern parse(std::string_view pattern, bool parents);
};

// One thing a source pattern matched.
struct SourceMatch {
  std::string rel;           // as matched, relative to the root ("src/a.txt"; "" for the root)
  std::string name;          // last element of `rel`: the name a file takes in a directory
  RootDir::Resolved target;  // after following symlinks (BuildKit's FollowSymlinks)
  std::string target_rel;    // `target` relative to the root
};

// What may be taken; every pointer may be null.
struct SelectFilter {
  const IgnorePredicate* ignored = nullptr;  // relative to the root (context)
  const SkipDirPredicate* can_skip_dir = nullptr;
  const PatternMatcher* excludes = nullptr;  // relative to the copied source
  const PatternMatcher* includes = nullptr;  // --parents, relative to the copied source
  bool is_ignored(std::string_view root_rel, bool is_dir) const {
    return ignored && *ignored && !root_rel.empty() && (*ignored)(root_rel, is_dir);
  }
  // Whether a path is absent from the context: an ignored file, or an
  // ignored directory below which no exception can re-include anything
  // (such a directory exists in BuildKit's transferred context).
  bool is_absent(std::string_view root_rel, bool is_dir) const {
    if (!is_ignored(root_rel, is_dir)) return false;
    return !is_dir || (can_skip_dir && *can_skip_dir && (*can_skip_dir)(root_rel));
  }
};

// Expands a source pattern: literal paths must exist (not_found otherwise,
// naming the pattern); a wildcard may match nothing (BuildKit allows empty
// wildcards), but its directory must exist.
std::vector<SourceMatch> resolve_matches(const RootDir& root, const SourcePattern& pattern, const SelectFilter& filter,
                                         std::string_view shown_pattern);

struct WalkEntry {
  int dirfd;  // the directory holding the entry
  const std::string& name;
  const struct stat& st;
  std::string_view rel;       // relative to the copied source ("sub/c.md")
  std::string_view root_rel;  // relative to the source root
};

class WalkVisitor {
 public:
  virtual ~WalkVisitor() = default;
  // `included` false: the directory is only walked because something below
  // it may be included (.dockerignore exceptions, --parents patterns); it is
  // copied only if something below it is.
  virtual void enter_dir(const WalkEntry& e, int fd, bool included) = 0;
  virtual void leave_dir(const WalkEntry& e, bool included) = 0;
  // A non-directory entry that is taken.
  virtual void leaf(const WalkEntry& e) = 0;
};

// Walks one entry `name` of directory `dirfd` (and what is below it).
// Returns false when nothing was visited. Thread-safe for distinct entries
// with distinct visitors.
bool walk_entry(int dirfd, const std::string& name, std::string_view rel, std::string_view root_rel,
                const SelectFilter& filter, WalkVisitor& visitor, std::string_view shown);

// Walks the contents of directory `dirfd` (sorted by name).
void walk_selected(int dirfd, std::string_view rel, std::string_view root_rel, const SelectFilter& filter,
                   WalkVisitor& visitor, std::string_view shown);

}  // namespace xb::fileop
