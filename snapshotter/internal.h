// Private to snapshotter/: the layer codec (apply, diff) and tree helpers,
// shared by the overlay and native drivers.
#pragma once

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/tar_extract.h"
#include "common/userns.h"
#include "snapshotter/snapshotter.h"

namespace xb::snapshotter::detail {

// How deletions are represented in the directory a layer is applied to.
enum class WhiteoutStyle {
  overlay,  // the dir is an overlay upper dir: char 0/0 whiteouts, opaque xattr
  remove,   // the dir is a full root (native): delete what the layer deletes
};

// Unpacks a layer into dir (a snapshot's fs dir). See Snapshotter::apply.
LayerResult apply_layer(const std::filesystem::path& dir, WhiteoutStyle style, const ByteSource& source);

// Diff of an overlay upper dir; lowers are the parent chain's fs dirs,
// nearest first (to tell copied-up directories from new ones).
LayerResult diff_overlay(const std::filesystem::path& upper, const std::vector<std::filesystem::path>& lowers,
                         const ByteSink& sink, const DiffOptions& options);

// Diff of two full trees (native): what turns `base` (may be empty path: no
// parent) into `current`.
LayerResult diff_trees(const std::filesystem::path& current, const std::filesystem::path& base, const ByteSink& sink,
                       const DiffOptions& options);

// Copies a tree keeping types, modes, owners, xattrs, mtimes and hardlinks
// (cp -a). dest must exist and be empty.
void copy_tree(const std::filesystem::path& src, const std::filesystem::path& dest);

// Removes a tree, coping with read-only directories inside it.
void remove_tree(const std::filesystem::path& path);

// Bytes and inodes under path (hardlinked files counted once).
Usage disk_usage(const std::filesystem::path& path);

// Whether the name is an overlay whiteout (char device 0/0).
inline bool is_whiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0); }

// Directory entries' names, sorted bytewise, without "." and "..".
std::vector<std::string> sorted_names(int dirfd, const std::string& what);

// overlayfs' own xattrs (common/tar_extract.h: they depend on whether we
// run in a user namespace).
inline const char* opaque_xattr() { return tar::overlay_opaque_xattr(); }
using tar::is_overlay_xattr;

}  // namespace xb::snapshotter::detail
