// registry/: the OCI distribution client (docs/dev/registry.md): resolve
// manifests, pull blobs into the store (parallel, verified, retried,
// resumed), push, and the credentials of ~/.docker/config.json.
//
// Network access goes through Transport so that tests can fake it
// (tests/support/); make_curl_transport() is the real one (libcurl).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace xb::registry {

// ---------------------------------------------------------------------------
// Transport

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; repeated ones joined by ", "
  std::string body;                            // unless the body went to a sink
  std::optional<std::string> header(std::string_view lower_name) const;
};

// How to speak TLS to one registry (docs/dev/registry.md "TLS"): its
// certs.d directory's CAs (added to the system ones) and client pair.
struct TlsSettings {
  bool verify = true;                             // false: any certificate (an insecure registry)
  std::vector<std::filesystem::path> ca_files;    // *.crt
  std::filesystem::path client_cert, client_key;  // *.cert + *.key
  std::string registry;                           // "host:port", names it in errors
  std::filesystem::path ca_hint;                  // where its ca.crt belongs, for errors
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  TlsSettings tls;                                           // for https URLs
  std::vector<std::pair<std::string, std::string>> headers;  // "Accept", "Range", …
  std::string body;                                          // small bodies (manifests)
  std::filesystem::path body_file;                           // large bodies (blob upload), when set
  uint64_t body_offset = 0;                                  // of body_file: the part to send
  std::optional<uint64_t> body_length;                       // none: to the end of the file
  // Called as the body is sent, with the bytes of it sent so far.
  std::function<void(uint64_t sent)> on_upload_progress;
  // Called with each piece of body_file as it is read, before it is sent;
  // throwing aborts the upload and send() rethrows (e.g. a digest mismatch
  // found at the last piece: the registry never gets a complete body).
  std::function<void(std::string_view piece)> on_upload_data;
  bool follow_redirects = true;
  // Called once the final response's status and headers are known, before
  // any of its body reaches the sink (e.g. to tell 206 from 200 after a Range).
  std::function<void(const HttpResponse&)> on_headers;
  // A body kept in response.body (not one given to a sink) longer than this
  // fails the request with Error(resource_exhausted); 0: no limit.
  uint64_t max_body = 0;
  int timeout_ms = 0;            // the whole request; 0: none
  uint64_t low_speed_bytes = 0;  // under this many bytes/s …
  int low_speed_seconds = 0;     // … for this long cuts the transfer (Error(unavailable)); 0: none
};

// Receives the body of a 2xx response as it arrives; returning false aborts
// the transfer (Transport::send then throws Error(cancelled)).
using BodySink = std::function<bool(std::string_view chunk)>;

class Transport {
 public:
  virtual ~Transport() = default;
  // Performs one request. A 2xx body goes to sink when given, every other
  // body to response.body. Throws Error(unavailable) when no response came
  // (connection refused, unknown host, connection dropped mid-body, a
  // timeout), naming the URL, and Error(cancelled) once interrupted()
  // (common/interrupt.h).
  virtual HttpResponse send(const HttpRequest& request, const BodySink* sink) = 0;
};

std::unique_ptr<Transport> make_curl_transport();

// ---------------------------------------------------------------------------
// Configuration and credentials

// What a registry can make xbuild hold or wait for. Every cap is an error
// naming the registry, the reference and the limit.
struct RegistryLimits {
  // A manifest, index, image config, token answer or error body (containerd's 4 MiB).
  uint64_t document_bytes = 4u << 20;
  // A transfer (blobs too) slower than low_speed_bytes/s for low_speed_seconds is cut (then retried).
  uint64_t low_speed_bytes = 1024;
  int low_speed_seconds = 30;
  // A metadata request (everything but blob bodies), its retries included.
  int request_seconds = 60;
};

// $XBUILD_CONFIG: {"insecure-registries": ["host:port", …],
//                  "mirrors": {"docker.io": ["http://127.0.0.1:5000"]},
//                  "limits": {"document-bytes": N, "low-speed-bytes": N,
//                             "low-speed-seconds": N, "request-seconds": N}}
// and the certs.d directories of docker and podman.
struct RegistryConfig {
  std::vector<std::string> insecure_registries;
  std::map<std::string, std::vector<std::string>> mirrors;
  RegistryLimits limits;
  // Roots holding HOST[:PORT]/ directories of *.crt, *.cert and *.key:
  // $XBUILD_CERTS_DIRS (colon-separated) when set, else /etc/docker/certs.d,
  // /etc/containers/certs.d and, for a non-root user, ~/.config/containers/certs.d.
  std::vector<std::filesystem::path> certs_dirs = default_certs_dirs();

  // file (a missing one is an empty config; a malformed one throws
  // invalid_argument), then registries.conf (load_registries_conf): its
  // mirrors come after those of file.
  static RegistryConfig load(const std::filesystem::path& file);
  static std::vector<std::filesystem::path> default_certs_dirs();
  // Listed in "insecure-registries": any certificate, or plain HTTP.
  bool is_insecure(std::string_view host) const;
  // localhost, 127.0.0.0/8, ::1 and insecure registries: HTTPS first, then
  // plain HTTP when nothing speaks TLS there (docker's rule).
  bool may_use_http(std::string_view host) const;
  // The TLS settings for host ("host:port") from the first certs.d root
  // that has a directory for it; throws invalid_argument on a *.cert
  // without its *.key (or the reverse).
  TlsSettings tls_for(std::string_view host) const;
};

// containers-registries.conf(5) version 2, the part xbuild maps onto
// RegistryConfig: [[registry]] location, prefix, insecure and
// [[registry.mirror]] location, insecure.
struct RegistriesConf {
  struct Mirror {
    std::string location;
    bool insecure = false;
  };
  struct Entry {
    std::string prefix;  // defaults to location
    std::string location;
    bool insecure = false;
    std::vector<Mirror> mirrors;
    int line = 0;  // of its [[registry]] header
  };
  std::vector<Entry> registries;
  std::vector<std::string> ignored;  // what xbuild does not use: "KEY (line N)", "[table] (line N)"

  // Throws invalid_argument "registries.conf FILE:LINE: …" on a line that is
  // not TOML or a known key of the wrong type.
  static RegistriesConf parse(std::string_view text, const std::string& file);
  // $CONTAINERS_REGISTRIES_CONF when set; else ~/.config/containers/registries.conf
  // ($XDG_CONFIG_HOME) when it exists (podman: it replaces the system file);
  // else /etc/containers/registries.conf.
  static std::filesystem::path default_path();
  // Adds insecure hosts and mirrors to config; returns the entries it
  // skipped (a prefix with a namespace or wildcard, a rewriting location).
  std::vector<std::string> apply(RegistryConfig& config) const;
};

// Reads RegistriesConf::default_path() (missing: nothing) into config and
// prints one warning line, once per process, naming what it ignored.
void load_registries_conf(RegistryConfig& config);

struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // a refresh token ("<token>" username), when the helper gives one
  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }
};

// docker's config.json ($DOCKER_CONFIG/config.json, else ~/.docker/config.json):
// "auths" (base64 user:password), "credHelpers" and "credsStore"
// (docker-credential-<name> get|store|erase). Podman's auth.json has the
// same format.
class CredentialStore {
 public:
  // The files podman and buildah consult (containers-auth.json(5)):
  // $REGISTRY_AUTH_FILE alone when set (the CLI's --authfile sets it);
  // else ${XDG_RUNTIME_DIR}/containers/auth.json, then docker's config.json.
  // Credentials are written to $REGISTRY_AUTH_FILE, else to docker's config.json.
  CredentialStore();
  // Exactly one file, read and written.
  explicit CredentialStore(std::filesystem::path config_json);
  static std::filesystem::path default_path();
  const std::vector<std::filesystem::path>& files() const { return read_files_; }

  std::optional<Credentials> get(std::string_view registry) const;
  void store(std::string_view registry, const Credentials& credentials);  // atomic rewrite
  bool erase(std::string_view registry);                                  // false if none

  // The key docker uses for a registry: "https://index.docker.io/v1/" for docker.io.
  static std::string key_for(std::string_view registry);

 private:
  std::optional<Credentials> get_from(const std::filesystem::path& file, std::string_view registry) const;
  std::vector<std::filesystem::path> read_files_;  // consulted in order, first match wins
  std::filesystem::path file_;                     // where store() and erase() write
};

// A parsed WWW-Authenticate challenge: scheme "Bearer" or "Basic" and its
// parameters (realm, service, scope, error).
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;
  // Parses every challenge in a header value; empty if there is none.
  static std::vector<AuthChallenge> parse(std::string_view header);
};

// ---------------------------------------------------------------------------
// The client

struct ProgressEvent {
  enum class Kind { resolved, blob_start, blob_progress, blob_done, blob_exists, blob_retry, blob_mounted };
  Kind kind;
  std::string what;  // "sha256:…" of the blob, or the reference for `resolved`
  uint64_t done = 0;
  uint64_t total = 0;
  std::string message;  // for blob_retry: why; for blob_mounted: the repository it came from
};
using ProgressFn = std::function<void(const ProgressEvent&)>;

struct ClientOptions {
  RegistryConfig config;
  std::optional<CredentialStore> credentials;  // none: anonymous only
  std::shared_ptr<Transport> transport;        // default: curl
  int max_parallel = 4;                        // blob downloads (and uploads) at once
  uint64_t chunk_size = 0;                     // uploads larger than this go in PATCH chunks; 0: one PUT
  int max_attempts = 5;                        // per request, on 5xx and dropped connections
  int backoff_ms = 200;                        // first retry delay, doubled each time
  ProgressFn progress;                         // called from download threads, serialized
};

// A manifest as the registry sent it.
struct ResolvedManifest {
  store::Descriptor descriptor;  // media type, digest, size of `bytes`
  std::string bytes;
  std::string registry;  // the host that served it (the mirror, or the origin)
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();

  // GET /v2/ and authenticate; throws on a registry that does not answer
  // or rejects the credentials (Error(permission_denied)).
  void ping(std::string_view registry);

  // The manifest (or index) that ref names, without selecting a platform.
  ResolvedManifest resolve(const store::ImageRef& ref);

  // Pulls ref for platform into the store: the platform's manifest, its
  // config and layers (only blobs the store lacks), then tags ref in the
  // store (an index stays an index: ref names it, with the platforms pulled
  // so far). Returns the platform's manifest descriptor. Errors name the
  // registry and the reference: "pull docker.io/library/x:1: …".
  store::Descriptor pull(store::Store& store, const store::ImageRef& ref,
                         const store::Platform& platform = store::Platform::host());

  // Fetches one blob of ref's repository into the store, verified.
  void fetch_blob(store::Store& store, const store::ImageRef& ref, const store::Descriptor& blob);

  // Pushes the image target (a manifest or index in the store) to ref: the
  // blobs the registry lacks (HEAD first; a cross-repository mount when the
  // store remembers the blob in another repository of the same registry;
  // else an upload, monolithic or in chunks), max_parallel at once, then the
  // manifest with its media type. Returns the pushed manifest digest.
  Digest push(const store::Store& store, const store::Descriptor& target, const store::ImageRef& ref);

  // Pushes one blob to ref's repository as push() does each (HEAD, mount or
  // upload), so that a caller can upload layers while it still compresses
  // others; push() then finds them there. Thread-safe.
  void push_blob(const store::Store& store, const store::ImageRef& ref, const store::Descriptor& blob);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks credentials against the registry (GET /v2/ with them) and stores
// them in the credential store. Throws Error(permission_denied) on a 401.
void login(const RegistryConfig& config, CredentialStore& credentials, std::string_view registry,
           const Credentials& creds, std::shared_ptr<Transport> transport = nullptr);

}  // namespace xb::registry
