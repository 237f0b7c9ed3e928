// Attestations without root: the package readers, the SPDX document, the
// provenance predicate, the flags, and the index with its attestation
// manifest (docs/dev/exporter.md, "Attestations").
#include "exporter/attest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "exporter/exporter.h"
#include "tests/support/shell.h"

using namespace xb::exporter;
using namespace xb::exporter::attest;
using nlohmann::json;
using xb::Digest;
using xb::store::ImageRef;
using xb::store::Platform;

namespace {

const OsRelease kBookworm = parse_os_release(
    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian "
    "GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n");

const char* kDpkgStatus = R"(Package: curl
Status: install ok installed
Priority: optional
Section: web
Installed-Size: 500
Maintainer: Alessandro Ghedini <ghedo@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 7.88.1-10+deb12u8
Depends: libc6 (>= 2.34), libcurl4 (= 7.88.1-10+deb12u8), zlib1g (>= 1:1.1.4)
Description: command line tool for transferring data with URL syntax
 curl is a command line tool for transferring data with URL syntax, supporting
 .
 DICT, FILE, FTP, FTPS.

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: oldthing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1
)";

TEST(AttestPackages, DpkgStatusListsInstalledPackagesWithDebianPurls) {
  auto pkgs = parse_dpkg_status(kDpkgStatus, kBookworm, "/var/lib/dpkg/status");
  ASSERT_EQ(pkgs.size(), 3u);  // oldthing left only its config files
  EXPECT_EQ(pkgs[0].name, "curl");
  EXPECT_EQ(pkgs[0].version, "7.88.1-10+deb12u8");
  EXPECT_EQ(pkgs[0].purl, "pkg:deb/debian/curl@7.88.1-10+deb12u8?arch=amd64&distro=debian-12");
  EXPECT_EQ(pkgs[0].supplier, "Alessandro Ghedini <ghedo@debian.org>");
  EXPECT_EQ(pkgs[1].purl, "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12&upstream=glibc");
  // An epoch's colon stays, as packageurl-go writes it; the source's version is kept.
  EXPECT_EQ(pkgs[2].purl,
            "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib%401:1.2.13.dfsg-1");
}

TEST(AttestPackages, DpkgStatusDFilesWithoutStatusCount) {
  // distroless writes one file per package under status.d/, without Status.
  auto pkgs = parse_dpkg_status("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n", kBookworm,
                                "/var/lib/dpkg/status.d/tzdata");
  ASSERT_EQ(pkgs.size(), 1u);
  EXPECT_EQ(pkgs[0].purl, "pkg:deb/debian/tzdata@2024a-0+deb12u1?arch=all&distro=debian-12");
}

TEST(AttestPackages, ApkInstalled) {
  OsRelease alpine = parse_os_release("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n");
  EXPECT_EQ(alpine.distro(), "alpine-3.19.1");
  auto pkgs = parse_apk_installed(
      "C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nS:383152\nT:the musl c "
      "library\nU:https://musl.libc.org/\n"
      "L:MIT\no:musl\nm:Timo Teräs "
      "<timo.teras@iki.fi>\n\nP:busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\n\n",
      alpine, "/lib/apk/db/installed");
  ASSERT_EQ(pkgs.size(), 2u);
  EXPECT_EQ(pkgs[0].name, "musl");
  EXPECT_EQ(pkgs[0].license, "MIT");
  EXPECT_EQ(pkgs[0].purl, "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1");
  EXPECT_EQ(pkgs[1].purl, "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1");
}

TEST(AttestPackages, PythonMetadataHeadersOnly) {
  auto p = parse_python_metadata(
      "Metadata-Version: 2.1\nName: Jinja_Two\nVersion: 3.1.2\nLicense: BSD-3-Clause\nClassifier: "
      "A\nClassifier: B\n"
      "\nName: not-this-one\nLong description.\n",
      "/usr/lib/python3/dist-packages/Jinja_Two-3.1.2.dist-info/METADATA");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "Jinja_Two");
  EXPECT_EQ(p->version, "3.1.2");
  EXPECT_EQ(p->license, "BSD-3-Clause");
  EXPECT_EQ(p->purl, "pkg:pypi/jinja-two@3.1.2");
  EXPECT_FALSE(parse_python_metadata("Metadata-Version: 2.1\nName: x\n", "m"));  // no version: no package
}

TEST(AttestPackages, NodePackageJson) {
  auto p = parse_package_json(R"({"name":"@types/node","version":"20.1.0","license":"MIT"})",
                              "/app/node_modules/@types/node/package.json");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->purl, "pkg:npm/%40types/node@20.1.0");
  EXPECT_EQ(p->license, "MIT");
  auto q = parse_package_json(R"({"name":"left-pad","version":"1.3.0","license":{"type":"WTFPL"}})", "x");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->purl, "pkg:npm/left-pad@1.3.0");
  EXPECT_EQ(q->license, "WTFPL");
  EXPECT_FALSE(parse_package_json("{not json", "x"));
  EXPECT_FALSE(parse_package_json(R"({"name":"x"})", "x"));
  EXPECT_FALSE(parse_package_json(R"(["a"])", "x"));
}

TEST(AttestPackages, ClassifyPaths) {
  EXPECT_EQ(classify_path("var/lib/dpkg/status"), DbKind::dpkg);
  EXPECT_EQ(classify_path("var/lib/dpkg/status.d/base"), DbKind::dpkg);
  EXPECT_EQ(classify_path("var/lib/dpkg/status.d/base.md5sums"), DbKind::none);
  EXPECT_EQ(classify_path("var/lib/dpkg/status-old"), DbKind::none);
  EXPECT_EQ(classify_path("lib/apk/db/installed"), DbKind::apk);
  EXPECT_EQ(classify_path("etc/os-release"), DbKind::os_release);
  EXPECT_EQ(classify_path("usr/lib/python3.11/site-packages/pip-23.0.dist-info/METADATA"), DbKind::python);
  EXPECT_EQ(classify_path("usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO"), DbKind::python);
  EXPECT_EQ(classify_path("usr/lib/python3/dist-packages/six.py"), DbKind::none);
  EXPECT_EQ(classify_path("app/node_modules/express/package.json"), DbKind::npm);
  EXPECT_EQ(classify_path("node_modules/@scope/pkg/package.json"), DbKind::npm);
  EXPECT_EQ(classify_path("app/node_modules/a/node_modules/b/package.json"), DbKind::npm);
  // A package's own files, and the app's package.json, are not packages of node_modules.
  EXPECT_EQ(classify_path("app/node_modules/express/lib/package.json"), DbKind::none);
  EXPECT_EQ(classify_path("app/package.json"), DbKind::none);
  EXPECT_EQ(classify_path("app/node_modules/.bin/package.json"), DbKind::none);
}

TEST(AttestPackages, ScanUsesOsReleaseForTheDistro) {
  auto pkgs = scan_packages({{"var/lib/dpkg/status", kDpkgStatus},
                             {"usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\n"},
                             {"app/node_modules/ms/package.json", R"({"name":"ms","version":"2.1.3"})"}});
  ASSERT_EQ(pkgs.size(), 4u);
  EXPECT_EQ(pkgs[0].type, "deb");
  EXPECT_EQ(pkgs[0].purl, "pkg:deb/debian/curl@7.88.1-10+deb12u8?arch=amd64&distro=debian-12");
  EXPECT_EQ(pkgs[3].purl, "pkg:npm/ms@2.1.3");
}

TEST(AttestPurl, EscapesAsPackageurlGo) {
  // Unreserved characters, "+" and ":" stay; everything else is %XX.
  EXPECT_EQ(purl_escape("1.2.3-r0+deb12u1~b:x_y"), "1.2.3-r0+deb12u1~b:x_y");
  EXPECT_EQ(purl_escape("@types/node"), "%40types%2Fnode");
  EXPECT_EQ(purl_escape("a b?c&d=e#f%"), "a%20b%3Fc%26d%3De%23f%25");
  EXPECT_EQ(purl_escape("\xc3\xa9"), "%C3%A9");
}

TEST(AttestPurl, ImagesAsBuildKitNamesThem) {
  auto amd64 = Platform::parse("linux/amd64");
  EXPECT_EQ(image_purl(ImageRef::parse("alpine"), std::nullopt), "pkg:docker/alpine@latest");
  EXPECT_EQ(image_purl(ImageRef::parse("docker.io/library/alpine:3.15"), std::nullopt), "pkg:docker/alpine@3.15");
  EXPECT_EQ(image_purl(ImageRef::parse("user/test:v2"), std::nullopt), "pkg:docker/user/test@v2");
  EXPECT_EQ(image_purl(ImageRef::parse("ghcr.io/foo/bar"), std::nullopt), "pkg:docker/ghcr.io/foo/bar@latest");
  EXPECT_EQ(image_purl(ImageRef::parse("busybox"), amd64), "pkg:docker/busybox@latest?platform=linux%2Famd64");
  EXPECT_EQ(image_purl(ImageRef::parse("localhost:5000/app:1"), amd64),
            "pkg:docker/localhost:5000/app@1?platform=linux%2Famd64");
  const std::string d = Digest::of("test").str();
  EXPECT_EQ(image_purl(ImageRef::parse("busybox@" + d), amd64),
            "pkg:docker/busybox?digest=" + d + "&platform=linux%2Famd64");
}

TEST(AttestSpdx, DocumentHasTheRequiredFieldsAndOneRelationshipPerPackage) {
  auto pkgs = parse_dpkg_status(kDpkgStatus, kBookworm, "/var/lib/dpkg/status");
  json doc = spdx_document(pkgs, "docker.io/library/app:1", std::string(64, 'a'), "2026-01-01T00:00:00Z",
                           "xbuild-test");
  EXPECT_EQ(doc["spdxVersion"], "SPDX-2.3");
  EXPECT_EQ(doc["dataLicense"], "CC0-1.0");
  EXPECT_EQ(doc["SPDXID"], "SPDXRef-DOCUMENT");
  EXPECT_EQ(doc["creationInfo"]["creators"][0], "Tool: xbuild-test");
  ASSERT_EQ(doc["packages"].size(), 4u);  // the image and its three packages
  json curl = doc["packages"][1];
  EXPECT_EQ(curl["name"], "curl");
  EXPECT_EQ(curl["versionInfo"], "7.88.1-10+deb12u8");
  EXPECT_EQ(curl["externalRefs"][0]["referenceType"], "purl");
  EXPECT_EQ(curl["externalRefs"][0]["referenceLocator"], pkgs[0].purl);
  EXPECT_EQ(curl["licenseDeclared"], "NOASSERTION");
  ASSERT_EQ(doc["relationships"].size(), 4u);
  EXPECT_EQ(doc["relationships"][0]["relationshipType"], "DESCRIBES");
  EXPECT_EQ(doc["relationships"][0]["spdxElementId"], "SPDXRef-DOCUMENT");
  EXPECT_EQ(doc["relationships"][1]["relationshipType"], "CONTAINS");
  EXPECT_EQ(doc["relationships"][1]["relatedSpdxElement"], curl["SPDXID"]);
  // Every SPDX ID is unique and of the allowed characters.
  std::set<std::string> ids;
  for (const auto& p : doc["packages"]) {
    std::string id = p["SPDXID"];
    EXPECT_TRUE(ids.insert(id).second) << id;
    EXPECT_EQ(id.find_first_not_of("SPDXRef-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"),
              std::string::npos)
        << id;
  }
}

TEST(AttestSpdx, FreeTextLicensesBecomeNoAssertion) {
  Package a{.type = "pypi", .name = "a", .version = "1", .license = "BSD License", .purl = "pkg:pypi/a@1"};
  Package b{.type = "npm", .name = "b", .version = "1", .license = "(MIT OR Apache-2.0)", .purl = "pkg:npm/b@1"};
  json doc = spdx_document({a, b}, "x", "", "2026-01-01T00:00:00Z", "xbuild");
  EXPECT_EQ(doc["packages"][1]["licenseDeclared"], "NOASSERTION");
  EXPECT_EQ(doc["packages"][2]["licenseDeclared"], "(MIT OR Apache-2.0)");
}

ProvenanceInput sample_input() {
  ProvenanceInput in;
  in.dockerfile_name = "Dockerfile";
  in.dockerfile = "FROM busybox\nRUN echo hi\n";
  in.dockerfile_digest = Digest::of(in.dockerfile);
  in.args = {{"build-arg:TOKEN", "s3cret"}, {"label:team", "x"}, {"target", "final"}};
  in.secrets = {"npmrc"};
  in.images.push_back({ImageRef::parse("busybox"), Digest::of("index"), Platform::parse("linux/amd64")});
  in.steps.push_back({.kind = "source",
                      .name = "FROM busybox",
                      .line = 1,
                      .identifier = "docker-image://docker.io/library/busybox:latest@" + Digest::of("index").str()});
  in.steps.push_back({.kind = "exec",
                      .name = "RUN echo hi",
                      .line = 2,
                      .args = {"/bin/sh", "-c", "echo hi"},
                      .env = {"PATH=/bin"},
                      .cwd = "/",
                      .inputs = {0}});
  in.started = "2026-01-01T00:00:00Z";
  in.finished = "2026-01-01T00:00:01Z";
  in.invocation_id = "abc";
  return in;
}

TEST(AttestProvenance, MinKeepsBuildArgValuesOut) {
  AttestOptions o;
  o.provenance = AttestOptions::Mode::min;
  json p = provenance_predicate(sample_input(), o);
  EXPECT_EQ(p["buildType"], "https://mobyproject.org/buildkit@v1");
  EXPECT_EQ(p["builder"]["id"], "");
  EXPECT_EQ(p["invocation"]["configSource"]["entryPoint"], "Dockerfile");
  EXPECT_EQ(p["invocation"]["configSource"]["digest"]["sha256"],
            std::string(Digest::of("FROM busybox\nRUN echo hi\n").hex()));
  EXPECT_EQ(p["invocation"]["parameters"]["frontend"], "dockerfile.v0");
  EXPECT_EQ(p["invocation"]["parameters"]["args"], json({{"target", "final"}}));
  EXPECT_FALSE(p["invocation"]["parameters"].contains("secrets"));
  EXPECT_EQ(p["invocation"]["environment"]["platform"], Platform::host().str());
  ASSERT_EQ(p["materials"].size(), 1u);
  EXPECT_EQ(p["materials"][0]["uri"], "pkg:docker/busybox@latest?platform=linux%2Famd64");
  EXPECT_EQ(p["materials"][0]["digest"]["sha256"], std::string(Digest::of("index").hex()));
  EXPECT_FALSE(p.contains("buildConfig"));
  EXPECT_EQ(p["metadata"]["buildInvocationID"], "abc");
  EXPECT_EQ(p["metadata"]["buildStartedOn"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(p["metadata"]["buildFinishedOn"], "2026-01-01T00:00:01Z");
  EXPECT_EQ(p["metadata"]["completeness"]["parameters"], false);  // build args were left out
  EXPECT_EQ(p["metadata"]["completeness"]["materials"], false);   // a local context is untracked
  EXPECT_EQ(p["metadata"]["reproducible"], false);
  EXPECT_EQ(p.dump().find("s3cret"), std::string::npos);
}

TEST(AttestProvenance, MaxAddsArgsSecretsStepsAndTheDockerfile) {
  AttestOptions o;
  o.provenance = AttestOptions::Mode::max;
  o.builder_id = "https://ci.example/run/1";
  json p = provenance_predicate(sample_input(), o);
  EXPECT_EQ(p["builder"]["id"], "https://ci.example/run/1");
  EXPECT_EQ(p["invocation"]["parameters"]["args"]["build-arg:TOKEN"], "s3cret");
  EXPECT_EQ(p["invocation"]["parameters"]["secrets"][0]["id"], "npmrc");
  EXPECT_EQ(p["metadata"]["completeness"]["parameters"], true);
  const json& steps = p["buildConfig"]["llbDefinition"];
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0]["id"], "step0");
  EXPECT_EQ(steps[0]["op"]["Op"]["source"]["identifier"],
            "docker-image://docker.io/library/busybox:latest@" + Digest::of("index").str());
  EXPECT_EQ(steps[1]["op"]["Op"]["exec"]["meta"]["args"], json({"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(steps[1]["inputs"], json({"step0:0"}));
  const json& src = p["metadata"]["https://mobyproject.org/buildkit@v1#metadata"]["source"];
  EXPECT_EQ(src["infos"][0]["filename"], "Dockerfile");
  EXPECT_EQ(src["infos"][0]["data"], "RlJPTSBidXN5Ym94ClJVTiBlY2hvIGhpCg==");
  EXPECT_EQ(src["locations"]["step1"]["locations"][0]["ranges"][0]["start"]["line"], 2);
}

TEST(AttestStatement, SubjectsNameEveryImageNameOrUnderscore) {
  Digest m = Digest::of("manifest");
  auto s = subjects_for({ImageRef::parse("reg:5000/app:1"), ImageRef::parse("reg:5000/app:latest")}, m,
                        Platform::parse("linux/amd64"));
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].name, "pkg:docker/reg:5000/app@1?platform=linux%2Famd64");
  json st = statement(kPredicateSpdx, json::object(), s);
  EXPECT_EQ(st["_type"], "https://in-toto.io/Statement/v0.1");
  EXPECT_EQ(st["predicateType"], "https://spdx.dev/Document");
  EXPECT_EQ(st["subject"][1]["digest"]["sha256"], std::string(m.hex()));
  auto none = subjects_for({}, m, Platform::parse("linux/amd64"));
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].name, "_");
}

TEST(AttestFlags, BuildxSyntax) {
  EXPECT_FALSE(parse_attest_flags({{"provenance", "false"}}).any());
  EXPECT_FALSE(parse_attest_flags({}).any());
  auto t = parse_attest_flags({{"provenance", "true"}});
  ASSERT_TRUE(t.provenance);
  EXPECT_EQ(*t.provenance, AttestOptions::Mode::min);
  EXPECT_EQ(*parse_attest_flags({{"provenance", "mode=max"}}).provenance, AttestOptions::Mode::max);
  EXPECT_EQ(*parse_attest_flags({{"attest", "type=provenance,mode=max"}}).provenance, AttestOptions::Mode::max);
  EXPECT_TRUE(parse_attest_flags({{"attest", "type=sbom"}}).sbom);
  EXPECT_TRUE(parse_attest_flags({{"sbom", "true"}}).sbom);
  // --provenance after --attest wins, as buildx applies them.
  EXPECT_FALSE(parse_attest_flags({{"attest", "type=provenance,mode=max"}, {"provenance", "false"}}).provenance);
  EXPECT_FALSE(parse_attest_flags({{"attest", "type=sbom"}, {"sbom", "false"}}).sbom);
  EXPECT_FALSE(parse_attest_flags({{"attest", "type=provenance,disabled=true"}}).any());
  auto b = parse_attest_flags({{"provenance", "mode=min,builder-id=https://ci/1,reproducible=true"}});
  EXPECT_EQ(b.builder_id, "https://ci/1");
  EXPECT_TRUE(b.reproducible);
}

TEST(AttestFlags, MistakesAreUsageErrorsNamingTheFlag) {
  auto usage = [](std::vector<std::pair<std::string, std::string>> f, const std::string& needle) {
    try {
      parse_attest_flags(f);
      ADD_FAILURE() << "accepted " << f[0].second;
    } catch (const xb::Error& e) {
      EXPECT_EQ(e.kind(), xb::ErrorKind::usage);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  usage({{"provenance", "mode=full"}}, "--provenance mode=full: mode=full: want min or max");
  usage({{"attest", "type=vex"}}, "--attest type=vex: want type=provenance or type=sbom");
  usage({{"attest", "mode=max"}}, "want type=provenance or type=sbom");
  usage({{"sbom", "generator=docker/buildkit-syft-scanner"}}, "generator= is not supported");
  usage({{"provenance", "mode=max,colour=red"}}, "unknown option \"colour\"");
  usage({{"provenance", "version=v1"}}, "SLSA provenance v0.2 only");
}

TEST(AttestIndex, AttestationManifestAsBuildKitAttachesIt) {
  xb::TempDir tmp("attest-test");
  xb::store::Store st(tmp.path() / "store");
  const std::string cfg =
      R"({"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}})";
  Digest cd = st.put_blob(cfg);
  xb::store::Manifest m{std::string(xb::store::media_type::oci_manifest),
                        {.media_type = std::string(xb::store::media_type::oci_config),
                         .digest = cd,
                         .size = static_cast<int64_t>(cfg.size())},
                        {},
                        {},
                        std::nullopt};
  std::string mj = m.to_json();
  xb::store::Descriptor md{.media_type = std::string(xb::store::media_type::oci_manifest),
                           .digest = st.put_blob(mj),
                           .size = static_cast<int64_t>(mj.size()),
                           .platform = Platform::parse("linux/amd64")};
  const std::string stmt = R"({"_type":"https://in-toto.io/Statement/v0.1"})";
  auto idx_desc = write_attested_index(st, {{md, {{std::string(kPredicateSpdx), stmt}}}});
  EXPECT_EQ(idx_desc.media_type, "application/vnd.oci.image.index.v1+json");
  auto idx = xb::store::Index::parse(st.read_blob(idx_desc.digest));
  ASSERT_EQ(idx.manifests.size(), 2u);
  EXPECT_EQ(idx.manifests[0].digest, md.digest);
  EXPECT_EQ(idx.manifests[0].platform->str(), "linux/amd64");
  const auto& a = idx.manifests[1];
  EXPECT_EQ(a.annotations.at("vnd.docker.reference.type"), "attestation-manifest");
  EXPECT_EQ(a.annotations.at("vnd.docker.reference.digest"), md.digest.str());
  EXPECT_EQ(a.platform->os, "unknown");
  EXPECT_EQ(a.platform->architecture, "unknown");
  auto am = xb::store::Manifest::parse(st.read_blob(a.digest));
  ASSERT_EQ(am.layers.size(), 1u);
  EXPECT_EQ(am.layers[0].media_type, "application/vnd.in-toto+json");
  EXPECT_EQ(am.layers[0].annotations.at("in-toto.io/predicate-type"), "https://spdx.dev/Document");
  EXPECT_EQ(st.read_blob(am.layers[0].digest), stmt);
  auto ac = json::parse(st.read_blob(am.config.digest));
  EXPECT_EQ(ac["os"], "unknown");
  EXPECT_EQ(ac["rootfs"]["diff_ids"][0], am.layers[0].digest.str());
  // The store resolves the index to the image for this host: run, inspect, save keep working.
  EXPECT_EQ(st.image(idx_desc).manifest_desc.digest, md.digest);
  // Images without statements get no attestation manifest.
  auto plain = xb::store::Index::parse(st.read_blob(write_attested_index(st, {{md, {}}}).digest));
  EXPECT_EQ(plain.manifests.size(), 1u);
}

}  // namespace

namespace {

// An image whose root holds package databases, one of them too big.
TEST(AttestImage, PackagesFromTheImageRootWithinLimits) {
  namespace fs = std::filesystem;
  xb::TempDir tmp("attest-image");
  const fs::path root = tmp.path() / "root";
  fs::create_directories(root / "etc");
  fs::create_directories(root / "var/lib/dpkg/status.d");
  fs::create_directories(root / "app/node_modules/ms");
  xb::write_file_atomic(root / "etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
  xb::write_file_atomic(root / "var/lib/dpkg/status", kDpkgStatus);
  xb::write_file_atomic(root / "var/lib/dpkg/status.d/big",
                        "Package: big\nVersion: 1\nDescription: " + std::string(4000, 'x') + "\n");
  xb::write_file_atomic(root / "app/node_modules/ms/package.json", R"({"name":"ms","version":"2.1.3"})");
  xb::write_file_atomic(root / "app/package.json", R"({"name":"app","version":"0.0.1"})");
  const fs::path tarball = tmp.path() / "root.tar";
  ASSERT_EQ(xb::testing::sh("tar --numeric-owner -C '" + root.string() + "' -cf '" + tarball.string() + "' .").code, 0);
  xb::store::Store st(tmp.path() / "store");
  auto d = import_rootfs(st, tarball, ImageRef::parse("pk:1"));

  std::vector<std::string> warnings;
  auto warn = [&](const std::string& w) { warnings.push_back(w); };
  auto pkgs = image_packages(st, d, 2000, 1 << 20, warn);
  std::vector<std::string> purls;
  purls.reserve(pkgs.size());
  for (const auto& p : pkgs) purls.push_back(p.purl);
  EXPECT_EQ(purls,
            (std::vector<std::string>{
                "pkg:deb/debian/curl@7.88.1-10+deb12u8?arch=amd64&distro=debian-12",
                "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12&upstream=glibc",
                "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib%401:1.2.13.dfsg-1",
                "pkg:npm/ms@2.1.3"}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("/var/lib/dpkg/status.d/big is larger than"), std::string::npos) << warnings[0];

  // A total budget: what passes it is left out, and said.
  warnings.clear();
  pkgs = image_packages(st, d, 1 << 20, 100, warn);
  EXPECT_LT(pkgs.size(), 4u);
  EXPECT_FALSE(warnings.empty());
  for (const auto& w : warnings) EXPECT_NE(w.find("pass 0 MiB"), std::string::npos) << w;
}

}  // namespace
