// containers-registries.conf(5) version 2, the subset xbuild maps onto its
// RegistryConfig: [[registry]] location/prefix/insecure and
// [[registry.mirror]] location/insecure. A small strict TOML reader of
// exactly that subset: anything else that is well-formed TOML-looking
// (other tables, other keys, arrays, inline tables) is skipped and named in
// one warning; a line that is not TOML is an error naming file:line.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "registry/registry.h"

namespace xb::registry {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

class Reader {
 public:
  Reader(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}

  [[noreturn]] void bad(const std::string& what) const {
    fail(ErrorKind::invalid_argument,
         "registries.conf " + file_ + ":" + std::to_string(line_) + ": " + what + " (containers-registries.conf(5))");
  }

  RegistriesConf read() {
    RegistriesConf out;
    enum class Table { top, registry, mirror, other } table = Table::top;
    std::set<std::string> keys;  // of the current table: a repeated key is an error
    size_t pos = 0;
    while (pos <= text_.size()) {
      size_t nl = text_.find('\n', pos);
      std::string_view raw = text_.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text_.size() + 1 : nl + 1;
      ++line_;
      std::string line = trim(strip_comment(raw));
      if (line.empty()) continue;
      if (line[0] == '[') {
        keys.clear();
        if (line == "[[registry]]") {
          table = Table::registry;
          out.registries.push_back({});
          out.registries.back().line = line_;
        } else if (line == "[[registry.mirror]]") {
          if (out.registries.empty()) bad("[[registry.mirror]] before any [[registry]]");
          table = Table::mirror;
          out.registries.back().mirrors.push_back({});
        } else {
          bool array = line.rfind("[[", 0) == 0;
          std::string name = trim(std::string_view(line).substr(array ? 2 : 1));
          std::string close = array ? "]]" : "]";
          if (name.size() < close.size() || name.compare(name.size() - close.size(), close.size(), close) != 0)
            bad("a table header must end in " + close);
          name = trim(std::string_view(name).substr(0, name.size() - close.size()));
          if (name.empty()) bad("a table header needs a name");
          table = Table::other;
          out.ignored.push_back(line + " (line " + std::to_string(line_) + ")");
        }
        continue;
      }
      size_t eq = find_unquoted(line, '=');
      if (eq == std::string::npos) bad("expected KEY = VALUE or a [table] header, got \"" + line + "\"");
      std::string key = unquote_key(trim(std::string_view(line).substr(0, eq)));
      std::string value = trim(std::string_view(line).substr(eq + 1));
      if (value.empty()) bad("\"" + key + "\" has no value");
      if (!keys.insert(key).second) bad("\"" + key + "\" is set twice in the same table");
      int key_line = line_;
      // A value that opens an array or inline table may run over several lines.
      while (depth(value) > 0) {
        if (pos > text_.size()) bad("\"" + key + "\": unterminated [ or {");
        size_t n2 = text_.find('\n', pos);
        std::string_view more = text_.substr(pos, n2 == std::string_view::npos ? std::string_view::npos : n2 - pos);
        pos = n2 == std::string_view::npos ? text_.size() + 1 : n2 + 1;
        ++line_;
        value += " " + trim(strip_comment(more));
      }
      if (depth(value) < 0) bad("\"" + key + "\": unbalanced ] or }");
      bool known = false;
      if (table == Table::registry) {
        auto& r = out.registries.back();
        if (key == "location") r.location = string_value(key, value), known = true;
        else if (key == "prefix") r.prefix = string_value(key, value), known = true;
        else if (key == "insecure") r.insecure = bool_value(key, value), known = true;
      } else if (table == Table::mirror) {
        auto& m = out.registries.back().mirrors.back();
        if (key == "location") m.location = string_value(key, value), known = true;
        else if (key == "insecure") m.insecure = bool_value(key, value), known = true;
      }
      if (!known) {
        check_value(key, value);
        if (table != Table::other) out.ignored.push_back(key + " (line " + std::to_string(key_line) + ")");
      }
    }
    return out;
  }

 private:
  // Drops a # comment that is not inside a string.
  static std::string_view strip_comment(std::string_view s) {
    size_t i = find_unquoted(s, '#');
    return i == std::string::npos ? s : s.substr(0, i);
  }

  // Calls stop(i) for each character of s outside a "basic" or 'literal'
  // string (a backslash escapes only in basic ones) until it returns true;
  // returns that index, or npos.
  template <class Stop>
  static size_t scan_unquoted(std::string_view s, Stop stop) {
    char quote = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (quote) {
        if (quote == '"' && s[i] == '\\') ++i;
        else if (s[i] == quote) quote = 0;
      } else if (s[i] == '"' || s[i] == '\'') {
        quote = s[i];
      } else if (stop(i)) {
        return i;
      }
    }
    return std::string::npos;
  }

  static size_t find_unquoted(std::string_view s, char c) {
    return scan_unquoted(s, [&](size_t i) { return s[i] == c; });
  }

  // Open brackets minus closed ones, outside strings.
  static int depth(std::string_view s) {
    int d = 0;
    scan_unquoted(s, [&](size_t i) {
      if (s[i] == '[' || s[i] == '{') ++d;
      else if (s[i] == ']' || s[i] == '}') --d;
      return false;
    });
    return d;
  }

  std::string unquote_key(const std::string& k) const {
    if (k.empty()) bad("a key is missing before =");
    if (k[0] == '"' || k[0] == '\'') return parse_string(k, "a key");
    for (char c : k)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
        bad("\"" + k + "\" is not a valid key");
    return k;
  }

  // A whole "basic" or 'literal' single-line string, nothing after it.
  std::string parse_string(const std::string& v, const std::string& what) const {
    if (v.size() < 2 || (v[0] != '"' && v[0] != '\'') || v.back() != v[0])
      bad(what + " must be a quoted string, got " + v);
    if (v.rfind("\"\"\"", 0) == 0 || v.rfind("'''", 0) == 0) bad(what + ": multi-line strings are not supported");
    std::string out;
    for (size_t i = 1; i + 1 < v.size(); ++i) {
      char c = v[i];
      if (c == v[0]) bad(what + ": text after the closing quote in " + v);
      if (v[0] == '"' && c == '\\') {
        if (i + 2 >= v.size()) bad(what + ": a backslash ends the string " + v);
        char e = v[++i];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case 't': out += '\t'; break;
          case 'n': out += '\n'; break;
          default: bad(what + ": unsupported escape \\" + std::string(1, e) + " in " + v);
        }
        continue;
      }
      out += c;
    }
    return out;
  }

  std::string string_value(const std::string& key, const std::string& v) const {
    return parse_string(v, "\"" + key + "\"");
  }

  bool bool_value(const std::string& key, const std::string& v) const {
    if (v == "true") return true;
    if (v == "false") return false;
    bad("\"" + key + "\" must be true or false, got " + v);
  }

  // A value xbuild does not use must still look like TOML.
  void check_value(const std::string& key, const std::string& v) const {
    if (v == "true" || v == "false") return;
    if (v[0] == '"' || v[0] == '\'') {
      parse_string(v, "\"" + key + "\"");
      return;
    }
    if (v[0] == '[' || v[0] == '{') return;  // balanced, checked by the caller
    if (std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '-' || v[0] == '+') return;
    bad("\"" + key + "\" has a value that is not TOML: " + v);
  }

  std::string_view text_;
  std::string file_;
  int line_ = 0;
};

std::string registry_domain(std::string host) {
  if (host == "index.docker.io" || host == "registry-1.docker.io") return "docker.io";
  return host;
}

bool plain_host(const std::string& s) { return !s.empty() && s.find_first_of("/*@ ") == std::string::npos; }

}  // namespace

RegistriesConf RegistriesConf::parse(std::string_view text, const std::string& file) {
  Reader r(text, file);
  RegistriesConf c = r.read();
  for (auto& e : c.registries) {
    if (e.location.empty() && e.prefix.empty())
      fail(ErrorKind::invalid_argument, "registries.conf " + file + ":" + std::to_string(e.line) +
                                            ": [[registry]] needs a location (containers-registries.conf(5))");
    if (e.prefix.empty()) e.prefix = e.location;
    for (const auto& m : e.mirrors)
      if (m.location.empty())
        fail(ErrorKind::invalid_argument, "registries.conf " + file + ":" + std::to_string(e.line) +
                                              ": a [[registry.mirror]] of this [[registry]] has no location");
  }
  return c;
}

fs::path RegistriesConf::default_path() {
  if (const char* f = std::getenv("CONTAINERS_REGISTRIES_CONF"); f && *f) return f;
  // podman: the user's file, when it exists, replaces the system one.
  {
    const char* cfg = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    fs::path user = cfg && *cfg
                        ? fs::path(cfg) / "containers" / "registries.conf"
                        : fs::path(home && *home ? home : "/root") / ".config" / "containers" / "registries.conf";
    std::error_code ec;
    if (fs::exists(user, ec)) return user;
  }
  return "/etc/containers/registries.conf";
}

std::vector<std::string> RegistriesConf::apply(RegistryConfig& config) const {
  std::vector<std::string> skipped;
  for (const auto& e : registries) {
    std::string where = "[[registry]] at line " + std::to_string(e.line);
    // Only whole registries: a prefix with a namespace or a wildcard, or a
    // location that rewrites the prefix elsewhere, has no xbuild equivalent.
    if (!plain_host(e.prefix) || (!e.location.empty() && e.location != e.prefix)) {
      skipped.push_back(where + " (prefix " + e.prefix + " → location " + e.location +
                        ": only location = prefix = HOST[:PORT] is supported)");
      continue;
    }
    std::string domain = registry_domain(e.prefix);
    if (e.insecure) config.insecure_registries.push_back(e.prefix);
    for (const auto& m : e.mirrors) {
      if (!plain_host(m.location)) {
        skipped.push_back(where + " (mirror " + m.location + ": only HOST[:PORT] is supported)");
        continue;
      }
      config.mirrors[domain].push_back(m.location);
      if (m.insecure) config.insecure_registries.push_back(m.location);
    }
  }
  return skipped;
}

void load_registries_conf(RegistryConfig& config) {
  fs::path file = RegistriesConf::default_path();
  std::error_code ec;
  if (!fs::exists(file, ec)) return;
  RegistriesConf rc = RegistriesConf::parse(read_file(file), file.string());
  std::vector<std::string> ignored = rc.ignored;
  for (auto& s : rc.apply(config)) ignored.push_back(std::move(s));
  if (ignored.empty()) return;
  std::string msg = "warning: registries.conf " + file.string() + ": xbuild ignores ";
  for (size_t i = 0; i < ignored.size(); ++i) msg += (i ? ", " : "") + ignored[i];
  // The configuration is loaded by several parts of one command: say it once.
  static std::mutex mu;
  static std::set<std::string> said;
  std::lock_guard<std::mutex> lock(mu);
  if (said.insert(msg).second) std::fprintf(stderr, "%s\n", msg.c_str());
}

}  // namespace xb::registry
