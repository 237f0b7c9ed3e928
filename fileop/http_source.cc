// ADD <url>: downloads with libcurl, revalidated by ETag as BuildKit's http
// source does (source/http/httpsource.go: If-None-Match with every ETag
// remembered for the URL; a 304 names one of them, or the only one sent).
#include "fileop/fileop.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "fileop/pattern.h"

namespace xb::fileop {

std::string url_file_name(std::string_view url) {
  std::string_view rest = url;
  size_t scheme = rest.find("://");
  if (scheme != std::string_view::npos) rest.remove_prefix(scheme + 3);
  size_t end = rest.find_first_of("?#");
  if (end != std::string_view::npos) rest = rest.substr(0, end);
  size_t slash = rest.find('/');
  std::string path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  std::string decoded;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && std::isxdigit(static_cast<unsigned char>(path[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
      decoded += static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      decoded += path[i];
    }
  }
  auto parts = split_path(decoded);
  if (parts.empty() || parts.back() == "." || parts.back() == "..") return "__unnamed__";
  return std::string(parts.back());
}

namespace {

struct Fetched {
  long status = 0;
  std::string etag;                // the response's ETag header, "" when none
  std::unique_ptr<Download> file;  // null for 304
};

// One GET (or HEAD: status and ETag only); `if_none_match` non-empty makes
// it conditional (a 304 is then an answer, not an error).
Fetched fetch(const std::string& url, const std::string& if_none_match, const std::optional<Digest>& expected,
              std::string_view mismatch, bool head = false) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  auto dl = std::make_unique<Download>();
  dl->name = url_file_name(url);
  std::filesystem::path file = dl->dir.path() / dl->name;
  UniqueFd out = open_or_throw(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  struct Sink {
    int fd;
    Sha256 sha;
    std::string path;
    int err = 0;
  } sink{out.get(), Sha256(), file.string()};
  CURL* curl = curl_easy_init();
  if (!curl) fail(ErrorKind::internal, "ADD " + url + ": curl_easy_init failed");
  struct curl_slist* headers = nullptr;
  struct Cleanup {
    CURL* c;
    struct curl_slist*& h;
    ~Cleanup() {
      curl_easy_cleanup(c);
      curl_slist_free_all(h);
    }
  } cleanup{curl, headers};
  if (!if_none_match.empty()) headers = curl_slist_append(headers, ("If-None-Match: " + if_none_match).c_str());
  if (head) {
    // As BuildKit: some servers give another ETag to another Accept-Encoding,
    // and a GET would send this one.
    headers = curl_slist_append(headers, "Accept-Encoding: gzip");
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  }
  if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  // Only http(s), as Go's client that BuildKit uses: a server must not
  // redirect ADD to file:// (a host file) or ftp://, scp://, … (libcurl
  // follows ftp by default).
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "xbuild");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // The CAs as Go's client (BuildKit's) takes them: SSL_CERT_FILE replaces
  // the system's bundle, SSL_CERT_DIR its directory (libcurl reads neither).
  if (const char* f = std::getenv("SSL_CERT_FILE"); f && *f) curl_easy_setopt(curl, CURLOPT_CAINFO, f);
  if (const char* d = std::getenv("SSL_CERT_DIR"); d && *d) curl_easy_setopt(curl, CURLOPT_CAPATH, d);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
        auto* s = static_cast<Sink*>(user);
        size_t len = size * n;
        try {
          write_all(s->fd, std::string_view(data, len), s->path);
        } catch (...) {
          s->err = errno ? errno : EIO;
          return 0;
        }
        s->sha.update(data, len);
        return len;
      });
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) {
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
      fail(status == 404                      ? ErrorKind::not_found
           : (status == 401 || status == 403) ? ErrorKind::permission_denied
                                              : ErrorKind::unavailable,
           "ADD " + url + ": HTTP " + std::to_string(status));
    }
    if (sink.err) throw_errno("write", sink.path, sink.err);
    if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
      char* where = nullptr;
      curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &where);
      fail(ErrorKind::permission_denied, "ADD " + url + ": redirected to " +
                                             (where ? std::string(where) : "another protocol") +
                                             ": ADD follows redirects to http:// and https:// only");
    }
    fail(ErrorKind::unavailable, "ADD " + url + ": " + (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc)));
  }
  Fetched r;
  r.status = status;
  struct curl_header* h = nullptr;
  if (curl_easy_header(curl, "ETag", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h && h->value) r.etag = h->value;
  if (status == 304 || head) return r;
  if (status < 200 || status >= 300)
    fail(ErrorKind::unavailable, "ADD " + url + ": unexpected HTTP " + std::to_string(status));
  dl->digest = sink.sha.finish();
  dl->etag = r.etag;
  if (expected && dl->digest != *expected) {
    fail(ErrorKind::data_loss,
         "ADD " + url + ": " + std::string(mismatch) + ": expected " + expected->str() + ", got " + dl->digest.str());
  }
  // mtime from Last-Modified when the server sends it, as BuildKit does.
  curl_off_t filetime = -1;
  curl_easy_getinfo(curl, CURLINFO_FILETIME_T, &filetime);
  if (filetime >= 0) {
    dl->mtime = static_cast<int64_t>(filetime);
    struct timespec ts[2] = {{static_cast<time_t>(filetime), 0}, {static_cast<time_t>(filetime), 0}};
    if (::futimens(out.get(), ts) < 0) throw_errno("utimensat", sink.path);
  }
  r.file = std::move(dl);
  return r;
}

// Weak and strong ETags compare alike (BuildKit's etagValue).
std::string etag_value(std::string_view v) {
  if (v.starts_with("W/")) v.remove_prefix(2);
  return std::string(v);
}

}  // namespace

std::unique_ptr<Download> download_url(const std::string& url, const std::optional<Digest>& expected,
                                       std::string_view mismatch) {
  return fetch(url, "", expected, mismatch).file;
}

namespace {

// Remembered downloads per URL: the newest few are enough to recognize a
// server going back and forth between versions.
constexpr size_t kRememberedPerUrl = 8;

struct Remembered {
  std::string etag;
  Digest digest = Digest::of("");
  int64_t mtime = -1;
};

}  // namespace

UrlContent UrlCache::resolve(const std::string& url) {
  std::lock_guard lock(mu_);
  if (auto it = resolved_.find(url); it != resolved_.end()) return it->second;
  // The record is named by the URL's digest and never holds the URL: a URL
  // can be longer than a file name, and can carry credentials or a token.
  const std::string key = std::string(Digest::of(url).hex());
  std::vector<Remembered> known;
  try {
    if (auto j = records_.get_json(key)) {
      for (const auto& e : j->at("downloads"))
        known.push_back({e.at("etag").get<std::string>(), Digest::parse(e.at("digest").get<std::string>()),
                         e.value("mtime", int64_t{-1})});
    }
  } catch (const std::exception&) {
    known.clear();  // an unreadable record only costs a download
  }
  std::string if_none_match;
  for (const auto& k : known) if_none_match += (if_none_match.empty() ? "" : ", ") + k.etag;
  // The remembered download a 200 or 304 answer names, if any. Some servers
  // omit the ETag from a 304 when a single one was asked about.
  auto remembered = [&](const Fetched& f) -> const Remembered* {
    if (f.status != 200 && f.status != 304) return nullptr;
    std::string etag = f.etag.empty() && f.status == 304 && known.size() == 1 ? known.front().etag : f.etag;
    if (etag.empty()) return nullptr;
    auto hit = std::find_if(known.begin(), known.end(),
                            [&](const Remembered& k) { return etag_value(k.etag) == etag_value(etag); });
    return hit == known.end() ? nullptr : &*hit;
  };

  if (!known.empty()) {
    // BuildKit asks with HEAD first, comparing the ETag itself: some servers
    // mishandle If-None-Match on GET though they send ETags.
    try {
      if (const Remembered* hit = remembered(fetch(url, if_none_match, std::nullopt, {}, true)))
        return resolved_[url] = UrlContent{hit->digest, hit->mtime, nullptr};
    } catch (const Error&) {
      // A server that refuses HEAD: the GET decides.
    }
  }
  Fetched f = fetch(url, if_none_match, std::nullopt, {});
  if (f.status == 304) {
    if (const Remembered* hit = remembered(f)) return resolved_[url] = UrlContent{hit->digest, hit->mtime, nullptr};
    f = fetch(url, "", std::nullopt, {});  // a 304 for an ETag we never sent: ask again, unconditionally
    if (!f.file) fail(ErrorKind::unavailable, "ADD " + url + ": HTTP 304 to an unconditional request");
  }
  UrlContent c{f.file->digest, f.file->mtime, std::shared_ptr<Download>(std::move(f.file))};
  if (!c.file->etag.empty()) {
    std::erase_if(known, [&](const Remembered& k) { return etag_value(k.etag) == etag_value(c.file->etag); });
    known.insert(known.begin(), Remembered{c.file->etag, c.digest, c.mtime});
    if (known.size() > kRememberedPerUrl) known.resize(kRememberedPerUrl);
    nlohmann::json j;
    auto& d = j["downloads"] = nlohmann::json::array();
    for (const auto& k : known) d.push_back({{"etag", k.etag}, {"digest", k.digest.str()}, {"mtime", k.mtime}});
    try {
      records_.put_json(key, j);
    } catch (const Error&) {
      // Not remembering only costs a download next time.
    }
  }
  return resolved_[url] = c;
}

}  // namespace xb::fileop
