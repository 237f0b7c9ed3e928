// The neutral step types the solver runs (BuildKit's LLB ops): a source
// (an image), an exec (a command with its mounts) and a file operation (copy,
// mkdir). Plain data and their canonical description for the cache key; no
// Dockerfile type appears here. convert/ builds them from a Dockerfile;
// build.cc runs them. A step keeps where it came from (Vertex::location,
// file:line as neutral data) so that its errors name the Dockerfile line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <functional>
#include <memory>
#include <mutex>

#include "executor/executor.h"
#include "fileop/fileop.h"
#include "solver/graph.h"
#include "store/store.h"

namespace xb::solver {

// The file operations' vocabulary (fileop/fileop.h), which the steps carry.
using fileop::ContextHasher;
using fileop::ContextSelection;
using fileop::CopyOptions;
using fileop::CopySource;
using fileop::IgnorePredicate;
using fileop::SkipDirPredicate;
using fileop::UrlCache;
using fileop::UrlContent;

// The context hasher, shared by the vertices of a build (thread-safe).
class ContextKeys {
 public:
  explicit ContextKeys(std::unique_ptr<fileop::ContextHasher> hasher) : hasher_(std::move(hasher)) {}
  std::string key(const fileop::ContextSelection& selection) {
    std::lock_guard lock(mu_);
    return hasher_->key(selection).str();
  }
  // The key and what it selected (for explaining a miss).
  std::string key(const fileop::ContextSelection& selection, std::vector<fileop::ContextHasher::Listed>& listing) {
    std::lock_guard lock(mu_);
    return hasher_->key(selection, &listing).str();
  }
  void save() {
    std::lock_guard lock(mu_);
    hasher_->save();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<fileop::ContextHasher> hasher_;
};

// FROM an image: its layers, nothing to run.
class SourceVertex : public Vertex {
 public:
  SourceVertex(store::Image image, store::ImageRef ref);
  std::string describe() const override;
  std::optional<FsState> source_state() override;

  store::Image image;
  store::ImageRef ref;
};

// A directory of the host as a file system (a named build context: a
// directory, or a tarball the CLI unpacked): its files, owned by 0:0 as
// the context's are, minus its own .dockerignore; keyed by their content,
// never by the directory's path. Runs as a copy into an empty snapshot.
class LocalSourceVertex : public Vertex {
 public:
  LocalSourceVertex() { kind = Kind::file; }
  std::string describe() const override;
  std::string content_key() override;

  std::filesystem::path dir;
  IgnorePredicate ignored;
  SkipDirPredicate can_skip_dir;
  // A host directory that later builds read again: solve() gives it a stat
  // cache in the store (as the main context's), so unchanged files are not
  // re-read. False for directories made for one build.
  bool persistent = false;
  std::filesystem::path stat_cache_file;
  void save() {
    if (keys_) keys_->save();
  }

 protected:
  std::unique_ptr<ContextKeys> keys_;  // made by the first content_key()
};

// A git repository at one ref (a named git context, ADD of a git URL):
// keyed by the commit the ref resolves to, so a new commit reruns what
// depends on it and the same commit hits. content_key() fetches it (the
// checkout is kept in a temporary directory until the build ends).
class GitSourceVertex : public LocalSourceVertex {
 public:
  std::string describe() const override;
  std::string content_key() override;

  fileop::GitRef ref;
  bool keep_git_dir = false;
  std::string commit;  // filled by content_key()

 private:
  std::unique_ptr<TempDir> checkout_;
};

// Where a RUN mount or a COPY source reads from.
struct InputRef {
  enum class Kind { context, vertex, none };
  Kind kind = Kind::context;
  int dep = -1;  // index into Vertex::deps for Kind::vertex; -1 with kind none (an empty fs)
};

// A mount of an exec step (BuildKit's pb.Mount), its fields expanded.
struct MountSpec {
  enum class Type { bind, cache, tmpfs, secret, ssh };
  enum class Sharing { shared, private_, locked };  // cache: who may use it at once
  Type type = Type::bind;
  std::string source;     // bind, cache: path in the input
  std::string target;     // mount point; secret: default /run/secrets/<id>
  bool read_only = true;  // bind: ro by default; cache, tmpfs: rw
  std::string id;         // cache id (default: target), secret id (default: target's name)
  Sharing sharing = Sharing::shared;
  std::optional<std::uint64_t> size_bytes;  // tmpfs size
  std::optional<std::uint32_t> mode;        // secret, cache: file mode
  std::optional<std::uint32_t> uid, gid;    // secret, cache
  bool required = false;                    // secret, ssh: a missing one fails the step
  std::string env;                          // secret: also as this environment variable
};

struct RunMount {
  MountSpec spec;
  InputRef input;  // bind: what it reads; cache with from=: the seed
};

class ExecVertex : public Vertex {
 public:
  static constexpr std::string_view kDefaultHostname = "buildkitsandbox";
  std::string describe() const override;
  std::string content_key() override;
  void describe_inputs(cache::StepInputs& in) override;  // the context each bind mount reads

  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V": image env, then build args
  std::string cwd = "/";
  std::string user;
  std::string network;  // "host" or "none"
  // The platform whose programs it runs ("linux/arm64"; in the key, as in
  // BuildKit's ExecOp, so that platforms never share a step's result).
  std::string platform;
  // The container's hostname: BuildKit's default, or the build arg
  // BUILDKIT_SANDBOX_HOSTNAME (in the key, as in BuildKit's ExecOp meta).
  std::string hostname = std::string(kDefaultHostname);
  bool insecure = false;
  std::vector<RunMount> mounts;
  ContextKeys* context = nullptr;  // for bind mounts of the context
  // Files bound read-only into the step: a `RUN <<EOF` body that starts with
  // `#!` runs from /dev/pipes/EOF by its interpreter, as in BuildKit.
  struct InlineFile {
    std::string path;
    std::string content;
    uint32_t mode = 0755;
  };
  std::vector<InlineFile> files;
  // --build-arg http_proxy=… and the other proxy variables, both spellings:
  // in the step's environment, but not in its key (BuildKit keeps them out
  // of the cache key, so a changed proxy reruns nothing) nor in the image.
  std::vector<std::string> proxy_env;
  // --add-host, --ulimit, --shm-size: in the key, as in BuildKit's ExecOp
  // (meta.ExtraHosts, meta.Ulimit, a tmpfs mount on /dev/shm); the hosts
  // go to the RUN's generated /etc/hosts only, never into a layer.
  std::vector<executor::ExtraHost> extra_hosts;
  std::vector<executor::Ulimit> ulimits;
  std::optional<uint64_t> shm_bytes;  // unset: the executor's 64 MiB
};

class FileVertex : public Vertex {
 public:
  enum class Action { copy, mkdir };
  std::string describe() const override;
  std::string content_key() override;
  void describe_inputs(cache::StepInputs& in) override;  // the files it selects, each URL's content
  // Where to show an error about one of the sources: the instruction's
  // line, the column of the source the message names (else 1).
  SourceLocation source_location(const Error& e) const;

  Action action = Action::copy;
  // copy
  std::vector<fileop::CopySource> sources;  // roots filled in at run time for vertex inputs
  std::vector<InputRef> source_inputs;      // parallel to sources
  fileop::CopyOptions options;
  // mkdir (WORKDIR)
  std::string path;
  std::string mkdir_user;            // USER at the time of the WORKDIR: owns what is created
  ContextKeys* context = nullptr;    // for sources from the context
  fileop::UrlCache* urls = nullptr;  // for ADD <url> without --checksum (null: download each time)
  // Filled by content_key(), parallel to sources: what each URL held when
  // keyed, and its download when this build fetched it.
  std::vector<std::optional<fileop::UrlContent>> url_contents;
};

// What the steps of a build read the context through: its directory and
// .dockerignore, the context hasher and the URL cache (null: download every
// time). A definition is plain data until attach_context() gives its exec
// and file steps these (solve() does it).
struct BuildContext {
  std::filesystem::path dir;
  IgnorePredicate ignored;
  SkipDirPredicate can_skip_dir;
  ContextKeys* keys = nullptr;
  UrlCache* urls = nullptr;
};
void attach_context(const std::vector<std::unique_ptr<Vertex>>& steps, const BuildContext& context);

}  // namespace xb::solver
