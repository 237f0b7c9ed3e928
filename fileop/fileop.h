// File operations: COPY and ADD as BuildKit performs them (wildcards, the
// directory-contents and trailing-slash rules, --chown/--chmod/--exclude/
// --parents, local archives unpacked by ADD, ADD of http(s) URLs with
// --checksum, heredoc sources), the content keys of what they select from a
// build context, and the downloads of ADD <url> (docs/dev/copy.md lists each
// rule and where it was checked). The module's one public header: the
// solver, the bench and the fuzz targets include only this.
//
// Every path inside the target is resolved as a chroot would resolve it
// (common/in_root.h): a symlink in the target can never lead a write outside
// the target root, and a source path can never leave its source root.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/fs.h"
#include "store/store.h"

namespace xb::fileop {

// ───────────────────────────── COPY and ADD ──────────────────────────────

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

// ─────────────────────────── context keys ────────────────────────────────
// Build-context fingerprints for the cache keys of COPY and ADD: the content
// key of exactly the files one instruction selects (DESIGN.md, "Cache keys
// are content addresses"). File contents are fingerprinted with XXH3-128; a
// stat cache spares re-reading files whose stat has not changed.

// What one COPY/ADD instruction takes from the context.
struct ContextSelection {
  // Source patterns as written after expansion (the same strings given to
  // copy_files as CopySource::pattern). http(s) URLs are allowed and add
  // only their text: the caller keys a download (URL, --checksum) itself.
  std::vector<std::string> patterns;
  // --exclude patterns.
  std::vector<std::string> excludes;
  // --parents.
  bool parents = false;
};

// Hashes selections of one context directory. Keep one per build (or per
// context) and ask it for every instruction; call save() at the end to
// persist the stat cache. Not thread-safe (it uses threads inside).
class ContextHasher {
 public:
  // `stat_cache_file` empty: no persistent cache (the in-memory one is still
  // used). A cache file that cannot be read is reported in warnings() and
  // the hasher starts empty.
  ContextHasher(std::filesystem::path context_dir, IgnorePredicate ignored = {}, SkipDirPredicate can_skip_dir = {},
                std::filesystem::path stat_cache_file = {});
  ~ContextHasher();
  ContextHasher(const ContextHasher&) = delete;
  ContextHasher& operator=(const ContextHasher&) = delete;

  // The content key of the files `selection` takes: relative path, type,
  // mode, owner as copied (0:0), symlink target, size and content hash of
  // each, in a canonical length-prefixed encoding, sha256. Throws not_found
  // naming the pattern when a source does not exist, as copy_files would.
  Digest key(const ContextSelection& selection);
  // The same, and what was selected, for explaining a cache miss: each
  // entry's path in the context ('/' at the end for a directory), st_mode
  // and content fingerprint (a file's XXH3-128, "-> target" for a symlink).
  struct Listed {
    std::string path;
    uint32_t mode = 0;
    std::string content;
  };
  Digest key(const ContextSelection& selection, std::vector<Listed>* listing);

  // Writes the stat cache atomically (last writer wins). No-op without a file.
  void save();

  // Lines worth showing the user (an unreadable stat cache, …).
  const std::vector<std::string>& warnings() const;

  struct Stats {
    uint64_t files_hashed = 0;  // contents read
    uint64_t bytes_hashed = 0;
    uint64_t cache_hits = 0;  // contents not read thanks to the stat cache
  };
  const Stats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ───────────────────────────── ADD <url> ──────────────────────────────────
// As BuildKit's http source, a step that adds a URL is keyed by the
// downloaded content (and its Last-Modified time, which becomes the file's
// mtime), never by the URL text alone: a changed remote file reruns the step
// and every step after it. Each download with an ETag is remembered in the
// store (records/http); the next build sends those ETags in If-None-Match,
// and a 304 answer gives the remembered content digest without downloading
// anything (docs/dev/copy.md, "ADD <url>").

// The file name BuildKit gives a download: the URL path's last element
// (percent-decoded, as Go's url.Parse does), or "__unnamed__".
std::string url_file_name(std::string_view url);

// One downloaded file, alone in a temporary directory.
struct Download {
  TempDir dir{"xbuild-add"};
  std::string name;                // the file's name in dir (url_file_name)
  Digest digest = Digest::of("");  // sha256 of its bytes
  int64_t mtime = -1;              // Last-Modified as seconds since the epoch (also the file's mtime); -1: none
  std::string etag;                // as the server sent it (quotes kept); "" when none
};

// GETs url into a new Download (following redirects). With `expected`, the
// content must have that digest: otherwise Error(data_loss) with
// `mismatch` ("checksum mismatch" for --checksum) and both digests. HTTP
// errors name the URL and the status.
std::unique_ptr<Download> download_url(const std::string& url, const std::optional<Digest>& expected = std::nullopt,
                                       std::string_view mismatch = "checksum mismatch");

// What a URL holds now: its content digest and mtime, and the downloaded
// file when this build fetched it (null after a 304: the content is what
// an earlier build fetched, and the step fetches it again only if it runs).
struct UrlContent {
  Digest digest = Digest::of("");
  int64_t mtime = -1;
  std::shared_ptr<Download> file;
};

// Revalidates URLs against the downloads earlier builds remembered in
// `records` (the store's "http" records). One per build; thread-safe; a URL
// is asked for once per build.
class UrlCache {
 public:
  explicit UrlCache(store::Records records) : records_(std::move(records)) {}
  UrlContent resolve(const std::string& url);

 private:
  std::mutex mu_;
  store::Records records_;
  std::map<std::string, UrlContent> resolved_;
};

// ─────────────────────────── remote contexts ─────────────────────────────
// Contexts that are not a host directory (fileop/remote.cc): a git
// repository at one ref, and a tar archive. Each ends in a directory.

// A git repository at one ref, as buildx and BuildKit name it:
// URL#REF:SUBDIR.
struct GitRef {
  std::string remote;  // what git fetches: https://…/r.git, git@host:r, git://…, ssh://…, file:///…
  std::string ref;     // a branch, tag, full ref name or commit; "": the remote's HEAD
  std::string subdir;  // a directory of the checkout ("" : its root), no leading or trailing '/'
  // https://h/r.git#ref:dir, http(s) only with a path ending in .git (else
  // a file to download: nullopt), git@h:r, git://, ssh://, file://,
  // github.com/o/r; nullopt when text is not a git URL.
  static std::optional<GitRef> parse(std::string_view text);
  // As given, credentials in the URL left out: for messages and step names.
  std::string str() const;
};

// Fetches ref.ref of ref.remote (one ref, shallow where the server allows)
// with the machine's git, checks it out, and renames the checkout (or its
// subdir) to `dest`, which must not exist; .git is removed unless
// keep_git_dir (BuildKit's default). Returns the commit. Work happens in a
// temporary directory beside dest, removed on failure or interrupt. Errors
// are one line naming the URL: an unknown ref (not_found), an unreachable
// or refusing remote (unavailable), no git installed (failed_precondition).
std::string git_checkout(const GitRef& ref, const std::filesystem::path& dest, bool keep_git_dir);

// A build context as a stream (stdin spooled to a file, a download): a tar
// archive (plain, gzip, bzip2, xz, zstd) is unpacked into `dir` (which
// exists) by common/tar_extract.h, every name and link contained and a name
// leading out refused; anything else is a Dockerfile, returned as text (as
// docker build reads `-`). `fd` must be seekable. Errors name `display`.
std::optional<std::string> unpack_context(int fd, const std::filesystem::path& dir, const std::string& display);

// ───────────────────────── path helpers (fuzzed) ─────────────────────────

// Go filepath.Match on one string: '*' and '?' never match '/'; [a-z],
// [^x], '\\' escapes. A malformed pattern matches nothing (BuildKit ignores
// ErrBadPattern for source paths; --exclude patterns are checked, see
// common/pattern.h).
bool go_path_match(std::string_view pattern, std::string_view name);

// Splits a cleaned absolute source path at its first element with a
// wildcard: ("/src", "*/x.txt"). The second part is empty without wildcards.
std::pair<std::string, std::string> split_wildcards(std::string_view path);

}  // namespace xb::fileop
