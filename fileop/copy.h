// COPY and ADD, as BuildKit performs them (docs/dev/copy.md lists each rule
// and where it was checked): wildcards, the directory-contents rule, the
// trailing-slash rule, --chown/--chmod/--exclude/--parents, local archives
// unpacked by ADD, ADD of http(s) URLs with --checksum, heredoc sources.
//
// Private to solver/. Every path inside the target is resolved as a chroot
// would resolve it: a symlink in the target can never lead a write outside
// the target root, and a source path can never leave its source root.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"

namespace xb {

// An owner as numbers, the only form the file system knows.
struct Owner {
  uint32_t uid = 0;
  uint32_t gid = 0;
  auto operator<=>(const Owner&) const = default;
};

// The .dockerignore matcher of a build context: true when `rel_path`
// (relative to the context root, no leading slash, '/'-separated) is not part
// of the context.
using IgnorePredicate = std::function<bool(std::string_view rel_path, bool is_dir)>;
// True when nothing under the ignored directory `rel_dir` can be re-included
// (no exception pattern reaches below it), so a walk may skip it entirely.
using SkipDirPredicate = std::function<bool(std::string_view rel_dir)>;

// One source of a COPY or ADD instruction.
struct CopySource {
  enum class Kind {
    path,     // `pattern` relative to `root` (the build context or another stage's root);
              // an http(s) URL here is taken as Kind::url for ADD, refused for COPY
    url,      // ADD https://…: `pattern` is the URL
    content,  // a heredoc (`COPY <<EOF /dest`): `pattern` is its name, `content` its bytes
  };
  Kind kind = Kind::path;
  // Host directory the pattern is relative to. Kind::url: the directory
  // holding the download already (empty: copy_files downloads it).
  std::filesystem::path root;
  // Kind::url without --checksum: the content the step's cache key was
  // computed from; a download made by copy_files must have it.
  std::optional<Digest> expected;
  // As written after word expansion: "src/*.txt", "/x", "../y" (`..` and a
  // leading `/` stay inside `root`, as in BuildKit).
  std::string pattern;
  // Kind::content: the file's bytes.
  std::string content;
  // true: the build context (files become 0:0, as BuildKit's context transfer
  // resets owners); false: another stage or image (owners are kept).
  bool from_context = true;
  // Context only: the .dockerignore matcher (empty: nothing is ignored).
  IgnorePredicate ignored;
  SkipDirPredicate can_skip_dir;
};

// --chmod: octal ("0755") or symbolic as chmod(1) ("u+x,g-w", "a=rX"; no
// umask: a missing who means a), BuildKit's non-octal --chmod.
struct Chmod {
  std::optional<uint32_t> octal;
  std::string symbolic;  // validated by parse_chmod()
  // The permission bits (07777) an entry with st_mode `mode` gets.
  uint32_t apply(uint32_t mode) const;
};

struct CopyOptions {
  // The destination as written ("/app/", "rel", "."); relative paths are
  // resolved against `workdir`; a trailing '/' makes it a directory.
  std::string dest;
  std::string workdir = "/";
  // --chown=user[:group], numbers or names looked up in the TARGET root's
  // /etc/passwd and /etc/group. Empty: no --chown.
  std::string chown;
  // --chmod, already parsed with parse_chmod().
  std::optional<Chmod> chmod;
  // --exclude patterns (.dockerignore syntax), relative to each copied source.
  std::vector<std::string> excludes;
  // --parents: keep each source's path (below an optional "/./" pivot).
  bool parents = false;
  // --link: the same files as without; recorded so callers can pass it through.
  bool link = false;
  // ADD: unpack local tar archives (any compression), allow URLs.
  bool add = false;
  // ADD --unpack: false keeps local archives as they are, true unpacks a
  // downloaded one too; unset: local archives only.
  std::optional<bool> unpack;
  // ADD --checksum for a URL source: the download must have this sha256.
  std::optional<Digest> checksum;
};

// Performs one COPY/ADD into `target_root` (the host path of the target's
// writable root file system). Throws xb::Error with one line naming the
// source or destination on failure.
void copy_files(const std::filesystem::path& target_root, const std::vector<CopySource>& sources,
                const CopyOptions& options);

// "0755" → octal 0755; "u+x,g-w" → symbolic. Octal at most 07777; anything
// else throws invalid_argument with BuildKit's wording.
Chmod parse_chmod(std::string_view text);

// Resolves a --chown value against the target root's /etc/passwd and
// /etc/group (read inside the root). "1000" means 1000:1000, "name" means
// the user's uid and primary group, as BuildKit does. A name found in
// neither file is an error ("unable to find user NAME: …", as runc says for
// USER) unless unknown_is_root: BuildKit gives 0 silently, which hands files
// meant for an unprivileged user to root without a word (README: deliberate
// difference). "root" is 0 even without the files (scratch images).
Owner resolve_chown(const std::filesystem::path& target_root, std::string_view spec, bool unknown_is_root = false);

// The destination path inside the target, as BuildKit computes it: absolute,
// cleaned, trailing '/' kept ("rel/" with workdir "/w" → "/w/rel/").
std::string resolve_dest_path(std::string_view dest, std::string_view workdir);

}  // namespace xb
