#include "cli/args.h"

#include "common/error.h"
#include "common/size.h"

namespace xb::cli {

bool ParsedArgs::has(const std::string& long_name) const { return flags_.count(long_name) != 0; }

std::optional<std::string> ParsedArgs::value(const std::string& long_name) const {
  auto it = flags_.find(long_name);
  if (it == flags_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string ParsedArgs::value_or(const std::string& long_name, const std::string& fallback) const {
  return value(long_name).value_or(fallback);
}

std::vector<std::string> ParsedArgs::values(const std::string& long_name) const {
  auto it = flags_.find(long_name);
  return it == flags_.end() ? std::vector<std::string>{} : it->second;
}

ParsedArgs parse_args(const std::string& command, const std::vector<FlagSpec>& specs,
                      const std::vector<std::string>& args, bool stop_at_first_positional) {
  ParsedArgs out;
  auto find_long = [&](const std::string& name) -> const FlagSpec* {
    for (const auto& s : specs)
      if (s.long_name == name) return &s;
    return nullptr;
  };
  auto find_short = [&](char c) -> const FlagSpec* {
    for (const auto& s : specs)
      if (s.short_name == c) return &s;
    return nullptr;
  };
  auto unknown = [&](const std::string& word) {
    fail(ErrorKind::usage, "xbuild " + command + ": unknown flag " + word + " (see xbuild " + command + " --help)");
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool positional_only = stop_at_first_positional && !out.positional_.empty();
    if (positional_only || a == "-" || a.empty() || a[0] != '-') {
      out.positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      out.positional_.insert(out.positional_.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (a == "-h" || a == "--help") {
      out.flags_["help"].push_back("true");
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown;
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      shown = "--" + name;
      spec = find_long(name);
    } else {
      shown = a.substr(0, 2);
      spec = find_short(a[1]);
      if (a.size() > 2) {
        // -tvalue or -t=value for flags with values; -q alone otherwise.
        if (!spec || !spec->takes_value) unknown(a);
        inline_value = a[2] == '=' ? a.substr(3) : a.substr(2);
      }
    }
    if (!spec) unknown(shown);
    std::string value = "true";
    if (spec->takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        fail(ErrorKind::usage, "xbuild " + command + ": flag " + shown + " needs a value");
      }
    } else if (inline_value) {
      if (*inline_value != "true" && *inline_value != "false")
        fail(ErrorKind::usage, "xbuild " + command + ": flag " + shown + " takes no value");
      if (*inline_value == "false") {
        out.flags_.erase(spec->long_name);
        continue;
      }
    }
    auto& slot = out.flags_[spec->long_name];
    if (!spec->repeatable) slot.clear();
    slot.push_back(std::move(value));
  }
  return out;
}

uint64_t parse_size(const std::string& flag, const std::string& text) {
  // docker reads these flags (--memory, --keep-storage) with go-units'
  // RAMInBytes: 512m is 512 MiB. Zero is refused: it would mean no limit.
  std::optional<uint64_t> v = xb::parse_size(text, SizeUnits::binary);
  if (!v || *v == 0) fail(ErrorKind::usage, flag + " " + text + ": want a size such as 512m or 2g");
  return *v;
}

std::vector<Platform> parse_platform_list(const std::string& text) {
  std::vector<Platform> out;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!part.empty() && part.front() == ' ') part.erase(part.begin());
    while (!part.empty() && part.back() == ' ') part.pop_back();
    if (part.empty())
      fail(ErrorKind::usage, "--platform " + text + ": an empty platform (want e.g. linux/amd64,linux/arm64)");
    Platform p;
    try {
      p = Platform::parse(part);
    } catch (const Error& e) {
      fail(ErrorKind::usage, "--platform " + text + ": " + e.message());
    }
    bool dup = false;
    for (const auto& q : out) dup = dup || q.str() == p.str();
    if (!dup) out.push_back(p);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

double parse_cpus(const std::string& flag, const std::string& text) {
  size_t end = 0;
  double v = 0;
  try {
    v = std::stod(text, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  if (end != text.size() || !(v > 0))
    fail(ErrorKind::usage, flag + " " + text + ": want a positive number of CPUs such as 1.5");
  return v;
}

std::pair<std::string, std::optional<std::string>> split_key_value(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos) return {text, std::nullopt};
  return {text.substr(0, eq), text.substr(eq + 1)};
}

std::string format_help(const std::string& usage, const std::string& description, const std::vector<FlagSpec>& specs) {
  std::string out = "Usage: " + usage + "\n\n" + description + "\n";
  if (!specs.empty()) out += "\nOptions:\n";
  for (const auto& s : specs) {
    std::string left = s.short_name ? std::string("  -") + s.short_name + ", " : std::string("      ");
    left += "--" + s.long_name;
    std::string help = s.help;
    // "NAME  text": the first word names the value.
    if (s.takes_value) {
      auto sp = help.find("  ");
      if (sp != std::string::npos) {
        left += " " + help.substr(0, sp);
        help = help.substr(sp + 2);
      } else {
        left += " VALUE";
      }
    }
    if (left.size() < 32) left.resize(32, ' ');
    else left += "  ";
    out += left + help + "\n";
  }
  return out;
}

}  // namespace xb::cli
