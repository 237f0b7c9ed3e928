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
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "registry/registry.h"
#include "store/store.h"

namespace xb::exporter {

enum class ArchiveFormat { docker, oci };
// "docker" or "oci"; throws Error(usage) for anything else.
ArchiveFormat parse_archive_format(std::string_view text);

// Writes the image `target` (a manifest or index in the store) as an archive
// to dest ("-" for stdout), named by `names` (repositories/RepoTags for
// docker; for OCI, org.opencontainers.image.ref.name is the tag alone and
// io.containerd.image.name the full normalized reference, as containerd). Nothing appears under dest
// unless the whole archive was written.
void write_archive(const store::Store& store, const store::Descriptor& target,
                   const std::vector<store::ImageRef>& names, ArchiveFormat format, const std::filesystem::path& dest);

// The same, to an open fd (a pipe, a socket), named `name` in errors.
void write_archive_fd(const store::Store& store, const store::Descriptor& target,
                      const std::vector<store::ImageRef>& names, ArchiveFormat format, int fd, const std::string& name);

// A Docker Engine API endpoint as DOCKER_HOST names it: unix:///PATH
// (default unix:///var/run/docker.sock) or plain tcp://HOST[:PORT]. TLS
// (DOCKER_TLS_VERIFY) and ssh:// are refused with Error(usage).
struct EngineEndpoint {
  std::string host;         // as given, for messages
  std::string unix_socket;  // empty for tcp
  std::string base_url;     // "http://localhost" over the socket, "http://HOST:PORT"
  static EngineEndpoint parse(std::string_view docker_host, bool tls_verify = false);
  static EngineEndpoint from_environment();  // $DOCKER_HOST, $DOCKER_TLS_VERIFY
};

// --load: streams target as a docker archive into the engine's
// POST /images/load (podman's service speaks the same API). Returns the
// engine's lines ("Loaded image: app:1"). No engine there, or an engine
// that refuses the image: one-line Error naming the endpoint.
std::vector<std::string> load_into_engine(const store::Store& store, const store::Descriptor& target,
                                          const std::vector<store::ImageRef>& names, const EngineEndpoint& engine);

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
store::Descriptor import_rootfs(store::Store& store, const std::filesystem::path& tarball, const store::ImageRef& ref,
                                const store::Platform& platform = store::Platform::host());

// ---------------------------------------------------------------------------
// Layers as they leave the machine (docs/dev/exporter.md)

// How an image's layers are compressed and typed on export and push.
struct LayerOptions {
  store::Compression compression = store::Compression::gzip;
  std::optional<int> level;     // none: gzip 1 (0-9: igzip at 1-3, libdeflate otherwise), zstd 3
  bool oci_media_types = true;  // false: docker schema2 (manifest, config and layer types)
  bool force = false;           // recompress layers that already have the wanted compression
};

// Progress of prepare_image, per layer: `done` of `total` uncompressed bytes.
struct CompressEvent {
  enum class Kind { start, progress, done, reused } kind;
  Digest diff_id;
  uint64_t done = 0;
  uint64_t total = 0;
  uint64_t compressed = 0;  // done/reused: the compressed size
};
using CompressProgress = std::function<void(const CompressEvent&)>;

// The image target as it leaves the machine: a manifest (or index of such)
// put into the store whose layers have the wanted compression and whose
// media types are OCI or docker schema2. The config bytes, hence the image
// ID, are unchanged. Layers are compressed in parallel (chunks of each layer
// on every core) and the result is remembered per (diff ID, compression) in
// records("layers"), so the next export or push compresses nothing.
// Returns target itself when nothing needs to change.
// layer_ready, when given, gets each layer as it leaves (compressed or
// reused) while others are still compressing, from those threads at once.
using LayerReady = std::function<void(const store::Descriptor&)>;
store::Descriptor prepare_image(store::Store& store, const store::Descriptor& target, const LayerOptions& options,
                                const CompressProgress& progress = {}, const LayerReady& layer_ready = {});

// The compressed blob of layer (an uncompressed tar) kept in the store:
// compresses it unless records("layers") already names one. Thread-safe.
store::Descriptor compressed_layer(store::Store& store, const store::Descriptor& layer, const Digest& diff_id,
                                   const LayerOptions& options, const CompressProgress& progress = {});

// The root file system of an image (its layers applied in order, whiteouts
// honoured), as a tar stream to dest ("-": stdout) or unpacked into the
// directory dest (created when missing; ownership kept when running as root).
void write_rootfs_tar(const store::Store& store, const store::Descriptor& target, const std::filesystem::path& dest);
void write_rootfs_dir(const store::Store& store, const store::Descriptor& target, const std::filesystem::path& dest);

// ---------------------------------------------------------------------------
// Attestations (docs/dev/exporter.md, "Attestations"): SLSA provenance and an
// SPDX SBOM as in-toto statements, attached as BuildKit attaches them (an OCI
// index of the image and an attestation manifest).

// Where outputs report what they do, one line at a time (thread-safe callers not needed).
using OutputLog = std::function<void(const std::string& line)>;

struct AttestOptions {
  enum class Mode { min, max };
  std::optional<Mode> provenance;  // none: no provenance attestation
  bool sbom = false;
  std::string builder_id;     // provenance builder-id=
  bool reproducible = false;  // provenance reproducible=true
  bool any() const { return provenance.has_value() || sbom; }
};

// buildx's flags, as (flag, value) in the order buildx applies them (every
// --attest, then --sbom, then --provenance; a later one of a type wins):
//   {"provenance", "true|false|mode=min|mode=max[,builder-id=…][,reproducible=true]"}
//   {"sbom", "true|false"}   {"attest", "type=provenance,mode=max" | "type=sbom" | "type=…,disabled=true"}
// Every mistake is Error(usage) naming the flag and what it accepts.
AttestOptions parse_attest_flags(const std::vector<std::pair<std::string, std::string>>& flags);

// What the build knew, for the provenance predicate (the CLI fills it from
// the build's options and result; the exporter knows no solver).
struct ProvenanceInput {
  struct Image {  // a base image: FROM, COPY --from=IMAGE, RUN --mount from=IMAGE
    store::ImageRef ref;
    Digest digest;  // what the reference resolved to (an index or a manifest)
    std::optional<store::Platform> platform;
  };
  struct Url {  // ADD https://…
    std::string url;
    Digest digest;
  };
  struct Step {                          // one step of the build graph, inputs as indexes into steps
    std::string kind;                    // "source", "exec", "file"
    std::string name;                    // "RUN apt-get install -y curl"
    int line = 0;                        // in the Dockerfile, 0 if none
    std::string identifier;              // source: docker-image://REF@DIGEST
    std::vector<std::string> args, env;  // exec
    std::string cwd;                     // exec
    std::vector<size_t> inputs;
  };
  std::string dockerfile_name = "Dockerfile";  // invocation.configSource.entryPoint
  std::optional<Digest> dockerfile_digest;
  std::string dockerfile;                   // its text (mode=max: metadata source infos)
  std::map<std::string, std::string> args;  // BuildKit's frontend attributes: build-arg:K, label:K, target, no-cache
  std::vector<std::string> secrets;         // secret IDs (mode=max), never values
  std::vector<Image> images;
  std::vector<Url> urls;
  std::vector<Step> steps;
  bool network = false;           // a RUN step had network access (not hermetic)
  std::string started, finished;  // RFC 3339
  std::string invocation_id;      // empty: a random one
  std::string tool = "xbuild";    // SPDX creationInfo creator: "xbuild-0.1.0"
};

// One in-toto statement: its predicate type and its JSON text.
struct Statement {
  std::string predicate_type;
  std::string json;
};

// An image of an index (its descriptor carries its platform) and the
// statements about it.
struct AttestedManifest {
  store::Descriptor manifest;
  std::vector<Statement> statements;
};

// Writes one attestation manifest per image that has statements (layers
// application/vnd.in-toto+json annotated in-toto.io/predicate-type; its
// descriptor annotated vnd.docker.reference.type=attestation-manifest and
// vnd.docker.reference.digest=<image manifest>, platform unknown/unknown)
// and the OCI index of the images followed by those manifests, all into the
// store. Returns the index descriptor. Multi-platform indexes reuse this.
store::Descriptor write_attested_index(store::Store& store, const std::vector<AttestedManifest>& images);

// The predicates of a build's attestations, made once (the SBOM reads the
// image's package databases) and wrapped into statements for each output,
// whose manifest digest (the statements' subject) depends on how its
// layers are compressed.
struct Attestations {
  std::vector<std::pair<std::string, nlohmann::json>> predicates;  // predicate type → predicate
  std::vector<store::ImageRef> names;                              // the subjects' names (none: "_")
  bool empty() const { return predicates.empty(); }
};

// What `options` ask for about the built image `manifest` named `names`:
// the SPDX SBOM from the package databases in the image's root file system
// (dpkg, apk, Python, node), then the provenance from `input`.
Attestations make_attestations(const store::Store& store, const store::Descriptor& manifest,
                               const AttestOptions& options, const ProvenanceInput& input,
                               const std::vector<store::ImageRef>& names, const OutputLog& log);

// The OCI index of `manifest` (as it leaves the machine) and one
// attestation manifest with `attestations` about it (write_attested_index).
store::Descriptor attach(store::Store& store, const store::Descriptor& manifest, const Attestations& attestations);

// ---------------------------------------------------------------------------
// Build outputs (-o/--output)

// An annotation as buildx names it: `--annotation [TYPE[PLATFORM]:]KEY=VALUE`
// or the output option `annotation[-TYPE][PLATFORM].KEY=VALUE`.
struct Annotation {
  enum class Level { manifest, manifest_descriptor, index, index_descriptor };
  Level level = Level::manifest;            // no TYPE: the manifest, as BuildKit
  std::optional<store::Platform> platform;  // [os/arch]: only that platform's manifest
  std::string key;
  std::string value;
  bool operator==(const Annotation&) const = default;
};
std::string_view to_string(Annotation::Level level);
// One --annotation value; "manifest,index:K=V" gives one per type. Error(usage) naming it.
std::vector<Annotation> parse_annotation_flag(std::string_view text);
// An output option key that starts with "annotation" (nullopt otherwise).
std::optional<Annotation> parse_annotation_option(std::string_view key, std::string_view value);
// target with the annotations placed: manifest ones in a new manifest blob
// (its config, hence the image ID, unchanged), descriptor ones in the
// returned descriptor, index ones in an index. A lone manifest has no index:
// index annotations are refused as BuildKit refuses them.
store::Descriptor apply_annotations(store::Store& store, const store::Descriptor& target,
                                    const std::vector<Annotation>& annotations);

struct OutputSpec {
  enum class Type { image, oci, docker, local, tar, registry };
  Type type = Type::image;
  std::filesystem::path dest;           // oci, docker, tar: a file or "-" (stdout); local: a directory
                                        // docker without dest: load into the Docker Engine (--load)
  LayerOptions layers;                  // oci, registry (docker archives hold plain layer.tar files)
  std::vector<store::ImageRef> names;   // name=REF: more names besides -t
  bool push = false;                    // type=image,push=true
  std::vector<Annotation> annotations;  // annotation*.KEY=VALUE and --annotation
};

// Parses "type=oci,dest=out.tar,compression=zstd" (buildx's syntax), and its
// shorthands: a lone word that is not type=… is a directory for type=local
// ("-o ./out"), and "-" is type=tar to stdout. Every mistake is
// Error(usage) naming the option and what it accepts.
OutputSpec parse_output(std::string_view text);

// Performs one output for the image `target` named `names`. Returns what
// BuildKit's exporter response holds, as buildx's --metadata-file shows it:
// containerimage.digest, containerimage.config.digest,
// containerimage.descriptor, image.name (empty for local and tar).
// With attestations, image, oci and registry outputs get the index of the
// image and its attestation manifest (docker, tar and local the image alone,
// as BuildKit's docker exporter); containerimage.digest is then the index's.
nlohmann::json run_output(store::Store& store, const OutputSpec& spec, const store::Descriptor& target,
                          const std::vector<store::ImageRef>& names, const registry::ClientOptions& registry_options,
                          const OutputLog& log, const Attestations* attestations = nullptr);

// Pushes target to every ref (compressed per options first; then, with
// attestations, attached): blobs once, then one manifest PUT per tag.
// Returns the pushed manifest (or index).
store::Descriptor push_image(store::Store& store, const store::Descriptor& target,
                             const std::vector<store::ImageRef>& refs, const LayerOptions& options,
                             registry::ClientOptions registry_options, const OutputLog& log,
                             const Attestations* attestations = nullptr);

// The uncompressed tar stream of a layer blob (decompressing gzip or zstd
// as its media type or first bytes say), to sink in chunks.
void read_layer_uncompressed(const store::Store& store, const store::Descriptor& layer,
                             const std::function<void(std::string_view)>& sink);

}  // namespace xb::exporter
