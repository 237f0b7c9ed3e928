// store/oci.h: the OCI documents (part of store/store.h, the module's
// public header, which includes it): one type each, one JSON serializer
// each. from_json/parse throw Error(invalid_argument) naming what is wrong.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "store/reference.h"

namespace xb::store {

namespace media_type {
inline constexpr std::string_view oci_layout_version = "1.0.0";
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view oci_layer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view oci_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view oci_layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_manifest_list = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view docker_layer_gzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view docker_layer_foreign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}  // namespace media_type

inline constexpr std::string_view ref_name_annotation = "org.opencontainers.image.ref.name";

enum class Compression { none, gzip, zstd };
std::string_view to_string(Compression c);
// The compression a layer media type declares; nullopt if it is no layer type we know.
std::optional<Compression> layer_compression(std::string_view media_type);
bool is_manifest_media_type(std::string_view media_type);  // OCI or docker schema2 manifest
bool is_index_media_type(std::string_view media_type);     // OCI index or docker manifest list
// The compression the first bytes of a blob show (gzip 1f 8b, zstd 28 b5 2f fd).
Compression sniff_compression(std::string_view head);

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  std::vector<std::string> urls;
  std::string artifact_type;

  nlohmann::json to_json() const;
  static Descriptor from_json(const nlohmann::json& j);
  bool operator==(const Descriptor&) const = default;
};

// An image manifest, OCI (application/vnd.oci.image.manifest.v1+json) or
// docker schema2 (media_type tells which; the JSON is the same shape).
struct Manifest {
  std::string media_type;  // may be empty in OCI manifests that omit it
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
  std::optional<Descriptor> subject;

  static Manifest parse(std::string_view json);
  std::string to_json() const;  // compact, as pushed and as hashed
};

// An OCI image index or a docker manifest list.
struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;

  static Index parse(std::string_view json);
  std::string to_json() const;
  // The manifest for `want` (the first that matches), or nullopt.
  std::optional<Descriptor> select(const Platform& want) const;
};

struct HealthConfig {
  std::vector<std::string> test;  // ["CMD-SHELL", "…"], ["NONE"], …
  int64_t interval = 0;           // nanoseconds, 0 = inherit
  int64_t timeout = 0;
  int64_t start_period = 0;
  int64_t start_interval = 0;
  int retries = 0;
  bool operator==(const HealthConfig&) const = default;
};

// The runtime part ("config") of an image config, with every field docker
// uses. Optional fields distinguish "unset" from "set to empty" as docker does.
struct ContainerConfig {
  std::string user;
  std::vector<std::string> env;  // "K=V"
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::string working_dir;
  std::vector<std::string> exposed_ports;  // "80/tcp", sorted, unique
  std::vector<std::string> volumes;        // sorted, unique
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  std::optional<HealthConfig> healthcheck;
  std::optional<std::vector<std::string>> shell;
  std::vector<std::string> on_build;
  bool args_escaped = false;
  nlohmann::json extra = nlohmann::json::object();  // fields not modelled above, kept as read
  bool operator==(const ContainerConfig&) const = default;
};

// A time as image configs carry it: RFC 3339, UTC, nanoseconds without
// trailing zeros, as Go's time.Time marshals ("2026-11-23T14:01:02.5Z").
std::string rfc3339(std::chrono::system_clock::time_point t);

struct HistoryEntry {
  std::string created;  // RFC 3339
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
  nlohmann::json extra = nlohmann::json::object();
  bool operator==(const HistoryEntry&) const = default;
};

// An image config (application/vnd.oci.image.config.v1+json or docker's
// container.image.v1). Fields not modelled here survive parse → to_json.
struct ImageConfig {
  std::string created;  // RFC 3339, may be empty
  std::string author;
  std::string architecture;
  std::string os;
  std::string variant;
  std::string os_version;
  ContainerConfig config;
  std::vector<Digest> diff_ids;  // rootfs.diff_ids, rootfs.type is always "layers"
  std::vector<HistoryEntry> history;
  nlohmann::json extra = nlohmann::json::object();

  static ImageConfig parse(std::string_view json);
  std::string to_json() const;  // compact
  Platform platform() const;
  bool operator==(const ImageConfig&) const = default;
};

}  // namespace xb::store
