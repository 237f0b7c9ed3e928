// The root file system of an image, for -o type=tar and type=local: the
// layers are read from the top one down and every path is written once, from
// the highest layer that has it, unless a whiteout (.wh.NAME), an opaque
// directory (.wh..wh..opq) or a non-directory in a higher layer hides it
// (the OCI image spec's "applying changesets", done in one pass without
// unpacking anything first).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <set>

#include "common/error.h"
#include "common/fs.h"
#include "common/tar.h"
#include "exporter/attest.h"
#include "exporter/exporter.h"
#include "store/blob_reader.h"

namespace xb::exporter {

namespace fs = std::filesystem;
using store::Descriptor;

namespace {

// "./usr/bin/" → "usr/bin"; "" for the root. Throws on "..": layers never need it.
std::string clean_path(std::string_view p, const std::string& what) {
  std::string out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") fail(ErrorKind::data_loss, what + ": entry \"" + std::string(p) + "\" climbs out with ..");
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

std::string parent_of(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? std::string() : p.substr(0, s);
}

class Flattener {
 public:
  // A path lower layers may not contribute.
  bool hidden(const std::string& path) const {
    if (whiteouts_.count(path)) return true;
    for (std::string p = parent_of(path);; p = parent_of(p)) {
      if (p.empty()) return false;
      if (whiteouts_.count(p) || opaque_.count(p) || nondirs_.count(p)) return true;
    }
  }
  // The root directory's opacity is its own entry: an opaque "" hides everything below.
  bool root_opaque() const { return opaque_.count(""); }

  void run(const store::Store& st, const Descriptor& target,
           const std::function<void(archive_entry*, archive*)>& emit) {
    store::Image img = st.image(target);
    for (size_t k = img.manifest.layers.size(); k-- > 0;) {
      const Descriptor& layer = img.manifest.layers[k];
      const std::string what = "layer " + layer.digest.str();
      std::set<std::string> layer_whiteouts, layer_opaque, layer_nondirs;
      tar::Archive r = tar::reader(tar::Decompress::any, /*empty_ok=*/true);
      // Verified as it streams: a corrupt blob must not become a root file
      // system (the caller's AtomicFile or directory is then never published).
      store::VerifiedBlobReader in = store::read_blob_verified(st, layer.digest);
      tar::Source src([&in](void* buf, size_t size) { return in.read(buf, size); });
      auto failed = [&](ErrorKind kind, const std::string& why) {
        src.rethrow_source_error();
        in.finish();  // corrupt bytes often fail the decoder first: say that they are corrupt
        fail(kind, what + ": " + why);
      };
      if (src.open(r.get()) != ARCHIVE_OK) failed(ErrorKind::data_loss, tar::error(r.get()));
      for (;;) {
        archive_entry* e = nullptr;
        int rc = tar::next_header(r.get(), &e);
        if (rc == ARCHIVE_EOF) break;
        if (rc < ARCHIVE_WARN) failed(ErrorKind::data_loss, tar::error(r.get()));
        std::string path = clean_path(archive_entry_pathname(e), what);
        std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
        std::string dir = parent_of(path);
        if (base == ".wh..wh..opq") {
          layer_opaque.insert(dir);
          continue;
        }
        if (base.rfind(".wh.", 0) == 0) {
          layer_whiteouts.insert(dir.empty() ? base.substr(4) : dir + "/" + base.substr(4));
          continue;
        }
        if (!path.empty() && (hidden(path) || root_opaque())) continue;
        if (!seen_.insert(path).second) continue;
        if (archive_entry_filetype(e) != AE_IFDIR) layer_nondirs.insert(path);
        archive_entry_set_pathname(e, path.empty() ? "." : path.c_str());
        if (const char* hl = archive_entry_hardlink(e)) {
          std::string target_path = clean_path(hl, what);
          archive_entry_set_hardlink(e, target_path.c_str());
        }
        try {
          emit(e, r.get());
        } catch (const Error&) {
          src.rethrow_source_error();  // the blob's own error, not the decoder's
          throw;
        }
      }
      in.finish();  // the tar's end blocks may come before the blob's last byte
      whiteouts_.insert(layer_whiteouts.begin(), layer_whiteouts.end());
      opaque_.insert(layer_opaque.begin(), layer_opaque.end());
      nondirs_.insert(layer_nondirs.begin(), layer_nondirs.end());
    }
  }

 private:
  std::set<std::string> seen_, whiteouts_, opaque_, nondirs_;
};

void copy_data(archive* in, archive* out, const std::string& what) {
  const void* buf;
  size_t size;
  la_int64_t offset;
  for (;;) {
    int rc = archive_read_data_block(in, &buf, &size, &offset);
    if (rc == ARCHIVE_EOF) return;
    if (rc < ARCHIVE_WARN) fail(ErrorKind::data_loss, what + ": " + tar::error(in));
    if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN)
      fail(ErrorKind::io, what + ": " + tar::error(out));
  }
}

}  // namespace

void write_rootfs_tar(const store::Store& st, const Descriptor& target, const fs::path& dest) {
  std::optional<AtomicFile> file;
  int fd = STDOUT_FILENO;
  const std::string name = dest == "-" ? "stdout" : dest.string();
  if (dest != "-") {
    file.emplace(dest.is_relative() ? fs::absolute(dest) : dest, 0644);
    fd = file->fd();
  }
  tar::Archive w = tar::writer();
  if (archive_write_open_fd(w.get(), fd) != ARCHIVE_OK)
    fail(ErrorKind::io, "write " + name + ": " + tar::error(w.get()));
  Flattener f;
  f.run(st, target, [&](archive_entry* e, archive* in) {
    if (tar::write_header(w.get(), e) < ARCHIVE_WARN) fail(ErrorKind::io, "write " + name + ": " + tar::error(w.get()));
    // Hard links carry no data of their own in a tar.
    if (archive_entry_size(e) > 0 && !archive_entry_hardlink(e)) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      for (;;) {
        int rc = archive_read_data_block(in, &buf, &size, &offset);
        if (rc == ARCHIVE_EOF) break;
        if (rc < ARCHIVE_WARN) fail(ErrorKind::data_loss, "read layer: " + std::string(tar::error(in)));
        std::string_view d(static_cast<const char*>(buf), size);
        while (!d.empty()) {
          la_ssize_t n = archive_write_data(w.get(), d.data(), d.size());
          if (n < 0) fail(ErrorKind::io, "write " + name + ": " + tar::error(w.get()));
          d.remove_prefix(static_cast<size_t>(n));
        }
      }
    }
  });
  if (archive_write_close(w.get()) < ARCHIVE_WARN) fail(ErrorKind::io, "write " + name + ": " + tar::error(w.get()));
  if (file) file->commit();
}

void write_rootfs_dir(const store::Store& st, const Descriptor& target, const fs::path& dest_in) {
  const fs::path dest = fs::absolute(dest_in).lexically_normal();
  std::error_code ec;
  if (fs::exists(dest, ec)) {
    if (!fs::is_directory(dest) || !fs::is_empty(dest))
      fail(ErrorKind::failed_precondition,
           "--output type=local: " + dest_in.string() +
               " exists and is not an empty directory; remove it or choose another dest");
  }
  fs::create_directories(dest.parent_path());
  // Unpacked next to dest and renamed into place: dest never holds half a file system.
  TempDir tmp(".xbuild-local", dest.parent_path());
  const fs::path root = fs::canonical(tmp.path());
  ::chmod(root.c_str(), 0755);
  const bool as_root = ::geteuid() == 0;
  int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
              ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_UNLINK;
  if (as_root) flags |= ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_FFLAGS;
  tar::Archive w = tar::disk_writer(flags);
  Flattener f;
  f.run(st, target, [&](archive_entry* e, archive* in) {
    auto type = archive_entry_filetype(e);
    // Without root, device nodes cannot be made; everything else can.
    if (!as_root && (type == AE_IFCHR || type == AE_IFBLK)) return;
    std::string rel = archive_entry_pathname(e);
    std::string full = rel == "." ? root.string() : (root / rel).string();
    archive_entry_set_pathname(e, full.c_str());
    if (const char* hl = archive_entry_hardlink(e)) {
      std::string t = (root / hl).string();
      archive_entry_set_hardlink(e, t.c_str());
    }
    if (tar::write_header(w.get(), e) < ARCHIVE_WARN)
      fail(ErrorKind::io, "--output type=local: " + rel + ": " + tar::error(w.get()));
    if (archive_entry_size(e) > 0) copy_data(in, w.get(), "--output type=local: " + rel);
    if (archive_write_finish_entry(w.get()) < ARCHIVE_WARN)
      fail(ErrorKind::io, "--output type=local: " + rel + ": " + tar::error(w.get()));
  });
  // close() applies the directories' modes and times, deferred until their contents are in.
  if (archive_write_close(w.get()) < ARCHIVE_WARN)
    fail(ErrorKind::io, "--output type=local: " + std::string(tar::error(w.get())));
  if (fs::exists(dest)) fs::remove(dest);  // the empty directory checked above
  if (::rename(root.c_str(), dest.c_str()) < 0) throw_errno("rename", dest.string());
  tmp.release();
}

namespace attest {

void read_rootfs_files(const store::Store& st, const Descriptor& target,
                       const std::function<bool(std::string_view path)>& want, uint64_t max_bytes,
                       const std::function<void(const std::string& path, std::optional<std::string> content)>& got) {
  Flattener f;
  f.run(st, target, [&](archive_entry* e, archive* in) {
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e)) return;
    std::string path = archive_entry_pathname(e);
    if (!want(path)) return;
    const la_int64_t size = archive_entry_size(e);
    if (size < 0 || static_cast<uint64_t>(size) > max_bytes) return got(path, std::nullopt);
    std::string content;
    content.reserve(static_cast<size_t>(size));
    const void* buf;
    size_t n;
    la_int64_t offset;
    for (;;) {
      int rc = archive_read_data_block(in, &buf, &n, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) fail(ErrorKind::data_loss, "read layer: " + std::string(tar::error(in)));
      if (static_cast<uint64_t>(offset) > content.size()) content.resize(static_cast<size_t>(offset));  // a sparse hole
      content.append(static_cast<const char*>(buf), n);
      if (content.size() > max_bytes) return got(path, std::nullopt);
    }
    got(path, std::move(content));
  });
}

}  // namespace attest

}  // namespace xb::exporter
