// build(): the real Engine (store + snapshotter + executor), the image
// resolver (store, then registry), and the export of the result into the
// store as an OCI image.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <ctime>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common/fs.h"
#include "executor/executor.h"
#include "registry/registry.h"
#include "snapshotter/snapshotter.h"
#include "solver/dispatch.h"
#include "solver/graph.h"
#include "solver/remote_cache.h"
#include "solver/solver.h"

namespace xb::solver {

namespace fs = std::filesystem;

namespace {

std::string random_hex(int n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char digits[] = "0123456789abcdef";
  std::string s(static_cast<size_t>(n), '0');
  for (auto& c : s) c = digits[rng() % 16];
  return s;
}

int open_in_root(int root_fd, const std::string& rel, int flags) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, root_fd, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
}

// A file of the build context (the Dockerfile, .dockerignore) read without
// leaving `scope`: a symlink may lead elsewhere inside it (as docker and
// BuildKit follow it), never out (absolute or "../..": EXDEV), so no host
// file is read or, through a parse error, shown. nullopt: no such file.
std::optional<std::string> read_beneath(const fs::path& scope, const fs::path& path,
                                        const std::string& what) {
  fs::path rel =
      fs::absolute(path).lexically_normal().lexically_relative(fs::absolute(scope).lexically_normal());
  UniqueFd dir = open_or_throw(scope, O_PATH | O_DIRECTORY);
  struct open_how how {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(syscall(SYS_openat2, dir.get(), rel.c_str(), &how, sizeof how)));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == EXDEV)
      fail(ErrorKind::invalid_argument, what + " `" + path.string() + "` is a symlink that leads out of `" +
                                            scope.string() + "`: refused; put the file itself there");
    throw_errno("open " + what, path.string());
  }
  std::string text;
  read_chunks(fd.get(), path.string(), [&](std::string_view piece) { text.append(piece); });
  return text;
}

// The real path of rel inside root, resolved as a chroot would: a symlink
// (absolute or "../..") or a ".." cannot lead out of root. For bind mount
// sources, which the kernel would otherwise resolve on the host.
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

// Copies the tree at src (rel: its path in the context) into dst, leaving
// out what .dockerignore excludes; symlinks are copied as links. Hardlinks
// (link) stand in for copies of files where the mount will be read-only.
void copy_context_tree(const fs::path& src, const fs::path& dst, const std::string& rel,
                       const IgnorePredicate& ignored, const SkipDirPredicate& skip, bool link) {
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

// mkdir -p of `path` inside root, resolving every component as a chroot
// would (a planted symlink cannot lead outside); what is created is owned
// by owner, mode 0755, as BuildKit's WORKDIR does.
void mkdir_all_in_root(const fs::path& root, const std::string& path, Owner owner) {
  UniqueFd root_fd = open_or_throw(root, O_RDONLY | O_DIRECTORY);
  std::string rel;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    std::string next = rel.empty() ? part : rel + "/" + part;
    int fd = open_in_root(root_fd.get(), next, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      UniqueFd parent(open_in_root(root_fd.get(), rel, O_PATH | O_DIRECTORY));
      if (!parent) throw_errno("open", path);
      if (::mkdirat(parent.get(), part.c_str(), 0755) < 0 && errno != EEXIST) throw_errno("mkdir", path);
      if (::fchownat(parent.get(), part.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) < 0)
        throw_errno("chown", path);
      fd = open_in_root(root_fd.get(), next, O_PATH | O_DIRECTORY);
    }
    if (fd < 0) throw_errno("WORKDIR: open", path);
    ::close(fd);
    rel = next;
  }
}

// Mounts every set of mounts (each on a private thread's namespace, nested)
// and calls fn with their roots, in order.
void with_all_mounted(const std::vector<std::vector<Mount>>& sets, size_t i, std::vector<fs::path>& roots,
                      const std::function<void(const std::vector<fs::path>&)>& fn) {
  if (i == sets.size()) {
    fn(roots);
    return;
  }
  if (sets[i].empty()) {
    // The empty file system: an empty directory.
    TempDir empty("xbuild-empty");
    roots.push_back(empty.path());
    with_all_mounted(sets, i + 1, roots, fn);
    roots.pop_back();
    return;
  }
  snapshotter::with_mounted(sets[i], [&](const fs::path& root) {
    roots.push_back(root);
    with_all_mounted(sets, i + 1, roots, fn);
    roots.pop_back();
  });
}

class Tail {
 public:
  void add(std::string_view text) {
    for (char c : text) {
      if (c == '\n') {
        push(std::move(partial_));
        partial_.clear();
      } else {
        partial_ += c;
      }
    }
  }
  std::string str() const {
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    if (!partial_.empty()) out += partial_ + "\n";
    return out;
  }

 private:
  void push(std::string line) {
    lines_.push_back(std::move(line));
    if (lines_.size() > 20) lines_.pop_front();
  }
  std::deque<std::string> lines_;
  std::string partial_;
};

class BuildEngine : public Engine {
 public:
  BuildEngine(store::Store& store, snapshotter::Snapshotter& snap, const BuildOptions& opts, RemoteCache* remote)
      : store_(store), snap_(snap), opts_(opts), records_(store.records("cache")), remote_(remote) {}

  std::optional<FsState> lookup(const CacheKey& key) override {
    auto hit = lookup_local(key);
    bool remote = false;
    if (!hit && remote_) {
      hit = remote_->lookup(key);  // layers are fetched only when something unpacks them
      remote = hit.has_value();
    }
    if (hit) remember(key, hit->layers, remote);
    return hit;
  }

  // The layer chain of a step this build ran or found, or the local or a
  // remote cache knows (for --cache-to).
  std::optional<std::vector<Layer>> known(const CacheKey& key) {
    {
      std::lock_guard lock(mu_);
      if (auto it = known_.find(key); it != known_.end()) return it->second;
    }
    if (auto rec = records_.get_json(std::string(key.hex()))) {
      try {
        std::vector<Layer> out;
        for (const auto& l : rec->at("layers")) out.push_back(Layer::from_json(l));
        return out;
      } catch (const std::exception&) {
      }
    }
    if (remote_)
      if (auto r = remote_->lookup(key)) return r->layers;
    return std::nullopt;
  }

  void ensure_blob(const Layer& l) {
    if (remote_) remote_->ensure_blob(l);
  }
  void ensure_blobs(const std::vector<Layer>& ls) {
    if (remote_) remote_->ensure_blobs(ls);
  }

  // Remote hits whose layers are now in the store become local records, so
  // that the next build needs no --cache-from for them.
  void keep_remote_hits() {
    std::lock_guard lock(mu_);
    for (const auto& key : remote_hits_) {
      const auto& layers = known_.at(key);
      if (!std::all_of(layers.begin(), layers.end(), [&](const Layer& l) { return store_.has_blob(l.blob); })) continue;
      nlohmann::json rec = {{"v", 1}, {"snapshot", ""}, {"layers", nlohmann::json::array()}};
      for (const auto& l : layers) rec["layers"].push_back(l.to_json());
      records_.put_json(std::string(key.hex()), rec);
    }
  }

  std::optional<FsState> lookup_local(const CacheKey& key) {
    auto rec = records_.get_json(std::string(key.hex()));
    if (!rec) return std::nullopt;
    try {
      if (rec->value("v", 0) != 1) return std::nullopt;
      FsState s;
      s.snapshot = rec->at("snapshot").get<std::string>();
      for (const auto& l : rec->at("layers")) s.layers.push_back(Layer::from_json(l));
      if (!s.snapshot.empty() && !snap_.stat(s.snapshot)) return std::nullopt;
      for (const auto& l : s.layers)
        if (!store_.has_blob(l.blob)) return std::nullopt;
      records_.touch(std::string(key.hex()));  // for prune --keep-storage: least recently used goes first
      return s;
    } catch (const std::exception&) {
      return std::nullopt;  // an unreadable record is a miss, and gets rewritten
    }
  }

  FsState execute(Vertex& v, const CacheKey& key, const FsState& parent, const std::vector<FsState>& deps) override {
    std::string parent_snap = materialize(parent);
    std::vector<std::string> dep_snaps;
    for (const auto& d : deps) dep_snaps.push_back(materialize(d));

    std::string active = "active-" + random_hex(16);
    std::vector<Mount> root = snap_.prepare(active, parent_snap);
    struct Guard {
      snapshotter::Snapshotter& s;
      std::string key;
      bool armed = true;
      ~Guard() {
        if (!armed) return;
        try {
          s.remove(key);
        } catch (...) {
        }
      }
    } guard{snap_, active};

    // Read-only views of the inputs, removed afterwards.
    std::vector<std::vector<Mount>> inputs;
    std::vector<std::unique_ptr<Guard>> view_guards;
    for (const auto& ds : dep_snaps) {
      if (ds.empty()) {
        inputs.emplace_back();
        continue;
      }
      std::string view = "view-" + random_hex(16);
      inputs.push_back(snap_.view(view, ds));
      view_guards.push_back(std::make_unique<Guard>(Guard{snap_, view}));
    }

    if (auto* e = dynamic_cast<ExecVertex*>(&v)) run_exec(*e, root, inputs);
    else if (auto* f = dynamic_cast<FileVertex*>(&v)) run_file(*f, root, inputs);
    else fail(ErrorKind::internal, "vertex " + v.name + " cannot run");

    // The layer is stored uncompressed: its diff ID is its digest.
    store::BlobWriter writer = store_.write_blob_hashed_by_caller();
    snapshotter::DiffOptions dopts;
    dopts.source_date_epoch = opts_.source_date_epoch;
    snapshotter::LayerResult lr = snap_.diff(active, [&](const void* d, size_t n) { writer.write(d, n); }, dopts);
    Digest blob = writer.commit_as(lr.diff_id);

    std::string name = "build-" + std::string(key.hex());
    try {
      snap_.commit(name, active);
      guard.armed = false;
    } catch (const Error& e) {
      // Another build committed the same step first: use theirs.
      if (e.kind() != ErrorKind::already_exists) throw;
    }
    FsState out{name, parent.layers};
    out.layers.push_back(Layer{lr.diff_id, blob, lr.size, std::string(store::media_type::oci_layer),
                               store::rfc3339(std::chrono::system_clock::now())});
    nlohmann::json rec = {{"v", 1}, {"snapshot", name}, {"layers", nlohmann::json::array()}};
    for (const auto& l : out.layers) rec["layers"].push_back(l.to_json());
    records_.put_json(std::string(key.hex()), rec);
    remember(key, out.layers, false);
    return out;
  }

  // The context's .dockerignore: bind mounts of the context honour it too.
  void set_ignored(IgnorePredicate ignored, SkipDirPredicate skip) {
    ignored_ = std::move(ignored);
    can_skip_dir_ = std::move(skip);
  }

  void remember(const CacheKey& key, const std::vector<Layer>& layers, bool remote) {
    std::lock_guard lock(mu_);
    known_.insert_or_assign(key, layers);
    if (remote) remote_hits_.insert(key);
  }

  void on_cached(Vertex& v, std::chrono::steady_clock::duration d) override {
    emit(ProgressEvent::Kind::step_cached, v, "", d);
  }
  void on_started(Vertex& v) override { emit(ProgressEvent::Kind::step_started, v, "", {}); }

  void on_done(Vertex& v, std::chrono::steady_clock::duration d) override {
    emit(ProgressEvent::Kind::step_done, v, "", d);
  }
  void on_failed(Vertex& v, const Error& e, std::chrono::steady_clock::duration d) override {
    std::string output;
    {
      std::lock_guard lock(mu_);
      if (auto it = tails_.find(&v); it != tails_.end()) output = it->second;
    }
    emit(ProgressEvent::Kind::step_failed, v, e.message(), d, false, std::move(output));
  }

  void emit(ProgressEvent::Kind kind, Vertex& v, std::string text, std::chrono::steady_clock::duration d,
            bool err = false, std::string output = {}) {
    if (!opts_.progress) return;
    ProgressEvent ev;
    ev.kind = kind;
    ev.output = std::move(output);
    {
      // Steps are numbered in the order they are first shown, as BuildKit's #N.
      std::lock_guard lock(mu_);
      auto [it, fresh] = shown_.emplace(&v, static_cast<int>(shown_.size()) + 1);
      ev.step = it->second;
    }
    ev.name = v.name;
    ev.text = std::move(text);
    ev.elapsed = d;
    ev.stderr_stream = err;
    opts_.progress->event(ev);
  }

  // The snapshot that holds s unpacked; unpacks an image's layers on first use.
  std::string materialize(const FsState& s) {
    if (!s.snapshot.empty() || s.layers.empty()) return s.snapshot;
    if (remote_) {
      // Layers from a remote cache: fetch those not yet unpacked, in parallel, before taking the lock.
      std::vector<Layer> wanted;
      std::optional<Digest> chain;
      for (const auto& layer : s.layers) {
        chain = chain ? Digest::of(chain->str() + " " + layer.diff_id.str()) : layer.diff_id;
        if (!snap_.stat("layer-" + std::string(chain->hex()))) wanted.push_back(layer);
      }
      remote_->ensure_blobs(wanted);
    }
    std::lock_guard lock(unpack_mu_);
    std::string parent;
    std::optional<Digest> chain;
    for (const auto& layer : s.layers) {
      chain = chain ? Digest::of(chain->str() + " " + layer.diff_id.str()) : layer.diff_id;
      std::string name = "layer-" + std::string(chain->hex());
      if (!snap_.stat(name)) {
        std::string active = "unpack-" + random_hex(16);
        snap_.prepare(active, parent);
        try {
          ensure_blob(layer);
          snapshotter::LayerResult lr = snap_.apply_blob(active, store_, layer.blob);
          if (lr.diff_id != layer.diff_id)
            fail(ErrorKind::data_loss, "layer " + layer.blob.str() + ": diff ID " + lr.diff_id.str() +
                                           " does not match the image config's " + layer.diff_id.str());
          snap_.commit(name, active);
        } catch (const Error& e) {
          try {
            snap_.remove(active);
          } catch (...) {
          }
          if (e.kind() != ErrorKind::already_exists) throw;
        }
      }
      parent = name;
    }
    return parent;
  }

 private:
  // This build's directory for secret files, made on first use: 0700, in
  // memory, named by our pid so that prune removes what a killed build left
  // (/dev/shm/xbuild-secret-<pid>-*), removed with the build.
  fs::path secret_dir() {
    std::lock_guard lock(secret_mu_);
    if (!secret_dir_) {
      secret_dir_.emplace("xbuild-secret-" + std::to_string(::getpid()) + "-build", "/dev/shm");
      if (::chmod(secret_dir_->path().c_str(), 0700) < 0) throw_errno("chmod", secret_dir_->path().string());
    }
    return secret_dir_->path();
  }

  void run_exec(ExecVertex& v, const std::vector<Mount>& root, const std::vector<std::vector<Mount>>& inputs) {
    executor::RunSpec spec;
    spec.root = root;
    spec.args = v.args;
    spec.env = v.env;
    spec.env.insert(spec.env.end(), v.proxy_env.begin(), v.proxy_env.end());
    spec.cwd = v.cwd;
    spec.user = v.user;
    spec.hostname = v.hostname;
    spec.etc_hostname = false;  // BuildKit's RUN has no /etc/hostname of its own
    spec.network = v.network == "none" ? executor::Network::none : executor::Network::host;
    spec.security = v.insecure ? executor::Security::insecure : executor::Security::sandbox;
    spec.limits.memory_bytes = opts_.memory_bytes;
    spec.limits.cpus = opts_.cpus;

    std::vector<std::unique_ptr<TempDir>> temps;
    std::vector<FileLock> locks;
    std::vector<fs::path> secret_files;
    struct SecretCleanup {
      std::vector<fs::path>& files;
      ~SecretCleanup() {
        for (auto& f : files) ::unlink(f.c_str());
      }
    } secret_cleanup{secret_files};
    // Bind mounts of input file systems need those mounted; collect which.
    std::vector<std::pair<size_t, const RunMount*>> input_binds;
    for (const auto& m : v.mounts) {
      const auto& sp = m.spec;
      switch (sp.type) {
        case frontend::Mount::Type::bind: {
          if (m.input.kind == InputRef::Kind::context) {
            std::string missing = "RUN --mount=type=bind: source \"" + sp.source + "\" not found in the context";
            fs::path ctx = resolve_in_root(opts_.context_dir, "", missing);
            fs::path src = resolve_in_root(opts_.context_dir, sp.source, missing);
            std::string rel = src.lexically_relative(ctx).string();
            if (rel == ".") rel.clear();
            if (ignored_ && !rel.empty() && ignored_(rel, fs::is_directory(src)) &&
                !(fs::is_directory(src) && !(can_skip_dir_ && can_skip_dir_(rel))))
              fail(ErrorKind::not_found, missing + " (excluded by .dockerignore)");
            if (!sp.read_only || ignored_) {
              // Writes to a rw bind are discarded: never let a RUN change the user's context.
              // And a step sees the context as .dockerignore leaves it, never more.
              auto tmp = std::make_unique<TempDir>("bind", store_.root() / "ingest");  // prune sweeps it after a kill
              fs::path copy = tmp->path() / "src";
              copy_context_tree(src, copy, rel, ignored_, can_skip_dir_, sp.read_only);
              src = copy;
              temps.push_back(std::move(tmp));
            }
            spec.mounts.push_back(Mount{"bind", src.string(), sp.target, {sp.read_only ? "ro" : "rw", "rbind"}});
          } else {
            input_binds.emplace_back(spec.mounts.size(), &m);
            spec.mounts.push_back(Mount{"bind", "", sp.target, {sp.read_only ? "ro" : "rw", "rbind"}});
          }
          break;
        }
        case frontend::Mount::Type::cache: {
          std::string id = sp.id.empty() ? sp.target : sp.id;
          fs::path base = store_.root() / "cache-mounts" / std::string(Digest::of(id).hex());
          fs::path dir;
          if (sp.sharing == frontend::Mount::Sharing::locked) {
            fs::create_directories(base);
            locks.emplace_back(base.string() + ".lock", FileLock::Mode::exclusive);
            dir = base;
          } else if (sp.sharing == frontend::Mount::Sharing::private_) {
            // The first instance nobody else holds, else a new one.
            for (int i = 0;; ++i) {
              fs::path cand = i == 0 ? base : fs::path(base.string() + "-" + std::to_string(i));
              fs::create_directories(cand.parent_path());
              FileLock l = FileLock::try_lock(cand.string() + ".lock", FileLock::Mode::exclusive);
              if (l.owns()) {
                locks.push_back(std::move(l));
                dir = cand;
                break;
              }
            }
          } else {
            dir = base;
          }
          if (!fs::exists(dir)) {
            fs::create_directories(dir);
            ::chmod(dir.c_str(), sp.mode.value_or(0755));
            if (::chown(dir.c_str(), sp.uid.value_or(0), sp.gid.value_or(0)) < 0) throw_errno("chown", dir.string());
          }
          spec.mounts.push_back(Mount{"bind", dir.string(), sp.target, {"rw", "rbind"}});
          break;
        }
        case frontend::Mount::Type::tmpfs: {
          std::vector<std::string> o = {"nosuid", "nodev"};
          if (sp.size_bytes) o.push_back("size=" + std::to_string(*sp.size_bytes));
          spec.mounts.push_back(Mount{"tmpfs", "tmpfs", sp.target, o});
          break;
        }
        case frontend::Mount::Type::secret: {
          std::string id = sp.id.empty() ? fs::path(sp.target).filename().string() : sp.id;
          const SecretSource* found = nullptr;
          for (const auto& s : opts_.secrets)
            if (s.id == id) found = &s;
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
          std::string target = sp.target.empty() ? "/run/secrets/" + id : sp.target;
          spec.mounts.push_back(Mount{"bind", f.string(), target, {"ro", "bind"}});
          break;
        }
        case frontend::Mount::Type::ssh:
          fail(ErrorKind::invalid_argument, "RUN --mount=type=ssh is not supported");
      }
    }
    // Inline files (a RUN heredoc with #!) live as secrets do: in memory,
    // bound read-only, removed after the step.
    for (const auto& file : v.files) {
      fs::path f = fs::path("/dev/shm") / ("xbuild-secret-" + std::to_string(::getpid()) + "-" + random_hex(16));
      {
        UniqueFd fd = open_or_throw(f, O_WRONLY | O_CREAT | O_EXCL, file.mode);
        secret_files.push_back(f);
        write_all(fd.get(), file.content, f.string());
        if (::fchmod(fd.get(), file.mode) < 0) throw_errno("chmod", f.string());  // no umask
      }
      spec.mounts.push_back(Mount{"bind", f.string(), file.path, {"ro", "bind"}});
    }

    Tail tail;
    spec.on_output = [&](executor::Stream s, std::string_view text) {
      tail.add(text);
      emit(ProgressEvent::Kind::step_log, v, std::string(text), {}, s == executor::Stream::stderr_stream);
    };

    executor::ExitStatus status;
    std::vector<std::vector<Mount>> sets;
    for (const auto& [idx, m] : input_binds) sets.push_back(inputs.at(static_cast<size_t>(m->input.dep)));
    std::vector<fs::path> roots;
    with_all_mounted(sets, 0, roots, [&](const std::vector<fs::path>& mounted) {
      for (size_t i = 0; i < input_binds.size(); ++i) {
        auto [idx, m] = input_binds[i];
        spec.mounts[idx].source =
            resolve_in_root(mounted[i], m->spec.source,
                            "RUN --mount=type=bind: source \"" + m->spec.source + "\" not found in the stage").string();
        if (m->spec.read_only) continue;
        // rw on another stage's files: writable, and the writes discarded
        // (BuildKit mounts a throwaway copy): an overlay with a temporary
        // upper dir for a directory, a copy for a single file.
        auto tmp = std::make_unique<TempDir>("bind", store_.root() / "ingest");  // prune sweeps it after a kill
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
          spec.mounts[idx] = Mount{"overlay", "overlay", m->spec.target,
                                   {"lowerdir=" + (tmp->path() / "lower").string(),
                                    "upperdir=" + (tmp->path() / "upper").string(),
                                    "workdir=" + (tmp->path() / "work").string()}};
        } else {
          fs::path copy = tmp->path() / "file";
          fs::copy_file(src, copy);
          if (::chown(copy.c_str(), st.st_uid, st.st_gid) < 0) throw_errno("chown", copy.string());
          if (::chmod(copy.c_str(), st.st_mode & 07777) < 0) throw_errno("chmod", copy.string());
          spec.mounts[idx].source = copy.string();
        }
        temps.push_back(std::move(tmp));
      }
      status = executor::run(spec);
    });
    if (!status.ok()) {
      {
        std::lock_guard lock(mu_);
        tails_[&v] = tail.str();
      }
      std::string cmd;
      for (size_t i = 0; i < v.args.size(); ++i) cmd += (i ? " " : "") + v.args[i];
      fail(status.cancelled ? ErrorKind::cancelled : ErrorKind::failed_precondition,
           "process \"" + cmd + "\" did not complete successfully: " + status.describe());
    }
  }

  void run_file(FileVertex& v, const std::vector<Mount>& root, const std::vector<std::vector<Mount>>& inputs) {
    std::vector<std::vector<Mount>> sets = {root};
    sets.insert(sets.end(), inputs.begin(), inputs.end());
    std::vector<fs::path> roots;
    with_all_mounted(sets, 0, roots, [&](const std::vector<fs::path>& mounted) {
      const fs::path& target = mounted[0];
      if (v.action == FileVertex::Action::mkdir) {
        // USER may name a user a later RUN creates; BuildKit's WORKDIR then gives root.
        Owner owner = v.mkdir_user.empty() ? Owner{} : resolve_chown(target, v.mkdir_user, true);
        mkdir_all_in_root(target, v.path, owner);
        return;
      }
      std::vector<CopySource> sources = v.sources;
      for (size_t i = 0; i < sources.size(); ++i) {
        if (v.source_inputs[i].kind == InputRef::Kind::vertex)
          sources[i].root = mounted.at(1 + static_cast<size_t>(v.source_inputs[i].dep));
        if (i < v.url_contents.size() && v.url_contents[i]) {
          const UrlContent& c = *v.url_contents[i];
          if (c.file) sources[i].root = c.file->dir.path();
          sources[i].expected = c.digest;
        }
      }
      try {
        copy_files(target, sources, v.options);
      } catch (Error& e) {
        if (e.kind() == ErrorKind::not_found) e.at(v.source_location(e));  // COPY --from=stage missing /x
        throw;
      }
    });
  }

  store::Store& store_;
  snapshotter::Snapshotter& snap_;
  const BuildOptions& opts_;
  store::Records records_;
  RemoteCache* remote_;
  std::map<CacheKey, std::vector<Layer>> known_;
  std::set<CacheKey> remote_hits_;
  std::mutex unpack_mu_;
  std::mutex mu_;
  std::mutex secret_mu_;
  std::optional<TempDir> secret_dir_;
  std::map<const Vertex*, int> shown_;  // display number of each step shown
  std::map<const Vertex*, std::string> tails_;
  IgnorePredicate ignored_;
  SkipDirPredicate can_skip_dir_;
};

class StoreImages : public ImageResolver {
 public:
  StoreImages(store::Store& store, const BuildOptions& opts) : store_(store), opts_(opts) {}

  store::Image resolve(const store::ImageRef& ref) override {
    if (opts_.pull == PullPolicy::missing) {
      try {
        return store_.image(ref.str());
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::not_found) throw;
      }
    }
    info("pulling " + ref.str());
    registry::ClientOptions co;
    co.config = registry::RegistryConfig::load(opts_.registry_config);
    co.credentials.emplace();
    registry::Client client(std::move(co));
    store::Descriptor d = client.pull(store_, ref);
    return store_.image(d);
  }

  void info(const std::string& text) {
    if (!opts_.progress) return;
    ProgressEvent ev;
    ev.kind = ProgressEvent::Kind::info;
    ev.text = text;
    opts_.progress->event(ev);
  }

 private:
  store::Store& store_;
  const BuildOptions& opts_;
};

// BuildKit's build checks: each finding is a warning, or with
// `# check=error=true` the build fails before anything runs.
void run_build_checks(const frontend::Dockerfile& df, const BuildOptions& options,
                      std::vector<frontend::CheckFinding> from_dispatch) {
  std::string directive;
  int directive_line = 1;
  for (const auto& d : df.ast.directives)
    if (d.name == "check") {
      directive = d.value;
      directive_line = d.line;
    }
  if (auto it = options.build_args.find("BUILDKIT_DOCKERFILE_CHECK"); it != options.build_args.end())
    directive = it->second;
  frontend::CheckConfig config;
  try {
    config = frontend::parse_check_directive(directive);
  } catch (Error& e) {
    e.at(df.ast.location(directive_line));
    throw;
  }
  auto findings = frontend::run_checks(df, config);
  if (!config.skip_all)
    for (auto& f : from_dispatch)
      if (!config.skip.count(f.rule)) findings.push_back(std::move(f));
  std::stable_sort(findings.begin(), findings.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
  if (findings.empty()) return;
  if (options.progress) {
    for (const auto& f : findings) {
      ProgressEvent ev;
      ev.kind = ProgressEvent::Kind::info;
      ev.text = "WARNING: " + f.rule + ": " + f.message + " (" + df.ast.file + ":" + std::to_string(f.line) + ")";
      options.progress->event(ev);
    }
  }
  if (!config.error) return;
  std::vector<std::string> rules;
  for (const auto& f : findings)
    if (std::find(rules.begin(), rules.end(), f.rule) == rules.end()) rules.push_back(f.rule);
  std::string list;
  for (const auto& r : rules) list += (list.empty() ? "" : ", ") + r;
  Error e(ErrorKind::invalid_argument, "lint violation found for rules: " + list +
                                           " (the Dockerfile's `# check=error=true` makes checks fail the build)");
  throw e.at(df.ast.location(findings.front().line));
}

// The facts of a build for provenance: the steps the target needs, in the
// order dispatch made them (inputs first), the images and URLs they read.
BuildRecord record_build(const Dispatched& d, std::string dockerfile) {
  BuildRecord r;
  r.dockerfile = std::move(dockerfile);
  std::set<const Vertex*> needed;
  std::vector<const Vertex*> todo;
  if (d.target) todo.push_back(d.target);
  while (!todo.empty()) {
    const Vertex* v = todo.back();
    todo.pop_back();
    if (!v || !needed.insert(v).second) continue;
    todo.push_back(v->parent);
    todo.insert(todo.end(), v->deps.begin(), v->deps.end());
  }
  std::map<const Vertex*, size_t> index;
  std::set<std::pair<std::string, std::string>> images;
  for (const auto& owned : d.vertices) {
    const Vertex* v = owned.get();
    if (!needed.count(v)) continue;
    BuildRecord::Step step;
    step.name = v->name;
    step.line = v->location.line;
    if (v->parent && index.count(v->parent)) step.inputs.push_back(index[v->parent]);
    for (const Vertex* in : v->deps) if (in && index.count(in)) step.inputs.push_back(index[in]);
    if (const auto* src = dynamic_cast<const SourceVertex*>(v)) {
      step.kind = "source";
      const Digest& dg = src->image.target.digest;
      step.identifier = "docker-image://" + src->ref.str() + (src->ref.digest() ? "" : "@" + dg.str());
      if (images.insert({src->ref.str(), dg.str()}).second)
        r.images.push_back({src->ref.str(), dg, src->image.config.platform()});
    } else if (const auto* ex = dynamic_cast<const ExecVertex*>(v)) {
      step.kind = "exec";
      step.args = ex->args;
      step.env = ex->env;
      step.cwd = ex->cwd;
      if (ex->network != "none") r.network = true;
    } else if (const auto* fv = dynamic_cast<const FileVertex*>(v)) {
      step.kind = "file";
      for (size_t i = 0; i < fv->sources.size(); ++i) {
        if (fv->sources[i].kind != CopySource::Kind::url) continue;
        // ADD --checksum names the content; otherwise the key was made from what the URL held.
        if (fv->options.checksum) r.urls.push_back({fv->sources[i].pattern, *fv->options.checksum});
        else if (i < fv->url_contents.size() && fv->url_contents[i])
          r.urls.push_back({fv->sources[i].pattern, fv->url_contents[i]->digest});
      }
    }
    index[v] = r.steps.size();
    r.steps.push_back(std::move(step));
  }
  return r;
}

}  // namespace

BuildResult build(store::Store& store, const BuildOptions& options) {
  fs::path dockerfile = options.dockerfile.empty() ? options.context_dir / "Dockerfile" : options.dockerfile;
  std::string display = options.dockerfile_display.empty() ? dockerfile.string() : options.dockerfile_display;
  if (!fs::is_directory(options.context_dir))
    fail(ErrorKind::invalid_argument, "build context \"" + options.context_dir.string() + "\" is not a directory");
  // The Dockerfile is read inside the context when it is in the context, else
  // inside its own directory (buildx sends that directory alone).
  fs::path rel_to_ctx = fs::absolute(dockerfile).lexically_normal().lexically_relative(
      fs::absolute(options.context_dir).lexically_normal());
  bool in_context = !rel_to_ctx.empty() && *rel_to_ctx.begin() != "..";
  fs::path scope = in_context ? options.context_dir : fs::absolute(dockerfile).parent_path();
  std::optional<std::string> text = read_beneath(scope, dockerfile, "Dockerfile");
  if (!text)
    fail(ErrorKind::not_found,
         "read the Dockerfile: `" + dockerfile.string() + "` does not exist (name one with -f FILE)");
  frontend::Dockerfile df = frontend::parse_dockerfile(*text, display);

  frontend::DockerIgnore ignore = frontend::read_dockerignore(
      options.context_dir.string(), dockerfile.string(), [&](const std::string& p) {
        if (p == (options.context_dir / ".dockerignore").string())
          return read_beneath(options.context_dir, p, ".dockerignore");
        return read_beneath(scope, p, "Dockerfile's .dockerignore");
      });
  IgnorePredicate ignored;
  SkipDirPredicate skip;
  if (!ignore.empty()) {
    ignored = [&ignore](std::string_view p, bool) { return ignore.matches(p); };
    skip = [&ignore](std::string_view d) { return ignore.can_skip_dir(d); };
  }
  fs::create_directories(store.root() / "cache-mounts");
  // The stat cache is per context directory (its absolute path names it).
  fs::path stat_cache = store.root() / "statcache" /
                        (Xxh128::hex_of(fs::absolute(options.context_dir).lexically_normal().string()) + ".bin");
  fs::create_directories(stat_cache.parent_path());
  ContextKeys context(std::make_unique<ContextHasher>(options.context_dir, ignored, skip, stat_cache));

  DispatchOptions dopts;
  dopts.build_args = options.build_args;
  dopts.target = options.target;
  dopts.labels = options.labels;
  dopts.no_cache = options.no_cache;
  dopts.network = options.network == NetworkMode::none ? "none" : "host";
  dopts.allow_insecure = options.allow_insecure;
  dopts.allow_network_host = options.allow_network_host;
  dopts.context_dir = options.context_dir;
  dopts.ignored = ignored;
  dopts.can_skip_dir = skip;
  dopts.context = &context;
  UrlCache urls(store.records("http"));
  dopts.urls = &urls;
  StoreImages images(store, options);
  Dispatched d = dispatch(df, dopts, images);
  run_build_checks(df, options, std::move(d.findings));

  auto snap = snapshotter::open_snapshotter(store.root());
  std::shared_ptr<RemoteCache> remote;
  if (!options.cache_from.empty() && !options.no_cache)
    remote = std::make_shared<RemoteCache>(store, options, [&images](const std::string& w) { images.info(w); });
  BuildEngine engine(store, *snap, options, remote.get());
  engine.set_ignored(ignored, skip);
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  Graph graph(engine, cores > 0 ? cores : 2);
  if (options.source_date_epoch) graph.set_key_salt("source-date-epoch=" + std::to_string(*options.source_date_epoch));
  FsState final_fs = d.target ? graph.solve(*d.target) : FsState{};
  context.save();
  // The image's layers must be in the store even when its steps came from a remote cache.
  engine.ensure_blobs(final_fs.layers);
  engine.keep_remote_hits();
  auto cache = std::make_shared<CacheExport>();
  cache->remote = remote;
  if (!options.cache_to.empty())
    cache->records = collect_records(graph, d.target, [&](const CacheKey& k) { return engine.known(k); });

  // The image: the target's config with its layers and times.
  store::ImageConfig image = std::move(d.image);
  image.diff_ids.clear();
  for (const auto& l : final_fs.layers) image.diff_ids.push_back(l.diff_id);
  stamp_history(image, final_fs.layers, options.source_date_epoch, store::rfc3339(std::chrono::system_clock::now()));
  // A base image's inline cache metadata describes the base's build, not this one.
  if (image.extra.is_object()) image.extra.erase(std::string(kInlineCacheField));
  for (const auto& spec : options.cache_to)
    if (spec.type == CacheSpec::Type::inline_)
      image.extra[std::string(kInlineCacheField)] = inline_metadata(cache->records, final_fs.layers);
  std::string config_json = image.to_json();
  Digest config_digest = store.put_blob(config_json);

  store::Descriptor config_desc{std::string(store::media_type::oci_config), config_digest,
                                static_cast<int64_t>(config_json.size()), {}, std::nullopt, {}, {}};
  std::vector<store::Descriptor> layers;
  uint64_t size = 0;
  for (const auto& l : final_fs.layers) {
    layers.push_back(store::Descriptor{l.media_type, l.blob, static_cast<int64_t>(l.size), {}, std::nullopt, {}, {}});
    size += l.size;
  }
  store::Manifest m{std::string(store::media_type::oci_manifest), config_desc, layers, {}, std::nullopt};
  std::string manifest_json = m.to_json();
  Digest manifest_digest = store.put_blob(manifest_json);
  auto stats = graph.stats();
  BuildResult result{store::Descriptor{std::string(store::media_type::oci_manifest), manifest_digest,
                                       static_cast<int64_t>(manifest_json.size()), {}, std::nullopt, {}, {}},
                     config_digest, size, d.steps, stats.cached, cache, record_build(d, *text)};
  return result;
}

}  // namespace xb::solver
