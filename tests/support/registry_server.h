// A real registry for tests: Debian's docker-registry (distribution 2.8)
// on 127.0.0.1 with a free port and storage in a temporary directory,
// started in the constructor and stopped in the destructor. Three auth
// modes: open, htpasswd Basic, and token auth with a small token server
// (TokenServer) that signs RS256 JWTs the registry verifies.
//
//   if (auto why = RegistryServer::unavailable_reason()) GTEST_SKIP() << *why;
//   RegistryServer reg({.auth = RegistryServer::Auth::token});
//   … push to reg.host() with skopeo (reg.skopeo_creds()), pull with xbuild …
//
// FaultProxy sits in front of any server and misbehaves on request.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/fs.h"
#include "tests/support/http_server.h"

namespace xb::testing {

class TokenServer;

class RegistryServer {
 public:
  enum class Auth { open, basic, token };
  struct Options {
    Auth auth = Auth::open;
    std::string username = "xbuild";
    std::string password = "s3cret";
    bool anonymous_pull = false;  // token mode: anonymous clients may pull
  };

  // Why a registry cannot be started here ("docker-registry is not installed"), or nullopt.
  static std::optional<std::string> unavailable_reason();

  explicit RegistryServer(Options options);
  RegistryServer() : RegistryServer(Options{}) {}
  ~RegistryServer();
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  const Options& options() const { return options_; }
  const std::filesystem::path& storage() const { return storage_; }
  // "--dest-creds=user:pass" style value for skopeo ("" in open mode).
  std::string creds() const;
  // The registry's log (errors only), for failure messages.
  std::string log() const;

 private:
  Options options_;
  TempDir dir_;
  std::filesystem::path storage_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<TokenServer> token_server_;
};

// Forwards to 127.0.0.1:upstream, injecting faults into blob downloads
// (GET /v2/<name>/blobs/<digest>).
class FaultProxy {
 public:
  explicit FaultProxy(uint16_t upstream_port);
  ~FaultProxy();
  std::string host() const;

  std::atomic<int> fail_requests{0};       // answer the next N requests (any) with 500
  std::atomic<int> fail_blob_gets{0};      // answer the next N blob GETs with 503
  std::atomic<int> cut_blob_gets{0};       // send half of the next N blob bodies, then drop the connection
  std::atomic<bool> corrupt_blobs{false};  // flip a byte in every blob body
  std::atomic<bool> ignore_range{false};   // answer Range requests with the whole blob (200)
  // Pushes: requests under /blobs/uploads/ (POST, PATCH, PUT) and manifest PUTs.
  std::atomic<int> fail_uploads{0};        // answer the next N upload requests with 500
  std::atomic<int> cut_uploads{0};         // drop the connection on the next N upload requests, unanswered
  std::atomic<int> fail_manifest_puts{0};  // answer the next N manifest PUTs with 500
  std::atomic<int> manifest_puts{0};       // manifest PUTs that reached the registry

  std::atomic<int> blob_gets{0};   // blob GETs seen
  std::atomic<int> range_gets{0};  // … of which carried a Range header
  std::atomic<int> requests{0};

 private:
  uint16_t upstream_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace xb::testing
