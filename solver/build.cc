// build(): the real Engine (store + snapshotter + executor), the image
// resolver (store, then registry), and the export of the result into the
// store as an OCI image.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <ctime>
#include <deque>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "common/fs.h"
#include "common/in_root.h"
#include "common/random.h"
#include "executor/executor.h"
#include "registry/registry.h"
#include "snapshotter/snapshotter.h"
#include "solver/engine.h"
#include "solver/graph.h"
#include "solver/cache_records.h"
#include "solver/mounts.h"
#include "solver/solver.h"

namespace xb::solver {

namespace fs = std::filesystem;

namespace {

// mkdir -p of `path` inside root, resolving every component as a chroot
// would (a planted symlink cannot lead outside); what is created is owned
// by owner, mode 0755, as BuildKit's WORKDIR does.
void mkdir_all_in_root(const fs::path& root, const std::string& path, fileop::Owner owner) {
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

class BuildEngine : public Engine {
 public:
  // ignored, can_skip_dir: the context's .dockerignore (bind mounts of the context honour it too).
  BuildEngine(store::Store& store, snapshotter::Snapshotter& snap, const BuildOptions& opts, cache::RemoteCache* remote,
              IgnorePredicate ignored, SkipDirPredicate can_skip_dir)
      : store_(store),
        snap_(snap),
        opts_(opts),
        records_(store),
        remote_(remote),
        mounts_(MountManager::Options{
            store.root(), opts.context_dir, std::move(ignored), std::move(can_skip_dir), opts.secrets,
            [this](const std::string& id) { return can_restore_mount(id); },
            [this](const std::string& id, const fs::path& into) { return restore_mount(id, into); }, opts.ssh}) {}

  // --cache-from's cache mounts (MountManager::restore_cache_mount decides when).
  bool can_restore_mount(const std::string& id) {
    std::lock_guard lock(mu_);
    return remote_ && !failed_mounts_.count(id) && remote_->mount(id).has_value();
  }
  bool restore_mount(const std::string& id, const fs::path& into) {
    auto m = remote_->mount(id);
    if (!m) return false;
    try {
      remote_->ensure_blob(m->first);
      cache::unpack_mount(store_, m->first, into);
      note("restored cache mount " + id + " from " + m->second + " (" + std::to_string(m->first.size) + " bytes)");
      return true;
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::cancelled) throw;
      note("WARNING: cache mount " + id + " from " + m->second + ": " + e.what() + " (the step starts with it empty)");
    } catch (const std::exception& e) {
      note("WARNING: cache mount " + id + " from " + m->second + ": " + e.what() + " (the step starts with it empty)");
    }
    std::lock_guard lock(mu_);
    failed_mounts_.insert(id);
    return false;
  }
  void note(const std::string& text) {
    if (!opts_.progress) return;
    ProgressEvent ev;
    ev.kind = ProgressEvent::Kind::info;
    ev.text = text;
    opts_.progress->event(ev);
  }

  std::optional<FsState> lookup(const CacheKey& key) override {
    auto hit = lookup_local(key);
    bool remote = false;
    if (!hit && remote_) {
      // Layers are fetched only when something unpacks them.
      if (auto layers = remote_->lookup(key)) hit = FsState{"", std::move(*layers)};
      remote = hit.has_value();
    }
    if (hit) remember(key, hit->layers, remote);
    return hit;
  }

  // The step index is per context directory: the same Dockerfile line of
  // another project is not this step's previous build.
  std::string step_identity(const Vertex& v) const {
    return fs::absolute(opts_.context_dir).lexically_normal().string() + "\n" + v.step;
  }

  std::optional<Previous> previous(const Vertex& v) override {
    if (v.step.empty()) return std::nullopt;
    std::optional<CacheKey> key = records_.last_key(step_identity(v));
    if (!key) return std::nullopt;
    auto rec = records_.get(*key);
    if (!rec) return Previous{*key, {}, true};
    return Previous{*key, std::move(rec->inputs), false};
  }

  void on_miss(Vertex& v, const CacheKey& key, const cache::StepInputs& inputs, const std::string& reason) override {
    std::lock_guard lock(mu_);
    misses_.insert_or_assign(&v, Miss{key, inputs, reason});
  }

  // A hit on a step built from other inputs than the last build of that
  // step: the next miss is explained against this one. Written only when it
  // changed, so that a cached rebuild reads one small file and writes none.
  void on_hit(Vertex& v, const CacheKey& key) override {
    if (v.step.empty()) return;
    {
      std::lock_guard lock(mu_);
      if (remote_hits_.count(key)) return;  // no local record to compare with
    }
    std::string id = step_identity(v);
    try {
      if (records_.last_key(id) != key) records_.set_last_key(id, key);
    } catch (const std::exception&) {
      // Only an explanation's accuracy depends on it.
    }
  }

  // The layer chain of a step this build ran or found, or the local or a
  // remote cache knows (for --cache-to).
  std::optional<std::vector<Layer>> known(const CacheKey& key) {
    {
      std::lock_guard lock(mu_);
      if (auto it = known_.find(key); it != known_.end()) return it->second;
    }
    if (auto rec = records_.get(key)) return rec->layers;
    if (remote_)
      if (auto r = remote_->lookup(key)) return r;
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
  // The snapshots a rerun (--no-cache, --no-cache-filter) replaced are
  // named by no record any more: removed after the build, each chain from
  // its leaf (a snapshot that is a parent cannot go first), as every
  // --no-cache build would otherwise leave one per step until prune. One
  // another build still stacks on stays, for prune.
  void drop_replaced() noexcept {
    std::lock_guard lock(mu_);
    for (bool progress = true; progress && !replaced_.empty();) {
      progress = false;
      for (auto it = replaced_.rbegin(); it != replaced_.rend(); ++it) {
        if (it->empty()) continue;
        try {
          snap_.remove(*it);
          it->clear();
          progress = true;
        } catch (const std::exception&) {
        }
      }
    }
    replaced_.clear();
  }
  void keep_remote_hits() {
    std::lock_guard lock(mu_);
    for (const auto& key : remote_hits_) {
      const auto& layers = known_.at(key);
      if (!std::all_of(layers.begin(), layers.end(), [&](const Layer& l) { return store_.has_blob(l.blob); })) continue;
      records_.put(key, cache::CacheRecord{"", layers});
    }
  }

  std::optional<FsState> lookup_local(const CacheKey& key) {
    auto rec = records_.get(key);  // an unreadable record is a miss, and gets rewritten
    if (!rec) return std::nullopt;
    std::optional<FsState> s = cached_state(
        *rec, [&](const std::string& snapshot) { return snap_.stat(snapshot).has_value(); },
        [&](const Digest& blob) { return store_.has_blob(blob); });
    if (!s) return std::nullopt;
    try {
      records_.touch(key);  // for prune --keep-storage: least recently used goes first
    } catch (const std::exception&) {
      return std::nullopt;
    }
    return s;
  }

  FsState execute(Vertex& v, const CacheKey& key, const FsState& parent, const std::vector<FsState>& deps) override {
    std::string parent_snap = materialize(parent);
    std::vector<std::string> dep_snaps;
    dep_snaps.reserve(deps.size());
    for (const auto& d : deps) dep_snaps.push_back(materialize(d));

    auto active = snapshotter::ScopedSnapshot::prepare(snap_, "active-" + random_hex(16), parent_snap);
    const std::vector<Mount>& root = active.mounts();

    // Read-only views of the inputs, removed afterwards.
    std::vector<std::vector<Mount>> inputs;
    std::vector<snapshotter::ScopedSnapshot> views;
    for (const auto& ds : dep_snaps) {
      if (ds.empty()) {
        inputs.emplace_back();
        continue;
      }
      views.push_back(snapshotter::ScopedSnapshot::view(snap_, "view-" + random_hex(16), ds));
      inputs.push_back(views.back().mounts());
    }

    if (auto* e = dynamic_cast<ExecVertex*>(&v)) run_exec(*e, root, inputs);
    else if (auto* f = dynamic_cast<FileVertex*>(&v)) run_file(*f, root, inputs);
    else if (auto* l = dynamic_cast<LocalSourceVertex*>(&v)) run_local(*l, root);
    else fail(ErrorKind::internal, "vertex " + v.name + " cannot run");

    // The layer is stored uncompressed: its diff ID is its digest.
    store::BlobWriter writer = store_.write_blob_hashed_by_caller();
    snapshotter::DiffOptions dopts;
    dopts.source_date_epoch = opts_.source_date_epoch;
    snapshotter::LayerResult lr = snap_.diff(
        active.key(), [&](const void* d, size_t n) { writer.write(d, n); }, dopts);
    Digest blob = writer.commit_as(lr.diff_id);

    std::string name = "build-" + std::string(key.hex());
    std::optional<cache::CacheRecord> replaced;  // the record of the run this one replaces
    try {
      active.commit(name);
    } catch (const Error& e) {
      // The key has a snapshot already: a step rerun by --no-cache or
      // --no-cache-filter, or another build that committed it first. Keep
      // ours under a name of its own, so that the snapshot later steps and
      // outputs read is the one these layers were diffed from (with theirs,
      // a rerun stage's new files were dropped for its old ones); prune
      // removes the snapshot no record names any more.
      if (e.kind() != ErrorKind::already_exists) throw;
      name += "-" + random_hex(8);
      active.commit(name);
    }
    // A rerun replaces the key's record: its snapshot (either name) goes.
    replaced = records_.get(key);
    FsState out{name, parent.layers};
    out.layers.push_back(Layer{lr.diff_id, blob, lr.size, std::string(store::media_type::oci_layer),
                               store::rfc3339(std::chrono::system_clock::now())});
    cache::CacheRecord rec{name, out.layers, v.step, {}};
    {
      std::lock_guard lock(mu_);
      if (auto m = misses_.find(&v); m != misses_.end() && m->second.key == key) rec.inputs = m->second.inputs;
    }
    records_.put(key, rec);
    if (replaced && !replaced->snapshot.empty() && replaced->snapshot != name) {
      std::lock_guard lock(mu_);
      replaced_.push_back(replaced->snapshot);
    }
    if (!v.step.empty()) records_.set_last_key(step_identity(v), key);
    remember(key, out.layers, false);
    return out;
  }

  void remember(const CacheKey& key, const std::vector<Layer>& layers, bool remote) {
    std::lock_guard lock(mu_);
    known_.insert_or_assign(key, layers);
    if (remote) remote_hits_.insert(key);
  }

  void on_cached(Vertex& v, std::chrono::steady_clock::duration d) override {
    emit(ProgressEvent::Kind::step_cached, v, "", d);
  }
  void on_started(Vertex& v) override {
    std::string reason;
    {
      std::lock_guard lock(mu_);
      if (auto m = misses_.find(&v); m != misses_.end()) reason = m->second.reason;
    }
    emit(ProgressEvent::Kind::step_started, v, "", {}, false, std::move(reason));
  }

  void on_done(Vertex& v, std::chrono::steady_clock::duration d) override {
    emit(ProgressEvent::Kind::step_done, v, "", d);
  }
  void on_failed(Vertex& v, const Error& e, std::chrono::steady_clock::duration d) override {
    emit(ProgressEvent::Kind::step_failed, v, e.message(), d);
  }

  // Events name a step by its id; the display numbers them and keeps the
  // last lines of their output (cli/progress).
  void emit(ProgressEvent::Kind kind, Vertex& v, std::string text, std::chrono::steady_clock::duration d,
            bool err = false, std::string reason = {}) {
    if (!opts_.progress) return;
    ProgressEvent ev;
    ev.reason = std::move(reason);
    ev.kind = kind;
    ev.step = v.id;
    ev.name = v.name;
    ev.text = std::move(text);
    ev.elapsed = d;
    ev.stderr_stream = err;
    opts_.progress->event(ev);
  }

  // The snapshot that holds s unpacked; unpacks an image's layers on first use.
  std::string materialize(const FsState& s) {
    if (!s.snapshot.empty() || s.layers.empty()) return s.snapshot;
    std::vector<snapshotter::LayerBlob> blobs;
    for (const auto& l : s.layers) blobs.push_back({l.blob, l.diff_id});
    if (remote_) {
      // Layers from a remote cache: fetch those not yet unpacked, in parallel, before taking the lock.
      std::vector<Layer> wanted;
      for (size_t i : snapshotter::missing_layers(snap_, blobs)) wanted.push_back(s.layers[i]);
      remote_->ensure_blobs(wanted);
    }
    std::lock_guard lock(unpack_mu_);
    return snapshotter::unpack_chain(snap_, store_, blobs, [&](size_t i) { ensure_blob(s.layers[i]); });
  }

 private:
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
    spec.extra_hosts = v.extra_hosts;
    spec.ulimits = v.ulimits;
    if (v.shm_bytes) spec.shm_bytes = *v.shm_bytes;

    MountManager::Step mounts = mounts_.prepare(v, spec);

    spec.on_output = [&](executor::Stream s, std::string_view text) {
      emit(ProgressEvent::Kind::step_log, v, std::string(text), {}, s == executor::Stream::stderr_stream);
    };

    executor::ExitStatus status;
    std::vector<std::vector<Mount>> sets;
    for (const auto& [idx, m] : mounts.input_binds()) sets.push_back(inputs.at(static_cast<size_t>(m->input.dep)));
    std::vector<fs::path> roots;
    with_all_mounted(sets, 0, roots, [&](const std::vector<fs::path>& mounted) {
      mounts.bind_inputs(mounted, spec);
      status = executor::run(spec);
    });
    if (!status.ok()) {
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
        fileop::Owner owner = v.mkdir_user.empty() ? fileop::Owner{}
                                                   : fileop::resolve_chown(target, v.mkdir_user, true);
        mkdir_all_in_root(target, v.path, owner);
        return;
      }
      std::vector<fileop::CopySource> sources = v.sources;
      for (size_t i = 0; i < sources.size(); ++i) {
        if (v.source_inputs[i].kind == InputRef::Kind::vertex)
          sources[i].root = mounted.at(1 + static_cast<size_t>(v.source_inputs[i].dep));
        if (i < v.url_contents.size() && v.url_contents[i]) {
          const fileop::UrlContent& c = *v.url_contents[i];
          if (c.file) sources[i].root = c.file->dir.path();
          sources[i].expected = c.digest;
        }
      }
      try {
        fileop::copy_files(target, sources, v.options);
      } catch (Error& e) {
        if (e.kind() == ErrorKind::not_found) e.at(v.source_location(e));  // COPY --from=stage missing /x
        throw;
      }
    });
  }

  // A directory as a file system: its files copied into the empty root.
  void run_local(LocalSourceVertex& v, const std::vector<Mount>& root) {
    fileop::CopySource cs;
    cs.root = v.dir;
    cs.pattern = ".";
    cs.ignored = v.ignored;
    cs.can_skip_dir = v.can_skip_dir;
    fileop::CopyOptions co;
    co.dest = "/";
    snapshotter::with_mounted(root, [&](const fs::path& target) { fileop::copy_files(target, {cs}, co); });
  }

  store::Store& store_;
  snapshotter::Snapshotter& snap_;
  const BuildOptions& opts_;
  cache::LocalCache records_;
  cache::RemoteCache* remote_;
  std::map<CacheKey, std::vector<Layer>> known_;
  std::set<CacheKey> remote_hits_;
  struct Miss {
    CacheKey key;
    cache::StepInputs inputs;
    std::string reason;
  };
  std::map<const Vertex*, Miss> misses_;  // under mu_
  std::vector<std::string> replaced_;     // snapshots of reruns' previous runs (under mu_)
  std::set<std::string> failed_mounts_;   // cache mounts whose restore failed: not tried again
  std::mutex unpack_mu_;
  std::mutex mu_;
  MountManager mounts_;
};

void info(const BuildOptions& opts, const std::string& text) {
  if (!opts.progress) return;
  ProgressEvent ev;
  ev.kind = ProgressEvent::Kind::info;
  ev.text = text;
  opts.progress->event(ev);
}

// The facts of a build for provenance: the steps the target needs, in the
// order convert made them (inputs first), the images and URLs they read.
// After the solve: a URL's digest is known once its step was keyed.
BuildRecord record_build(const Definition& d, const Vertex* target) {
  BuildRecord r;
  std::set<const Vertex*> needed;
  std::vector<const Vertex*> todo;
  if (target) todo.push_back(target);
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
    for (const Vertex* in : v->deps)
      if (in && index.count(in)) step.inputs.push_back(index[in]);
    if (const auto* src = dynamic_cast<const SourceVertex*>(v)) {
      step.kind = "source";
      const Digest& dg = src->image.target.digest;
      step.identifier = "docker-image://" + src->ref.str() + (src->ref.digest() ? "" : "@" + dg.str());
      if (images.insert({src->ref.str(), dg.str()}).second)
        r.images.push_back({src->ref.str(), dg, src->image.config.platform()});
    } else if (const auto* g = dynamic_cast<const GitSourceVertex*>(v)) {
      step.kind = "source";
      step.identifier = g->ref.str() + "@" + g->commit;
    } else if (dynamic_cast<const LocalSourceVertex*>(v)) {
      step.kind = "source";  // a named directory: its files, keyed by content
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

std::optional<FsState> cached_state(const cache::CacheRecord& rec,
                                    const std::function<bool(const std::string&)>& has_snapshot,
                                    const std::function<bool(const Digest&)>& has_blob) {
  if (!rec.snapshot.empty() && !has_snapshot(rec.snapshot)) return std::nullopt;
  for (const auto& l : rec.layers)
    if (!has_blob(l.blob)) return std::nullopt;
  return FsState{rec.snapshot, rec.layers};
}

store::Image resolve_image(store::Store& store, const store::ImageRef& ref, const BuildOptions& opts,
                           const store::Platform& platform) {
  if (opts.pull == PullPolicy::missing) {
    try {
      return store.image(ref.str(), platform);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
    }
  }
  info(opts, "pulling " + ref.str());
  registry::ClientOptions co;
  co.config = registry::RegistryConfig::load(opts.registry_config);
  co.credentials.emplace();
  registry::Client client(std::move(co));
  store::Descriptor d = client.pull(store, ref, platform);
  return store.image(d, platform);
}

Solved solve(store::Store& store, Definition& def, const BuildOptions& options) {
  return std::move(solve_targets(store, def, {def.target}, options).front());
}

std::vector<Solved> solve_targets(store::Store& store, Definition& def, const std::vector<Vertex*>& targets,
                                  const BuildOptions& options) {
  cache::LocalCache local_cache(store);
  // The stat cache is per context directory (its absolute path names it).
  fs::path stat_cache;
  if (options.stat_cache) {
    stat_cache = local_cache.stat_cache(options.context_dir);
    fs::create_directories(stat_cache.parent_path());
  }
  auto hasher = std::make_unique<ContextHasher>(options.context_dir, options.ignored, options.can_skip_dir, stat_cache);
  // An unreadable stat cache costs only a re-read of the context: said, not fatal.
  for (const auto& w : hasher->warnings()) info(options, "WARNING: " + w);
  ContextKeys context(std::move(hasher));
  UrlCache urls(local_cache.urls());
  attach_context(def.vertices,
                 BuildContext{options.context_dir, options.ignored, options.can_skip_dir, &context, &urls});
  for (const auto& v : def.vertices)
    if (auto* l = dynamic_cast<LocalSourceVertex*>(v.get()); l && l->persistent) {
      l->stat_cache_file = local_cache.stat_cache(l->dir);
      fs::create_directories(l->stat_cache_file.parent_path());
    }

  auto snap = snapshotter::open_snapshotter(store.root());
  std::shared_ptr<cache::RemoteCache> remote;
  if (!options.cache_from.empty() && !options.no_cache)
    remote = std::make_shared<cache::RemoteCache>(store, options.cache_from, options.registry_config,
                                                  [&options](const std::string& w) { info(options, w); });
  BuildEngine engine(store, *snap, options, remote.get(), options.ignored, options.can_skip_dir);
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  Graph graph(engine, cores > 0 ? cores : 2);
  if (options.source_date_epoch) graph.set_key_salt("source-date-epoch=" + std::to_string(*options.source_date_epoch));
  // The targets together (a multi-platform build): each in its own thread,
  // sharing the graph, so that steps they share run once.
  std::vector<std::future<FsState>> futures;
  for (Vertex* t : targets)
    futures.push_back(std::async(std::launch::async, [&graph, t] { return t ? graph.solve(*t) : FsState{}; }));
  std::vector<FsState> finals;
  std::exception_ptr failure;
  for (auto& f : futures) {
    try {
      finals.push_back(f.get());
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  context.save();
  for (const auto& v : def.vertices)
    if (auto* l = dynamic_cast<LocalSourceVertex*>(v.get())) l->save();
  auto stats = graph.stats();
  int steps = def.steps;
  if (targets.size() > 1) {
    // Steps the targets share (same key) count once, as they ran once.
    std::set<CacheKey> keys;
    std::set<Vertex*> seen;
    std::vector<Vertex*> todo(targets.begin(), targets.end());
    while (!todo.empty()) {
      Vertex* v = todo.back();
      todo.pop_back();
      if (!v || !seen.insert(v).second) continue;
      if (v->kind != Vertex::Kind::source) keys.insert(graph.key(*v));
      todo.push_back(v->parent);
      todo.insert(todo.end(), v->deps.begin(), v->deps.end());
    }
    steps = static_cast<int>(keys.size());
  }
  std::vector<Solved> out;
  for (size_t i = 0; i < targets.size(); ++i) {
    // The image's layers must be in the store even when its steps came from a remote cache.
    engine.ensure_blobs(finals[i].layers);
    auto cache = std::make_shared<cache::CacheExport>();
    cache->remote = remote;
    cache->image_layers = finals[i].layers;
    if (!options.cache_to.empty()) {
      cache->records = collect_records(graph, targets[i], [&](const CacheKey& k) { return engine.known(k); });
      cache->mount_ids = cache_mount_ids(targets[i]);
    }
    out.push_back(Solved{std::move(finals[i].layers), steps, stats.cached, cache, record_build(def, targets[i])});
  }
  engine.keep_remote_hits();
  engine.drop_replaced();
  return out;
}

BuildResult write_image(store::Store& store, store::ImageConfig image, const Solved& solved,
                        const BuildOptions& options) {
  // The image: the target's config with its layers.
  image.diff_ids.clear();
  for (const auto& l : solved.layers) image.diff_ids.push_back(l.diff_id);
  // A base image's inline cache metadata describes the base's build, not this one.
  if (image.extra.is_object()) image.extra.erase(std::string(cache::kInlineCacheField));
  for (const auto& spec : options.cache_to)
    if (spec.type == cache::CacheSpec::Type::inline_)
      image.extra[std::string(cache::kInlineCacheField)] = cache::export_cache(store, *solved.cache, spec, {});
  std::string config_json = image.to_json();
  Digest config_digest = store.put_blob(config_json);

  store::Descriptor config_desc{std::string(store::media_type::oci_config),
                                config_digest,
                                static_cast<int64_t>(config_json.size()),
                                {},
                                std::nullopt,
                                {},
                                {}};
  std::vector<store::Descriptor> layers;
  uint64_t size = 0;
  for (const auto& l : solved.layers) {
    layers.push_back(store::Descriptor{l.media_type, l.blob, static_cast<int64_t>(l.size), {}, std::nullopt, {}, {}});
    size += l.size;
  }
  store::Manifest m{std::string(store::media_type::oci_manifest), config_desc, layers, {}, std::nullopt};
  std::string manifest_json = m.to_json();
  Digest manifest_digest = store.put_blob(manifest_json);
  BuildResult result{store::Descriptor{std::string(store::media_type::oci_manifest),
                                       manifest_digest,
                                       static_cast<int64_t>(manifest_json.size()),
                                       {},
                                       std::nullopt,
                                       {},
                                       {}},
                     config_digest,
                     size,
                     solved.steps,
                     solved.cached_steps,
                     solved.cache,
                     solved.record};
  return result;
}

}  // namespace xb::solver
