// Build-context fingerprints for the cache keys of COPY and ADD: the content
// key of exactly the files one instruction selects (DESIGN.md, "Cache keys
// are content addresses"). File contents are fingerprinted with XXH3-128; a
// stat cache spares re-reading files whose stat has not changed.
//
// Private to solver/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "fileop/copy.h"

namespace xb {

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
  ContextHasher(std::filesystem::path context_dir, IgnorePredicate ignored = {},
                SkipDirPredicate can_skip_dir = {}, std::filesystem::path stat_cache_file = {});
  ~ContextHasher();
  ContextHasher(const ContextHasher&) = delete;
  ContextHasher& operator=(const ContextHasher&) = delete;

  // The content key of the files `selection` takes: relative path, type,
  // mode, owner as copied (0:0), symlink target, size and content hash of
  // each, in a canonical length-prefixed encoding, sha256. Throws not_found
  // naming the pattern when a source does not exist, as copy_files would.
  Digest key(const ContextSelection& selection);

  // Writes the stat cache atomically (last writer wins). No-op without a file.
  void save();

  // Lines worth showing the user (an unreadable stat cache, …).
  const std::vector<std::string>& warnings() const;

  struct Stats {
    uint64_t files_hashed = 0;   // contents read
    uint64_t bytes_hashed = 0;
    uint64_t cache_hits = 0;     // contents not read thanks to the stat cache
  };
  const Stats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xb
