// exporter/: writing images out of the store and reading them back in
// (docs/dev/store.md, "Archives").
//
// Archives: a docker archive (`docker save` format, what `docker load` and
// `podman load` accept: manifest.json, repositories, <config>.json,
// <diffid>/layer.tar with uncompressed layers) or an OCI archive (a tar of an
// OCI image layout: oci-layout, index.json, blobs/sha256/…). Both are
// written streaming, to a temporary name renamed into place (or to stdout).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace xb::exporter {

enum class ArchiveFormat { docker, oci };
// "docker" or "oci"; throws Error(usage) for anything else.
ArchiveFormat parse_archive_format(std::string_view text);

// Writes the image `target` (a manifest or index in the store) as an archive
// to dest ("-" for stdout), named by `names` (repositories/RepoTags for
// docker, org.opencontainers.image.ref.name annotations for OCI, where the
// annotation is the full normalized reference). Nothing appears under dest
// unless the whole archive was written.
void write_archive(const store::Store& store, const store::Descriptor& target,
                   const std::vector<store::ImageRef>& names, ArchiveFormat format,
                   const std::filesystem::path& dest);

struct LoadedImage {
  std::optional<store::ImageRef> ref;  // none for an untagged image
  store::Descriptor target;            // the manifest put into the store
};

// Reads a docker or OCI archive (plain or gzip/zstd compressed; the format
// is detected), puts its blobs into the store and tags its images. An
// archive that is neither throws Error(invalid_argument) naming the file;
// blobs are verified, so nothing wrong enters the store.
std::vector<LoadedImage> load_archive(store::Store& store, const std::filesystem::path& src);

// `docker import`: a root file system tarball (plain, gzip, zstd, xz or
// bzip2) becomes a one-layer image tagged ref. The layer is stored
// uncompressed (its digest is its diff ID); the config has only
// architecture, os, created, rootfs and one history entry.
store::Descriptor import_rootfs(store::Store& store, const std::filesystem::path& tarball,
                                const store::ImageRef& ref,
                                const store::Platform& platform = store::Platform::host());

// The uncompressed tar stream of a layer blob (decompressing gzip or zstd
// as its media type or first bytes say), to sink in chunks.
void read_layer_uncompressed(const store::Store& store, const store::Descriptor& layer,
                             const std::function<void(std::string_view)>& sink);

}  // namespace xb::exporter
