#include "fileop/select.h"

#include <fcntl.h>

#include <cerrno>

#include "common/error.h"

namespace xb::fileop {

namespace {

std::string strip_root(std::string_view abs) {
  while (abs.starts_with('/')) abs.remove_prefix(1);
  return std::string(abs);
}

std::string last_element(std::string_view rel) {
  size_t slash = rel.rfind('/');
  return std::string(slash == std::string_view::npos ? rel : rel.substr(slash + 1));
}

[[noreturn]] void source_not_found(std::string_view shown_pattern, std::string_view resolved) {
  std::string msg = "source \"" + std::string(shown_pattern) + "\": not found";
  if (!resolved.empty() && resolved != shown_pattern) msg += " (looked for \"" + std::string(resolved) + "\")";
  fail(ErrorKind::not_found, msg);
}

// Finds the entries below `dirfd` whose path relative to the wildcard base
// matches `pattern`, as fsutil's resolveWildcards does with filepath.Walk: a
// matching directory is not descended into.
void match_below(int dirfd, const std::string& rel, const std::string& base_rel, const std::string& pattern,
                 size_t depth_left, const SelectFilter& filter, std::vector<std::string>& out, const RootDir& root) {
  for (const auto& name : list_dir(dirfd, root.display(join_rel(base_rel, rel)))) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;
      throw_errno("lstat", root.display(join_rel(join_rel(base_rel, rel), name)));
    }
    std::string crel = join_rel(rel, name);
    std::string croot = join_rel(base_rel, crel);
    bool is_dir = S_ISDIR(st.st_mode);
    bool ignored = filter.is_ignored(croot, is_dir);
    if (ignored && (!is_dir || (filter.can_skip_dir && *filter.can_skip_dir && (*filter.can_skip_dir)(croot)))) {
      continue;
    }
    if (!ignored && go_path_match(pattern, crel)) {
      if (!(filter.excludes && filter.excludes->matches(crel))) out.push_back(croot);
      continue;
    }
    if (is_dir && depth_left > 1) {
      UniqueFd sub = open_subdir(dirfd, name, root.display(croot));
      match_below(sub.get(), crel, base_rel, pattern, depth_left - 1, filter, out, root);
    }
  }
}

}  // namespace

SourcePattern SourcePattern::parse(std::string_view pattern, bool parents) {
  SourcePattern p;
  std::string_view src = pattern;
  if (parents) {
    size_t pivot = pattern.find("/./");
    std::string_view below;
    if (pivot == std::string_view::npos) {
      below = pattern;
      src = "/";
    } else {
      below = pattern.substr(pivot + 3);
      src = pattern.substr(0, pivot);
    }
    p.include = strip_root(clean_path("/" + std::string(below)));
  }
  p.path = clean_path("/" + std::string(src));
  return p;
}

std::vector<SourceMatch> resolve_matches(const RootDir& root, const SourcePattern& pattern, const SelectFilter& filter,
                                         std::string_view shown_pattern) {
  auto [base, wild] = split_wildcards(pattern.path);
  std::vector<std::string> rels;
  if (wild.empty()) {
    rels.push_back(strip_root(base));
  } else {
    RootDir::Resolved b = root.resolve(base, true);
    std::string base_rel = strip_root(b.str());
    if (!b.exists() || !S_ISDIR(b.st.st_mode) || filter.is_absent(base_rel, true)) {
      source_not_found(shown_pattern, base);
    }
    UniqueFd dir = root.open_dir(b.parts);
    size_t depth = split_path(wild).size();
    std::vector<std::string> found;
    match_below(dir.get(), "", base_rel, wild, depth, filter, found, root);
    // Matches are named by the path as written, not the resolved base, so that
    // a file keeps the name the user gave it.
    std::string written_base = strip_root(base);
    for (auto& f : found) {
      std::string below = base_rel.empty() ? f : f.substr(base_rel.size() + 1);
      rels.push_back(join_rel(written_base, below));
    }
  }
  std::vector<SourceMatch> out;
  for (auto& rel : rels) {
    SourceMatch m;
    m.target = root.resolve(rel, true);
    m.target_rel = strip_root(m.target.str());
    bool is_dir = m.target.exists() && S_ISDIR(m.target.st.st_mode);
    if (!m.target.exists() || filter.is_absent(rel, is_dir) || filter.is_absent(m.target_rel, is_dir)) {
      source_not_found(shown_pattern, "/" + rel);
    }
    m.name = last_element(rel);
    m.rel = std::move(rel);
    out.push_back(std::move(m));
  }
  return out;
}

bool walk_entry(int dirfd, const std::string& name, std::string_view rel, std::string_view root_rel,
                const SelectFilter& filter, WalkVisitor& visitor, std::string_view shown) {
  struct stat st;
  std::string crel = join_rel(rel, name);
  std::string croot = join_rel(root_rel, name);
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return false;  // removed while we walk
    throw_errno("lstat", std::string(shown) + "/" + name);
  }
  bool is_dir = S_ISDIR(st.st_mode);
  bool ignored = filter.is_ignored(croot, is_dir);
  bool excluded = filter.excludes && filter.excludes->matches(crel);
  bool included = !filter.includes || filter.includes->empty() || filter.includes->matches(crel);
  bool take = !ignored && !excluded && included;
  WalkEntry e{dirfd, name, st, crel, croot};
  if (!is_dir) {
    if (take) visitor.leaf(e);
    return take;
  }
  if (!take) {
    // Walk an untaken directory only if something below it can be taken.
    if (ignored && filter.can_skip_dir && *filter.can_skip_dir && (*filter.can_skip_dir)(croot)) return false;
    if (excluded && !filter.excludes->has_exceptions()) return false;
    if (!included && !filter.includes->could_match_below(crel)) return false;
  }
  std::string cshown = std::string(shown) + "/" + name;
  UniqueFd sub = open_subdir(dirfd, name, cshown);
  visitor.enter_dir(e, sub.get(), take);
  walk_selected(sub.get(), crel, croot, filter, visitor, cshown);
  visitor.leave_dir(e, take);
  return true;
}

void walk_selected(int dirfd, std::string_view rel, std::string_view root_rel, const SelectFilter& filter,
                   WalkVisitor& visitor, std::string_view shown) {
  for (const auto& name : list_dir(dirfd, shown)) walk_entry(dirfd, name, rel, root_rel, filter, visitor, shown);
}

}  // namespace xb::fileop
