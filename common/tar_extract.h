// Unpacking a tar stream into a directory, contained: every path is resolved
// inside the root (common/in_root.h), so "..", absolute names, symlinks (in
// the archive or already on disk) and hard links all stay inside it, as in a
// chroot. The one extractor of xbuild: the snapshotter applies layers with
// it (whiteouts), fileop unpacks ADD's local archives with it (no whiteouts,
// --chown, a name leading out refused as BuildKit refuses it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

struct archive;
struct archive_entry;

namespace xb::tar {

struct ExtractOptions {
  enum class Whiteouts {
    none,     // ADD: ".wh." names are ordinary files (BuildKit's unpack)
    overlay,  // an overlay upper dir: char 0/0 whiteouts, the opaque xattr
    remove,   // a full root: delete what the layer deletes
  };
  Whiteouts whiteouts = Whiteouts::none;
  // true (ADD): a name or hard link that leads out of the root with ".." is
  // an error; false (layers): ".." stops at the root.
  bool refuse_outside = false;
  // --chown: every entry's owner instead of the archive's.
  std::optional<std::pair<uint32_t, uint32_t>> owner;
  // How entries are named in messages ("layer entry", "ADD x.tar: archive entry").
  std::string what = "layer entry";
  // How the root is shown in messages (its host path, or "/dest").
  std::string display;
};

// overlayfs' opaque-directory mark: trusted.overlay.opaque, or in a user
// namespace (mounted with userxattr, as root may not set trusted.* xattrs
// there) user.overlay.opaque.
const char* overlay_opaque_xattr();
// Whether an xattr is overlayfs' own bookkeeping, never part of a layer.
bool is_overlay_xattr(const char* name);

// Applies entries one at a time (the caller owns the reading loop, so that
// it can hash or count the stream); finish() then sets directory times.
class Extractor {
 public:
  // `rootfd` is duplicated; the directory must exist.
  Extractor(int rootfd, ExtractOptions options);
  ~Extractor();
  Extractor(const Extractor&) = delete;
  Extractor& operator=(const Extractor&) = delete;

  // The entry `e` just read from `a` (and its data).
  void entry(archive* a, archive_entry* e);
  // Directory mtimes last, deepest first, since creating children changes them.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xb::tar
