// A small command-line flag parser shared by every command, with docker's
// conventions: --flag=value, --flag value, -t value, -q, repeatable flags,
// "--" ends flags. Mistakes throw Error(ErrorKind::usage) naming the flag.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/platform.h"

namespace xb::cli {

struct FlagSpec {
  std::string long_name;  // "tag" for --tag
  char short_name = 0;    // 't' for -t, 0 for none
  bool takes_value = false;
  bool repeatable = false;
  std::string help;  // "NAME  tag the image" for --help output
};

class ParsedArgs {
 public:
  bool has(const std::string& long_name) const;
  // The last value of a flag, or nullopt.
  std::optional<std::string> value(const std::string& long_name) const;
  std::string value_or(const std::string& long_name, const std::string& fallback) const;
  // Every value of a repeatable flag, in order.
  std::vector<std::string> values(const std::string& long_name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend ParsedArgs parse_args(const std::string&, const std::vector<FlagSpec>&, const std::vector<std::string>&, bool);
  std::map<std::string, std::vector<std::string>> flags_;
  std::vector<std::string> positional_;
};

// Parses args for `command` against specs. With stop_at_first_positional
// (for `run IMAGE CMD…`), every word after the first positional is
// positional too. "-h"/"--help" is always accepted as flag "help".
ParsedArgs parse_args(const std::string& command, const std::vector<FlagSpec>& specs,
                      const std::vector<std::string>& args, bool stop_at_first_positional = false);

// A size flag (--memory, --keep-storage) as docker reads it: go-units'
// RAMInBytes, "67108864", "64m", "1.5g", "512KiB" (common/size.h); more
// than 0. Throws Error(usage) naming the flag.
uint64_t parse_size(const std::string& flag, const std::string& text);

// --cpus: a positive decimal ("1.5"). Throws Error(usage) naming the flag.
double parse_cpus(const std::string& flag, const std::string& text);

// --platform's comma-separated list ("linux/amd64,linux/arm64"), each
// normalized, duplicates dropped, in order. Throws Error(usage) naming the entry.
std::vector<Platform> parse_platform_list(const std::string& text);

// "K=V" → {K, V}; "K" alone → {K, nullopt}. For --build-arg, --label, -e.
std::pair<std::string, std::optional<std::string>> split_key_value(const std::string& text);

// "Usage: …" then one line per flag, for a command's --help.
std::string format_help(const std::string& usage, const std::string& description, const std::vector<FlagSpec>& specs);

}  // namespace xb::cli
