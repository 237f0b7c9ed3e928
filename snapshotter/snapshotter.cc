// The two snapshotter drivers over one metadata file. The metadata is small
// JSON (versioned) replaced atomically under an flock, so several xbuild
// processes can share a root; file trees live in numbered dirs so that a
// key can be renamed (commit) without touching any file.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <set>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json.h"
#include "common/userns.h"
#include "snapshotter/internal.h"
#include "store/blob_reader.h"

namespace xb::snapshotter {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string_view to_string(Kind kind) {
  switch (kind) {
    case Kind::view: return "view";
    case Kind::active: return "active";
    case Kind::committed: return "committed";
  }
  return "?";
}

LayerResult Snapshotter::apply_fd(const std::string& key, int fd) {
  return apply(key, [fd](void* buf, size_t size) -> size_t {
    for (;;) {
      ssize_t n = ::read(fd, buf, size);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) throw_errno("read layer");
    }
  });
}

LayerResult Snapshotter::apply_blob(const std::string& key, const store::Store& st, const Digest& blob) {
  store::VerifiedBlobReader in = store::read_blob_verified(st, blob);
  LayerResult r = [&] {
    try {
      return apply(key, [&](void* buf, size_t size) { return in.read(buf, size); });
    } catch (const Error&) {
      in.finish();  // corrupt bytes often fail the unpack first: say that they are corrupt
      throw;
    }
  }();
  in.finish();
  return r;
}

namespace {

constexpr int kMetadataVersion = 1;

Kind kind_from(const std::string& s) {
  if (s == "view") return Kind::view;
  if (s == "active") return Kind::active;
  if (s == "committed") return Kind::committed;
  fail(ErrorKind::data_loss, "snapshot metadata: unknown kind \"" + s + "\"");
}

struct Record {
  int64_t id = 0;
  Kind kind = Kind::active;
  std::string parent;
  int64_t created = 0;
  Labels labels;
};

struct Metadata {
  std::string driver;
  int64_t next_id = 1;
  std::map<std::string, Record> snapshots;
};

void validate_key(const std::string& key) {
  if (key.empty()) fail(ErrorKind::invalid_argument, "snapshot key is empty");
  if (key.size() > 1024 || key.find_first_of(std::string("\n\0", 2)) != std::string::npos)
    fail(ErrorKind::invalid_argument, "invalid snapshot key \"" + key.substr(0, 64) + "\"");
}

class Impl final : public Snapshotter {
 public:
  Impl(fs::path dir, bool overlay) : dir_(std::move(dir)), overlay_(overlay) {}

  std::string_view driver() const override { return overlay_ ? "overlay" : "native"; }
  const fs::path& dir() const override { return dir_; }

  std::vector<Mount> prepare(const std::string& key, const std::string& parent, const Labels& labels) override {
    return create(key, parent, labels, Kind::active);
  }
  std::vector<Mount> view(const std::string& key, const std::string& parent, const Labels& labels) override {
    return create(key, parent, labels, Kind::view);
  }

  std::vector<Mount> mounts(const std::string& key) override {
    FileLock lock(dir_ / "lock", FileLock::Mode::shared);
    Metadata m = load();
    const Record& r = get(m, key);
    if (r.kind == Kind::committed)
      fail(ErrorKind::failed_precondition, "snapshot " + key + " is committed: prepare or view a child to mount it");
    return mounts_of(m, r);
  }

  void commit(const std::string& name, const std::string& key, const Labels& labels) override {
    validate_key(name);
    FileLock lock(dir_ / "lock", FileLock::Mode::exclusive);
    Metadata m = load();
    Record r = get(m, key);
    if (r.kind != Kind::active) fail(ErrorKind::failed_precondition, "commit " + key + ": not an active snapshot");
    if (m.snapshots.count(name)) fail(ErrorKind::already_exists, "commit " + key + ": snapshot " + name + " exists");
    m.snapshots.erase(key);
    r.kind = Kind::committed;
    for (const auto& [k, v] : labels) r.labels[k] = v;
    m.snapshots.emplace(name, r);
    // Atomic (rename) but not fsynced: a power loss may forget the newest
    // commits (they are a cache: the step runs again), never tear the file.
    save(m, false);
  }

  void remove(const std::string& key) override {
    int64_t id;
    bool refill_reserve = false;
    {
      FileLock lock(dir_ / "lock", FileLock::Mode::exclusive);
      Metadata m = load();
      id = get(m, key).id;
      for (const auto& [name, r] : m.snapshots)
        if (r.parent == key)
          fail(ErrorKind::failed_precondition, "remove snapshot " + key + ": it is the parent of " + name);
      const Kind kind = get(m, key).kind;
      m.snapshots.erase(key);
      std::error_code ec;
      try {
        save(m, false);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::resource_exhausted) throw;
        // The disk is full, so even the smaller metadata cannot be written.
        // The removal must be recorded before the files go (metadata that
        // names a missing directory is a corrupt store): give up the reserve
        // file kept for this, and write again.
        ::unlink(reserve_path().c_str());
        try {
          save(m, false);
        } catch (const Error& e2) {
          if (e2.kind() != ErrorKind::resource_exhausted || kind == Kind::committed) throw;
          // No reserve (a store from before it, or it was used up): an
          // uncommitted snapshot's content is worth nothing, so free it but
          // keep its (empty) dirs, so that the metadata stays true; then try
          // once more. If even that fails, the entry stays for prune.
          clear_tree(fs_of(id));
          clear_tree(dir_ / std::to_string(id) / "work");
          save(m, false);
        }
        refill_reserve = true;
      }
      // Renamed under the lock, deleted outside it: a crash leaves only a
      // "rm-" dir that the next remove or prune cleans up.
      fs::rename(dir_ / std::to_string(id), dir_ / ("rm-" + std::to_string(id)), ec);
      if (ec && ec.value() != ENOENT) throw_errno("rename", (dir_ / std::to_string(id)).string(), ec.value());
    }
    detail::remove_tree(dir_ / ("rm-" + std::to_string(id)));
    if (refill_reserve) {
      FileLock lock(dir_ / "lock", FileLock::Mode::exclusive);
      ensure_reserve();
    }
  }

  std::optional<Info> stat(const std::string& key) override {
    FileLock lock(dir_ / "lock", FileLock::Mode::shared);
    Metadata m = load();
    auto it = m.snapshots.find(key);
    if (it == m.snapshots.end()) return std::nullopt;
    return info(it->first, it->second);
  }

  std::vector<Info> list() override {
    FileLock lock(dir_ / "lock", FileLock::Mode::shared);
    Metadata m = load();
    std::vector<Info> out;
    for (const auto& [name, r] : m.snapshots) out.push_back(info(name, r));
    return out;
  }

  Usage usage(const std::string& key) override {
    fs::path fsdir;
    {
      FileLock lock(dir_ / "lock", FileLock::Mode::shared);
      Metadata m = load();
      fsdir = fs_of(get(m, key).id);
    }
    return detail::disk_usage(fsdir);
  }

  std::vector<fs::path> orphans(bool remove) override {
    std::vector<fs::path> found, doomed;
    {
      FileLock lock(dir_ / "lock", remove ? FileLock::Mode::exclusive : FileLock::Mode::shared);
      Metadata m = load();
      std::set<std::string> owned = {"metadata.json", "lock", "reserve"};
      for (const auto& [name, r] : m.snapshots) owned.insert(std::to_string(r.id));
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir_, ec)) {
        std::string name = e.path().filename().string();
        if (owned.count(name)) continue;
        found.push_back(e.path());
        if (!remove) continue;
        if (name.rfind("rm-", 0) == 0 || !e.is_directory()) {
          doomed.push_back(e.path());
          continue;
        }
        // Renamed under the lock (so no create() can reuse the id meanwhile), deleted outside it.
        fs::path to = dir_ / ("rm-" + name);
        fs::rename(e.path(), to, ec);
        if (ec) throw_errno("rename", e.path().string(), ec.value());
        doomed.push_back(to);
      }
    }
    for (const auto& p : doomed) {
      if (fs::is_directory(fs::symlink_status(p))) detail::remove_tree(p);
      else ::unlink(p.c_str());
    }
    return found;
  }

  std::vector<std::string> check() override {
    FileLock lock(dir_ / "lock", FileLock::Mode::shared);
    std::vector<std::string> problems;
    Metadata m;
    try {
      m = load();
    } catch (const Error& e) {
      return {e.what()};
    }
    for (const auto& [name, r] : m.snapshots) {
      if (!r.parent.empty()) {
        auto it = m.snapshots.find(r.parent);
        if (it == m.snapshots.end())
          problems.push_back("snapshot " + name + ": parent " + r.parent + " does not exist");
        else if (it->second.kind != Kind::committed)
          problems.push_back("snapshot " + name + ": parent " + r.parent + " is not committed");
      }
      if (!fs::is_directory(fs_of(r.id)))
        problems.push_back("snapshot " + name + ": directory " + fs_of(r.id).string() + " is missing");
      if (r.id >= m.next_id)
        problems.push_back("snapshot " + name + ": id " + std::to_string(r.id) + " is not below next_id");
    }
    return problems;
  }

  LayerResult apply(const std::string& key, const ByteSource& layer) override {
    fs::path fsdir;
    {
      FileLock lock(dir_ / "lock", FileLock::Mode::shared);
      Metadata m = load();
      const Record& r = get(m, key);
      if (r.kind != Kind::active) fail(ErrorKind::failed_precondition, "apply to " + key + ": not an active snapshot");
      fsdir = fs_of(r.id);
    }
    try {
      return detail::apply_layer(fsdir, overlay_ ? detail::WhiteoutStyle::overlay : detail::WhiteoutStyle::remove,
                                 layer);
    } catch (Error& e) {
      e.with_context("apply layer to snapshot " + key);
      throw;
    }
  }

  LayerResult diff(const std::string& key, const ByteSink& sink, const DiffOptions& options) override {
    fs::path fsdir;
    std::vector<fs::path> lowers;
    {
      FileLock lock(dir_ / "lock", FileLock::Mode::shared);
      Metadata m = load();
      const Record& r = get(m, key);
      if (r.kind == Kind::view) fail(ErrorKind::failed_precondition, "diff " + key + ": a view has no changes");
      fsdir = fs_of(r.id);
      for (int64_t id : chain(m, r.parent)) lowers.push_back(fs_of(id));
    }
    try {
      if (overlay_) return detail::diff_overlay(fsdir, lowers, sink, options);
      return detail::diff_trees(fsdir, lowers.empty() ? fs::path() : lowers.front(), sink, options);
    } catch (Error& e) {
      e.with_context("diff snapshot " + key);
      throw;
    }
  }

  // Called once at open: records the driver of a fresh root, refuses a
  // root made by the other driver.
  void init() {
    FileLock lock(dir_ / "lock", FileLock::Mode::exclusive);
    Metadata m = load();
    if (m.driver.empty()) {
      m.driver = std::string(driver());
      save(m, true);
    } else if (m.driver != driver()) {
      fail(ErrorKind::failed_precondition, "snapshots in " + dir_.string() + " were made by the " + m.driver +
                                               " driver, not " + std::string(driver()) +
                                               ": unset XBUILD_SNAPSHOTTER or use another --root");
    }
    ensure_reserve();
  }

 private:
  fs::path fs_of(int64_t id) const { return dir_ / std::to_string(id) / "fs"; }

  // Space set aside for the metadata: when the disk is full, remove() gives
  // it up to record a removal before deleting files (issue 14: ENOSPC left
  // metadata naming deleted dirs). At least 1 MiB and twice the metadata.
  fs::path reserve_path() const { return dir_ / "reserve"; }
  void ensure_reserve() const {  // under the lock; best effort (a full disk has no room for it)
    std::error_code ec;
    uint64_t meta = fs::file_size(dir_ / "metadata.json", ec);
    if (ec) meta = 0;
    const off_t want = static_cast<off_t>(std::max<uint64_t>(1u << 20, 2 * meta));
    struct stat sb {};
    if (::stat(reserve_path().c_str(), &sb) == 0 && sb.st_size >= want) return;
    int fd = ::open(reserve_path().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    if (::fallocate(fd, 0, 0, want) != 0) ::ftruncate(fd, 0);
    ::close(fd);
  }
  // Removes what is inside dir, keeping dir (best effort).
  static void clear_tree(const fs::path& dir) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (fs::is_directory(fs::symlink_status(e.path()))) detail::remove_tree(e.path());
      else ::unlink(e.path().c_str());
    }
  }

  static Info info(const std::string& name, const Record& r) {
    return Info{name, r.parent, r.kind, r.created, r.labels};
  }

  const Record& get(const Metadata& m, const std::string& key) const {
    auto it = m.snapshots.find(key);
    if (it == m.snapshots.end()) fail(ErrorKind::not_found, "snapshot " + key + " does not exist");
    return it->second;
  }

  // Ids of name and its ancestors, nearest first.
  std::vector<int64_t> chain(const Metadata& m, std::string name) const {
    std::vector<int64_t> ids;
    while (!name.empty()) {
      const Record& r = get(m, name);
      ids.push_back(r.id);
      name = r.parent;
      if (ids.size() > 10000) fail(ErrorKind::data_loss, "snapshot metadata: parent cycle at " + name);
    }
    return ids;
  }

  std::vector<Mount> create(const std::string& key, const std::string& parent, const Labels& labels, Kind kind) {
    validate_key(key);
    FileLock lock(dir_ / "lock", FileLock::Mode::exclusive);
    Metadata m = load();
    if (m.snapshots.count(key)) fail(ErrorKind::already_exists, "snapshot " + key + " already exists");
    if (!parent.empty()) {
      auto it = m.snapshots.find(parent);
      if (it == m.snapshots.end()) fail(ErrorKind::not_found, "parent snapshot " + parent + " does not exist");
      if (it->second.kind != Kind::committed)
        fail(ErrorKind::failed_precondition, "parent snapshot " + parent + " is not committed");
    }
    Record r;
    r.id = m.next_id++;
    r.kind = kind;
    r.parent = parent;
    r.created = static_cast<int64_t>(std::time(nullptr));
    r.labels = labels;
    fs::path sdir = dir_ / std::to_string(r.id);
    std::error_code ec;
    fs::remove_all(sdir, ec);  // a leftover of a crash between mkdir and save
    if (::mkdir(sdir.c_str(), 0700) < 0) throw_errno("mkdir", sdir.string());
    try {
      if (::mkdir(fs_of(r.id).c_str(), 0755) < 0) throw_errno("mkdir", fs_of(r.id).string());
      if (overlay_) {
        fs::path work = sdir / "work";
        if (::mkdir(work.c_str(), 0700) < 0) throw_errno("mkdir", work.string());
      } else if (!parent.empty()) {
        detail::copy_tree(fs_of(m.snapshots.at(parent).id), fs_of(r.id));
      }
      m.snapshots.emplace(key, r);
      // Active snapshots do not outlive a crash usefully: no fsync needed.
      save(m, false);
    } catch (...) {
      detail::remove_tree(sdir);
      throw;
    }
    return mounts_of(m, r);
  }

  std::vector<Mount> mounts_of(const Metadata& m, const Record& r) const {
    bool ro = r.kind == Kind::view;
    std::vector<int64_t> lowers = chain(m, r.parent);
    Mount bind{"bind", fs_of(r.id).string(), "/", {"rbind", ro ? "ro" : "rw"}};
    if (!overlay_) return {bind};
    if (lowers.empty()) return {bind};
    if (ro && lowers.size() == 1) return {Mount{"bind", fs_of(lowers[0]).string(), "/", {"rbind", "ro"}}};
    std::string lowerdir = "lowerdir=";
    for (size_t i = 0; i < lowers.size(); ++i) {
      if (i) lowerdir += ':';
      lowerdir += fs_of(lowers[i]).string();
    }
    Mount o{"overlay", "overlay", "/", {}};
    if (ro) {
      o.options = {"ro", lowerdir};
    } else {
      o.options = {lowerdir, "upperdir=" + fs_of(r.id).string(),
                   "workdir=" + (dir_ / std::to_string(r.id) / "work").string()};
    }
    // In a user namespace (rootless) overlayfs may not use trusted.* xattrs.
    if (in_user_namespace()) o.options.emplace_back("userxattr");
    return {o};
  }

  Metadata load() const {
    Metadata m;
    fs::path p = dir_ / "metadata.json";
    std::string text;
    try {
      text = read_file(p);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::not_found) return m;
      throw;
    }
    try {
      json j = json::parse(text);
      int version = j.at("version").get<int>();
      if (version != kMetadataVersion)
        fail(ErrorKind::failed_precondition, p.string() + " has format version " + std::to_string(version) +
                                                 "; this xbuild reads version " + std::to_string(kMetadataVersion) +
                                                 " (use a newer xbuild or another --root)");
      m.driver = j.at("driver").get<std::string>();
      m.next_id = j.at("next_id").get<int64_t>();
      for (const auto& [name, s] : j.at("snapshots").items()) {
        Record r;
        r.id = s.at("id").get<int64_t>();
        r.kind = kind_from(s.at("kind").get<std::string>());
        r.parent = s.value("parent", "");
        r.created = s.value("created", int64_t{0});
        if (s.contains("labels")) r.labels = s.at("labels").get<Labels>();
        m.snapshots.emplace(name, std::move(r));
      }
    } catch (const json::exception& e) {
      fail(ErrorKind::data_loss, p.string() + " is corrupt: " + e.what());
    }
    return m;
  }

  void save(const Metadata& m, bool durable) const {
    json snaps = json::object();
    for (const auto& [name, r] : m.snapshots) {
      json s = {{"id", r.id}, {"kind", to_string(r.kind)}, {"created", r.created}};
      if (!r.parent.empty()) s["parent"] = r.parent;
      if (!r.labels.empty()) s["labels"] = r.labels;
      snaps[name] = std::move(s);
    }
    json j = {{"version", kMetadataVersion}, {"driver", m.driver}, {"next_id", m.next_id}, {"snapshots", snaps}};
    write_file_atomic(dir_ / "metadata.json", dump_json(j, 1) + "\n", 0644, durable);
  }

  fs::path dir_;
  bool overlay_;
};

std::string recorded_driver(const fs::path& dir) {
  try {
    return json::parse(read_file(dir / "metadata.json")).value("driver", "");
  } catch (...) {
    return "";
  }
}

// Whether the kernel mounts overlayfs with upper and work dirs on dir's file
// system (not, e.g., when dir is itself on overlayfs). Mounted in a private
// mount namespace of a helper thread, so nothing can leak on the host.
bool overlay_works(const fs::path& dir) {
  if (::geteuid() != 0) return false;
  try {
    TempDir t("probe", dir);
    for (const char* d : {"lower", "upper", "work", "merged"}) fs::create_directory(t.path() / d);
    Mount o{"overlay",
            "overlay",
            "/",
            {"lowerdir=" + (t.path() / "lower").string(), "upperdir=" + (t.path() / "upper").string(),
             "workdir=" + (t.path() / "work").string()}};
    if (in_user_namespace()) o.options.emplace_back("userxattr");
    bool ok = false;
    with_mounted({o}, [&](const fs::path& root) { ok = ::mkdir((root / "x").c_str(), 0755) == 0; });
    return ok;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

std::unique_ptr<Snapshotter> open_snapshotter(const fs::path& root, Driver driver) {
  fs::path dir = root / "snapshots";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw_errno("mkdir", dir.string(), ec.value());
  if (driver == Driver::automatic) {
    if (const char* env = std::getenv("XBUILD_SNAPSHOTTER"); env && *env) {
      std::string e = env;
      if (e == "overlay" || e == "overlayfs") driver = Driver::overlay;
      else if (e == "native") driver = Driver::native;
      else fail(ErrorKind::usage, "XBUILD_SNAPSHOTTER=" + e + ": use overlay or native");
    }
  }
  if (driver == Driver::automatic) {
    std::string rec = recorded_driver(dir);
    if (rec == "overlay") driver = Driver::overlay;
    else if (rec == "native") driver = Driver::native;
    else driver = overlay_works(dir) ? Driver::overlay : Driver::native;
  } else if (driver == Driver::overlay && recorded_driver(dir).empty() && !overlay_works(dir)) {
    fail(ErrorKind::failed_precondition, "overlayfs cannot be mounted on " + dir.string() +
                                             " (need root and a file system overlayfs accepts as upper): "
                                             "use XBUILD_SNAPSHOTTER=native");
  }
  auto s = std::make_unique<Impl>(dir, driver == Driver::overlay);
  s->init();
  return s;
}

}  // namespace xb::snapshotter
