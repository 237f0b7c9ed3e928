// The real Transport: libcurl, one easy handle per thread so that
// connections (and TLS sessions) are reused across requests.
#include <curl/curl.h>

#include <openssl/x509_vfy.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

#include "common/error.h"
#include "common/fs.h"
#include "common/interrupt.h"
#include "registry/internal.h"
#include "registry/registry.h"

namespace xb::registry {

std::optional<std::string> HttpResponse::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

namespace {

std::once_flag g_curl_init;

struct EasyHandle {
  CURL* h = nullptr;
  EasyHandle() {
    std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    h = curl_easy_init();
    if (!h) fail(ErrorKind::internal, "curl_easy_init failed");
  }
  ~EasyHandle() { curl_easy_cleanup(h); }
};

struct Transfer {
  CURL* h;
  const HttpRequest* request;
  const BodySink* sink;
  HttpResponse response;
  bool headers_done = false;
  bool aborted = false;
  bool too_large = false;    // response.body passed request->max_body
  std::exception_ptr error;  // thrown by the sink or on_headers

  int status() {
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return static_cast<int>(code);
  }
  bool is_redirect(int s) const { return request->follow_redirects && s >= 300 && s < 400 && s != 304; }
  void finish_headers() {
    if (headers_done) return;
    headers_done = true;
    response.status = status();
    if (request->on_headers && !is_redirect(response.status)) request->on_headers(response);
  }
};

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after a redirect or a 100 Continue): start over.
    t->response.headers.clear();
    t->headers_done = false;
    return size * n;
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) {
    int s = t->status();
    if (s >= 200 && !t->is_redirect(s) && s != 100) {
      try {
        t->finish_headers();
      } catch (...) {
        t->error = std::current_exception();
        return 0;
      }
    }
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = lower(std::string(line.substr(0, colon)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  auto& slot = t->response.headers[name];
  slot = slot.empty() ? std::string(value) : slot + ", " + std::string(value);
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  try {
    t->finish_headers();
    int s = t->response.status;
    if (t->sink && s >= 200 && s < 300) {
      if (!(*t->sink)(std::string_view(data, len))) {
        t->aborted = true;
        return 0;
      }
    } else {
      if (t->request->max_body && t->response.body.size() + len > t->request->max_body) {
        t->too_large = true;
        return 0;
      }
      t->response.body.append(data, len);
    }
  } catch (...) {
    t->error = std::current_exception();
    return 0;
  }
  return len;
}

// The part of a file being uploaded; reports progress as curl takes it.
struct UploadBody {
  std::FILE* file = nullptr;
  uint64_t remaining = 0;
  uint64_t sent = 0;
  const std::function<void(uint64_t)>* progress = nullptr;
  const std::function<void(std::string_view)>* observe = nullptr;
  std::exception_ptr error;  // thrown by observe
};

size_t on_read(char* buf, size_t size, size_t n, void* user) {
  auto* b = static_cast<UploadBody*>(user);
  size_t want = static_cast<size_t>(std::min<uint64_t>(size * n, b->remaining));
  if (want == 0) return 0;
  size_t got = std::fread(buf, 1, want, b->file);
  if (got == 0) return CURL_READFUNC_ABORT;  // the file shrank: never send a short body as complete
  if (b->observe && *b->observe) {
    try {
      (*b->observe)(std::string_view(buf, got));
    } catch (...) {
      b->error = std::current_exception();
      return CURL_READFUNC_ABORT;
    }
  }
  b->remaining -= got;
  b->sent += got;
  if (b->progress && *b->progress) (*b->progress)(b->sent);
  return got;
}

// Called by curl at least once a second, also while nothing arrives: a
// signal stops the transfer here.
int on_xferinfo(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) { return interrupted() ? 1 : 0; }

// The system CAs plus a registry's certs.d *.crt, as one PEM blob: curl
// takes one CA file, and docker adds a registry's CAs to the system ones.
// Built once per set of files.
std::string ca_bundle(CURL* h, const std::vector<std::filesystem::path>& extra) {
  static std::mutex mu;
  static std::map<std::vector<std::filesystem::path>, std::string> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(extra); it != cache.end()) return it->second;
  std::string pem;
  const char* system = std::getenv("SSL_CERT_FILE");
  char* builtin = nullptr;
  if (!system || !*system) {
    curl_easy_getinfo(h, CURLINFO_CAINFO, &builtin);
    system = builtin;
  }
  if (system && *system) {
    try {
      pem = read_file(system) + "\n";
    } catch (const Error&) {
      // No system bundle: the registry's CAs alone.
    }
  }
  for (const auto& f : extra) {
    try {
      pem += read_file(f) + "\n";
    } catch (const Error& e) {
      fail(ErrorKind::invalid_argument, std::string("cannot read CA certificate ") + f.string() + ": " + e.what());
    }
  }
  return cache[extra] = pem;
}

void apply_tls(CURL* h, const TlsSettings& tls) {
  // libcurl ignores these; Go's crypto/x509 (docker, podman) honours them.
  if (const char* f = std::getenv("SSL_CERT_FILE"); f && *f) curl_easy_setopt(h, CURLOPT_CAINFO, f);
  if (const char* d = std::getenv("SSL_CERT_DIR"); d && *d) curl_easy_setopt(h, CURLOPT_CAPATH, d);
  if (!tls.verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!tls.ca_files.empty()) {
    std::string pem = ca_bundle(h, tls.ca_files);  // CURL_BLOB_COPY: curl keeps its own copy
    curl_blob blob{pem.data(), pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!tls.client_cert.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLCERT, tls.client_cert.c_str());
    curl_easy_setopt(h, CURLOPT_SSLKEY, tls.client_key.c_str());
  }
}

bool has(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

// A TLS failure in one line saying what failed and what to do; nullopt
// for failures that are not about TLS (connection refused, reset, …).
std::optional<std::string> tls_failure(CURL* h, CURLcode rc, std::string_view err, const TlsSettings& tls) {
  std::string hint = tls.ca_hint.empty() ? std::string("certs.d") : tls.ca_hint.string();
  std::string dir = tls.ca_hint.empty() ? hint : tls.ca_hint.parent_path().string();
  std::string name = tls.registry;  // without the port: what the certificate must name
  if (!name.empty() && name[0] == '[') name = name.substr(1, name.find(']') - 1);
  else if (auto colon = name.rfind(':'); colon != std::string::npos) name.resize(colon);
  if (rc == CURLE_PEER_FAILED_VERIFICATION) {
    long v = 0;
    curl_easy_getinfo(h, CURLINFO_SSL_VERIFYRESULT, &v);
    switch (v) {
      case X509_V_ERR_CERT_HAS_EXPIRED: return "TLS certificate has expired (the registry must renew it)";
      case X509_V_ERR_CERT_NOT_YET_VALID: return "TLS certificate is not valid yet (check the clocks)";
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return "TLS certificate signed by unknown authority (to trust it, put the registry's CA certificate in " +
               hint + ")";
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "TLS certificate is not valid for the name " + name + " (name mismatch)";
      default: break;
    }
    if (has(err, "subject name") || has(err, "does not match"))
      return "TLS certificate is not valid for the name " + name + " (name mismatch)";
    return "TLS certificate verification failed: " + std::string(X509_verify_cert_error_string(v));
  }
  if (rc == CURLE_SSL_CERTPROBLEM)
    return "cannot use the client certificate " + tls.client_cert.string() + ": " + std::string(err);
  if (rc == CURLE_SSL_CACERT_BADFILE) return "cannot use the CA certificates: " + std::string(err);
  if (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR) {
    if (has(err, "wrong version number") || has(err, "packet length too long") || has(err, "http request"))
      return std::string(kPlainHttpOnTlsPort) + ", on this port (if it is meant to, list " + tls.registry +
             " in \"insecure-registries\" of $XBUILD_CONFIG)";
    if (has(err, "certificate required") || has(err, "handshake failure") || has(err, "bad certificate") ||
        has(err, "unknown ca")) {
      if (tls.client_cert.empty())
        return "requires a TLS client certificate (put client.cert and client.key in " + dir + ")";
      return "rejected the TLS client certificate " + tls.client_cert.string();
    }
    if (rc == CURLE_SSL_CONNECT_ERROR) return "TLS handshake failed: " + std::string(err);
  }
  return std::nullopt;
}

class CurlTransport : public Transport {
 public:
  HttpResponse send(const HttpRequest& req, const BodySink* sink) override {
    thread_local EasyHandle easy;
    CURL* h = easy.h;
    curl_easy_reset(h);
    Transfer t{h, &req, sink, {}};
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled transfer counts as a dropped connection (the client retries it).
    if (req.low_speed_bytes && req.low_speed_seconds) {
      curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(req.low_speed_bytes));
      curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(req.low_speed_seconds));
    }
    if (req.timeout_ms > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "xbuild/0.1");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
    bool https = req.url.rfind("https://", 0) == 0;
    if (https) apply_tls(h, req.tls);
    curl_slist* headers = nullptr;
    for (const auto& [k, v] : req.headers) headers = curl_slist_append(headers, (k + ": " + v).c_str());
    // No "Expect: 100-continue" round trip before uploads.
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    std::FILE* upload = nullptr;
    UploadBody body;
    if (req.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!req.body_file.empty()) {
      upload = std::fopen(req.body_file.c_str(), "rb");
      if (!upload) {
        curl_slist_free_all(headers);
        throw_errno("open", req.body_file.string());
      }
      std::fseek(upload, 0, SEEK_END);
      uint64_t file_size = static_cast<uint64_t>(std::ftell(upload));
      uint64_t offset = std::min(req.body_offset, file_size);
      std::fseek(upload, static_cast<long>(offset), SEEK_SET);
      body.file = upload;
      body.remaining = req.body_length ? std::min(*req.body_length, file_size - offset) : file_size - offset;
      body.progress = &req.on_upload_progress;
      body.observe = &req.on_upload_data;
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(h, CURLOPT_READDATA, &body);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.remaining));
      curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
      if (req.method != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    } else if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    } else if (req.method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (upload) std::fclose(upload);
    if (t.error) std::rethrow_exception(t.error);
    if (body.error) std::rethrow_exception(body.error);
    check_interrupt();
    if (t.aborted) fail(ErrorKind::cancelled, req.method + " " + req.url + ": cancelled");
    if (t.too_large)
      fail(ErrorKind::resource_exhausted, req.method + " " + req.url + ": the answer is larger than " +
                                              std::to_string(req.max_body) + " bytes (the \"document-bytes\" limit)");
    if (rc == CURLE_OPERATION_TIMEDOUT && std::string_view(errbuf).find("too slow") != std::string_view::npos)
      fail(ErrorKind::unavailable, req.method + " " + req.url + ": slower than " + std::to_string(req.low_speed_bytes) +
                                       " bytes/s for " + std::to_string(req.low_speed_seconds) +
                                       " s (the low-speed limit)");
    if (rc == CURLE_OPERATION_TIMEDOUT && req.timeout_ms > 0)
      fail(ErrorKind::unavailable,
           req.method + " " + req.url + ": no complete answer within " + std::to_string(req.timeout_ms) + " ms");
    if (rc != CURLE_OK && https) {
      // Not retried: a certificate stays wrong until someone changes it.
      if (auto why = tls_failure(h, rc, errbuf[0] ? errbuf : curl_easy_strerror(rc), req.tls))
        fail(ErrorKind::failed_precondition,
             (req.tls.registry.empty() ? req.url : "registry " + req.tls.registry) + ": " + *why);
    }
    if (rc != CURLE_OK)
      fail(ErrorKind::unavailable,
           req.method + " " + req.url + ": " + (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc)));
    t.finish_headers();
    return std::move(t.response);
  }
};

}  // namespace

std::unique_ptr<Transport> make_curl_transport() { return std::make_unique<CurlTransport>(); }

}  // namespace xb::registry
