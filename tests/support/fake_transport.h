// A registry::Transport for unit tests: a handler answers each request in
// memory (and may throw Error(unavailable) to play a dropped connection);
// every request is recorded. Header-only, so that it needs no link to registry/.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "registry/registry.h"

namespace xb::testing {

class FakeTransport : public registry::Transport {
 public:
  // The handler returns the response; when it sets `partial`, only that many
  // bytes of the body are delivered and then the connection "drops".
  struct Reply {
    registry::HttpResponse response;
    std::optional<size_t> partial;
  };
  using Handler = std::function<Reply(const registry::HttpRequest&)>;

  explicit FakeTransport(Handler handler) : handler_(std::move(handler)) {}

  registry::HttpResponse send(const registry::HttpRequest& req, const registry::BodySink* sink) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
    }
    Reply reply = handler_(req);
    registry::HttpResponse& r = reply.response;
    if (req.on_headers) req.on_headers(r);
    bool ok = r.status >= 200 && r.status < 300;
    if (ok && sink) {
      std::string body = std::move(r.body);
      r.body.clear();
      size_t n = reply.partial ? std::min(*reply.partial, body.size()) : body.size();
      // Deliver in small chunks, as a network would.
      for (size_t off = 0; off < n; off += 1000)
        if (!(*sink)(std::string_view(body).substr(off, std::min<size_t>(1000, n - off))))
          fail(ErrorKind::cancelled, "cancelled");
    }
    if (reply.partial) fail(ErrorKind::unavailable, req.method + " " + req.url + ": connection reset by peer");
    return r;
  }

  std::vector<registry::HttpRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  static Reply reply(int status, std::string body = {}, std::map<std::string, std::string> headers = {}) {
    Reply r;
    r.response.status = status;
    r.response.body = std::move(body);
    r.response.headers = std::move(headers);
    return r;
  }

 private:
  Handler handler_;
  mutable std::mutex mu_;
  std::vector<registry::HttpRequest> requests_;
};

// The value of a request header, or "".
inline std::string header_of(const registry::HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

}  // namespace xb::testing
