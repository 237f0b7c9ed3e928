// Helpers shared by the image commands (cmd_images, cmd_pull, cmd_archive):
// opening the store and the registry client the same way everywhere, and
// docker's human-readable sizes and times.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "cli/command.h"
#include "registry/registry.h"
#include "store/store.h"

namespace xb::cli {

// Opens the store and takes its lease (shared, held until the process exits),
// so that a concurrent `xbuild prune` never sweeps what this process has
// written but not yet referenced (docs/dev/hardening.md).
inline store::Store open_store(const Globals& g) {
  store::Store st(g.root);
  static std::optional<FileLock> lease;
  if (!lease) lease.emplace(st.lease());
  return st;
}

inline registry::ClientOptions registry_options(const Globals& g) {
  registry::ClientOptions o;
  o.config = registry::RegistryConfig::load(g.config_file);
  o.credentials.emplace();
  return o;
}

// podman's --authfile: the flag is the explicit form of $REGISTRY_AUTH_FILE
// (containers-auth.json(5)), so it sets the variable that every
// CredentialStore of this process (build, cache export, push) consults.
inline FlagSpec authfile_flag() {
  return {"authfile", 0, true, false, "FILE  read (and for login, write) credentials only from FILE"};
}
inline void apply_authfile(const ParsedArgs& a) {
  // Absolute, so that nothing later depends on the working directory.
  if (auto f = a.value("authfile")) ::setenv("REGISTRY_AUTH_FILE", std::filesystem::absolute(*f).c_str(), 1);
}

// docker's units.HumanSizeWithPrecision(size, 3): "4.26MB", "977kB", "12B".
std::string human_size(double bytes);
// docker's "2 hours ago" (units.HumanDuration); "N/A" for an unparsable time.
std::string human_ago(const std::string& rfc3339);

}  // namespace xb::cli
