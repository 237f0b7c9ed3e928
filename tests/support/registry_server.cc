#include "tests/support/registry_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace xb::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string base64(std::string_view in, bool url) {
  const char* t = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63]};
    if (!url) out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63]};
    if (!url) out += "=";
  }
  return out;
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool port_open(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

// Issues RS256 JWTs in the format distribution's token auth verifies
// (x5c header with the signing certificate, which is the registry's root).
class TokenServer {
 public:
  TokenServer(const fs::path& dir, RegistryServer::Options opt) : opt_(std::move(opt)) {
    key_ = dir / "token.key";
    cert_ = dir / "token.crt";
    if (run("openssl req -x509 -newkey rsa:2048 -nodes -keyout '" + key_.string() + "' -out '" + cert_.string() +
            "' -days 2 -subj /CN=xbuild-test-token >/dev/null 2>&1") != 0)
      throw std::runtime_error("TokenServer: openssl req failed");
    std::string pem = slurp(cert_);
    std::string b64;
    std::istringstream lines(pem);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("-----", 0) != 0) b64 += line;
    x5c_ = b64;
    server_ = std::make_unique<HttpServer>([this](const HttpServerRequest& r, HttpConnection& c) { handle(r, c); });
  }
  const fs::path& cert() const { return cert_; }
  std::string realm() const { return server_->url() + "/token"; }

 private:
  void handle(const HttpServerRequest& r, HttpConnection& c) {
    if (r.path() != "/token") return c.respond(404, {}, "");
    bool authed = false;
    if (auto a = r.headers.find("authorization"); a != r.headers.end()) {
      if (a->second != "Basic " + base64(opt_.username + ":" + opt_.password, false))
        return c.respond(401, {{"Content-Type", "application/json"}}, R"({"details":"invalid credentials"})");
      authed = true;
    }
    json access = json::array();
    std::string scope = r.query("scope");
    // "repository:name:pull,push"
    if (!scope.empty()) {
      size_t a = scope.find(':'), b = scope.rfind(':');
      std::string type = scope.substr(0, a), name = scope.substr(a + 1, b - a - 1), actions = scope.substr(b + 1);
      json granted = json::array();
      std::istringstream as(actions);
      for (std::string act; std::getline(as, act, ',');)
        if (authed || (opt_.anonymous_pull && act == "pull")) granted.push_back(act);
      access.push_back({{"type", type}, {"name", name}, {"actions", granted}});
    }
    long now = static_cast<long>(std::time(nullptr));
    json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"x5c", json::array({x5c_})}};
    json claims = {{"iss", "xbuild-test-issuer"},
                   {"sub", authed ? opt_.username : ""},
                   {"aud", "xbuild-test-registry"},
                   {"exp", now + 600},
                   {"nbf", now - 60},
                   {"iat", now},
                   {"jti", std::to_string(now) + std::to_string(counter_++)},
                   {"access", access}};
    std::string signing = base64(header.dump(), true) + "." + base64(claims.dump(), true);
    std::string token = signing + "." + base64(sign(signing), true);
    c.respond(200, {{"Content-Type", "application/json"}}, json{{"token", token}, {"expires_in", 600}}.dump());
  }

  std::string sign(const std::string& data) {
    FILE* f = std::fopen(key_.c_str(), "r");
    EVP_PKEY* pkey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey);
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(data.data()), data.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return sig;
  }

  RegistryServer::Options opt_;
  fs::path key_, cert_;
  std::string x5c_;
  std::atomic<int> counter_{0};
  std::unique_ptr<HttpServer> server_;
};

std::optional<std::string> RegistryServer::unavailable_reason() {
  if (run("command -v docker-registry >/dev/null 2>&1") != 0)
    return "docker-registry is not installed (scripts/bootstrap installs it)";
  return std::nullopt;
}

RegistryServer::RegistryServer(Options options) : options_(std::move(options)), dir_("xbuild-registry") {
  storage_ = dir_.path() / "data";
  fs::create_directories(storage_);
  port_ = free_port();
  std::string auth;
  if (options_.auth == Auth::basic) {
    if (run("htpasswd -Bbn '" + options_.username + "' '" + options_.password + "' > '" +
            (dir_.path() / "htpasswd").string() + "'") != 0)
      throw std::runtime_error("RegistryServer: htpasswd failed (install apache2-utils)");
    auth = "auth:\n  htpasswd:\n    realm: xbuild-test\n    path: " + (dir_.path() / "htpasswd").string() + "\n";
  } else if (options_.auth == Auth::token) {
    token_server_ = std::make_unique<TokenServer>(dir_.path(), options_);
    auth = "auth:\n  token:\n    realm: " + token_server_->realm() +
           "\n    service: xbuild-test-registry\n    issuer: xbuild-test-issuer\n    rootcertbundle: " +
           token_server_->cert().string() + "\n";
  }
  std::ofstream(dir_.path() / "config.yml")
      << "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
      << "storage:\n  filesystem:\n    rootdirectory: " << storage_.string() << "\n  delete:\n    enabled: true\n"
      << "http:\n  addr: 127.0.0.1:" << port_ << "\n"
      << auth;
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("RegistryServer: fork failed");
  if (pid_ == 0) {
    std::string log = (dir_.path() / "registry.log").string();
    FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    ::dup2(2, 1);
    ::execlp("docker-registry", "docker-registry", "serve", (dir_.path() / "config.yml").c_str(),
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    if (port_open(port_)) return;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("RegistryServer: docker-registry exited: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("RegistryServer: docker-registry did not listen on " + host());
}

RegistryServer::~RegistryServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
}

std::string RegistryServer::creds() const {
  if (options_.auth == Auth::open) return {};
  return options_.username + ":" + options_.password;
}

std::string RegistryServer::log() const { return slurp(dir_.path() / "registry.log"); }

// ---------------------------------------------------------------------------

FaultProxy::FaultProxy(uint16_t upstream_port) : upstream_(upstream_port) {
  server_ = std::make_unique<HttpServer>([this](const HttpServerRequest& r, HttpConnection& c) {
    ++requests;
    if (fail_requests > 0) {
      --fail_requests;
      return c.respond(500, {}, "injected failure");
    }
    const std::string path = r.path();
    if (path.find("/blobs/uploads/") != std::string::npos) {
      if (fail_uploads > 0) {
        --fail_uploads;
        return c.respond(500, {}, "injected upload failure");
      }
      if (cut_uploads > 0) {
        --cut_uploads;
        return c.close_now();
      }
    }
    if (r.method == "PUT" && path.find("/manifests/") != std::string::npos) {
      if (fail_manifest_puts > 0) {
        --fail_manifest_puts;
        return c.respond(500, {}, "injected manifest failure");
      }
      ++manifest_puts;
    }
    bool blob_get = r.method == "GET" && path.find("/blobs/sha256:") != std::string::npos;
    HttpServerRequest up = r;
    if (blob_get) {
      ++blob_gets;
      if (r.headers.count("range")) ++range_gets;
      if (fail_blob_gets > 0) {
        --fail_blob_gets;
        return c.respond(503, {}, "injected 503");
      }
      if (ignore_range) up.headers.erase("range");
    }
    RawResponse resp = forward_request(upstream_, up);
    std::string body = resp.body;
    bool ok_blob = blob_get && (resp.status == 200 || resp.status == 206);
    if (ok_blob && corrupt_blobs && !body.empty()) body[body.size() / 2] ^= 0x5a;
    std::string out = resp.status_line + "\r\n";
    for (const auto& [k, v] : resp.headers) {
      if (k == "content-length" || k == "transfer-encoding" || k == "connection") continue;
      out += k + ": " + v + "\r\n";
    }
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    if (ok_blob && cut_blob_gets > 0 && body.size() > 1) {
      --cut_blob_gets;
      c.write_raw(out + body.substr(0, body.size() / 2));
      return c.close_now();
    }
    c.write_raw(out + (r.method == "HEAD" ? std::string() : body));
  });
}

FaultProxy::~FaultProxy() = default;

std::string FaultProxy::host() const { return server_->host(); }

}  // namespace xb::testing
