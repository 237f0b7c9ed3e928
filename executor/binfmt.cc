// Foreign platforms: reading binfmt_misc's entries and deciding whether the
// host can run a platform's programs (executor.h, "Foreign platforms").
#include <sys/mount.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "executor/executor.h"

namespace xb::executor {

namespace fs = std::filesystem;

namespace {

constexpr const char* kBinfmtDir = "/proc/sys/fs/binfmt_misc";

std::string unhex(std::string_view hex, std::string_view name) {
  if (hex.size() % 2)
    fail(ErrorKind::invalid_argument,
         "binfmt_misc entry " + std::string(name) + ": odd-length hex \"" + std::string(hex) + "\"");
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    fail(ErrorKind::invalid_argument,
         "binfmt_misc entry " + std::string(name) + ": bad hex \"" + std::string(hex) + "\"");
  };
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  return out;
}

}  // namespace

BinfmtEntry parse_binfmt_entry(std::string_view name, std::string_view text) {
  BinfmtEntry e;
  e.name = std::string(name);
  bool seen_state = false;
  bool has_mask = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.empty()) continue;
    auto value = [&](std::string_view key) -> std::optional<std::string_view> {
      if (line.rfind(key, 0) != 0) return std::nullopt;
      std::string_view v = line.substr(key.size());
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      return v;
    };
    if (line == "enabled" || line == "disabled") {
      e.enabled = line == "enabled";
      seen_state = true;
    } else if (auto v = value("interpreter ")) {
      e.interpreter = std::string(*v);
    } else if (auto v = value("flags:")) {
      e.flags = std::string(*v);
    } else if (auto v = value("offset ")) {
      e.offset = std::stoul(std::string(*v));
    } else if (auto v = value("magic ")) {
      e.magic = unhex(*v, name);
    } else if (auto v = value("mask ")) {
      e.mask = unhex(*v, name);
      has_mask = true;
    } else if (auto v = value("extension ")) {
      e.magic_type = false;
      e.magic = std::string(*v);
    }
  }
  if (!seen_state)
    fail(ErrorKind::invalid_argument, "binfmt_misc entry " + e.name + ": no enabled/disabled line, not an entry");
  if (!has_mask) e.mask.assign(e.magic.size(), '\xff');
  if (e.mask.size() != e.magic.size())
    fail(ErrorKind::invalid_argument, "binfmt_misc entry " + e.name + ": mask and magic differ in length");
  return e;
}

std::optional<std::string> elf_header(const Platform& p) {
  // e_ident (magic, class, data, version, OS ABI, padding), e_type ET_EXEC, e_machine.
  struct Arch {
    const char* arch;
    int elf_class;  // 1: 32-bit, 2: 64-bit
    bool big_endian;
    int machine;
  };
  static const Arch arches[] = {
      {"amd64", 2, false, 62},    {"386", 1, false, 3},   {"arm64", 2, false, 183},   {"arm", 1, false, 40},
      {"ppc64le", 2, false, 21},  {"s390x", 2, true, 22}, {"riscv64", 2, false, 243}, {"mips64le", 2, false, 8},
      {"loong64", 2, false, 258}, {"ppc64", 2, true, 21},
  };
  for (const auto& a : arches) {
    if (p.architecture != a.arch) continue;
    std::string h = {'\x7f', 'E', 'L', 'F', static_cast<char>(a.elf_class), static_cast<char>(a.big_endian ? 2 : 1),
                     1,      0};
    h.append(8, '\0');
    auto half = [&](int v) {
      char lo = static_cast<char>(v & 0xff), hi = static_cast<char>((v >> 8) & 0xff);
      if (a.big_endian) {
        h.push_back(hi);
        h.push_back(lo);
      } else {
        h.push_back(lo);
        h.push_back(hi);
      }
    };
    half(2);  // ET_EXEC
    half(a.machine);
    return h;
  }
  return std::nullopt;
}

bool runs_natively(const Platform& host, const Platform& p) {
  if (p.os != host.os) return false;
  if (p.architecture == host.architecture) return true;
  return host.architecture == "amd64" && p.architecture == "386";
}

const BinfmtEntry* find_binfmt_handler(const std::vector<BinfmtEntry>& entries, const Platform& platform) {
  auto header = elf_header(platform);
  if (!header) return nullptr;
  for (const auto& e : entries) {
    if (!e.enabled || !e.magic_type) continue;
    if (e.offset + e.magic.size() > header->size()) continue;
    bool match = true;
    for (size_t i = 0; i < e.magic.size() && match; ++i)
      match = ((*header)[e.offset + i] & e.mask[i]) == (e.magic[i] & e.mask[i]);
    if (match) return &e;
  }
  return nullptr;
}

void check_can_run(const Platform& platform) {
  Platform host = Platform::host();
  if (runs_natively(host, platform)) return;
  const std::string install =
      "install a handler with the F flag: apt-get install qemu-user-static (Debian, Ubuntu), or "
      "docker run --privileged --rm tonistiigi/binfmt --install " +
      platform.architecture;
  if (platform.os != "linux")
    fail(ErrorKind::failed_precondition,
         "platform " + platform.str() + ": RUN steps need linux programs (this host is " + host.str() + ")");
  if (!elf_header(platform))
    fail(ErrorKind::failed_precondition,
         "platform " + platform.str() + ": xbuild does not know how to run its programs on " + host.str());
  std::error_code ec;
  if (!fs::exists(fs::path(kBinfmtDir) / "status", ec)) {
    // Not mounted (a fresh container, a minimal host): root may mount it, as systemd does at boot.
    ::mount("binfmt_misc", kBinfmtDir, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  }
  std::vector<BinfmtEntry> entries;
  for (const auto& de : fs::directory_iterator(kBinfmtDir, ec)) {
    std::string n = de.path().filename().string();
    if (n == "status" || n == "register") continue;
    std::ifstream in(de.path());
    std::stringstream text;
    text << in.rdbuf();
    try {
      entries.push_back(parse_binfmt_entry(n, text.str()));
    } catch (const Error&) {
      // Not an entry we can read: it cannot be the one we need.
    }
  }
  const BinfmtEntry* e = find_binfmt_handler(entries, platform);
  if (!e)
    fail(ErrorKind::failed_precondition, "platform " + platform.str() + ": this host (" + host.str() +
                                             ") has no binfmt_misc handler to run its programs in " + kBinfmtDir +
                                             "; " + install);
  if (!e->fix_binary())
    fail(ErrorKind::failed_precondition, "platform " + platform.str() + ": the binfmt_misc handler " +
                                             std::string(kBinfmtDir) + "/" + e->name +
                                             " lacks the F flag, so its interpreter " + e->interpreter +
                                             " cannot be found inside a build container; " + install);
}

}  // namespace xb::executor
