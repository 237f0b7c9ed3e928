// A small threaded HTTP/1.1 server on 127.0.0.1 for tests: token servers,
// fault-injecting proxies, fake registries. One thread per connection; the
// handler writes the response itself (so it can also misbehave on purpose).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace xb::testing {

struct HttpServerRequest {
  std::string method;
  std::string target;                          // path and query, as sent
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string path() const { return target.substr(0, target.find('?')); }
  // The decoded value of a query parameter, or "".
  std::string query(const std::string& name) const;
};

class HttpConnection {
 public:
  explicit HttpConnection(int fd) : fd_(fd) {}
  // Writes a whole response (Content-Length set from body).
  void respond(int status, const std::map<std::string, std::string>& headers, const std::string& body);
  void write_raw(const std::string& bytes);  // a client that went away makes closed() true
  void close_now();                          // cuts the connection
  bool closed() const { return fd_ < 0; }

 private:
  int fd_;
};

using HttpHandler = std::function<void(const HttpServerRequest&, HttpConnection&)>;

class HttpServer {
 public:
  explicit HttpServer(HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host(); }

 private:
  void accept_loop();
  void serve(int fd);
  HttpHandler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<int> open_fds_;
};

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
uint16_t free_port();

// One HTTP request to 127.0.0.1:port over a plain socket: status, headers
// (lower-cased) and body of the response. Used by proxies in tests.
struct RawResponse {
  int status = 0;
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};
RawResponse forward_request(uint16_t port, const HttpServerRequest& request);

}  // namespace xb::testing
