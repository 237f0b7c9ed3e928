// /etc/passwd and /etc/group as runc (moby/sys/user) reads them, for USER
// (executor) and --chown and WORKDIR owners (fileop): the one parser, pure,
// so that it is tested without a root file system.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string home;  // "" when the line has no such field
};

struct GroupEntry {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
};

// Lines split on ':' (a trailing '\r' dropped); blank lines and '#' comments
// are skipped, and so is a line without the name, password and id fields or
// whose ids are not decimal numbers below 2^32, as no lookup could use it.
std::vector<PasswdEntry> parse_passwd(std::string_view text);
// A uid or gid as these files and USER write it: decimal, below 2^32.
std::optional<uint32_t> parse_id(std::string_view s);
std::vector<GroupEntry> parse_group(std::string_view text);

}  // namespace xb
