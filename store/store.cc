// The content store: an OCI image layout with atomic blob writes and an
// index.json rewritten under an exclusive lock (docs/dev/store.md).
#include "store/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "common/json.h"
#include "common/interrupt.h"
#include "common/percent.h"
#include "common/random.h"
#include "store/blob_reader.h"

namespace xb::store {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::string_view kOciLayout = R"({"imageLayoutVersion":"1.0.0"})";

void mkdirs(const fs::path& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) throw_errno("mkdir", p.string(), ec.value());
}

// The store holds what every build made: setuid files a RUN wrote (snapshots,
// cache mounts), cache mounts that later RUNs trust, copies of contexts and
// archives. No other host user may reach any of it, so the root is 0700 and
// nothing below needs its own care; a store made 0755 before is tightened.
void make_private_root(const fs::path& root) {
  if (root.has_parent_path() && root.parent_path() != root) mkdirs(root.parent_path());
  if (::mkdir(root.c_str(), 0700) < 0 && errno != EEXIST) throw_errno("mkdir", root.string());
  struct stat st {};
  if (::stat(root.c_str(), &st) < 0) throw_errno("stat", root.string());
  if (!S_ISDIR(st.st_mode)) fail(ErrorKind::invalid_argument, "store root `" + root.string() + "` is not a directory");
  // EPERM: another user's store, which this process cannot change (nor, then, write).
  if ((st.st_mode & 077) != 0 && ::chmod(root.c_str(), st.st_mode & 07700) < 0 && errno != EPERM)
    throw_errno("chmod", root.string());
}

json read_index(const fs::path& file) {
  std::string text;
  try {
    text = read_file(file);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) return json{{"schemaVersion", 2}, {"manifests", json::array()}};
    throw;
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(ErrorKind::data_loss, "store index " + file.string() + " is not valid JSON: " + e.what());
  }
  if (!j.is_object() || j.value("schemaVersion", 0) != 2)
    fail(ErrorKind::failed_precondition,
         "store index " + file.string() + " has an unknown format (want an OCI index, schemaVersion 2)");
  if (!j.contains("manifests") || !j["manifests"].is_array()) j["manifests"] = json::array();
  return j;
}

void write_index(const fs::path& file, const json& j) { write_file_atomic(file, dump_json(j, 1) + "\n"); }

}  // namespace

// ---------------------------------------------------------------------------
// BlobWriter

struct BlobWriter::Impl {
  fs::path blobs_dir;
  fs::path temp;
  UniqueFd fd;
  Sha256 hash;
  uint64_t size = 0;
  std::optional<Digest> expected;
  std::optional<uint64_t> expected_size;
  bool hashed_by_caller = false;
  bool done = false;

  ~Impl() {
    if (!done && !temp.empty()) ::unlink(temp.c_str());
  }
  void open(const fs::path& ingest) {
    for (int attempt = 0;; ++attempt) {
      temp = ingest / (random_hex(16) + ".part");
      int f = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (f >= 0) {
        fd.reset(f);
        return;
      }
      if (errno != EEXIST || attempt > 10) throw_errno("create", temp.string());
    }
  }
  std::string name() const { return expected ? "blob " + expected->str() : std::string("blob"); }
};

BlobWriter::BlobWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlobWriter::BlobWriter(BlobWriter&&) noexcept = default;
BlobWriter& BlobWriter::operator=(BlobWriter&&) noexcept = default;
BlobWriter::~BlobWriter() = default;

void BlobWriter::write(const void* data, size_t size) {
  if (impl_->done) fail(ErrorKind::internal, "BlobWriter::write after commit");
  check_interrupt();  // a signal stops pulls, layer compression and imports here
  if (!impl_->hashed_by_caller) impl_->hash.update(data, size);
  impl_->size += size;
  if (impl_->expected_size && impl_->size > *impl_->expected_size)
    fail(ErrorKind::data_loss,
         impl_->name() + ": more data than its size (" + std::to_string(*impl_->expected_size) + " bytes)");
  write_all(impl_->fd.get(), std::string_view(static_cast<const char*>(data), size), impl_->temp.string());
}

uint64_t BlobWriter::size() const { return impl_->size; }

void BlobWriter::reset() {
  if (impl_->done) fail(ErrorKind::internal, "BlobWriter::reset after commit");
  if (::ftruncate(impl_->fd.get(), 0) < 0) throw_errno("ftruncate", impl_->temp.string());
  if (::lseek(impl_->fd.get(), 0, SEEK_SET) < 0) throw_errno("lseek", impl_->temp.string());
  impl_->hash = Sha256();
  impl_->size = 0;
}

Digest BlobWriter::commit() {
  if (impl_->hashed_by_caller) fail(ErrorKind::internal, "BlobWriter::commit of a writer hashed by its caller");
  return finish(impl_->hash.finish());
}

Digest BlobWriter::commit_as(const Digest& digest) {
  if (!impl_->hashed_by_caller) fail(ErrorKind::internal, "BlobWriter::commit_as of a writer that hashes");
  return finish(digest);
}

Digest BlobWriter::finish(const Digest& digest) {
  Impl& m = *impl_;
  if (m.done) fail(ErrorKind::internal, "BlobWriter::commit twice");
  Digest got = digest;
  m.done = true;  // from here on the temporary file is ours to remove or rename
  auto discard = [&] { ::unlink(m.temp.c_str()); };
  if (m.expected_size && m.size != *m.expected_size) {
    discard();
    fail(ErrorKind::data_loss, m.name() + ": size mismatch (expected " + std::to_string(*m.expected_size) +
                                   " bytes, got " + std::to_string(m.size) + ")");
  }
  if (m.expected && got != *m.expected) {
    discard();
    fail(ErrorKind::data_loss, m.name() + ": digest mismatch (got " + got.str() + ")");
  }
  fs::path dest = m.blobs_dir / std::string(got.hex());
  struct stat st {};
  if (::stat(dest.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == m.size) {
    discard();  // someone else wrote the same content first
    return got;
  }
  if (::fsync(m.fd.get()) < 0) {
    int err = errno;
    discard();
    throw_errno("fsync", m.temp.string(), err);
  }
  m.fd.reset();
  ::chmod(m.temp.c_str(), 0444);
  if (::rename(m.temp.c_str(), dest.c_str()) < 0) {
    int err = errno;
    discard();
    throw_errno("rename", dest.string(), err);
  }
  fsync_dir(m.blobs_dir);
  return got;
}

// ---------------------------------------------------------------------------
// Records

namespace {

constexpr std::string_view kRecordHeader = "xbuild-record 1\n";

// A record's file name: its key with every byte but letters, digits, "-", "_"
// and a "." that does not begin the name percent-encoded, so that no key
// names a hidden file (the atomic writes' temporaries begin with "."), "..",
// or a path.
std::string escape_key(std::string_view key) {
  if (key.empty()) fail(ErrorKind::invalid_argument, "record key must not be empty");
  auto plain = [](unsigned char c) { return is_unreserved(c) && c != '~'; };
  if (key[0] == '.') return "%2E" + percent_encode(key.substr(1), plain);
  return percent_encode(key, plain);
}

std::optional<std::string> unescape_key(std::string_view name) { return percent_decode(name); }

}  // namespace

std::optional<std::string> Records::get(std::string_view key) const {
  fs::path file = dir_ / escape_key(key);
  std::string text;
  try {
    text = read_file(file);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) return std::nullopt;
    throw;
  }
  if (text.substr(0, kRecordHeader.size()) != kRecordHeader) {
    std::string first = text.substr(0, text.find('\n'));
    fail(ErrorKind::failed_precondition, "record " + file.string() + " has format \"" + first.substr(0, 40) +
                                             "\"; this xbuild reads \"xbuild-record 1\" (remove the record or "
                                             "use a newer xbuild)");
  }
  return text.substr(kRecordHeader.size());
}

void Records::put(std::string_view key, std::string_view value) {
  std::string data(kRecordHeader);
  data += value;
  write_file_atomic(dir_ / escape_key(key), data);
}

std::optional<json> Records::get_json(std::string_view key) const {
  auto text = get(key);
  if (!text) return std::nullopt;
  try {
    return json::parse(*text);
  } catch (const json::exception& e) {
    fail(ErrorKind::data_loss, "record " + (dir_ / escape_key(key)).string() + " is not valid JSON: " + e.what());
  }
}

void Records::put_json(std::string_view key, const json& value) { put(key, dump_json(value)); }

bool Records::remove(std::string_view key) {
  fs::path file = dir_ / escape_key(key);
  if (::unlink(file.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw_errno("unlink", file.string());
}

std::optional<int64_t> Records::last_used(std::string_view key) const {
  struct stat st {};
  if (::stat((dir_ / escape_key(key)).c_str(), &st) != 0) return std::nullopt;
  return static_cast<int64_t>(st.st_mtime);
}

void Records::touch(std::string_view key) { ::utimensat(AT_FDCWD, (dir_ / escape_key(key)).c_str(), nullptr, 0); }

std::vector<std::string> Records::list() const {
  std::vector<std::string> keys;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(".tmp-", 0) == 0) continue;
    if (auto k = unescape_key(name)) keys.push_back(*k);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

// ---------------------------------------------------------------------------
// Store

Store::Store(fs::path root) : root_(std::move(root)) {
  if (root_.empty()) fail(ErrorKind::invalid_argument, "store root must not be empty");
  make_private_root(root_);
  mkdirs(root_ / "blobs" / "sha256");
  mkdirs(root_ / "ingest");
  if (!fs::exists(root_ / "oci-layout")) write_file_atomic(root_ / "oci-layout", kOciLayout);
  if (!fs::exists(root_ / "index.json")) {
    FileLock lock(root_ / "index.json.lock", FileLock::Mode::exclusive);
    if (!fs::exists(root_ / "index.json"))
      write_index(root_ / "index.json",
                  json{{"schemaVersion", 2}, {"mediaType", media_type::oci_index}, {"manifests", json::array()}});
  }
}

fs::path Store::blob_path(const Digest& digest) const { return root_ / "blobs" / "sha256" / std::string(digest.hex()); }

bool Store::has_blob(const Digest& digest) const { return blob_size(digest).has_value(); }

std::optional<uint64_t> Store::blob_size(const Digest& digest) const {
  struct stat st {};
  if (::stat(blob_path(digest).c_str(), &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

UniqueFd Store::open_blob(const Digest& digest) const {
  fs::path p = blob_path(digest);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) fail(ErrorKind::not_found, "blob " + digest.str() + " not in the store " + root_.string());
    throw_errno("open", p.string());
  }
  return UniqueFd(fd);
}

std::string Store::read_blob(const Digest& digest) const {
  UniqueFd fd = open_blob(digest);
  std::string data = read_file(blob_path(digest));
  if (Digest got = Digest::of(data); got != digest)
    fail(ErrorKind::data_loss, corrupt_blob_message(digest, root_.string(), got));
  return data;
}

Digest Store::put_blob(std::string_view data, const std::optional<Digest>& expected) {
  BlobWriter w = write_blob(expected, data.size());
  w.write(data);
  return w.commit();
}

BlobWriter Store::write_blob_hashed_by_caller() {
  BlobWriter w = write_blob();
  w.impl_->hashed_by_caller = true;
  return w;
}

BlobWriter Store::write_blob(std::optional<Digest> expected, std::optional<uint64_t> expected_size) {
  auto impl = std::make_unique<BlobWriter::Impl>();
  impl->blobs_dir = root_ / "blobs" / "sha256";
  impl->expected = std::move(expected);
  impl->expected_size = expected_size;
  impl->open(root_ / "ingest");
  return BlobWriter(std::move(impl));
}

bool Store::remove_blob(const Digest& digest) {
  fs::path p = blob_path(digest);
  if (::unlink(p.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw_errno("unlink", p.string());
}

std::vector<Digest> Store::list_blobs(std::vector<std::string>* strays) const {
  std::vector<Digest> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_ / "blobs" / "sha256", ec)) {
    std::string name = e.path().filename().string();
    if (auto d = Digest::try_parse("sha256:" + name)) out.push_back(*d);
    else if (strays) strays->push_back(name);
  }
  if (ec) throw_errno("list", (root_ / "blobs" / "sha256").string(), ec.value());
  std::sort(out.begin(), out.end());
  return out;
}

FileLock Store::lease() const { return FileLock(root_ / "gc.lock", FileLock::Mode::shared); }

FileLock Store::gc_lock(bool wait) const {
  if (wait) return FileLock(root_ / "gc.lock", FileLock::Mode::exclusive);
  return FileLock::try_lock(root_ / "gc.lock", FileLock::Mode::exclusive);
}

void Store::set_image(const ImageRef& ref, const Descriptor& target) {
  FileLock lock(root_ / "index.json.lock", FileLock::Mode::exclusive);
  json idx = read_index(root_ / "index.json");
  const std::string name = ref.str();
  json kept = json::array();
  for (const auto& m : idx["manifests"]) {
    auto a = m.find("annotations");
    if (a != m.end() && a->is_object() && a->value(std::string(ref_name_annotation), "") == name) continue;
    kept.push_back(m);
  }
  Descriptor d = target;
  d.annotations[std::string(ref_name_annotation)] = name;
  kept.push_back(d.to_json());
  idx["manifests"] = kept;
  idx["mediaType"] = media_type::oci_index;
  write_index(root_ / "index.json", idx);
}

std::vector<ImageEntry> Store::list_images() const {
  json idx = read_index(root_ / "index.json");
  std::vector<ImageEntry> out;
  for (const auto& m : idx["manifests"]) {
    try {
      Descriptor d = Descriptor::from_json(m);
      auto a = d.annotations.find(std::string(ref_name_annotation));
      if (a == d.annotations.end()) continue;
      // Only fully normalized names are ours; other tools may write "latest".
      auto ref = ImageRef::try_parse(a->second);
      if (!ref || ref->str() != a->second) continue;
      d.annotations.erase(a);  // the name belongs to the index entry, not to the image
      out.push_back(ImageEntry{*ref, d});
    } catch (const Error&) {
      continue;  // an entry another tool wrote that we cannot read is not ours
    }
  }
  return out;
}

std::optional<Descriptor> Store::resolve(const ImageRef& ref) const {
  for (auto& e : list_images())
    if (e.ref == ref) return e.target;
  return std::nullopt;
}

bool Store::remove_image(const ImageRef& ref) {
  FileLock lock(root_ / "index.json.lock", FileLock::Mode::exclusive);
  json idx = read_index(root_ / "index.json");
  const std::string name = ref.str();
  json kept = json::array();
  bool removed = false;
  for (const auto& m : idx["manifests"]) {
    auto a = m.find("annotations");
    if (a != m.end() && a->is_object() && a->value(std::string(ref_name_annotation), "") == name) {
      removed = true;
      continue;
    }
    kept.push_back(m);
  }
  if (!removed) return false;
  idx["manifests"] = kept;
  write_index(root_ / "index.json", idx);
  return true;
}

Image Store::image(const Descriptor& target, const Platform& platform) const {
  Descriptor md = target;
  if (is_index_media_type(target.media_type)) {
    Index idx = Index::parse(read_blob(target.digest));
    auto sel = idx.select(platform);
    if (!sel)
      fail(ErrorKind::not_found, "image index " + target.digest.str() + " has no manifest for " + platform.str());
    md = *sel;
  }
  Manifest m = Manifest::parse(read_blob(md.digest));
  ImageConfig c = ImageConfig::parse(read_blob(m.config.digest));
  return Image{target, md, std::move(m), std::move(c)};
}

Image Store::image(std::string_view text, const Platform& platform) const {
  if (auto ref = ImageRef::try_parse(text)) {
    if (auto d = resolve(*ref)) return image(*d, platform);
  }
  // An image ID or a prefix of one, as docker accepts.
  std::string_view hex = text;
  if (hex.rfind("sha256:", 0) == 0) hex.remove_prefix(7);
  bool is_hex = !hex.empty() && hex.size() <= 64;
  for (char c : hex) is_hex = is_hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (is_hex) {
    std::optional<Image> found;
    for (const auto& e : list_images()) {
      try {
        Image img = image(e.target, platform);
        if (img.id().hex().substr(0, hex.size()) != hex) continue;
        if (found && found->id() != img.id())
          fail(ErrorKind::invalid_argument, "image ID prefix \"" + std::string(text) + "\" is ambiguous");
        found = std::move(img);
      } catch (const Error& err) {
        if (err.kind() == ErrorKind::invalid_argument) throw;
      }
    }
    if (found) return *found;
  }
  fail(ErrorKind::not_found, "image \"" + std::string(text) + "\" not found in the store " + root_.string());
}

Records Store::records(std::string_view name_space) const {
  std::string ns(name_space);
  if (ns.empty() || ns.find('/') != std::string::npos || ns[0] == '.')
    fail(ErrorKind::invalid_argument, "invalid record namespace \"" + ns + "\"");
  fs::path dir = root_ / "records" / ns;
  mkdirs(dir);
  return Records(dir);
}

std::vector<Store::Temporary> Store::temporaries(bool remove) const {
  std::vector<Temporary> out;
  auto take = [&](const fs::path& p) {
    out.push_back(Temporary{p, tree_size(p)});
    if (remove) remove_tree(p);
  };
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_ / "ingest", ec)) take(e.path());
  auto tmp_files = [&](const fs::path& dir) {
    std::error_code ec2;
    for (const auto& e : fs::directory_iterator(dir, ec2))
      if (e.path().filename().string().rfind(".tmp-", 0) == 0) take(e.path());
  };
  tmp_files(root_);
  tmp_files(root_ / "blobs" / "sha256");
  for (const auto& e : fs::directory_iterator(root_ / "records", ec)) tmp_files(e.path());
  return out;
}

namespace {
void collect_digests(const nlohmann::json& j, std::set<Digest>& out) {
  if (j.is_string()) {
    if (auto d = Digest::try_parse(j.get<std::string>())) out.insert(*d);
  } else if (j.is_array() || j.is_object()) {
    for (const auto& v : j) collect_digests(v, out);
  }
}
}  // namespace

std::set<Digest> Store::digests_in_records(std::string_view except) const {
  std::set<Digest> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_ / "records", ec)) {
    std::string ns = e.path().filename().string();
    if (ns == except || !e.is_directory()) continue;
    Records other = records(ns);
    for (const auto& k : other.list()) {
      try {
        if (auto j = other.get_json(k)) collect_digests(*j, out);
      } catch (const Error&) {
        if (auto v = other.get(k)) {
          std::istringstream in(*v);
          std::string w;
          while (in >> w)
            if (auto d = Digest::try_parse(w)) out.insert(*d);
        }
      }
    }
  }
  return out;
}

}  // namespace xb::store
