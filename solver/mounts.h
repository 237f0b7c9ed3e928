// RUN mounts (private to solver/; BuildKit's MountManager): what each mount
// of an exec step becomes in its container. A bind of the build context is
// resolved inside the context and copied when writable or when
// .dockerignore leaves files out; a cache mount is a directory of the store
// (shared, locked or private); a secret is a file in memory; a bind of
// another step's file system is resolved inside that root once it is
// mounted. The pure rules are functions of their own, unit-tested without
// root (tests/solver/mounts_test.cc).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "common/in_root.h"
#include "common/random.h"
#include "executor/executor.h"
#include "solver/ops.h"
#include "solver/solver.h"

namespace xb::solver {

// The real path of rel inside root, resolved as a chroot would: a symlink
// (absolute or "../..") or a ".." cannot lead out of root. For bind mount
// sources, which the kernel would otherwise resolve on the host. A missing
// path fails with not_found and the message `what`.
std::filesystem::path resolve_in_root(const std::filesystem::path& root, const std::string& rel,
                                      const std::string& what);

// The store directory that holds the cache mount with this id (default: its
// target): one per id, named by the id's digest.
std::filesystem::path cache_mount_base(const std::filesystem::path& store_root, const MountSpec& m);
std::string cache_mount_id(const MountSpec& m);

// --cache-to mounts=true: the cache mount directory base as a tar in the
// store (snapshotter::tar_tree), read under the mount's lock (a locked or
// private step writing it finishes first). No layer when the directory is
// absent or empty, or takes more than limit bytes on disk (bytes says how many).
cache::CacheExport::Mount pack_cache_mount(store::Store& store, const std::filesystem::path& base,
                                           std::optional<uint64_t> limit);

// The directory a cache mount uses, by its sharing: `shared` the base;
// `locked` the base, held exclusively (the lock is added to locks, so a
// second step waits); `private` the first instance nobody else holds (base,
// base-1, base-2, …), held while the step runs.
std::filesystem::path cache_mount_dir(const std::filesystem::path& base, MountSpec::Sharing sharing,
                                      std::vector<FileLock>& locks);

// A secret mount's id (default: the target's file name) and where it
// appears (default /run/secrets/<id>).
std::string secret_id(const MountSpec& m);
std::string secret_target(const MountSpec& m);

// The --secret a mount names, or null.
const SecretSource* find_secret(const std::vector<SecretSource>& secrets, const std::string& id);

// tmpfs mount options: nosuid, nodev and the size when one is given.
std::vector<std::string> tmpfs_options(const MountSpec& m);

// Whether rel (a path in the context, a directory when dir) is hidden by
// .dockerignore for a bind of the context: a file that matches, or a
// directory that matches and holds nothing re-included.
bool excluded_from_context(const std::string& rel, bool dir, const IgnorePredicate& ignored,
                           const SkipDirPredicate& can_skip_dir);

class MountManager {
 public:
  struct Options {
    std::filesystem::path store_root;   // cache mounts, and temporary copies (ingest/, swept by prune)
    std::filesystem::path context_dir;  // binds without from=
    IgnorePredicate ignored;            // the context's .dockerignore: binds honour it too
    SkipDirPredicate can_skip_dir;
    std::vector<SecretSource> secrets;
    // --cache-from's cache mounts: whether one holds contents for an id, and
    // unpacking them into an empty directory (false: failed, said already).
    std::function<bool(const std::string& id)> can_restore;
    std::function<bool(const std::string& id, const std::filesystem::path& into)> restore;
    std::vector<SshSource> ssh;
  };
  // Starts an agent for every --ssh given key files (on the calling
  // thread, which must outlive the build: the agent dies with it).
  explicit MountManager(Options options);

  // What one step's mounts hold while it runs: copies, locks, secret files.
  // Destroying it releases them.
  class Step {
   public:
    Step() = default;
    Step(Step&&) = default;
    ~Step();
    // Binds of other steps' file systems: their index in spec.mounts and
    // the RUN mount; in the order their roots are passed to bind_inputs.
    const std::vector<std::pair<size_t, const RunMount*>>& input_binds() const { return input_binds_; }
    // Points those binds at their roots (mounted, in input_binds() order):
    // resolved inside the root; a writable one gets a throwaway overlay
    // (a directory) or copy (a file), as BuildKit discards such writes.
    void bind_inputs(const std::vector<std::filesystem::path>& roots, executor::RunSpec& spec);

   private:
    friend class MountManager;
    std::filesystem::path store_root_;
    std::vector<std::unique_ptr<TempDir>> temps_;
    std::vector<FileLock> locks_;
    std::vector<std::filesystem::path> secret_files_;
    std::vector<std::unique_ptr<executor::AgentForward>> agents_;  // RUN --mount=type=ssh
    std::vector<std::pair<size_t, const RunMount*>> input_binds_;
  };

  // Adds v's mounts and inline files to spec.mounts (in order), and secret
  // env variables to spec.env. Binds of other steps' file systems get an
  // empty source until Step::bind_inputs.
  Step prepare(const ExecVertex& v, executor::RunSpec& spec);

 private:
  std::filesystem::path secret_dir();
  void restore_cache_mount(const MountSpec& m, const std::filesystem::path& base);

  Options opts_;
  std::vector<std::unique_ptr<executor::KeyAgent>> key_agents_;
  std::map<std::string, std::filesystem::path> agent_sockets_;  // --ssh id → the socket to relay to
  std::mutex secret_mu_;
  std::optional<TempDir> secret_dir_;
};

}  // namespace xb::solver
