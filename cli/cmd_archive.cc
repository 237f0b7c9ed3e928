// xbuild import · load · save: images in and out of tarballs.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/args.h"
#include "cli/store_cli.h"
#include "common/error.h"
#include "exporter/exporter.h"

namespace xb::cli {

namespace {

int run_import(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {
      {"platform", 0, true, false,
       "OS/ARCH[/VARIANT]  the image's platform; added to NAME's other platforms (NAME becomes an index)"}};
  ParsedArgs a = parse_args("import", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild import ROOTFS.tar|- NAME[:TAG]",
                             "Make a one-layer image from a root file system tarball (docker import).", specs);
    return 0;
  }
  if (a.positional().size() != 2) fail(ErrorKind::usage, "xbuild import needs ROOTFS.tar and NAME");
  store::ImageRef ref = store::ImageRef::parse(a.positional()[1]);
  store::Platform platform = a.value("platform") ? store::Platform::parse(*a.value("platform"))
                                                 : store::Platform::host();
  store::Store st = open_store(g);
  std::optional<store::Descriptor> before = a.value("platform") ? st.resolve(ref) : std::nullopt;
  store::Descriptor d = exporter::import_rootfs(st, a.positional()[0], ref, platform);
  std::printf("%s\n", st.image(d).id().str().c_str());
  if (!before) return 0;
  // With --platform, NAME keeps its images of the other platforms: an index
  // of them and this one (so that bases for every platform need no registry).
  std::vector<exporter::AttestedManifest> entries;
  auto keep = [&](store::Descriptor m, const store::Platform& p) {
    if (p.os == "unknown" || p.str() == platform.str()) return;  // attestations, and the platform replaced
    m.platform = p;
    m.annotations.clear();
    entries.push_back({m, {}});
  };
  if (store::is_index_media_type(before->media_type)) {
    for (const auto& m : store::Index::parse(st.read_blob(before->digest)).manifests)
      if (m.platform && store::is_manifest_media_type(m.media_type) && st.has_blob(m.digest)) keep(m, *m.platform);
  } else if (store::is_manifest_media_type(before->media_type)) {
    keep(*before, st.image(*before).config.platform());
  }
  if (entries.empty()) return 0;
  store::Descriptor mine = d;
  mine.platform = platform;
  entries.push_back({mine, {}});
  st.set_image(ref, exporter::write_attested_index(st, entries));
  return 0;
}

int run_load(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {{"input", 'i', true, false, "FILE  the archive (default: standard input)"},
                                 {"quiet", 'q', false, false, "print nothing"}};
  ParsedArgs a = parse_args("load", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild load [-i FILE]", "Load images from a docker or OCI archive.", specs);
    return 0;
  }
  if (!a.positional().empty()) fail(ErrorKind::usage, "xbuild load takes no arguments; use -i FILE");
  store::Store st = open_store(g);
  auto loaded = exporter::load_archive(st, a.value_or("input", "-"));
  if (!a.has("quiet")) {
    for (const auto& l : loaded) {
      if (l.ref) std::printf("Loaded image: %s\n", l.ref->familiar().c_str());
      else std::printf("Loaded image ID: %s\n", st.image(l.target).id().str().c_str());
    }
  }
  return 0;
}

int run_save(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {{"output", 'o', true, false, "FILE  where to write (default: standard output)"},
                                 {"format", 0, true, false, "docker|oci  the archive format (default docker)"}};
  ParsedArgs a = parse_args("save", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild save [-o FILE] [--format oci|docker] IMAGE",
                             "Write an image as a docker or OCI archive.", specs);
    return 0;
  }
  if (a.positional().size() != 1) fail(ErrorKind::usage, "xbuild save needs one IMAGE");
  auto format = exporter::parse_archive_format(a.value_or("format", "docker"));
  std::string out = a.value_or("output", "-");
  if (out == "-" && ::isatty(STDOUT_FILENO))
    fail(ErrorKind::usage, "xbuild save: refusing to write an archive to a terminal; use -o FILE");
  store::Store st = open_store(g);
  const std::string& name = a.positional()[0];
  store::Image img = st.image(name);
  std::vector<store::ImageRef> names;
  if (auto ref = store::ImageRef::try_parse(name); ref && st.resolve(*ref)) names.push_back(*ref);
  exporter::write_archive(st, img.target, names, format, out);
  return 0;
}

}  // namespace

}  // namespace xb::cli

XBUILD_COMMAND("import", "Make an image from a root file system tarball", xb::cli::run_import);
XBUILD_COMMAND("load", "Load images from a docker or OCI archive", xb::cli::run_load);
XBUILD_COMMAND("save", "Write an image as a docker or OCI archive", xb::cli::run_save);
