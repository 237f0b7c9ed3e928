#include "solver/mounts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "snapshotter/snapshotter.h"

namespace xb::solver {

namespace fs = std::filesystem;

namespace {

// Copies the tree at src (rel: its path in the context) into dst, leaving
// out what .dockerignore excludes; symlinks are copied as links. Hardlinks
// (link) stand in for copies of files where the mount will be read-only.
void copy_context_tree(const fs::path& src, const fs::path& dst, const std::string& rel, const IgnorePredicate& ignored,
                       const SkipDirPredicate& skip, bool link) {
  struct stat st {};
  if (::lstat(src.c_str(), &st) < 0) throw_errno("stat", src.string());
  auto join = [&](const std::string& name) { return rel.empty() ? name : rel + "/" + name; };
  if (S_ISDIR(st.st_mode)) {
    if (::mkdir(dst.c_str(), st.st_mode & 07777) < 0 && errno != EEXIST) throw_errno("mkdir", dst.string());
    for (const auto& e : fs::directory_iterator(src)) {
      std::string name = e.path().filename().string(), r = join(name);
      bool dir = e.is_directory() && !e.is_symlink();
      if (ignored && ignored(r, dir) && (!dir || !skip || skip(r))) continue;
      copy_context_tree(e.path(), dst / name, r, ignored, skip, link);
    }
  } else if (S_ISLNK(st.st_mode)) {
    fs::copy_symlink(src, dst);
  } else if (S_ISREG(st.st_mode)) {
    if (!link || ::link(src.c_str(), dst.c_str()) < 0) fs::copy_file(src, dst);
  }
  // Sockets, fifos and devices are not part of a build context.
}

}  // namespace

fs::path resolve_in_root(const fs::path& root, const std::string& rel, const std::string& what) {
  UniqueFd root_fd = open_or_throw(root, O_PATH | O_DIRECTORY);
  size_t i = rel.find_first_not_of('/');
  UniqueFd fd(open_in_root(root_fd.get(), i == std::string::npos ? "" : rel.substr(i), O_PATH));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) fail(ErrorKind::not_found, what);
    throw_errno("open", (root / rel).string());
  }
  char buf[PATH_MAX];
  std::string link = "/proc/self/fd/" + std::to_string(fd.get());
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n < 0 || n >= static_cast<ssize_t>(sizeof buf)) throw_errno("readlink", link);
  return fs::path(std::string(buf, static_cast<size_t>(n)));
}

std::string cache_mount_id(const MountSpec& m) { return m.id.empty() ? m.target : m.id; }

fs::path cache_mount_base(const fs::path& store_root, const MountSpec& m) {
  return cache::cache_mount_path(store_root, cache_mount_id(m));
}

cache::CacheExport::Mount pack_cache_mount(store::Store& store, const fs::path& base, std::optional<uint64_t> limit) {
  cache::CacheExport::Mount m;
  if (cache::mount_dir_empty(base)) return m;
  FileLock lock(base.string() + ".lock", FileLock::Mode::exclusive);
  m.bytes = tree_size(base);
  if (limit && m.bytes > *limit) return m;
  store::BlobWriter w = store.write_blob_hashed_by_caller();
  snapshotter::LayerResult r = snapshotter::tar_tree(base, [&](const void* d, size_t n) { w.write(d, n); });
  Digest blob = w.commit_as(r.diff_id);
  m.layer = Layer{r.diff_id, blob, r.size, std::string(store::media_type::oci_layer), ""};
  return m;
}

fs::path cache_mount_dir(const fs::path& base, MountSpec::Sharing sharing, std::vector<FileLock>& locks) {
  if (sharing == MountSpec::Sharing::locked) {
    fs::create_directories(base);
    locks.emplace_back(base.string() + ".lock", FileLock::Mode::exclusive);
    return base;
  }
  if (sharing == MountSpec::Sharing::private_) {
    // The first instance nobody else holds, else a new one.
    for (int i = 0;; ++i) {
      fs::path cand = i == 0 ? base : fs::path(base.string() + "-" + std::to_string(i));
      fs::create_directories(cand.parent_path());
      FileLock l = FileLock::try_lock(cand.string() + ".lock", FileLock::Mode::exclusive);
      if (l.owns()) {
        locks.push_back(std::move(l));
        return cand;
      }
    }
  }
  return base;
}

std::string secret_id(const MountSpec& m) { return m.id.empty() ? fs::path(m.target).filename().string() : m.id; }

std::string secret_target(const MountSpec& m) { return m.target.empty() ? "/run/secrets/" + secret_id(m) : m.target; }

const SecretSource* find_secret(const std::vector<SecretSource>& secrets, const std::string& id) {
  const SecretSource* found = nullptr;
  for (const auto& s : secrets)
    if (s.id == id) found = &s;  // the last --secret with the id wins
  return found;
}

std::vector<std::string> tmpfs_options(const MountSpec& m) {
  std::vector<std::string> o = {"nosuid", "nodev"};
  if (m.size_bytes) o.push_back("size=" + std::to_string(*m.size_bytes));
  return o;
}

bool excluded_from_context(const std::string& rel, bool dir, const IgnorePredicate& ignored,
                           const SkipDirPredicate& can_skip_dir) {
  return ignored && !rel.empty() && ignored(rel, dir) && !(dir && !(can_skip_dir && can_skip_dir(rel)));
}

MountManager::MountManager(Options options) : opts_(std::move(options)) {
  for (const auto& s : opts_.ssh) {
    if (s.keys.empty()) {
      agent_sockets_[s.id] = s.socket;
      continue;
    }
    key_agents_.push_back(std::make_unique<executor::KeyAgent>(s.keys));
    agent_sockets_[s.id] = key_agents_.back()->socket();
  }
}

MountManager::Step::~Step() {
  for (auto& f : secret_files_) ::unlink(f.c_str());
}

// This build's directory for secret files, made on first use: 0700, in
// memory, named by our pid so that prune removes what a killed build left
// (/dev/shm/xbuild-secret-<pid>-*), removed with the build.
fs::path MountManager::secret_dir() {
  std::lock_guard lock(secret_mu_);
  if (!secret_dir_) {
    secret_dir_.emplace(executor::secret_name("build"), executor::kSecretDir);
    if (::chmod(secret_dir_->path().c_str(), 0700) < 0) throw_errno("chmod", secret_dir_->path().string());
  }
  return secret_dir_->path();
}

// A cache mount this store lacks (absent or empty) gets what an imported
// cache holds for its id, before the first step that uses it runs: unpacked
// into a temporary directory and renamed into place under the mount's lock,
// so that a concurrent step waits on the lock or sees the whole directory.
// A non-empty directory is never replaced (the local cache is warmer).
void MountManager::restore_cache_mount(const MountSpec& m, const fs::path& base) {
  const std::string id = cache_mount_id(m);
  if (!opts_.restore || !cache::mount_dir_empty(base) || !opts_.can_restore(id)) return;
  fs::create_directories(base.parent_path());
  FileLock lock(base.string() + ".lock", FileLock::Mode::exclusive);
  if (!cache::mount_dir_empty(base)) return;          // restored or filled meanwhile
  TempDir tmp("mount", opts_.store_root / "ingest");  // prune sweeps it after a kill
  ::chmod(tmp.path().c_str(), m.mode.value_or(0755));
  if (::chown(tmp.path().c_str(), m.uid.value_or(0), m.gid.value_or(0)) < 0) throw_errno("chown", tmp.path().string());
  if (!opts_.restore(id, tmp.path())) return;
  // Over an empty directory too (rename replaces an empty one atomically);
  // one a step without the lock (sharing=shared) filled meanwhile is kept.
  if (::rename(tmp.path().c_str(), base.c_str()) < 0) {
    if (errno == ENOTEMPTY || errno == EEXIST) return;
    throw_errno("rename", base.string());
  }
  tmp.release();
}

MountManager::Step MountManager::prepare(const ExecVertex& v, executor::RunSpec& spec) {
  Step step;
  step.store_root_ = opts_.store_root;
  auto& temps = step.temps_;
  auto& locks = step.locks_;
  auto& secret_files = step.secret_files_;
  for (const auto& m : v.mounts) {
    const auto& sp = m.spec;
    switch (sp.type) {
      case MountSpec::Type::bind: {
        if (m.input.kind == InputRef::Kind::context) {
          std::string missing = "RUN --mount=type=bind: source \"" + sp.source + "\" not found in the context";
          fs::path ctx = resolve_in_root(opts_.context_dir, "", missing);
          fs::path src = resolve_in_root(opts_.context_dir, sp.source, missing);
          std::string rel = src.lexically_relative(ctx).string();
          if (rel == ".") rel.clear();
          if (excluded_from_context(rel, fs::is_directory(src), opts_.ignored, opts_.can_skip_dir))
            fail(ErrorKind::not_found, missing + " (excluded by .dockerignore)");
          if (!sp.read_only || opts_.ignored) {
            // Writes to a rw bind are discarded: never let a RUN change the user's context.
            // And a step sees the context as .dockerignore leaves it, never more.
            auto tmp = std::make_unique<TempDir>("bind", opts_.store_root / "ingest");  // prune sweeps it after a kill
            fs::path copy = tmp->path() / "src";
            copy_context_tree(src, copy, rel, opts_.ignored, opts_.can_skip_dir, sp.read_only);
            src = copy;
            temps.push_back(std::move(tmp));
          }
          spec.mounts.push_back(Mount{"bind", src.string(), sp.target, {sp.read_only ? "ro" : "rw", "rbind"}});
        } else {
          step.input_binds_.emplace_back(spec.mounts.size(), &m);
          spec.mounts.push_back(Mount{"bind", "", sp.target, {sp.read_only ? "ro" : "rw", "rbind"}});
        }
        break;
      }
      case MountSpec::Type::cache: {
        fs::path base = cache_mount_base(opts_.store_root, sp);
        restore_cache_mount(sp, base);
        fs::path dir = cache_mount_dir(base, sp.sharing, locks);
        if (!fs::exists(dir)) {
          fs::create_directories(dir);
          ::chmod(dir.c_str(), sp.mode.value_or(0755));
          if (::chown(dir.c_str(), sp.uid.value_or(0), sp.gid.value_or(0)) < 0) throw_errno("chown", dir.string());
        }
        spec.mounts.push_back(Mount{"bind", dir.string(), sp.target, {"rw", "rbind"}});
        break;
      }
      case MountSpec::Type::tmpfs: {
        spec.mounts.push_back(Mount{"tmpfs", "tmpfs", sp.target, tmpfs_options(sp)});
        break;
      }
      case MountSpec::Type::secret: {
        std::string id = secret_id(sp);
        const SecretSource* found = find_secret(opts_.secrets, id);
        if (!found) {
          if (sp.required)
            fail(ErrorKind::not_found, "secret \"" + id + "\" is required: pass --secret id=" + id + ",src=FILE");
          break;
        }
        std::string value;
        if (!found->env.empty()) {
          const char* e = std::getenv(found->env.c_str());
          value = e ? e : "";
        } else {
          value = read_file(found->file);
        }
        if (!sp.env.empty()) spec.env.push_back(sp.env + "=" + value);
        if (sp.target.empty() && !sp.env.empty()) break;
        // Secrets live in memory only (/dev/shm is tmpfs), bound read-only and removed after the step,
        // in this build's 0700 directory: the file's mode, uid and gid are the mount's (what the
        // RUN sees), and no other host user can reach it whatever they are.
        fs::path f = secret_dir() / random_hex(16);
        {
          UniqueFd fd = open_or_throw(f, O_WRONLY | O_CREAT | O_EXCL, sp.mode.value_or(0400));
          secret_files.push_back(f);
          write_all(fd.get(), value, f.string());
          if (::fchown(fd.get(), sp.uid.value_or(0), sp.gid.value_or(0)) < 0) throw_errno("chown", f.string());
        }
        spec.mounts.push_back(Mount{"bind", f.string(), secret_target(sp), {"ro", "bind"}});
        break;
      }
      case MountSpec::Type::ssh: {
        // BuildKit: an optional mount without an agent is left out; a
        // required one fails before the command runs.
        auto agent = agent_sockets_.find(sp.id);
        if (agent == agent_sockets_.end()) {
          if (sp.required)
            fail(ErrorKind::not_found, "RUN --mount=type=ssh,id=" + sp.id + " is required, but no agent \"" + sp.id +
                                           "\" was given: pass --ssh " + sp.id + " (forwards $SSH_AUTH_SOCK), --ssh " +
                                           sp.id + "=SOCKET or --ssh " + sp.id + "=KEYFILE");
          break;
        }
        // A socket of this step's own, relayed to the agent: the RUN gets
        // the mount's owner and mode, never the agent's socket or a key.
        step.agents_.push_back(
            std::make_unique<executor::AgentForward>(agent->second, secret_dir() / (random_hex(16) + ".sock"),
                                                     sp.uid.value_or(0), sp.gid.value_or(0), sp.mode.value_or(0600)));
        spec.mounts.push_back(Mount{"bind", step.agents_.back()->path().string(), sp.target, {"rw", "bind"}});
        break;
      }
    }
  }
  // Inline files (a RUN heredoc with #!) live as secrets do: in memory,
  // bound read-only, removed after the step.
  for (const auto& file : v.files) {
    fs::path f = fs::path(executor::kSecretDir) / executor::secret_name(random_hex(16));
    {
      UniqueFd fd = open_or_throw(f, O_WRONLY | O_CREAT | O_EXCL, file.mode);
      secret_files.push_back(f);
      write_all(fd.get(), file.content, f.string());
      if (::fchmod(fd.get(), file.mode) < 0) throw_errno("chmod", f.string());  // no umask
    }
    spec.mounts.push_back(Mount{"bind", f.string(), file.path, {"ro", "bind"}});
  }
  return step;
}

void MountManager::Step::bind_inputs(const std::vector<fs::path>& mounted, executor::RunSpec& spec) {
  for (size_t i = 0; i < input_binds_.size(); ++i) {
    auto [idx, m] = input_binds_[i];
    spec.mounts[idx].source = resolve_in_root(
                                  mounted[i], m->spec.source,
                                  "RUN --mount=type=bind: source \"" + m->spec.source + "\" not found in the stage")
                                  .string();
    if (m->spec.read_only) continue;
    // rw on another stage's files: writable, and the writes discarded
    // (BuildKit mounts a throwaway copy): an overlay with a temporary
    // upper dir for a directory, a copy for a single file.
    auto tmp = std::make_unique<TempDir>("bind", store_root_ / "ingest");  // prune sweeps it after a kill
    const std::string src = spec.mounts[idx].source;
    struct stat st {};
    if (::stat(src.c_str(), &st) < 0) throw_errno("stat", src);
    if (S_ISDIR(st.st_mode)) {
      fs::create_directory(tmp->path() / "upper");
      fs::create_directory(tmp->path() / "work");
      // The lower dir by a link of a plain name: a source path with ':'
      // or ',' (a stage's own file names) must not become more overlay
      // options or lower dirs (":/etc" would show the host's /etc).
      fs::create_directory_symlink(src, tmp->path() / "lower");
      spec.mounts[idx] = Mount{
          "overlay",
          "overlay",
          m->spec.target,
          {"lowerdir=" + (tmp->path() / "lower").string(), "upperdir=" + (tmp->path() / "upper").string(),
           "workdir=" + (tmp->path() / "work").string()}};
    } else {
      fs::path copy = tmp->path() / "file";
      fs::copy_file(src, copy);
      if (::chown(copy.c_str(), st.st_uid, st.st_gid) < 0) throw_errno("chown", copy.string());
      if (::chmod(copy.c_str(), st.st_mode & 07777) < 0) throw_errno("chmod", copy.string());
      spec.mounts[idx].source = copy.string();
    }
    temps_.push_back(std::move(tmp));
  }
}

}  // namespace xb::solver
