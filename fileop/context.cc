// Context keys: the files one COPY/ADD selects (select.h, the same selection
// copy_files makes), encoded canonically and hashed with sha256; contents by
// XXH3-128 through a stat cache. docs/dev/copy.md explains the racy check.
#include "fileop/fileop.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/error.h"
#include "common/fs.h"
#include "common/in_root.h"
#include "fileop/rootfs.h"
#include "fileop/select.h"

namespace xb::fileop {

namespace {

constexpr char kMagic[8] = {'X', 'B', 'S', 'T', 'A', 'T', 'C', '\n'};
constexpr uint32_t kVersion = 1;

int64_t ns_of(const struct timespec& ts) { return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec; }

int64_t coarse_now_ns() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return ns_of(ts);
}

struct CacheEntry {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t ino = 0;
  uint64_t dev = 0;
  uint32_t mode = 0;
  // The clock (CLOCK_REALTIME_COARSE, the clock file timestamps come from)
  // read before the content was read. A file whose mtime or ctime is not
  // older than this may have changed again within the same timestamp tick
  // after we read it (git's "racy clean" case), so it is never trusted.
  int64_t verified_ns = 0;
  unsigned char hash[16] = {};
  bool used = false;  // looked up or hashed in this process (not stored)

  bool same_stat(const struct stat& st) const {
    return size == uint64_t(st.st_size) && mtime_ns == ns_of(st.st_mtim) && ctime_ns == ns_of(st.st_ctim) &&
           ino == uint64_t(st.st_ino) && dev == uint64_t(st.st_dev) && mode == uint32_t(st.st_mode);
  }
  bool trusted() const { return mtime_ns < verified_ns && ctime_ns < verified_ns; }
};

// One selected entry, in walk order.
struct Record {
  char type;             // f d l o (other), D (a copied directory's own top)
  std::string path;      // where it lands, relative to the destination
  std::string root_rel;  // relative to the context root (for files: to open, and the cache key)
  struct stat st {};
  std::string link;  // symlink target, or the earlier path of a hard link
  bool hardlink = false;
  unsigned char hash[16] = {};
};

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& out, std::string_view s) {
  put_u64(out, s.size());
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool get(void* out, size_t n) {
    if (data_.size() < n) return false;
    std::memcpy(out, data_.data(), n);
    data_.remove_prefix(n);
    return true;
  }
  template <typename T>
  bool num(T& v) {
    unsigned char b[sizeof(T)];
    if (!get(b, sizeof b)) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) x |= uint64_t(b[i]) << (8 * i);
    v = static_cast<T>(x);
    return true;
  }
  bool str(std::string& s, size_t max) {
    uint64_t n;
    if (!num(n) || n > max || data_.size() < n) return false;
    s.assign(data_.substr(0, n));
    data_.remove_prefix(n);
    return true;
  }
  bool done() const { return data_.empty(); }

 private:
  std::string_view data_;
};

}  // namespace

struct ContextHasher::Impl {
  std::filesystem::path dir;
  RootDir root;
  IgnorePredicate ignored;
  SkipDirPredicate can_skip_dir;
  std::filesystem::path cache_file;
  std::unordered_map<std::string, CacheEntry> cache;
  bool dirty = false;
  std::vector<std::string> warnings;
  Stats stats;

  Impl(std::filesystem::path d, IgnorePredicate ig, SkipDirPredicate skip, std::filesystem::path file)
      : dir(std::move(d)),
        root(dir),
        ignored(std::move(ig)),
        can_skip_dir(std::move(skip)),
        cache_file(std::move(file)) {
    if (!cache_file.empty()) load();
  }

  void warn(const std::string& why) {
    warnings.push_back("stat cache " + cache_file.string() + ": " + why + "; starting with an empty cache");
    cache.clear();
  }

  void load() {
    std::string data;
    try {
      data = read_file(cache_file);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) warn(e.what());
      return;
    }
    if (data.size() < sizeof kMagic + 8 || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) {
      return warn("not a stat cache file");
    }
    std::string_view body(data.data(), data.size() - 8);
    Reader tail(std::string_view(data).substr(data.size() - 8));
    uint64_t sum;
    tail.num(sum);
    if (XXH3_64bits(body.data(), body.size()) != sum) return warn("checksum mismatch (truncated or corrupt)");
    Reader r(body.substr(sizeof kMagic));
    uint32_t version, reserved;
    std::string context;
    uint64_t count;
    if (!r.num(version) || !r.num(reserved)) return warn("truncated header");
    if (version != kVersion) {
      return warn("format version " + std::to_string(version) + " (this xbuild reads version " +
                  std::to_string(kVersion) + ")");
    }
    if (!r.str(context, 1 << 16) || !r.num(count)) return warn("truncated header");
    // A cache made for another context directory is simply not used.
    if (context != dir.string()) return;
    for (uint64_t i = 0; i < count; ++i) {
      std::string path;
      CacheEntry e;
      if (!r.str(path, 1 << 16) || !r.num(e.size) || !r.num(e.mtime_ns) || !r.num(e.ctime_ns) || !r.num(e.ino) ||
          !r.num(e.dev) || !r.num(e.mode) || !r.num(e.verified_ns) || !r.get(e.hash, 16)) {
        return warn("truncated entry");
      }
      cache.emplace(std::move(path), e);
    }
    if (!r.done()) return warn("trailing bytes");
  }

  void save() {
    if (cache_file.empty() || !dirty) return;
    // Entries of files this build did not look at may be of deleted files;
    // keep them (another Dockerfile may use them) unless they dominate.
    size_t used = 0;
    for (const auto& [path, e] : cache) used += e.used;
    if (cache.size() > 2 * used + 10000) std::erase_if(cache, [](const auto& kv) { return !kv.second.used; });
    std::string out(kMagic, sizeof kMagic);
    put_u32(out, kVersion);
    put_u32(out, 0);
    put_str(out, dir.string());
    put_u64(out, cache.size());
    for (const auto& [path, e] : cache) {
      put_str(out, path);
      put_u64(out, e.size);
      put_u64(out, uint64_t(e.mtime_ns));
      put_u64(out, uint64_t(e.ctime_ns));
      put_u64(out, e.ino);
      put_u64(out, e.dev);
      put_u32(out, e.mode);
      put_u64(out, uint64_t(e.verified_ns));
      out.append(reinterpret_cast<const char*>(e.hash), 16);
    }
    put_u64(out, XXH3_64bits(out.data(), out.size()));
    std::filesystem::create_directories(cache_file.parent_path().empty() ? "." : cache_file.parent_path());
    // A cache need not survive a crash, only never be half-written.
    write_file_atomic(cache_file, out, 0644, false);
    dirty = false;
  }

  // Hashes one file's content; fills `rec.hash` and refreshes `rec.st` from
  // the file actually read. Returns the new cache entry.
  CacheEntry hash_file(Record& rec, uint64_t& bytes) const {
    CacheEntry e;
    e.verified_ns = coarse_now_ns();
    // Below the context root without following any symlink.
    UniqueFd fd(open_in_root(root.fd(), rec.root_rel, O_RDONLY | O_NOFOLLOW, InRoot::no_symlinks));
    if (!fd) throw_errno("open", (dir / rec.root_rel).string());
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) throw_errno("fstat", (dir / rec.root_rel).string());
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    XXH3_state_t* state = XXH3_createState();
    XXH3_128bits_reset(state);
    static thread_local std::string buf(1 << 20, '\0');
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        XXH3_freeState(state);
        throw_errno("read", (dir / rec.root_rel).string());
      }
      if (n == 0) break;
      XXH3_128bits_update(state, buf.data(), static_cast<size_t>(n));
      bytes += static_cast<uint64_t>(n);
    }
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(state));
    XXH3_freeState(state);
    std::memcpy(e.hash, canon.digest, 16);
    std::memcpy(rec.hash, canon.digest, 16);
    rec.st = st;
    e.size = uint64_t(st.st_size);
    e.mtime_ns = ns_of(st.st_mtim);
    e.ctime_ns = ns_of(st.st_ctim);
    e.ino = st.st_ino;
    e.dev = st.st_dev;
    e.mode = st.st_mode;
    return e;
  }

  void fill_hashes(std::vector<Record>& recs) {
    std::vector<Record*> work;
    uint64_t work_bytes = 0;
    for (auto& r : recs) {
      if (r.type != 'f' || r.hardlink) continue;
      auto it = cache.find(r.root_rel);
      if (it != cache.end() && it->second.trusted() && it->second.same_stat(r.st)) {
        std::memcpy(r.hash, it->second.hash, 16);
        it->second.used = true;
        ++stats.cache_hits;
        continue;
      }
      work.push_back(&r);
      work_bytes += uint64_t(r.st.st_size);
    }
    if (work.empty()) return;
    std::vector<CacheEntry> fresh(work.size());
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> bytes{0};
    std::exception_ptr failure;
    std::mutex failure_mu;
    auto worker = [&] {
      uint64_t mine = 0;
      try {
        for (size_t i; (i = next.fetch_add(1)) < work.size();) fresh[i] = hash_file(*work[i], mine);
      } catch (...) {
        std::lock_guard lock(failure_mu);
        if (!failure) failure = std::current_exception();
        next = work.size();
      }
      bytes += mine;
    };
    // A second thread pays off once there is real reading to do.
    bool parallel = work.size() > 1 && work_bytes > (8u << 20) && std::thread::hardware_concurrency() > 1;
    std::thread helper;
    if (parallel) helper = std::thread(worker);
    worker();
    if (helper.joinable()) helper.join();
    if (failure) std::rethrow_exception(failure);
    for (size_t i = 0; i < work.size(); ++i) {
      fresh[i].used = true;
      cache[work[i]->root_rel] = fresh[i];
      ++stats.files_hashed;
    }
    stats.bytes_hashed += bytes;
    dirty = true;
  }
};

namespace {

// Collects what walk_selected takes, with directories that are only walked
// (not taken) recorded once something below them is.
class Collector : public WalkVisitor {
 public:
  Collector(std::vector<Record>& out, std::string prefix, std::string root_prefix)
      : out_(out), prefix_(std::move(prefix)), root_prefix_(std::move(root_prefix)) {}

  void enter_dir(const WalkEntry& e, int, bool included) override {
    pending_.push_back({record_of(e, 'd'), included});
    if (included) flush();
  }
  void leave_dir(const WalkEntry&, bool) override { pending_.pop_back(); }
  void leaf(const WalkEntry& e) override {
    flush();
    char type = S_ISREG(e.st.st_mode) ? 'f' : S_ISLNK(e.st.st_mode) ? 'l' : 'o';
    Record r = record_of(e, type);
    if (type == 'l') {
      std::string target(static_cast<size_t>(e.st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(e.dirfd, e.name.c_str(), target.data(), target.size());
      if (n < 0) throw_errno("readlink", r.root_rel);
      target.resize(static_cast<size_t>(n));
      r.link = std::move(target);
    }
    out_.push_back(std::move(r));
  }

 private:
  struct Pending {
    Record rec;
    bool recorded;
  };
  Record record_of(const WalkEntry& e, char type) const {
    Record r;
    r.type = type;
    r.path = join_rel(prefix_, e.rel);
    r.root_rel = std::string(e.root_rel);
    r.st = e.st;
    return r;
  }
  void flush() {
    for (auto& p : pending_) {
      if (!p.recorded) {
        out_.push_back(p.rec);
        p.recorded = true;
      }
    }
  }
  std::vector<Record>& out_;
  std::string prefix_;
  std::string root_prefix_;
  std::vector<Pending> pending_;
};

// Hard links within one match, as copy_files keeps them: every later path
// of an inode records the first one instead of the content.
void mark_hardlinks(std::vector<Record>& recs, size_t from) {
  std::map<std::pair<dev_t, ino_t>, std::string> first;
  for (size_t i = from; i < recs.size(); ++i) {
    Record& r = recs[i];
    if (r.type != 'f' || r.st.st_nlink < 2) continue;
    auto [it, inserted] = first.emplace(std::make_pair(r.st.st_dev, r.st.st_ino), r.path);
    if (!inserted) {
      r.hardlink = true;
      r.link = it->second;
    }
  }
}

// Walks a selected directory, its top-level entries spread over two threads
// (a warm hash is one fstatat per file, which is what costs), merged back in
// name order so that the records are the same as a sequential walk's.
void collect_dir(int dirfd, const std::string& prefix, const std::string& root_rel, const SelectFilter& filter,
                 const std::string& shown, std::vector<Record>& out) {
  std::vector<std::string> names = list_dir(dirfd, shown);
  std::vector<std::vector<Record>> slots(names.size());
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mu;
  auto worker = [&] {
    try {
      for (size_t i; (i = next.fetch_add(1)) < names.size();) {
        Collector c(slots[i], prefix, root_rel);
        walk_entry(dirfd, names[i], "", root_rel, filter, c, shown);
      }
    } catch (...) {
      std::lock_guard lock(failure_mu);
      if (!failure) failure = std::current_exception();
      next = names.size();
    }
  };
  std::thread helper;
  if (names.size() >= 4 && std::thread::hardware_concurrency() > 1) helper = std::thread(worker);
  worker();
  if (helper.joinable()) helper.join();
  if (failure) std::rethrow_exception(failure);
  for (auto& slot : slots) {
    for (auto& r : slot) out.push_back(std::move(r));
  }
}

}  // namespace

ContextHasher::ContextHasher(std::filesystem::path context_dir, IgnorePredicate ignored, SkipDirPredicate can_skip_dir,
                             std::filesystem::path stat_cache_file)
    : impl_(std::make_unique<Impl>(std::move(context_dir), std::move(ignored), std::move(can_skip_dir),
                                   std::move(stat_cache_file))) {}

ContextHasher::~ContextHasher() = default;

Digest ContextHasher::key(const ContextSelection& selection) { return key(selection, nullptr); }

Digest ContextHasher::key(const ContextSelection& selection, std::vector<Listed>* listing) {
  Impl& im = *impl_;
  PatternMatcher excludes(selection.excludes, "--exclude");
  SelectFilter filter;
  filter.ignored = im.ignored ? &im.ignored : nullptr;
  filter.can_skip_dir = im.can_skip_dir ? &im.can_skip_dir : nullptr;
  filter.excludes = &excludes;

  struct Group {
    std::string pattern;
    std::vector<std::string> matches;
    size_t first, last;  // records [first, last)
  };
  std::vector<Group> groups;
  std::vector<Record> recs;
  for (const auto& pattern : selection.patterns) {
    Group g{pattern, {}, recs.size(), 0};
    if (pattern.starts_with("http://") || pattern.starts_with("https://")) {
      // Not in the context: the caller keys the URL (and --checksum) itself.
      g.last = recs.size();
      groups.push_back(std::move(g));
      continue;
    }
    SourcePattern p = SourcePattern::parse(pattern, selection.parents);
    for (auto& m : resolve_matches(im.root, p, filter, pattern)) {
      g.matches.push_back(m.rel);
      const struct stat& st = m.target.st;
      if (S_ISDIR(st.st_mode)) {
        Record top;
        top.type = 'D';
        top.path = m.rel;
        recs.push_back(top);
        PatternMatcher includes(p.include.empty() ? std::vector<std::string>{} : std::vector<std::string>{p.include},
                                "--parents");
        SelectFilter f = filter;
        f.includes = p.include.empty() ? nullptr : &includes;
        UniqueFd dirfd = im.root.open_dir(m.target.parts);
        size_t from = recs.size();
        collect_dir(dirfd.get(), m.rel, m.target_rel, f, (im.dir / m.target_rel).string(), recs);
        mark_hardlinks(recs, from);
      } else {
        // A top-level symlink was followed: the target's content under the match's name.
        Record r;
        r.type = S_ISREG(st.st_mode) ? 'f' : 'o';
        r.path = m.rel;
        r.root_rel = m.target_rel;
        r.st = st;
        recs.push_back(std::move(r));
      }
    }
    g.last = recs.size();
    groups.push_back(std::move(g));
  }
  im.fill_hashes(recs);

  if (listing) {
    static const char hex[] = "0123456789abcdef";
    for (const Record& r : recs) {
      if (r.type == 'D') continue;  // a copied directory's own top: no stat of its own here
      Listed l{r.root_rel.empty() ? r.path : r.root_rel, uint32_t(r.st.st_mode), {}};
      if (r.type == 'd') {
        l.path += "/";
      } else if (r.type == 'f' && r.hardlink) {
        l.content = "= " + r.link;
      } else if (r.type == 'f') {
        for (unsigned char c : r.hash) (l.content += hex[c >> 4]) += hex[c & 15];
      } else if (r.type == 'l') {
        l.content = "-> " + r.link;
      } else {
        l.content = "device " + std::to_string(uint64_t(r.st.st_rdev));
      }
      listing->push_back(std::move(l));
    }
  }

  // The canonical encoding: every field length-prefixed or fixed-width, so
  // that no two selections encode alike. Owners are 0:0 (context files are
  // copied as root's); mtimes are left out, as in BuildKit's content hash.
  std::string enc = "xbuild context key v1\n";
  put_u64(enc, selection.parents ? 1 : 0);
  put_u64(enc, selection.excludes.size());
  for (const auto& x : selection.excludes) put_str(enc, x);
  for (const auto& g : groups) {
    enc.push_back('P');
    put_str(enc, g.pattern);
    put_u64(enc, g.matches.size());
    for (const auto& m : g.matches) put_str(enc, m);
    put_u64(enc, g.last - g.first);
    for (size_t i = g.first; i < g.last; ++i) {
      const Record& r = recs[i];
      enc.push_back(r.type);
      put_str(enc, r.path);
      if (r.type == 'D') continue;
      put_u32(enc, uint32_t(r.st.st_mode));
      put_u32(enc, 0);  // uid as copied
      put_u32(enc, 0);  // gid as copied
      if (r.type == 'f') {
        put_u64(enc, r.hardlink ? 1 : 0);
        if (r.hardlink) {
          put_str(enc, r.link);
        } else {
          put_u64(enc, uint64_t(r.st.st_size));
          enc.append(reinterpret_cast<const char*>(r.hash), 16);
        }
      } else if (r.type == 'l') {
        put_str(enc, r.link);
      } else if (r.type == 'o') {
        put_u64(enc, uint64_t(r.st.st_rdev));
        // A socket is copied as an empty file (it used to be dropped): a
        // different key, so that no layer made the old way is reused.
        if (S_ISSOCK(r.st.st_mode)) enc.push_back('s');
      }
    }
  }
  return Digest::of(enc);
}

void ContextHasher::save() { impl_->save(); }

const std::vector<std::string>& ContextHasher::warnings() const { return impl_->warnings; }

const ContextHasher::Stats& ContextHasher::stats() const { return impl_->stats; }

}  // namespace xb::fileop
