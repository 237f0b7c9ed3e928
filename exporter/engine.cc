// --load: an image into a Docker Engine (or podman's Docker-compatible
// service) through its API, POST /images/load. The docker archive is written
// by a thread into a pipe while libcurl sends the pipe's other end as the
// chunked request body, so no archive is ever put on disk
// (docs/dev/exporter.md, "Loading into an engine").
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/interrupt.h"
#include "exporter/exporter.h"

namespace xb::exporter {

namespace {

constexpr size_t kMaxResponse = 1 << 20;  // the engine's reply is a few JSON lines

struct Easy {
  CURL* h = curl_easy_init();
  curl_slist* headers = nullptr;
  ~Easy() {
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
  }
};

struct Reply {
  std::string body;
};

size_t on_body(char* data, size_t size, size_t n, void* p) {
  auto* r = static_cast<Reply*>(p);
  size_t len = size * n;
  if (r->body.size() + len > kMaxResponse) return 0;  // a runaway reply fails the transfer
  r->body.append(data, len);
  return len;
}

int on_progress(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) { return interrupted() ? 1 : 0; }

// The archive side of the request body: reads the pipe that the writer
// thread fills. At end of file the writer's outcome decides between the
// end of the body and an aborted request, so that a failed archive is never
// sent as a complete one.
struct PipeBody {
  int fd = -1;
  std::atomic<bool>* writer_failed = nullptr;
};

size_t on_read(char* buf, size_t size, size_t n, void* p) {
  auto* b = static_cast<PipeBody*>(p);
  for (;;) {
    if (interrupted()) return CURL_READFUNC_ABORT;
    ssize_t got = ::read(b->fd, buf, size * n);
    if (got > 0) return static_cast<size_t>(got);
    if (got == 0) return b->writer_failed->load() ? CURL_READFUNC_ABORT : 0;
    if (errno != EINTR) return CURL_READFUNC_ABORT;
  }
}

void setup(CURL* h, const EngineEndpoint& e, const std::string& path, Reply& reply, char* errbuf) {
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, (e.base_url + path).c_str());
  if (!e.unix_socket.empty()) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, e.unix_socket.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "xbuild/0.1");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
}

std::string no_engine(const EngineEndpoint& e, const std::string& why) {
  return "no Docker Engine at " + e.host + ": " + why + "; start one, set DOCKER_HOST, or use -o type=docker,dest=FILE";
}

// The connection failure as the system reported it ("connect: No such file
// or directory"), else curl's text.
std::string connect_error(CURL* h, CURLcode rc, const char* errbuf) {
  long os_errno = 0;
  curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
  if (os_errno != 0 && rc == CURLE_COULDNT_CONNECT)
    return std::string("connect: ") + std::strerror(static_cast<int>(os_errno));
  if (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
    return "the engine closed the connection while the image was being sent (its log says why)";
  return *errbuf ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
}

// "message" of an engine error body, or the body itself, on one line.
std::string engine_message(const std::string& body) {
  std::string msg = body;
  try {
    auto j = nlohmann::json::parse(body);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) msg = j["message"].get<std::string>();
  } catch (const nlohmann::json::exception&) {
  }
  for (auto& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  while (!msg.empty() && msg.back() == ' ') msg.pop_back();
  return msg;
}

}  // namespace

EngineEndpoint EngineEndpoint::parse(std::string_view docker_host, bool tls_verify) {
  EngineEndpoint e;
  std::string host = docker_host.empty() ? std::string("unix:///var/run/docker.sock") : std::string(docker_host);
  e.host = host;
  auto unsupported = [&](const std::string& why) -> EngineEndpoint {
    fail(ErrorKind::usage, "DOCKER_HOST=" + host + ": " + why +
                               "; use a unix:// socket or plain tcp://, or -o type=docker,dest=FILE and docker load");
  };
  if (host.rfind("unix://", 0) == 0) {
    e.unix_socket = host.substr(7);
    if (e.unix_socket.empty() || e.unix_socket[0] != '/') return unsupported("the socket path must be absolute");
    e.base_url = "http://localhost";  // the name docker's client sends over a socket
    return e;
  }
  if (host.rfind("tcp://", 0) == 0) {
    if (tls_verify) return unsupported("TLS to the engine (DOCKER_TLS_VERIFY) is not supported");
    std::string addr = host.substr(6);
    while (!addr.empty() && addr.back() == '/') addr.pop_back();
    if (addr.empty() || addr.find('/') != std::string::npos) return unsupported("want tcp://HOST:PORT");
    // docker's default port for plain tcp://HOST.
    bool has_port = addr[0] == '[' ? addr.find("]:") != std::string::npos : addr.find(':') != std::string::npos;
    if (!has_port) addr += ":2375";
    e.base_url = "http://" + addr;
    return e;
  }
  if (host.rfind("ssh://", 0) == 0) return unsupported("ssh:// is not supported");
  return unsupported("unknown scheme (want unix:// or tcp://)");
}

EngineEndpoint EngineEndpoint::from_environment() {
  const char* h = std::getenv("DOCKER_HOST");
  const char* v = std::getenv("DOCKER_TLS_VERIFY");
  return parse(h ? h : "", v && *v);
}

std::vector<std::string> load_into_engine(const store::Store& st, const store::Descriptor& target,
                                          const std::vector<store::ImageRef>& names, const EngineEndpoint& engine) {
  // First a ping: a missing engine is the usual mistake, and it is said
  // before an archive is started.
  {
    Easy ping;
    Reply reply;
    char errbuf[CURL_ERROR_SIZE] = {};
    setup(ping.h, engine, "/_ping", reply, errbuf);
    CURLcode rc = curl_easy_perform(ping.h);
    check_interrupt();
    if (rc != CURLE_OK) fail(ErrorKind::unavailable, no_engine(engine, connect_error(ping.h, rc, errbuf)));
    long status = 0;
    curl_easy_getinfo(ping.h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
      fail(ErrorKind::unavailable,
           no_engine(engine, "GET /_ping answered HTTP " + std::to_string(status) + " (is it a Docker API socket?)"));
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  std::atomic<bool> writer_failed{false};
  std::exception_ptr writer_error;
  std::thread writer([&] {
    // A closed read end (the engine went away) must be an EPIPE error for
    // this thread, not a SIGPIPE that ends the process; and SIGINT/SIGTERM
    // go to the thread that waits on the pipe, whose read then returns
    // EINTR and aborts the request.
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    try {
      write_archive_fd(st, target, names, ArchiveFormat::docker, write_end.get(), "the Docker Engine request");
    } catch (...) {
      writer_error = std::current_exception();
      writer_failed = true;
    }
    write_end.reset();
  });

  // Whatever ends this function, the writer is stopped (its pipe closed)
  // and joined before the pipe and the thread go.
  struct StopWriter {
    UniqueFd& read_end;
    std::thread& writer;
    ~StopWriter() {
      read_end.reset();
      if (writer.joinable()) writer.join();
    }
  } stop_writer{read_end, writer};
  Easy load;
  Reply reply;
  char errbuf[CURL_ERROR_SIZE] = {};
  setup(load.h, engine, "/images/load?quiet=1", reply, errbuf);
  PipeBody body{read_end.get(), &writer_failed};
  curl_easy_setopt(load.h, CURLOPT_POST, 1L);
  curl_easy_setopt(load.h, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(load.h, CURLOPT_READDATA, &body);
  curl_easy_setopt(load.h, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
  load.headers = curl_slist_append(load.headers, "Content-Type: application/x-tar");
  load.headers = curl_slist_append(load.headers, "Transfer-Encoding: chunked");
  load.headers = curl_slist_append(load.headers, "Expect:");
  curl_easy_setopt(load.h, CURLOPT_HTTPHEADER, load.headers);
  CURLcode rc = curl_easy_perform(load.h);
  // Whether the archive failed on its own, before the request ended; what
  // the writer gets after this (EPIPE) only follows from the request's end.
  const bool archive_failed = writer_failed.load();
  read_end.reset();  // a writer still writing gets EPIPE and ends
  writer.join();
  check_interrupt();
  // The archive's own failure (a corrupt blob, …) is the cause when the
  // body was aborted for it; an EPIPE after the engine stopped reading (an
  // early answer, a closed connection) is not.
  if (archive_failed && writer_error) std::rethrow_exception(writer_error);
  long status = 0;
  curl_easy_getinfo(load.h, CURLINFO_RESPONSE_CODE, &status);
  // An engine that answered before it hung up said why: that wins.
  if (rc != CURLE_OK && (status < 300 || reply.body.empty()))
    fail(ErrorKind::unavailable,
         "load into the Docker Engine at " + engine.host + ": " + connect_error(load.h, rc, errbuf));
  if (status != 200)
    fail(ErrorKind::failed_precondition, "the Docker Engine at " + engine.host + " refused the image (HTTP " +
                                             std::to_string(status) + "): " + engine_message(reply.body));
  // A JSON stream: {"stream":"Loaded image: app:1\n"} … or {"error":"…"}.
  std::vector<std::string> lines;
  std::istringstream in(reply.body);
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      continue;
    }
    if (!j.is_object()) continue;
    if (j.contains("error")) {
      std::string msg = j["error"].is_string() ? j["error"].get<std::string>() : j["error"].dump();
      if (j.contains("errorDetail") && j["errorDetail"].is_object() && j["errorDetail"].contains("message") &&
          j["errorDetail"]["message"].is_string())
        msg = j["errorDetail"]["message"].get<std::string>();
      fail(ErrorKind::failed_precondition,
           "the Docker Engine at " + engine.host + " could not load the image: " + engine_message(msg));
    }
    if (j.contains("stream") && j["stream"].is_string()) {
      std::string s = j["stream"].get<std::string>();
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      if (!s.empty()) lines.push_back(s);
    }
  }
  return lines;
}

}  // namespace xb::exporter
