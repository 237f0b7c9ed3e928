// Where secret and inline files live, and the sweep of a killed build's.
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"
#include "executor/executor.h"

namespace xb::executor {

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kPrefix = "xbuild-secret-";
}  // namespace

std::string secret_name(std::string_view suffix) {
  return std::string(kPrefix) + std::to_string(::getpid()) + "-" + std::string(suffix);
}

std::vector<StaleSecret> stale_secrets(bool remove) {
  std::vector<StaleSecret> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(kSecretDir), ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(name.substr(kPrefix.size())));
    } catch (...) {
      continue;
    }
    // Any live process keeps them: a recycled pid only delays the sweep.
    if (pid > 0 && !(::kill(pid, 0) < 0 && errno == ESRCH)) continue;
    out.push_back(StaleSecret{e.path(), tree_size(e.path())});
    if (remove) remove_tree(e.path());
  }
  return out;
}

}  // namespace xb::executor
