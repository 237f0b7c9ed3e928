// resolve_user: Docker's (runc's GetExecUser) reading of USER against the
// image's /etc/passwd and /etc/group (parsed by common/passwd.h). Pure, so
// it is tested without root.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>

#include "common/error.h"
#include "common/passwd.h"
#include "executor/executor.h"

namespace xb::executor {

User resolve_user(std::string_view spec, std::string_view passwd, std::string_view group) {
  User u;
  if (spec.empty()) spec = "0";
  auto colon = spec.find(':');
  std::string_view user_part = spec.substr(0, colon);
  std::optional<std::string_view> group_part;
  if (colon != std::string_view::npos) group_part = spec.substr(colon + 1);
  if (user_part.empty()) fail(ErrorKind::invalid_argument, "invalid user \"" + std::string(spec) + "\": no user name");
  if (group_part && group_part->empty())
    fail(ErrorKind::invalid_argument, "invalid user \"" + std::string(spec) + "\": empty group");

  std::optional<uint32_t> numeric_uid = parse_id(user_part);
  std::string name;
  bool found = false;
  for (const auto& e : parse_passwd(passwd)) {
    if (numeric_uid ? e.uid == *numeric_uid : e.name == user_part) {
      u.uid = e.uid;
      u.gid = e.gid;
      u.home = e.home.empty() ? "/" : e.home;
      name = e.name;
      found = true;
      break;
    }
  }
  if (!found) {
    if (!numeric_uid)
      fail(ErrorKind::not_found,
           "unable to find user " + std::string(user_part) + ": no matching entries in passwd file");
    u.uid = *numeric_uid;
    u.gid = 0;
  }

  if (group_part) {
    if (auto gid = parse_id(*group_part)) {
      u.gid = *gid;
    } else {
      bool gfound = false;
      for (const auto& g : parse_group(group)) {
        if (g.name == *group_part) {
          u.gid = g.gid;
          gfound = true;
          break;
        }
      }
      if (!gfound)
        fail(ErrorKind::not_found,
             "unable to find group " + std::string(*group_part) + ": no matching entries in group file");
    }
  }

  // The primary group is also a supplementary one, as containerd and
  // BuildKit set it since CVE-2023-25173: a file readable by that group
  // stays readable after a process drops to other groups' ids.
  u.additional_gids.push_back(u.gid);
  if (!group_part && !name.empty()) {
    for (const auto& g : parse_group(group))
      for (const auto& member : g.members)
        if (member == name) u.additional_gids.push_back(g.gid);
  }
  std::sort(u.additional_gids.begin(), u.additional_gids.end());
  u.additional_gids.erase(std::unique(u.additional_gids.begin(), u.additional_gids.end()), u.additional_gids.end());
  return u;
}

std::string ExitStatus::describe() const {
  if (cancelled) return "cancelled";
  if (timed_out) return "timed out";
  if (oom_killed) {
    std::string s = "killed: out of memory";
    if (memory_limit) {
      uint64_t v = *memory_limit;
      if (v % (1ull << 30) == 0) s += " (limit " + std::to_string(v >> 30) + " GiB)";
      else if (v % (1ull << 20) == 0) s += " (limit " + std::to_string(v >> 20) + " MiB)";
      else s += " (limit " + std::to_string(v) + " bytes)";
    }
    return s;
  }
  if (signal) {
    const char* n = sigabbrev_np(signal);
    return std::string("killed by signal ") + (n ? std::string("SIG") + n : std::to_string(signal));
  }
  return "exit code " + std::to_string(exit_code);
}

}  // namespace xb::executor
