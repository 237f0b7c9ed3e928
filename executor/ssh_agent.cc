// SSH agents for RUN --mount=type=ssh: an ssh-agent process holding --ssh
// key files (KeyAgent), and the per-RUN socket that relays to an agent
// (AgentForward). See executor.h.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/random.h"
#include "executor/executor.h"

extern char** environ;

namespace xb::executor {

namespace fs = std::filesystem;

namespace {

// The environment for ssh-agent and ssh-add: xbuild's, without anything
// that would make ssh-add talk to another agent or ask for a passphrase.
std::vector<std::string> agent_env(const fs::path& socket) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.rfind("SSH_AUTH_SOCK=", 0) == 0 || v.rfind("SSH_ASKPASS", 0) == 0 || v.rfind("DISPLAY=", 0) == 0) continue;
    out.emplace_back(v);
  }
  out.push_back("SSH_AUTH_SOCK=" + socket.string());
  out.push_back("SSH_ASKPASS_REQUIRE=never");
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// fork + exec of argv with envp: stdin /dev/null, stdout and stderr to
// out_fd, a session of its own (no terminal: ssh-add cannot prompt), and
// ended when the thread that started it ends (the build's main thread),
// even by SIGKILL. Debian's ssh-agent is setgid, and exec of a setgid
// program clears PR_SET_PDEATHSIG: so a guard process that never execs
// keeps the death signal and passes it on. The returned pid is the
// guard's; SIGTERM to it stops the program, and its exit status is the
// program's (128+N for signal N).
pid_t spawn(std::vector<std::string> argv, std::vector<std::string> env, int out_fd) {
  auto av = c_strings(argv);
  auto ev = c_strings(env);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) throw_errno("open", "/dev/null");
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(devnull);
    throw_errno("fork", argv[0]);
  }
  if (pid == 0) {
    // The guard: only async-signal-safe calls from here on.
    ::setsid();
    sigset_t wanted, old;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGTERM);
    sigaddset(&wanted, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &wanted, &old);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(devnull, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    pid_t child = ::fork();
    if (child < 0) ::_exit(127);
    if (child == 0) {
      ::sigprocmask(SIG_SETMASK, &old, nullptr);
      ::execvpe(av[0], av.data(), ev.data());
      ::_exit(127);
    }
    for (;;) {
      int sig = ::sigwaitinfo(&wanted, nullptr);
      if (sig == SIGTERM) ::kill(child, SIGTERM);
      int status = 0;
      pid_t r = ::waitpid(child, &status, sig == SIGTERM ? 0 : WNOHANG);
      if (r == child) ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
  ::close(devnull);
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

KeyAgent::KeyAgent(const std::vector<fs::path>& keys) {
  // In memory, 0700, named so that `xbuild prune` sweeps it after a kill.
  TempDir dir(secret_name("agent"), fs::path(kSecretDir));
  socket_ = dir.path() / "agent.sock";
  int out[2];
  if (::pipe2(out, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd out_r(out[0]), out_w(out[1]);
  pid_ = spawn({"ssh-agent", "-D", "-a", socket_.string()}, agent_env(socket_), out_w.get());
  out_w.reset();
  // ssh-agent prints its SSH_AUTH_SOCK line once it listens.
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (text.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    struct pollfd p {
      out_r.get(), POLLIN, 0
    };
    int n = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (n < 0 && errno == EINTR) continue;
    char buf[512];
    ssize_t r = n > 0 ? ::read(out_r.get(), buf, sizeof buf) : 0;
    if (r <= 0) {
      ::kill(pid_, SIGTERM);
      int code = wait_exit(pid_);
      pid_ = -1;
      fail(ErrorKind::failed_precondition, "--ssh: ssh-agent did not start (exit " + std::to_string(code) +
                                               (text.empty() ? "" : ": " + text) + "); install openssh-client");
    }
    text.append(buf, static_cast<size_t>(r));
  }
  dir_ = dir.release();
  std::vector<std::string> add = {"ssh-add", "-q"};
  for (const auto& k : keys) add.push_back(k.string());
  int err[2];
  if (::pipe2(err, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd err_r(err[0]), err_w(err[1]);
  pid_t adder = spawn(add, agent_env(socket_), err_w.get());
  err_w.reset();
  std::string msg;
  char buf[4096];
  for (ssize_t r; (r = ::read(err_r.get(), buf, sizeof buf)) != 0;) {
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    msg.append(buf, static_cast<size_t>(r));
  }
  if (int code = wait_exit(adder); code != 0) {
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
    if (auto nl = msg.rfind('\n'); nl != std::string::npos) msg = msg.substr(nl + 1);
    std::string names;
    for (const auto& k : keys) names += (names.empty() ? "" : ",") + k.string();
    stop();
    fail(ErrorKind::invalid_argument,
         "--ssh " + names + ": ssh-add could not load the key" + (msg.empty() ? "" : " (" + msg + ")") +
             "; a key with a passphrase must be added to an agent first: --ssh ID=$SSH_AUTH_SOCK");
  }
}

KeyAgent::~KeyAgent() { stop(); }

void KeyAgent::stop() noexcept {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    wait_exit(pid_);
    pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }
}

AgentForward::AgentForward(const fs::path& agent_socket, const fs::path& listen_path, uint32_t uid, uint32_t gid,
                           uint32_t mode)
    : agent_(agent_socket), path_(listen_path) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path_.string().size() >= sizeof addr.sun_path)
    fail(ErrorKind::invalid_argument, "ssh agent socket path too long: " + path_.string());
  std::strcpy(addr.sun_path, path_.c_str());
  UniqueFd l(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l) throw_errno("socket", path_.string());
  if (::bind(l.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) throw_errno("bind", path_.string());
  // What the RUN sees: BuildKit's owner and mode of the mount (default root, 0600).
  if (::chown(path_.c_str(), uid, gid) < 0 || ::chmod(path_.c_str(), mode) < 0) {
    int e = errno;
    ::unlink(path_.c_str());
    throw_errno("chown/chmod", path_.string(), e);
  }
  if (::listen(l.get(), 16) < 0) throw_errno("listen", path_.string());
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
  if (!stop) throw_errno("eventfd");
  listen_fd_ = l.release();
  stop_fd_ = stop.release();
  thread_ = std::thread([this] { relay(); });
}

AgentForward::~AgentForward() {
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
  ::unlink(path_.c_str());
}

// One poll loop for every connection: bytes from the RUN's side go to a
// connection of the agent's own and back, until either side closes.
void AgentForward::relay() noexcept {
  struct Side {
    int fd = -1;
    std::string pending;  // read from the other side, not yet written here
    bool eof = false;     // the other side will send nothing more
  };
  struct Conn {
    Side s[2];
  };
  std::vector<Conn> conns;
  auto close_conn = [](Conn& c) {
    for (auto& s : c.s) ::close(s.fd);
  };
  constexpr size_t kMax = 256 * 1024;
  for (;;) {
    std::vector<pollfd> pfds = {{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (auto& c : conns)
      for (int i = 0; i < 2; ++i) {
        Side& me = c.s[i];
        Side& other = c.s[1 - i];
        short ev = 0;
        if (!other.eof && other.pending.size() < kMax) ev |= POLLIN;  // my bytes go to other.pending
        if (!me.pending.empty()) ev |= POLLOUT;
        pfds.push_back({me.fd, ev, 0});
      }
    if (::poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pfds[0].revents) break;
    // Only the connections polled above have entries in pfds: one accepted
    // below waits for the next round.
    const size_t polled = conns.size();
    if (pfds[1].revents & POLLIN) {
      int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (client >= 0) {
        int agent = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr {};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, agent_.c_str(), sizeof addr.sun_path - 1);
        if (agent >= 0 && ::connect(agent, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
          ::fcntl(agent, F_SETFL, O_NONBLOCK);
          Conn c;
          c.s[0].fd = client;
          c.s[1].fd = agent;
          conns.push_back(std::move(c));
        } else {
          ::close(client);  // the RUN sees the agent refuse
          if (agent >= 0) ::close(agent);
        }
      }
    }
    size_t k = 2;
    for (size_t n = 0; n < polled; ++n) {
      Conn& c = conns[n];
      bool dead = false;
      for (int i = 0; i < 2; ++i, ++k) {
        Side& me = c.s[i];
        Side& other = c.s[1 - i];
        short re = pfds[k].revents;
        if (re & (POLLIN | POLLHUP)) {
          char buf[16384];
          ssize_t r = ::read(me.fd, buf, sizeof buf);
          if (r > 0) other.pending.append(buf, static_cast<size_t>(r));
          else if (r == 0) other.eof = true;
          else if (errno != EAGAIN && errno != EINTR) dead = true;
        }
        if ((re & POLLOUT) && !me.pending.empty()) {
          ssize_t w = ::send(me.fd, me.pending.data(), me.pending.size(), MSG_NOSIGNAL);
          if (w > 0) me.pending.erase(0, static_cast<size_t>(w));
          else if (w < 0 && errno != EAGAIN && errno != EINTR) dead = true;
        }
        if (re & (POLLERR | POLLNVAL)) dead = true;
      }
      // A side that reached EOF and whose bytes were all delivered: pass the
      // EOF on; both done, the pair goes.
      for (int i = 0; i < 2; ++i)
        if (c.s[i].eof && c.s[i].pending.empty()) ::shutdown(c.s[i].fd, SHUT_WR);
      if (dead || (c.s[0].eof && c.s[1].eof && c.s[0].pending.empty() && c.s[1].pending.empty())) {
        close_conn(c);
        c.s[0].fd = -2;
      }
    }
    std::erase_if(conns, [](const Conn& c) { return c.s[0].fd == -2; });
  }
  for (auto& c : conns) close_conn(c);
}

}  // namespace xb::executor
