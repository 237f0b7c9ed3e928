// Registry settings ($XBUILD_CONFIG), docker's credential file and helpers,
// and WWW-Authenticate parsing.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "registry/internal.h"
#include "registry/registry.h"

namespace xb::registry {

namespace fs = std::filesystem;
using nlohmann::json;

// --- base64 (RFC 4648), for the "auth" field of config.json and Basic auth

std::string base64_encode(std::string_view in) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// --- RegistryConfig

namespace {
RegistryConfig load_xbuild_config(const fs::path& file) {
  RegistryConfig c;
  if (file.empty() || !fs::exists(file)) return c;
  json j;
  try {
    j = json::parse(read_file(file));
  } catch (const json::exception& e) {
    fail(ErrorKind::invalid_argument, "config file " + file.string() + " is not valid JSON: " + e.what());
  }
  auto bad = [&](const std::string& what) {
    fail(ErrorKind::invalid_argument, "config file " + file.string() + ": " + what);
  };
  if (!j.is_object()) bad("want a JSON object");
  if (auto it = j.find("insecure-registries"); it != j.end()) {
    if (!it->is_array()) bad("\"insecure-registries\" must be a list of hosts");
    for (const auto& h : *it) {
      if (!h.is_string()) bad("\"insecure-registries\" must be a list of hosts");
      c.insecure_registries.push_back(h.get<std::string>());
    }
  }
  if (auto it = j.find("mirrors"); it != j.end()) {
    if (!it->is_object()) bad("\"mirrors\" must map a registry to a list of URLs");
    for (const auto& [reg, urls] : it->items()) {
      if (!urls.is_array()) bad("\"mirrors\": \"" + reg + "\" must be a list of URLs");
      for (const auto& u : urls) {
        if (!u.is_string()) bad("\"mirrors\": \"" + reg + "\" must be a list of URLs");
        c.mirrors[reg].push_back(u.get<std::string>());
      }
    }
  }
  if (auto it = j.find("limits"); it != j.end()) {
    if (!it->is_object()) bad("\"limits\" must be an object");
    auto number = [&](const char* key, uint64_t max) -> std::optional<uint64_t> {
      auto v = it->find(key);
      if (v == it->end()) return std::nullopt;
      if (!v->is_number_unsigned() || v->get<uint64_t>() == 0 || v->get<uint64_t>() > max)
        bad(std::string("\"limits\": \"") + key + "\" must be a whole number from 1 to " + std::to_string(max));
      return v->get<uint64_t>();
    };
    for (const auto& [key, _] : it->items())
      if (key != "document-bytes" && key != "low-speed-bytes" && key != "low-speed-seconds" && key != "request-seconds")
        bad("\"limits\": unknown key \"" + key + "\"");
    if (auto v = number("document-bytes", 1ull << 40)) c.limits.document_bytes = *v;
    if (auto v = number("low-speed-bytes", 1ull << 40)) c.limits.low_speed_bytes = *v;
    if (auto v = number("low-speed-seconds", 86400)) c.limits.low_speed_seconds = static_cast<int>(*v);
    if (auto v = number("request-seconds", 86400)) c.limits.request_seconds = static_cast<int>(*v);
  }
  return c;
}
}  // namespace

RegistryConfig RegistryConfig::load(const fs::path& file) {
  RegistryConfig c = load_xbuild_config(file);
  load_registries_conf(c);
  return c;
}

bool RegistryConfig::is_insecure(std::string_view host) const {
  for (const auto& r : insecure_registries)
    if (r == host) return true;
  return false;
}

bool RegistryConfig::may_use_http(std::string_view host) const {
  if (is_insecure(host)) return true;
  // Strip the port: "localhost:5000" → "localhost", "[::1]:5000" → "::1".
  std::string name(host);
  if (!name.empty() && name[0] == '[') {
    name = name.substr(1, name.find(']') - 1);
  } else if (auto colon = name.rfind(':'); colon != std::string::npos) {
    name = name.substr(0, colon);
  }
  if (name == "localhost" || name == "::1") return true;
  if (name.rfind("127.", 0) == 0) {
    int dots = 0;
    for (char ch : name) {
      if (ch == '.') ++dots;
      else if (ch < '0' || ch > '9') return false;
    }
    return dots == 3;
  }
  return false;
}

std::vector<fs::path> RegistryConfig::default_certs_dirs() {
  std::vector<fs::path> out;
  if (const char* e = std::getenv("XBUILD_CERTS_DIRS"); e && *e) {
    std::string_view v(e);
    while (!v.empty()) {
      size_t colon = v.find(':');
      if (colon != 0) out.emplace_back(v.substr(0, colon));
      if (colon == std::string_view::npos) break;
      v.remove_prefix(colon + 1);
    }
    return out;
  }
  if (geteuid() != 0) {
    // podman's rootless location first, as containers/image reads it.
    const char* home = std::getenv("HOME");
    if (home && *home) out.push_back(fs::path(home) / ".config/containers/certs.d");
  }
  out.emplace_back("/etc/docker/certs.d");
  out.emplace_back("/etc/containers/certs.d");
  return out;
}

TlsSettings RegistryConfig::tls_for(std::string_view host) const {
  TlsSettings t;
  t.registry = std::string(host);
  t.verify = !is_insecure(host);
  if (!certs_dirs.empty()) t.ca_hint = certs_dirs.front() / std::string(host) / "ca.crt";
  // A host name may not climb out of the root ("..", "/").
  if (host.empty() || host.find('/') != std::string_view::npos || host == "." || host == "..") return t;
  for (const auto& root : certs_dirs) {
    fs::path dir = root / std::string(host);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string ext = f.extension().string();
      if (ext == ".crt") {
        t.ca_files.push_back(f);
      } else if (ext == ".cert") {
        fs::path key = fs::path(f).replace_extension(".key");
        if (!fs::exists(key))
          fail(ErrorKind::invalid_argument, "registry " + t.registry + ": client certificate " + f.string() +
                                                " has no key " + key.string() + " (put the pair together)");
        if (t.client_cert.empty()) {
          t.client_cert = f;
          t.client_key = key;
        }
      } else if (ext == ".key") {
        fs::path cert = fs::path(f).replace_extension(".cert");
        if (!fs::exists(cert))
          fail(ErrorKind::invalid_argument, "registry " + t.registry + ": client key " + f.string() +
                                                " has no certificate " + cert.string() + " (put the pair together)");
      }
    }
    // docker reads one directory per host: the first root that has it.
    t.ca_hint = dir / "ca.crt";
    break;
  }
  return t;
}

// --- AuthChallenge

std::vector<AuthChallenge> AuthChallenge::parse(std::string_view s) {
  std::vector<AuthChallenge> out;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
  };
  auto token = [&] {
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '=' && s[i] != ',') ++i;
    return std::string(s.substr(start, i - start));
  };
  skip_ws();
  while (i < s.size()) {
    std::string word = token();
    if (word.empty()) {
      ++i;
      continue;
    }
    skip_ws();
    if (i < s.size() && s[i] == '=' && !out.empty()) {
      // key=value (value may be quoted) of the current challenge
      ++i;
      std::string value;
      if (i < s.size() && s[i] == '"') {
        ++i;
        while (i < s.size() && s[i] != '"') {
          if (s[i] == '\\' && i + 1 < s.size()) ++i;
          value += s[i++];
        }
        ++i;
      } else {
        value = token();
      }
      std::string key = word;
      for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.back().params[key] = value;
    } else {
      AuthChallenge c;
      c.scheme = word;
      for (auto& ch : c.scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!c.scheme.empty()) c.scheme[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(c.scheme[0])));
      out.push_back(std::move(c));
    }
    skip_ws();
  }
  return out;
}

// --- credential helpers

namespace {

// Runs docker-credential-<helper> <action> with input on stdin; returns its
// exit status and stdout.
std::pair<int, std::string> run_helper(const std::string& helper, const std::string& action, const std::string& input) {
  std::string prog = "docker-credential-" + helper;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) < 0) throw_errno("pipe");
  if (::pipe2(out, O_CLOEXEC) < 0) throw_errno("pipe");
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::execlp(prog.c_str(), prog.c_str(), action.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  // A helper that exits early must not kill us with SIGPIPE.
  auto old = std::signal(SIGPIPE, SIG_IGN);
  (void)::write(in[1], input.data(), input.size());
  std::signal(SIGPIPE, old);
  ::close(in[1]);
  std::string output;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  if (code == 127)
    fail(ErrorKind::failed_precondition,
         "credential helper " + prog + " not found (named in the docker config file); install it or edit the file");
  return {code, output};
}

json load_docker_config(const fs::path& file) {
  if (!fs::exists(file)) return json::object();
  try {
    json j = json::parse(read_file(file));
    if (!j.is_object()) fail(ErrorKind::invalid_argument, "docker config " + file.string() + ": want a JSON object");
    return j;
  } catch (const json::exception& e) {
    fail(ErrorKind::invalid_argument, "docker config " + file.string() + " is not valid JSON: " + e.what());
  }
}

// docker's ConvertToHostname: "https://host:5000/v1/" → "host:5000".
std::string to_hostname(std::string url) {
  if (url.rfind("http://", 0) == 0) url = url.substr(7);
  else if (url.rfind("https://", 0) == 0) url = url.substr(8);
  return url.substr(0, url.find('/'));
}

std::optional<std::string> helper_for(const json& cfg, std::string_view registry) {
  if (auto h = cfg.find("credHelpers"); h != cfg.end() && h->is_object()) {
    auto it = h->find(CredentialStore::key_for(registry));
    if (it == h->end()) it = h->find(std::string(registry));
    if (it != h->end() && it->is_string()) return it->get<std::string>();
  }
  return std::nullopt;
}

std::optional<std::string> store_helper(const json& cfg) {
  if (auto s = cfg.find("credsStore"); s != cfg.end() && s->is_string() && !s->get<std::string>().empty())
    return s->get<std::string>();
  return std::nullopt;
}

}  // namespace

CredentialStore::CredentialStore(fs::path config_json) : read_files_{config_json}, file_(std::move(config_json)) {}

CredentialStore::CredentialStore() {
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f && *f) {
    // podman: an explicit auth file is the only one consulted.
    file_ = f;
    read_files_ = {file_};
    return;
  }
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
    read_files_.push_back(fs::path(x) / "containers" / "auth.json");
  file_ = default_path();
  read_files_.push_back(file_);
}

fs::path CredentialStore::default_path() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) return fs::path(d) / "config.json";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/root") / ".docker" / "config.json";
}

std::string CredentialStore::key_for(std::string_view registry) {
  if (registry == "docker.io" || registry == "index.docker.io" || registry == "registry-1.docker.io")
    return "https://index.docker.io/v1/";
  return std::string(registry);
}

std::optional<Credentials> CredentialStore::get(std::string_view registry) const {
  for (const auto& f : read_files_)
    if (auto c = get_from(f, registry)) return c;
  return std::nullopt;
}

std::optional<Credentials> CredentialStore::get_from(const fs::path& file, std::string_view registry) const {
  json cfg = load_docker_config(file);
  std::string key = key_for(registry);
  auto from_helper = [&](const std::string& helper) -> std::optional<Credentials> {
    auto [code, out] = run_helper(helper, "get", key);
    if (code != 0) return std::nullopt;  // "credentials not found in native keychain"
    try {
      json j = json::parse(out);
      Credentials c;
      c.username = j.value("Username", "");
      c.password = j.value("Secret", "");
      if (c.username == "<token>") {
        c.identity_token = c.password;
        c.username.clear();
        c.password.clear();
      }
      if (c.empty()) return std::nullopt;
      return c;
    } catch (const json::exception&) {
      fail(ErrorKind::invalid_argument, "credential helper docker-credential-" + helper + " printed no JSON");
    }
  };
  if (auto h = helper_for(cfg, registry)) return from_helper(*h);
  if (auto a = cfg.find("auths"); a != cfg.end() && a->is_object()) {
    for (const auto& [k, v] : a->items()) {
      if (k != key && to_hostname(k) != registry) continue;
      if (!v.is_object()) continue;
      Credentials c;
      if (auto au = v.find("auth"); au != v.end() && au->is_string() && !au->get<std::string>().empty()) {
        auto decoded = base64_decode(au->get<std::string>());
        size_t colon = decoded ? decoded->find(':') : std::string::npos;
        if (colon == std::string::npos)
          fail(ErrorKind::invalid_argument,
               "docker config " + file.string() + ": the \"auth\" of " + k + " is not base64 of user:password");
        c.username = decoded->substr(0, colon);
        c.password = decoded->substr(colon + 1);
      } else {
        c.username = v.value("username", "");
        c.password = v.value("password", "");
      }
      c.identity_token = v.value("identitytoken", "");
      if (!c.empty()) return c;
    }
  }
  if (auto s = store_helper(cfg)) return from_helper(*s);
  return std::nullopt;
}

void CredentialStore::store(std::string_view registry, const Credentials& creds) {
  std::error_code ec;
  fs::create_directories(file_.parent_path(), ec);
  FileLock lock(file_.string() + ".lock", FileLock::Mode::exclusive);
  json cfg = load_docker_config(file_);
  std::string key = key_for(registry);
  std::optional<std::string> helper = helper_for(cfg, registry);
  if (!helper) helper = store_helper(cfg);
  if (!cfg.contains("auths") || !cfg["auths"].is_object()) cfg["auths"] = json::object();
  if (helper) {
    json in = {{"ServerURL", key}, {"Username", creds.username}, {"Secret", creds.password}};
    auto [code, out] = run_helper(*helper, "store", dump_json(in));
    if (code != 0)
      fail(ErrorKind::failed_precondition, "credential helper docker-credential-" + *helper + " store failed: " + out);
    cfg["auths"][key] = json::object();
  } else {
    cfg["auths"][key] = {{"auth", base64_encode(creds.username + ":" + creds.password)}};
  }
  write_file_atomic(file_, dump_json(cfg, 1, '\t') + "\n", 0600);
}

bool CredentialStore::erase(std::string_view registry) {
  if (!fs::exists(file_)) return false;
  FileLock lock(file_.string() + ".lock", FileLock::Mode::exclusive);
  json cfg = load_docker_config(file_);
  std::string key = key_for(registry);
  bool found = false;
  std::optional<std::string> helper = helper_for(cfg, registry);
  if (!helper) helper = store_helper(cfg);
  if (helper) found = run_helper(*helper, "erase", key).first == 0;
  if (auto a = cfg.find("auths"); a != cfg.end() && a->is_object()) {
    for (auto it = a->begin(); it != a->end();) {
      if (it.key() == key || to_hostname(it.key()) == registry) {
        it = a->erase(it);
        found = true;
      } else {
        ++it;
      }
    }
  }
  if (found) write_file_atomic(file_, dump_json(cfg, 1, '\t') + "\n", 0600);
  return found;
}

}  // namespace xb::registry
