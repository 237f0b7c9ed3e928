#include "cli/run_inputs.h"

#include <arpa/inet.h>
#include <algorithm>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "common/error.h"
#include "common/size.h"

namespace xb::cli {

namespace {

[[noreturn]] void usage(const std::string& msg) { fail(ErrorKind::usage, msg); }

// An IP address as Go's net.IP.String() writes it (IPv4-mapped IPv6 as
// IPv4), or nullopt.
std::optional<std::string> canonical_ip(const std::string& text) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (::inet_pton(AF_INET, text.c_str(), buf) == 1) return std::string(::inet_ntop(AF_INET, buf, out, sizeof out));
  if (::inet_pton(AF_INET6, text.c_str(), buf) != 1) return std::nullopt;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(mapped, mapped + 12, buf)) return std::string(::inet_ntop(AF_INET, buf + 12, out, sizeof out));
  return std::string(::inet_ntop(AF_INET6, buf, out, sizeof out));
}

std::optional<int64_t> parse_int64(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end || errno == ERANGE) return std::nullopt;
  return static_cast<int64_t>(v);
}

}  // namespace

executor::ExtraHost parse_add_host(const std::string& text) {
  auto sep = text.find('=');
  if (sep == std::string::npos) sep = text.find(':');
  std::string host = sep == std::string::npos ? text : text.substr(0, sep);
  std::string ip = sep == std::string::npos ? "" : text.substr(sep + 1);
  const std::string want = ": want HOST:IP (an IPv4 or IPv6 address, or host-gateway), e.g. --add-host db:10.0.0.5";
  if (host.empty() || ip.empty()) usage("--add-host " + text + want);
  if (ip == "host-gateway") return {host, kHostGatewayIp};
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  auto canon = canonical_ip(ip);
  if (!canon) usage("--add-host " + text + ": \"" + ip + "\" is not an IP address" + want.substr(1));
  return {host, *canon};
}

executor::Ulimit parse_ulimit(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos) usage("--ulimit " + text + ": want NAME=SOFT[:HARD], e.g. --ulimit nofile=1024:2048");
  executor::Ulimit u;
  u.name = text.substr(0, eq);
  if (!executor::rlimit_resource(u.name))
    usage("--ulimit " + text + ": unknown limit \"" + u.name +
          "\" (want core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, "
          "sigpending or stack)");
  std::string values = text.substr(eq + 1);
  auto colon = values.find(':');
  std::string soft_text = values.substr(0, colon);
  std::string hard_text = colon == std::string::npos ? soft_text : values.substr(colon + 1);
  if (colon != std::string::npos && hard_text.find(':') != std::string::npos)
    usage("--ulimit " + text + ": too many values (want SOFT[:HARD])");
  auto soft = parse_int64(soft_text), hard = parse_int64(hard_text);
  if (!soft || !hard || *soft < -1 || *hard < -1)
    usage("--ulimit " + text + ": want whole numbers, SOFT[:HARD] (-1 for unlimited)");
  if (*hard != -1 && (*soft == -1 || *soft > *hard))
    usage("--ulimit " + text + ": the soft limit must not be above the hard limit");
  u.soft = *soft;
  u.hard = *hard;
  return u;
}

solver::SshSource parse_ssh(const std::string& text, const std::string& ssh_auth_sock) {
  solver::SshSource s;
  auto eq = text.find('=');
  s.id = text.substr(0, eq);
  if (s.id.empty()) s.id = "default";
  std::vector<std::string> paths;
  if (eq != std::string::npos) {
    std::string rest = text.substr(eq + 1);
    for (size_t i = 0; i <= rest.size();) {
      size_t j = rest.find(',', i);
      if (j == std::string::npos) j = rest.size();
      if (j > i) paths.push_back(rest.substr(i, j - i));
      i = j + 1;
    }
  }
  if (paths.empty()) {
    if (ssh_auth_sock.empty())
      usage("--ssh " + text + ": SSH_AUTH_SOCK is not set: start an agent (eval $(ssh-agent); ssh-add) or give --ssh " +
            s.id + "=SOCKET or --ssh " + s.id + "=KEYFILE");
    paths.push_back(ssh_auth_sock);
  }
  for (const auto& p : paths) {
    struct stat st {};
    if (::stat(p.c_str(), &st) < 0)
      usage("--ssh " + text + ": " + p + ": " + (errno == ENOENT ? "no such file or socket" : std::strerror(errno)));
    if (S_ISSOCK(st.st_mode)) {
      if (paths.size() > 1) usage("--ssh " + text + ": " + p + " is a socket: give one agent socket, or key files");
      s.socket = p;
    } else if (S_ISREG(st.st_mode)) {
      s.keys.push_back(p);
    } else {
      usage("--ssh " + text + ": " + p + " is neither an agent socket nor a key file");
    }
  }
  return s;
}

void apply_run_inputs(const ParsedArgs& a, convert::DispatchOptions& conv, solver::BuildOptions& opts) {
  for (const auto& h : a.values("add-host")) conv.extra_hosts.push_back(parse_add_host(h));
  // docker's UlimitOpt is a map by name: a later value of a name wins.
  for (const auto& text : a.values("ulimit")) {
    executor::Ulimit u = parse_ulimit(text);
    std::erase_if(conv.ulimits, [&](const executor::Ulimit& o) { return o.name == u.name; });
    conv.ulimits.push_back(u);
  }
  if (auto s = a.value("shm-size")) conv.shm_bytes = parse_size("--shm-size", *s);
  const char* sock = std::getenv("SSH_AUTH_SOCK");
  std::set<std::string> ids;
  for (const auto& text : a.values("ssh")) {
    solver::SshSource s = parse_ssh(text, sock ? sock : "");
    if (!ids.insert(s.id).second) usage("--ssh " + text + ": the id \"" + s.id + "\" is given twice");
    opts.ssh.push_back(std::move(s));
  }
  for (const auto& list : a.values("no-cache-filter"))
    for (size_t i = 0; i <= list.size();) {
      size_t j = list.find(',', i);
      if (j == std::string::npos) j = list.size();
      if (j > i) conv.no_cache_stages.insert(list.substr(i, j - i));
      i = j + 1;
    }
}

}  // namespace xb::cli
