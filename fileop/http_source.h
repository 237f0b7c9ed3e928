// ADD <http(s) URL>: downloads, and what a URL holds now for the cache key
// (private to solver/). As BuildKit's http source, a step that adds a URL
// is keyed by the downloaded content (and its Last-Modified time, which
// becomes the file's mtime), never by the URL text alone: a changed remote
// file reruns the step and every step after it. Each download with an ETag
// is remembered in the store (records/http); the next build sends those
// ETags in If-None-Match, and a 304 answer gives the remembered content
// digest without downloading anything (docs/dev/copy.md, "ADD <url>").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/fs.h"
#include "store/store.h"

namespace xb {

// The file name BuildKit gives a download: the URL path's last element
// (percent-decoded, as Go's url.Parse does), or "__unnamed__".
std::string url_file_name(std::string_view url);

// One downloaded file, alone in a temporary directory.
struct Download {
  TempDir dir{"xbuild-add"};
  std::string name;                // the file's name in dir (url_file_name)
  Digest digest = Digest::of("");  // sha256 of its bytes
  int64_t mtime = -1;  // Last-Modified as seconds since the epoch (also the file's mtime); -1: none
  std::string etag;    // as the server sent it (quotes kept); "" when none
};

// GETs url into a new Download (following redirects). With `expected`, the
// content must have that digest: otherwise Error(data_loss) with
// `mismatch` ("checksum mismatch" for --checksum) and both digests. HTTP
// errors name the URL and the status.
std::unique_ptr<Download> download_url(const std::string& url,
                                       const std::optional<Digest>& expected = std::nullopt,
                                       std::string_view mismatch = "checksum mismatch");

namespace solver {

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

}  // namespace solver
}  // namespace xb
