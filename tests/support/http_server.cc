#include "tests/support/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace xb::testing {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// Reads one request (headers and Content-Length body); false at EOF.
bool read_request(int fd, std::string& buffer, HttpServerRequest& req) {
  char chunk[65536];
  size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    // A TLS ClientHello on this plain port (a client trying HTTPS first):
    // answer 400 and close, as real HTTP servers do, rather than wait.
    if (buffer[0] == '\x16') {
      static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
      (void)!::send(fd, bad, sizeof bad - 1, MSG_NOSIGNAL);
      return false;
    }
  }
  std::string head = buffer.substr(0, end);
  buffer.erase(0, end + 4);
  size_t line_end = head.find("\r\n");
  std::string first = head.substr(0, line_end);
  size_t s1 = first.find(' '), s2 = first.rfind(' ');
  req = HttpServerRequest{};
  req.method = first.substr(0, s1);
  req.target = first.substr(s1 + 1, s2 - s1 - 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      req.headers[lower(line.substr(0, colon))] = v;
    }
    pos = e + 2;
  }
  size_t len = req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
  while (buffer.size() < len) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
  }
  req.body = buffer.substr(0, len);
  buffer.erase(0, len);
  return true;
}

}  // namespace

std::string HttpServerRequest::query(const std::string& name) const {
  size_t q = target.find('?');
  if (q == std::string::npos) return {};
  std::string qs = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= qs.size()) {
    size_t amp = qs.find('&', pos);
    std::string kv = qs.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = kv.find('=');
    if (url_decode(kv.substr(0, eq)) == name) return eq == std::string::npos ? "" : url_decode(kv.substr(eq + 1));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return {};
}

void HttpConnection::write_raw(const std::string& bytes) {
  size_t off = 0;
  while (fd_ >= 0 && off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      fd_ = -1;  // the client went away: closed() tells a streaming handler to stop
      return;
    }
    off += static_cast<size_t>(n);
  }
}

void HttpConnection::respond(int status, const std::map<std::string, std::string>& headers, const std::string& body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (!headers.count("Content-Length")) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n" + body;
  write_raw(out);
}

void HttpConnection::close_now() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  fd_ = -1;  // the server closes the descriptor
}

HttpServer::HttpServer(HttpHandler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(listen_fd_, 64) < 0)
    throw std::runtime_error("HttpServer: cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

HttpServer::~HttpServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : workers_) t.join();
}

void HttpServer::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    open_fds_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void HttpServer::serve(int fd) {
  std::string buffer;
  HttpServerRequest req;
  while (!stopping_ && read_request(fd, buffer, req)) {
    HttpConnection c(fd);
    try {
      handler_(req, c);
    } catch (...) {
      c.respond(500, {}, "handler failed");
    }
    if (c.closed()) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  std::erase(open_fds_, fd);
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    ::close(fd);
    throw std::runtime_error(std::string("free_port: bind 127.0.0.1:0: ") + std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

RawResponse forward_request(uint16_t port, const HttpServerRequest& req) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    ::close(fd);
    throw std::runtime_error("forward_request: connect failed");
  }
  std::string out = req.method + " " + req.target + " HTTP/1.1\r\n";
  for (const auto& [k, v] : req.headers)
    if (k != "connection" && k != "content-length") out += k + ": " + v + "\r\n";
  out += "Connection: close\r\nContent-Length: " + std::to_string(req.body.size()) + "\r\n\r\n" + req.body;
  ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
  std::string all;
  char chunk[65536];
  for (;;) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    all.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  RawResponse r;
  size_t end = all.find("\r\n\r\n");
  if (end == std::string::npos) throw std::runtime_error("forward_request: no response");
  std::string head = all.substr(0, end);
  r.body = all.substr(end + 4);
  size_t le = head.find("\r\n");
  r.status_line = head.substr(0, le);
  r.status = std::stoi(r.status_line.substr(9, 3));
  size_t pos = le == std::string::npos ? head.size() : le + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      r.headers.emplace_back(lower(line.substr(0, colon)), v);
    }
    pos = e + 2;
  }
  // Chunked upstream bodies are decoded so that callers see plain bytes.
  for (const auto& [k, v] : r.headers) {
    if (k == "transfer-encoding" && lower(v).find("chunked") != std::string::npos) {
      std::string plain;
      size_t p = 0;
      for (;;) {
        size_t le2 = r.body.find("\r\n", p);
        if (le2 == std::string::npos) break;
        size_t n = std::stoul(r.body.substr(p, le2 - p), nullptr, 16);
        if (n == 0) break;
        plain += r.body.substr(le2 + 2, n);
        p = le2 + 2 + n + 2;
      }
      r.body = plain;
    }
  }
  return r;
}

}  // namespace xb::testing
