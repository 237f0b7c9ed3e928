// Attestations (private to exporter/ and its tests; callers use
// exporter/exporter.h): the package readers behind the SBOM, the SPDX 2.3
// document, the SLSA provenance v0.2 predicate, in-toto statements, and the
// image index that carries them as BuildKit attaches them
// (docs/dev/exporter.md, "Attestations").
//
// Everything here but read_rootfs_files and write_attested_index is a pure
// function of its arguments, unit-tested without root (tests/exporter/attest_test.cc).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/exporter.h"

namespace xb::exporter::attest {

inline constexpr std::string_view kInTotoMediaType = "application/vnd.in-toto+json";
inline constexpr std::string_view kStatementType = "https://in-toto.io/Statement/v0.1";
inline constexpr std::string_view kPredicateSpdx = "https://spdx.dev/Document";
inline constexpr std::string_view kPredicateSlsa02 = "https://slsa.dev/provenance/v0.2";
inline constexpr std::string_view kBuildTypeBuildKit = "https://mobyproject.org/buildkit@v1";
inline constexpr std::string_view kPredicateTypeAnnotation = "in-toto.io/predicate-type";
inline constexpr std::string_view kReferenceTypeAnnotation = "vnd.docker.reference.type";
inline constexpr std::string_view kReferenceDigestAnnotation = "vnd.docker.reference.digest";
inline constexpr std::string_view kAttestationManifest = "attestation-manifest";

// ---------------------------------------------------------------------------
// Package databases → packages

// /etc/os-release (or /usr/lib/os-release): ID and VERSION_ID name the distro
// in package URLs ("distro=debian-12").
struct OsRelease {
  std::string id;          // "debian", "alpine", "ubuntu"
  std::string version_id;  // "12", "3.19.1"
  std::string pretty_name;
  std::string distro() const;  // "debian-12", "" when unknown
};
OsRelease parse_os_release(std::string_view text);

struct Package {
  std::string type;  // purl type: "deb", "apk", "pypi", "npm"
  std::string name;
  std::string version;
  std::string arch;      // deb/apk: as the database says ("amd64", "x86_64"); else ""
  std::string license;   // as declared ("" if none)
  std::string supplier;  // deb Maintainer, apk maintainer ("" if none)
  std::string source;    // the database file it came from ("/var/lib/dpkg/status")
  std::string purl;      // pkg:deb/debian/curl@7.88.1-10+deb12u8?arch=amd64&distro=debian-12
};

// A Debian status file (status or one file of status.d/): the paragraphs
// whose Status is "… installed" (or that have no Status, as distroless's
// status.d files). `where` is the file's path in the image.
std::vector<Package> parse_dpkg_status(std::string_view text, const OsRelease& os, const std::string& where);
// Alpine's /lib/apk/db/installed.
std::vector<Package> parse_apk_installed(std::string_view text, const OsRelease& os, const std::string& where);
// A Python distribution's METADATA (*.dist-info) or PKG-INFO (*.egg-info).
std::optional<Package> parse_python_metadata(std::string_view text, const std::string& where);
// A node_modules/<name>/package.json (a malformed one is no package).
std::optional<Package> parse_package_json(std::string_view text, const std::string& where);

// Which database a path (relative to the image root, no leading "/") is;
// none for every other file. The SBOM reads only these files.
enum class DbKind { none, os_release, dpkg, apk, python, npm };
DbKind classify_path(std::string_view path);

// Every package in a set of database files (path → content), sorted by
// type, name, version; the os-release among them names the distro.
std::vector<Package> scan_packages(const std::vector<std::pair<std::string, std::string>>& files);

// Percent-encodes s for a package URL segment (unreserved and "+:" kept, as packageurl-go does).
std::string purl_escape(std::string_view s);
// pkg:docker/alpine@3.19?platform=linux%2Famd64, as BuildKit's RefToPURL.
std::string image_purl(const store::ImageRef& ref, const std::optional<store::Platform>& platform);

// ---------------------------------------------------------------------------
// Documents

// An SPDX 2.3 JSON document: the image as the described package, which
// CONTAINS each package. `name` is the image's name, `namespace_id` makes
// documentNamespace unique (the manifest digest's hex), `created` is RFC
// 3339, `tool` the creator ("xbuild-0.1.0").
nlohmann::json spdx_document(const std::vector<Package>& packages, const std::string& name,
                             const std::string& namespace_id, const std::string& created, const std::string& tool);

// The SLSA provenance v0.2 predicate BuildKit v0.13 writes for a Dockerfile
// build (docs/attestations/slsa-definitions.md), from what the build knew.
nlohmann::json provenance_predicate(const ProvenanceInput& in, const AttestOptions& options);

// An in-toto v0.1 statement about `subjects` (name → sha256 digest).
struct Subject {
  std::string name;
  Digest digest;
};
nlohmann::json statement(std::string_view predicate_type, const nlohmann::json& predicate,
                         const std::vector<Subject>& subjects);

// The subjects BuildKit names: one package URL per image name (with the
// platform), "_" when the image has none; each with the manifest digest.
std::vector<Subject> subjects_for(const std::vector<store::ImageRef>& names, const Digest& manifest,
                                  const store::Platform& platform);

// ---------------------------------------------------------------------------
// Store side

// Reads the files of the image's root file system (layers merged, whiteouts
// honoured) whose path `want` accepts: regular files up to max_bytes each
// (a larger one is reported with nullopt, unread).
void read_rootfs_files(const store::Store& store, const store::Descriptor& target,
                       const std::function<bool(std::string_view path)>& want, uint64_t max_bytes,
                       const std::function<void(const std::string& path, std::optional<std::string> content)>& got);

// The packages of an image, from its package databases. What an image
// holds is untrusted: a database file over file_max bytes, or any past
// total_max bytes of them all, is left out and named through `warn`.
std::vector<Package> image_packages(const store::Store& store, const store::Descriptor& manifest, uint64_t file_max,
                                    uint64_t total_max, const std::function<void(const std::string&)>& warn);

}  // namespace xb::exporter::attest
