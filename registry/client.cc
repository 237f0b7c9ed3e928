// The distribution client: endpoints (mirrors, then the origin), the token
// and Basic auth flow, retries, and pull/push on top (docs/dev/registry.md).
#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "common/interrupt.h"
#include "common/parallel.h"
#include "common/percent.h"
#include "registry/internal.h"
#include "registry/registry.h"
#include "store/blob_reader.h"

namespace xb::registry {

using nlohmann::json;
using store::Descriptor;
using store::ImageRef;

namespace {

const char* const kManifestAccept =
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

std::string url_encode(std::string_view s) { return percent_encode(s, is_unreserved); }

std::string status_text(int status) {
  switch (status) {
    case 400: return "400 Bad Request";
    case 401: return "401 Unauthorized";
    case 403: return "403 Forbidden";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 416: return "416 Range Not Satisfiable";
    case 429: return "429 Too Many Requests";
    case 500: return "500 Internal Server Error";
    case 502: return "502 Bad Gateway";
    case 503: return "503 Service Unavailable";
    default: return std::to_string(status);
  }
}

// The registry's own words, from {"errors":[{"code":…,"message":…}]}.
std::string registry_message(const HttpResponse& r) {
  try {
    json j = json::parse(r.body);
    if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
      const json& e = j["errors"][0];
      std::string code = e.value("code", "");
      std::string msg = e.value("message", "");
      return code.empty() ? msg : code + ": " + msg;
    }
  } catch (const json::exception&) {
  }
  return {};
}

bool retryable(int status) { return status >= 500 || status == 429 || status == 408; }

}  // namespace

struct Endpoint {
  std::string base;  // "https://registry-1.docker.io", "http://127.0.0.1:5000"
  std::string host;  // "registry-1.docker.io", "127.0.0.1:5000"; names it in messages and credentials
  bool mirror = false;
};

struct ClientImpl {
  ClientOptions opt;
  std::shared_ptr<Transport> transport;
  std::mutex mu;
  std::map<std::string, std::string> auth_headers;  // base|scope → "Bearer …" / "Basic …"
  std::map<std::string, std::optional<Credentials>> creds_cache;
  std::map<std::string, Credentials> fixed_creds;  // login: the credentials being checked
  std::mutex progress_mu;

  explicit ClientImpl(ClientOptions o) : opt(std::move(o)) {
    transport = opt.transport ? opt.transport : std::shared_ptr<Transport>(make_curl_transport());
    if (opt.max_parallel < 1) opt.max_parallel = 1;
    if (opt.max_attempts < 1) opt.max_attempts = 1;
  }

  void progress(const ProgressEvent& e) {
    if (!opt.progress) return;
    std::lock_guard<std::mutex> lock(progress_mu);
    opt.progress(e);
  }

  std::map<std::string, std::string> schemes;  // host → "https://" or "http://", once probed

  // docker's transport rule: HTTPS first; localhost, 127.0.0.0/8 and
  // insecure registries fall back to plain HTTP, decided once per host:
  // HTTPS answered → HTTPS; a plain-HTTP server on the port → HTTP; a TLS
  // server with a certificate problem → HTTPS, so that the problem is what
  // the user sees; no connection → HTTP when a plain request gets an answer
  // other than 400 (what a TLS server says to plain HTTP).
  std::string scheme_for(const std::string& host, const std::string& name) {
    if (!opt.config.may_use_http(name)) return "https://";
    {
      std::lock_guard<std::mutex> lock(mu);
      if (auto it = schemes.find(host); it != schemes.end()) return it->second;
    }
    std::string scheme = "https://";
    HttpRequest req;
    req.url = "https://" + host + "/v2/";
    // A server that neither speaks TLS nor answers it must not hold us long.
    req.timeout_ms = std::min(opt.config.limits.request_seconds, 10) * 1000;
    req.max_body = opt.config.limits.document_bytes;
    try {
      req.tls = opt.config.tls_for(name);
      transport->send(req, nullptr);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::failed_precondition) {
        try {
          req.url = "http://" + host + "/v2/";
          if (transport->send(req, nullptr).status != 400) scheme = "http://";
        } catch (const Error&) {
        }
      } else if (std::string_view(e.what()).find(kPlainHttpOnTlsPort) != std::string_view::npos) {
        scheme = "http://";
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    schemes[host] = scheme;
    return scheme;
  }

  Endpoint origin(const std::string& domain) {
    std::string host = domain == "docker.io" ? "registry-1.docker.io" : domain;
    return Endpoint{scheme_for(host, domain) + host, domain, false};
  }

  std::vector<Endpoint> endpoints(const std::string& domain) {
    std::vector<Endpoint> out;
    if (auto it = opt.config.mirrors.find(domain); it != opt.config.mirrors.end()) {
      for (std::string url : it->second) {
        while (!url.empty() && url.back() == '/') url.pop_back();
        if (url.find("://") == std::string::npos) {
          std::string host = url.substr(0, url.find('/'));
          url = scheme_for(host, host) + url;
        }
        std::string host = url.substr(url.find("://") + 3);
        host = host.substr(0, host.find('/'));
        out.push_back(Endpoint{url, host, true});
      }
    }
    out.push_back(origin(domain));
    return out;
  }

  std::optional<Credentials> credentials(const std::string& host) {
    std::lock_guard<std::mutex> lock(mu);
    if (auto f = fixed_creds.find(host); f != fixed_creds.end()) return f->second;
    auto it = creds_cache.find(host);
    if (it != creds_cache.end()) return it->second;
    std::optional<Credentials> c;
    if (opt.credentials) c = opt.credentials->get(host);
    creds_cache[host] = c;
    return c;
  }

  [[noreturn]] void auth_failed(const Endpoint& ep, const HttpResponse& r, bool had_creds) {
    std::string why = registry_message(r);
    std::string msg = "registry " + ep.host + ": " + status_text(r.status) + (why.empty() ? "" : " (" + why + ")");
    msg += had_creds ? ": the credentials were rejected (check them; xbuild login " + ep.host + ")"
                     : ": authentication required (xbuild login " + ep.host + ")";
    fail(ErrorKind::permission_denied, msg);
  }

  // Gets a bearer token from the challenge's realm (docker's token flow).
  std::string fetch_token(const Endpoint& ep, const AuthChallenge& ch, const std::string& scope) {
    auto realm = ch.params.find("realm");
    if (realm == ch.params.end())
      fail(ErrorKind::unavailable, "registry " + ep.host + ": Bearer challenge without a realm");
    std::optional<Credentials> creds = credentials(ep.host);
    std::string service = ch.params.count("service") ? ch.params.at("service") : "";
    std::string sc = ch.params.count("scope") ? ch.params.at("scope") : scope;
    HttpRequest req;
    HttpResponse r;
    if (creds && !creds->identity_token.empty()) {
      // OAuth2 refresh-token grant, as docker does for identity tokens.
      req.method = "POST";
      req.url = realm->second;
      req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
      req.body = "grant_type=refresh_token&client_id=xbuild&service=" + url_encode(service) +
                 "&refresh_token=" + url_encode(creds->identity_token) + (sc.empty() ? "" : "&scope=" + url_encode(sc));
    } else {
      req.url = realm->second;
      char sep = req.url.find('?') == std::string::npos ? '?' : '&';
      if (!service.empty()) {
        req.url += sep + std::string("service=") + url_encode(service);
        sep = '&';
      }
      if (!sc.empty()) req.url += sep + std::string("scope=") + url_encode(sc);
      if (creds && !creds->username.empty())
        req.headers.emplace_back("Authorization", "Basic " + base64_encode(creds->username + ":" + creds->password));
    }
    try {
      r = send_retrying([&] { return req; }, nullptr, ep);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::resource_exhausted) throw;
      fail(ErrorKind::unavailable,
           "registry " + ep.host + ": the token server " + realm->second + " sent an answer larger than " +
               std::to_string(opt.config.limits.document_bytes) + " bytes (the \"document-bytes\" limit): refused");
    }
    if (r.status == 401 || r.status == 403) auth_failed(ep, r, creds.has_value());
    if (r.status != 200)
      fail(ErrorKind::unavailable,
           "registry " + ep.host + ": token server " + realm->second + " answered " + status_text(r.status));
    try {
      json j = json::parse(r.body);
      std::string token = j.value("token", "");
      if (token.empty()) token = j.value("access_token", "");
      if (token.empty()) fail(ErrorKind::unavailable, "registry " + ep.host + ": the token server sent no token");
      return token;
    } catch (const json::exception&) {
      fail(ErrorKind::unavailable, "registry " + ep.host + ": the token server sent no JSON");
    }
  }

  // One request with retries on dropped connections and 5xx (not on 4xx).
  // Metadata requests (all but blob bodies) keep their answer in memory and
  // must finish, retries included, within limits.request_seconds; blob
  // transfers are only bounded by the low-speed limit (big layers are legit).
  HttpResponse send_retrying(const std::function<HttpRequest()>& make, const BodySink* sink, const Endpoint& ep,
                             const std::string& what = {}) {
    using clock = std::chrono::steady_clock;
    const RegistryLimits& lim = opt.config.limits;
    const auto deadline = clock::now() + std::chrono::seconds(lim.request_seconds);
    int delay = opt.backoff_ms;
    for (int attempt = 1;; ++attempt) {
      HttpRequest req = make();
      const bool bulk = sink != nullptr || !req.body_file.empty();
      req.max_body = lim.document_bytes;
      req.low_speed_bytes = lim.low_speed_bytes;
      req.low_speed_seconds = lim.low_speed_seconds;
      auto too_late = [&] {
        fail(ErrorKind::unavailable, "registry " + ep.host + ": " + req.method + " " + req.url +
                                         " did not complete within " + std::to_string(lim.request_seconds) +
                                         " s (the \"request-seconds\" limit; is the registry stalled?)");
      };
      if (!bulk) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) too_late();
        req.timeout_ms = static_cast<int>(left);
      }
      try {
        if (req.url.rfind("https://", 0) == 0) req.tls = opt.config.tls_for(ep.host);
        HttpResponse r = transport->send(req, sink);
        if (!retryable(r.status) || attempt >= opt.max_attempts) return r;
        if (!what.empty()) progress({ProgressEvent::Kind::blob_retry, what, 0, 0, "HTTP " + std::to_string(r.status)});
      } catch (const Error& e) {
        if (!bulk && e.kind() == ErrorKind::unavailable && clock::now() >= deadline) too_late();
        // An unknown host stays unknown: retrying it only makes the user wait.
        bool hopeless = std::string_view(e.what()).find("Could not resolve host") != std::string_view::npos;
        if (e.kind() != ErrorKind::unavailable || attempt >= opt.max_attempts || hopeless) {
          Error copy = e;
          if (e.kind() == ErrorKind::unavailable || e.kind() == ErrorKind::resource_exhausted)
            copy.with_context("registry " + ep.host +
                              (attempt > 1 ? " (after " + std::to_string(attempt) + " attempts)" : std::string()));
          throw copy;
        }
        if (!what.empty()) progress({ProgressEvent::Kind::blob_retry, what, 0, 0, e.what()});
      }
      auto pause = std::chrono::milliseconds(delay);
      if (!bulk)
        pause = std::min(pause, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
      if (pause.count() > 0) interruptible_sleep(pause);
      delay = std::min(delay * 2, 5000);
    }
  }

  // A registry API call with authentication: on a 401 it answers the
  // challenge (Bearer token or Basic) once and repeats the request.
  HttpResponse call(const Endpoint& ep, const std::string& scope, const std::function<HttpRequest()>& make,
                    const BodySink* sink, const std::string& what = {}) {
    const std::string key = ep.base + "|" + scope;
    auto with_auth = [&] {
      HttpRequest req = make();
      std::lock_guard<std::mutex> lock(mu);
      if (auto it = auth_headers.find(key); it != auth_headers.end())
        req.headers.emplace_back("Authorization", it->second);
      return req;
    };
    HttpResponse r = send_retrying(with_auth, sink, ep, what);
    if (r.status != 401) return r;
    auto challenges = AuthChallenge::parse(r.header("www-authenticate").value_or(""));
    const AuthChallenge* bearer = nullptr;
    const AuthChallenge* basic = nullptr;
    for (const auto& c : challenges) {
      if (c.scheme == "Bearer" && !bearer) bearer = &c;
      if (c.scheme == "Basic" && !basic) basic = &c;
    }
    std::optional<Credentials> creds = credentials(ep.host);
    std::string header;
    if (bearer) {
      header = "Bearer " + fetch_token(ep, *bearer, scope);
    } else if (basic && creds && !creds->username.empty()) {
      header = "Basic " + base64_encode(creds->username + ":" + creds->password);
    } else {
      return r;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      auth_headers[key] = header;
    }
    r = send_retrying(with_auth, sink, ep, what);
    return r;
  }

  // --- pull

  ResolvedManifest get_manifest(const ImageRef& ref, const std::string& reference, const std::vector<Endpoint>& eps) {
    std::string scope = "repository:" + ref.path() + ":pull";
    std::optional<Error> mirror_error;
    for (const auto& ep : eps) {
      auto make = [&] {
        HttpRequest req;
        req.url = ep.base + "/v2/" + ref.path() + "/manifests/" + reference;
        req.headers.emplace_back("Accept", kManifestAccept);
        return req;
      };
      HttpResponse r;
      std::string name = ref.repository() + (reference.rfind("sha256:", 0) == 0 ? "@" : ":") + reference;
      try {
        r = call(ep, scope, make, nullptr);
      } catch (const Error& e) {
        if (ep.mirror && e.kind() != ErrorKind::cancelled)
          continue;  // a mirror that fails is skipped: the origin decides
        if (e.kind() == ErrorKind::resource_exhausted)
          fail(ErrorKind::resource_exhausted, "registry " + ep.host + " sent a manifest for " + name + " larger than " +
                                                  std::to_string(opt.config.limits.document_bytes) +
                                                  " bytes (the \"document-bytes\" limit): refused");
        throw;
      }
      if (r.status == 200) return finish_manifest(ref, reference, ep, std::move(r));
      if (ep.mirror) continue;
      std::string why = registry_message(r);
      if (r.status == 404)
        fail(ErrorKind::not_found, "manifest for " + name + " not found on registry " + ep.host + " (" +
                                       status_text(r.status) + (why.empty() ? "" : ", " + why) + ")");
      if (r.status == 401 || r.status == 403) auth_failed(ep, r, credentials(ep.host).has_value());
      fail(retryable(r.status) ? ErrorKind::unavailable : ErrorKind::failed_precondition,
           "registry " + ep.host + " answered " + status_text(r.status) + " for the manifest of " + name +
               (why.empty() ? "" : " (" + why + ")"));
    }
    fail(ErrorKind::internal, "no endpoint");
  }

  ResolvedManifest finish_manifest(const ImageRef& ref, const std::string& reference, const Endpoint& ep,
                                   HttpResponse r) {
    Digest got = Digest::of(r.body);
    if (reference.rfind("sha256:", 0) == 0 && got.str() != reference)
      fail(ErrorKind::data_loss, "registry " + ep.host + " sent a manifest for " + ref.repository() + "@" + reference +
                                     " whose digest is " + got.str());
    std::string mt = r.header("content-type").value_or("");
    if (auto semi = mt.find(';'); semi != std::string::npos) mt = mt.substr(0, semi);
    // The document's own mediaType is more reliable than a generic Content-Type.
    try {
      json j = json::parse(r.body);
      if (j.is_object() && j.contains("mediaType") && j["mediaType"].is_string())
        mt = j["mediaType"].get<std::string>();
      else if (j.is_object() && j.contains("manifests")) mt = store::media_type::oci_index;
      else if (j.is_object() && j.contains("config") && !store::is_manifest_media_type(mt))
        mt = store::media_type::oci_manifest;
    } catch (const json::exception&) {
      fail(ErrorKind::invalid_argument,
           "registry " + ep.host + " sent a manifest for " + ref.str() + " that is not JSON");
    }
    Descriptor d{.media_type = mt, .digest = got, .size = static_cast<int64_t>(r.body.size())};
    return ResolvedManifest{d, std::move(r.body), ep.host};
  }

  void fetch_blob(store::Store& st, const ImageRef& ref, const Descriptor& blob, const std::vector<Endpoint>& eps,
                  const std::atomic<bool>* stop) {
    if (st.has_blob(blob.digest)) {
      progress({ProgressEvent::Kind::blob_exists,
                blob.digest.str(),
                static_cast<uint64_t>(blob.size),
                static_cast<uint64_t>(blob.size),
                {}});
      return;
    }
    std::string scope = "repository:" + ref.path() + ":pull";
    const uint64_t total = static_cast<uint64_t>(blob.size);
    progress({ProgressEvent::Kind::blob_start, blob.digest.str(), 0, total, {}});
    std::optional<Error> last;
    for (size_t e = 0; e < eps.size(); ++e) {
      const Endpoint& ep = eps[e];
      store::BlobWriter w = st.write_blob(blob.digest, total);
      uint64_t offset = 0;
      auto make = [&] {
        HttpRequest req;
        req.url = ep.base + "/v2/" + ref.path() + "/blobs/" + blob.digest.str();
        offset = w.size();
        if (offset > 0 && offset < total) req.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
        req.on_headers = [&](const HttpResponse& r) {
          // 206 continues where the last attempt stopped; 200 starts over.
          bool resumed = r.status == 206 && offset > 0 &&
                         r.header("content-range").value_or("").rfind("bytes " + std::to_string(offset) + "-", 0) == 0;
          if (r.status >= 200 && r.status < 300 && !resumed && w.size() > 0) w.reset();
        };
        return req;
      };
      uint64_t last_report = 0;
      BodySink sink = [&](std::string_view chunk) {
        if (stop && stop->load()) return false;
        if (w.size() + chunk.size() > total)
          fail(ErrorKind::data_loss, "registry " + ep.host + " sent more than the " + std::to_string(total) +
                                         " bytes of blob " + blob.digest.str() + " of " + ref.repository() +
                                         " (the size its descriptor gives): refused");
        w.write(chunk);
        if (w.size() - last_report >= (256u << 10) || w.size() == total) {
          last_report = w.size();
          progress({ProgressEvent::Kind::blob_progress, blob.digest.str(), w.size(), total, {}});
        }
        return true;
      };
      HttpResponse r;
      try {
        // Retries (inside call) resume with Range from what the writer holds.
        r = call(ep, scope, make, &sink, blob.digest.str());
      } catch (const Error& err) {
        if (ep.mirror && err.kind() != ErrorKind::cancelled) {
          last = err;
          continue;
        }
        throw;
      }
      if (r.status == 200 || r.status == 206) {
        try {
          w.commit();
        } catch (Error& err) {
          err.with_context("registry " + ep.host + ", " + ref.repository());
          throw;
        }
        progress({ProgressEvent::Kind::blob_done, blob.digest.str(), total, total, {}});
        if (!ep.mirror) remember_source(st, blob.digest, ref);
        return;
      }
      if (ep.mirror) continue;
      std::string why = registry_message(r);
      if (r.status == 401 || r.status == 403) auth_failed(ep, r, credentials(ep.host).has_value());
      fail(r.status == 404 ? ErrorKind::not_found : ErrorKind::unavailable,
           "registry " + ep.host + " answered " + status_text(r.status) + " for blob " + blob.digest.str() + " of " +
               ref.repository() + (why.empty() ? "" : " (" + why + ")"));
    }
    if (last) throw *last;
  }

  // The endpoints to fetch blobs from: the one that served the manifest first.
  std::vector<Endpoint> blob_endpoints(const std::string& domain, const std::string& served_by) {
    std::vector<Endpoint> all = endpoints(domain), out;
    for (const auto& e : all)
      if (e.host == served_by) out.push_back(e);
    for (const auto& e : all)
      if (e.host != served_by && !e.mirror) out.push_back(e);
    return out;
  }

  Descriptor pull(store::Store& st, const ImageRef& ref, const store::Platform& platform) {
    auto eps = endpoints(ref.domain());
    ResolvedManifest top = get_manifest(ref, ref.reference(), eps);
    progress({ProgressEvent::Kind::resolved, ref.str(), 0, 0, top.descriptor.digest.str()});
    ResolvedManifest man = top;
    if (store::is_index_media_type(top.descriptor.media_type)) {
      store::Index idx = store::Index::parse(top.bytes);
      auto sel = idx.select(platform);
      if (!sel) {
        // Index::select takes image manifests only: an index under an index
        // (a nesting no image needs) is never followed.
        for (const auto& m : idx.manifests)
          if (m.platform && platform.matches(*m.platform) && store::is_index_media_type(m.media_type))
            fail(ErrorKind::invalid_argument, "registry " + top.registry + ": the index of " + ref.str() +
                                                  " names another index for " + m.platform->str() +
                                                  " (nested indexes are not followed; an image index lists manifests)");
        std::string have;
        for (const auto& m : idx.manifests)
          if (m.platform) have += (have.empty() ? "" : ", ") + m.platform->str();
        fail(ErrorKind::not_found, "no manifest for platform " + platform.str() + " in " + ref.str() + " on registry " +
                                       top.registry + " (available: " + (have.empty() ? "none" : have) + ")");
      }
      std::vector<Endpoint> served = blob_endpoints(ref.domain(), top.registry);
      man = get_manifest(ref, sel->digest.str(), served);
    }
    if (!store::is_manifest_media_type(man.descriptor.media_type))
      fail(ErrorKind::invalid_argument, "registry " + man.registry + " sent a " + man.descriptor.media_type +
                                            " document for " + ref.str() + ", not an image manifest");
    store::Manifest m = store::Manifest::parse(man.bytes);
    if (m.config.size < 0 || static_cast<uint64_t>(m.config.size) > opt.config.limits.document_bytes)
      fail(ErrorKind::resource_exhausted, "registry " + man.registry + ": the image config of " + ref.str() + " is " +
                                              std::to_string(m.config.size) + " bytes, over the limit of " +
                                              std::to_string(opt.config.limits.document_bytes) +
                                              " (\"document-bytes\"): refused");
    std::vector<Descriptor> blobs;
    blobs.push_back(m.config);
    for (const auto& l : m.layers) blobs.push_back(l);
    std::vector<Endpoint> beps = blob_endpoints(ref.domain(), man.registry);

    parallel_for(blobs.size(), static_cast<size_t>(opt.max_parallel),
                 [&](size_t i, const std::atomic<bool>& stopping) { fetch_blob(st, ref, blobs[i], beps, &stopping); });

    // The config must be one (a bad one would break every later use).
    store::ImageConfig::parse(st.read_blob(m.config.digest));
    st.put_blob(man.bytes, man.descriptor.digest);
    // An index is kept and tagged (as containerd keeps it), so that pulls of
    // its other platforms (a multi-platform build's bases) add to one name
    // instead of replacing each other; a platform not pulled is a manifest
    // the store lacks, which Store::image reports as not found.
    if (store::is_index_media_type(top.descriptor.media_type)) {
      st.put_blob(top.bytes, top.descriptor.digest);
      st.set_image(ref, top.descriptor);
    } else {
      st.set_image(ref, man.descriptor);
    }
    return man.descriptor;
  }

  // --- push

  // Repositories of a registry known to hold a blob (pushed or pulled there),
  // for cross-repository mounts: records("blob-sources")[digest] = ["host/path", …].
  static constexpr size_t kMaxSources = 8;
  void remember_source(const store::Store& st, const Digest& digest, const ImageRef& ref) {
    try {
      store::Records rec = st.records("blob-sources");
      std::string me = ref.domain() + "/" + ref.path();
      json list = json::array({me});
      if (auto old = rec.get_json(digest.str()); old && old->is_array())
        for (const auto& r : *old)
          if (r.is_string() && r.get<std::string>() != me && list.size() < kMaxSources) list.push_back(r);
      rec.put_json(digest.str(), list);
    } catch (const std::exception&) {
      // Only an optimization: a record we cannot write costs an upload later.
    }
  }
  std::string mount_source(const store::Store& st, const Digest& digest, const ImageRef& ref) {
    try {
      auto list = st.records("blob-sources").get_json(digest.str());
      if (!list || !list->is_array()) return {};
      for (const auto& r : *list) {
        if (!r.is_string()) continue;
        std::string s = r.get<std::string>();
        if (s.rfind(ref.domain() + "/", 0) != 0) continue;
        std::string path = s.substr(ref.domain().size() + 1);
        if (path != ref.path()) return path;
      }
    } catch (const std::exception&) {
    }
    return {};
  }

  std::string absolute_location(const Endpoint& ep, const HttpResponse& r, const std::string& what) {
    auto loc = r.header("location");
    if (!loc || loc->empty())
      fail(ErrorKind::unavailable,
           "registry " + ep.host + ": " + what + " answered " + status_text(r.status) + " without a Location");
    return loc->rfind("http", 0) == 0 ? *loc : ep.base + *loc;
  }

  static std::string with_query(const std::string& url, const std::string& q) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + q;
  }

  // Where an interrupted chunked upload stands: the registry's Range "0-N" (N+1 bytes received).
  uint64_t upload_offset(const Endpoint& ep, const std::string& scope, const std::string& loc) {
    auto make = [&] {
      HttpRequest req;
      req.url = loc;
      return req;
    };
    HttpResponse r = call(ep, scope, make, nullptr);
    if (r.status != 204) return 0;
    std::string range = r.header("range").value_or("");
    auto dash = range.find('-');
    if (dash == std::string::npos) return 0;
    return std::stoull(range.substr(dash + 1)) + 1;
  }

  void push_blob(const store::Store& st, const ImageRef& ref, const Endpoint& ep, const Descriptor& blob) {
    std::string scope = "repository:" + ref.path() + ":pull,push";
    const uint64_t total = static_cast<uint64_t>(blob.size);
    const std::string id = blob.digest.str();
    auto head = [&] {
      HttpRequest req;
      req.method = "HEAD";
      req.url = ep.base + "/v2/" + ref.path() + "/blobs/" + id;
      return req;
    };
    HttpResponse r = call(ep, scope, head, nullptr);
    if (r.status == 200) {
      remember_source(st, blob.digest, ref);
      progress({ProgressEvent::Kind::blob_exists, id, total, total, {}});
      return;
    }
    if (!st.has_blob(blob.digest))
      fail(ErrorKind::not_found,
           "blob " + id + " is neither in the store nor on registry " + ep.host + " (" + ref.repository() + ")");
    // A failed upload leaves the registry's upload session in an unknown
    // state: start a new session, up to max_attempts times.
    std::optional<Error> last;
    for (int attempt = 1; attempt <= opt.max_attempts; ++attempt) {
      bool corrupt = false;  // the store's copy: no retry can help
      try {
        upload_blob(st, ref, ep, blob, scope, attempt == 1, corrupt);
        remember_source(st, blob.digest, ref);
        return;
      } catch (const Error& e) {
        if (corrupt || (e.kind() != ErrorKind::unavailable && e.kind() != ErrorKind::data_loss)) throw;
        last = e;
        progress({ProgressEvent::Kind::blob_retry, id, 0, total, e.what()});
      }
    }
    throw *last;
  }

  void upload_blob(const store::Store& st, const ImageRef& ref, const Endpoint& ep, const Descriptor& blob,
                   const std::string& scope, bool try_mount, bool& corrupt) {
    const uint64_t total = static_cast<uint64_t>(blob.size);
    const std::string id = blob.digest.str();
    std::string from = try_mount ? mount_source(st, blob.digest, ref) : std::string();
    auto post = [&] {
      HttpRequest req;
      req.method = "POST";
      req.url = ep.base + "/v2/" + ref.path() + "/blobs/uploads/";
      if (!from.empty()) req.url += "?mount=" + url_encode(id) + "&from=" + url_encode(from);
      return req;
    };
    HttpResponse r = call(ep, scope, post, nullptr);
    if (r.status == 401 || r.status == 403) auth_failed(ep, r, credentials(ep.host).has_value());
    if (r.status == 201 && !from.empty()) {
      progress({ProgressEvent::Kind::blob_mounted, id, total, total, ep.host + "/" + from});
      return;
    }
    if (r.status != 202)
      fail(ErrorKind::unavailable, "registry " + ep.host + ": starting an upload to " + ref.repository() +
                                       " answered " + status_text(r.status) + " " + registry_message(r));
    std::string loc = absolute_location(ep, r, "starting an upload");
    progress({ProgressEvent::Kind::blob_start, id, 0, total, {}});
    const std::filesystem::path file = st.blob_path(blob.digest);
    uint64_t last_report = 0;
    auto report = [&](uint64_t done) {
      if (done - last_report >= (1u << 20) || done == total) {
        last_report = done;
        progress({ProgressEvent::Kind::blob_progress, id, done, total, {}});
      }
    };
    if (opt.chunk_size > 0 && total > opt.chunk_size) {
      // Chunks may be sent again (416): verify the whole blob first.
      try {
        store::read_blob_verified(st, blob.digest).finish();
      } catch (const Error& e) {
        corrupt = e.kind() == ErrorKind::data_loss;
        throw;
      }
      uint64_t off = 0;
      int resyncs = 0;
      while (off < total) {
        const uint64_t len = std::min<uint64_t>(opt.chunk_size, total - off);
        auto patch = [&] {
          HttpRequest req;
          req.method = "PATCH";
          req.url = loc;
          req.body_file = file;
          req.body_offset = off;
          req.body_length = len;
          req.headers.emplace_back("Content-Type", "application/octet-stream");
          req.headers.emplace_back("Content-Range", std::to_string(off) + "-" + std::to_string(off + len - 1));
          req.on_upload_progress = [&, base = off](uint64_t sent) { report(base + sent); };
          return req;
        };
        r = call(ep, scope, patch, nullptr, id);
        if (r.status == 202) {
          loc = absolute_location(ep, r, "uploading a chunk");
          off += len;
          continue;
        }
        // 416: the registry holds a different amount than we think (a
        // retried chunk that had partly arrived): ask it and go on from there.
        if (r.status == 416 && ++resyncs <= opt.max_attempts) {
          off = upload_offset(ep, scope, loc);
          continue;
        }
        fail(ErrorKind::unavailable, "registry " + ep.host + ": uploading a chunk of blob " + id + " to " +
                                         ref.repository() + " answered " + status_text(r.status) + " " +
                                         registry_message(r));
      }
      auto put = [&] {
        HttpRequest req;
        req.method = "PUT";
        req.url = with_query(loc, "digest=" + url_encode(id));
        req.headers.emplace_back("Content-Type", "application/octet-stream");
        return req;
      };
      r = call(ep, scope, put, nullptr);
    } else {
      // The blob is hashed as it is read: a store copy that no longer
      // matches its digest aborts the upload before its last byte.
      if (auto have = st.blob_size(blob.digest); have && *have != total) {
        corrupt = true;
        fail(ErrorKind::data_loss, "blob " + id + " in the store " + st.root().string() + " is corrupt (" +
                                       std::to_string(*have) + " bytes, its descriptor says " + std::to_string(total) +
                                       "): run `xbuild fsck --repair`, then build the image again");
      }
      std::shared_ptr<Sha256> hash;
      std::shared_ptr<uint64_t> seen;
      auto put = [&] {
        HttpRequest req;
        req.method = "PUT";
        req.url = with_query(loc, "digest=" + url_encode(id));
        req.body_file = file;
        req.headers.emplace_back("Content-Type", "application/octet-stream");
        req.on_upload_progress = report;
        hash = std::make_shared<Sha256>();
        seen = std::make_shared<uint64_t>(0);
        req.on_upload_data = [&, hash, seen](std::string_view piece) {
          hash->update(piece);
          *seen += piece.size();
          if (*seen < total) return;
          if (Digest got = hash->finish(); got != blob.digest) {
            corrupt = true;
            fail(ErrorKind::data_loss, store::corrupt_blob_message(blob.digest, st.root().string(), got));
          }
        };
        return req;
      };
      r = call(ep, scope, put, nullptr, id);
    }
    if (r.status != 201)
      fail(r.status == 400 ? ErrorKind::data_loss : ErrorKind::unavailable,
           "registry " + ep.host + ": uploading blob " + id + " to " + ref.repository() + " answered " +
               status_text(r.status) + " " + registry_message(r));
    progress({ProgressEvent::Kind::blob_done, id, total, total, {}});
  }

  // Pushes blobs, max_parallel at once; the first error wins.
  void push_blobs(const store::Store& st, const ImageRef& ref, const Endpoint& ep,
                  const std::vector<Descriptor>& blobs) {
    parallel_for(blobs.size(), static_cast<size_t>(opt.max_parallel),
                 [&](size_t i, const std::atomic<bool>&) { push_blob(st, ref, ep, blobs[i]); });
  }

  Digest push(const store::Store& st, const Descriptor& target, const ImageRef& ref) {
    Endpoint ep = origin(ref.domain());
    std::string bytes = st.read_blob(target.digest);
    if (store::is_index_media_type(target.media_type)) {
      for (const auto& d : store::Index::parse(bytes).manifests)
        if (st.has_blob(d.digest)) push_manifest_tree(st, d, ref, ep);
    } else {
      store::Manifest m = store::Manifest::parse(bytes);
      std::vector<Descriptor> blobs = {m.config};
      blobs.insert(blobs.end(), m.layers.begin(), m.layers.end());
      push_blobs(st, ref, ep, blobs);
    }
    put_manifest(ep, ref, ref.reference(), target.media_type, bytes);
    return target.digest;
  }

  void push_manifest_tree(const store::Store& st, const Descriptor& d, const ImageRef& ref, const Endpoint& ep) {
    std::string bytes = st.read_blob(d.digest);
    store::Manifest m = store::Manifest::parse(bytes);
    std::vector<Descriptor> blobs = {m.config};
    blobs.insert(blobs.end(), m.layers.begin(), m.layers.end());
    push_blobs(st, ref, ep, blobs);
    put_manifest(ep, ref, d.digest.str(), d.media_type, bytes);
  }

  void put_manifest(const Endpoint& ep, const ImageRef& ref, const std::string& reference, const std::string& mt,
                    const std::string& bytes) {
    std::string scope = "repository:" + ref.path() + ":pull,push";
    auto make = [&] {
      HttpRequest req;
      req.method = "PUT";
      req.url = ep.base + "/v2/" + ref.path() + "/manifests/" + reference;
      req.headers.emplace_back("Content-Type", mt);
      req.body = bytes;
      return req;
    };
    HttpResponse r = call(ep, scope, make, nullptr);
    if (r.status == 401 || r.status == 403) auth_failed(ep, r, credentials(ep.host).has_value());
    if (r.status != 201 && r.status != 200)
      fail(ErrorKind::unavailable, "registry " + ep.host + ": pushing the manifest of " + ref.str() + " answered " +
                                       status_text(r.status) + " " + registry_message(r));
  }

  void ping(const std::string& registry) {
    Endpoint ep = origin(registry);
    auto make = [&] {
      HttpRequest req;
      req.url = ep.base + "/v2/";
      return req;
    };
    HttpResponse r = call(ep, "", make, nullptr);
    if (r.status == 401 || r.status == 403) auth_failed(ep, r, credentials(ep.host).has_value());
    if (r.status != 200)
      fail(ErrorKind::unavailable,
           "registry " + ep.host + " answered " + status_text(r.status) + " to GET /v2/: is it an OCI registry?");
  }
};

struct Client::Impl : ClientImpl {
  using ClientImpl::ClientImpl;
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

void Client::ping(std::string_view registry) { impl_->ping(std::string(registry)); }

ResolvedManifest Client::resolve(const ImageRef& ref) {
  return impl_->get_manifest(ref, ref.reference(), impl_->endpoints(ref.domain()));
}

Descriptor Client::pull(store::Store& st, const ImageRef& ref, const store::Platform& platform) {
  try {
    return impl_->pull(st, ref, platform);
  } catch (Error& e) {
    e.with_context("pull " + ref.str());
    throw;
  }
}

void Client::fetch_blob(store::Store& st, const ImageRef& ref, const Descriptor& blob) {
  impl_->fetch_blob(st, ref, blob, impl_->endpoints(ref.domain()), nullptr);
}

Digest Client::push(const store::Store& st, const Descriptor& target, const ImageRef& ref) {
  try {
    return impl_->push(st, target, ref);
  } catch (Error& e) {
    e.with_context("push " + ref.str());
    throw;
  }
}

void Client::push_blob(const store::Store& st, const ImageRef& ref, const Descriptor& blob) {
  try {
    impl_->push_blob(st, ref, impl_->origin(ref.domain()), blob);
  } catch (Error& e) {
    e.with_context("push " + ref.str());
    throw;
  }
}

void login(const RegistryConfig& config, CredentialStore& credentials, std::string_view registry,
           const Credentials& creds, std::shared_ptr<Transport> transport) {
  ClientOptions o;
  o.config = config;
  o.transport = std::move(transport);
  ClientImpl impl(std::move(o));
  impl.fixed_creds[std::string(registry)] = creds;
  try {
    impl.ping(std::string(registry));
  } catch (Error& e) {
    e.with_context("login " + std::string(registry));
    throw;
  }
  credentials.store(registry, creds);
}

}  // namespace xb::registry
