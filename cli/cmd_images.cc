// xbuild images · inspect · tag · rmi: the local store's image references.
#include <cstdio>
#include <ctime>
#include <iostream>
#include <algorithm>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/store_cli.h"
#include "common/error.h"
#include "common/json.h"

namespace xb::cli {

using nlohmann::json;

std::string human_size(double bytes) {
  static const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  int i = 0;
  while (bytes >= 1000.0 && i < 5) {
    bytes /= 1000.0;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%s", bytes, units[i]);
  return buf;
}

std::string human_ago(const std::string& created) {
  std::tm tm{};
  if (created.empty() || !strptime(created.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return "N/A";
  double secs = std::difftime(std::time(nullptr), timegm(&tm));
  auto plural = [](long n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago";
  };
  if (secs < 1) return "Less than a second ago";
  if (secs < 60) return plural(static_cast<long>(secs), "second");
  double mins = secs / 60, hours = mins / 60, days = hours / 24;
  if (mins < 60) return mins < 2 ? "About a minute ago" : plural(static_cast<long>(mins), "minute");
  if (hours < 48) return hours < 2 ? "About an hour ago" : plural(static_cast<long>(hours), "hour");
  if (days < 14) return plural(static_cast<long>(days), "day");
  if (days < 60) return plural(static_cast<long>(days / 7), "week");
  if (days < 365 * 2) return plural(static_cast<long>(days / 30), "month");
  return plural(static_cast<long>(days / 365), "year");
}

namespace {

int run_images(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {{"quiet", 'q', false, false, "only show image IDs"},
                                 {"digests", 0, false, false, "show manifest digests"}};
  ParsedArgs a = parse_args("images", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild images [-q] [REPOSITORY[:TAG]]", "List images in the local store.", specs);
    return 0;
  }
  if (a.positional().size() > 1) fail(ErrorKind::usage, "xbuild images takes at most one REPOSITORY[:TAG]");
  store::Store st = open_store(g);
  std::optional<store::ImageRef> filter;
  if (!a.positional().empty()) filter = store::ImageRef::parse_repository(a.positional()[0]);
  struct Row {
    std::string repo, tag, digest, id, created_text, size;
    std::string created;
  };
  std::vector<Row> rows;
  for (const auto& e : st.list_images()) {
    if (filter && (filter->repository() != e.ref.repository() || (filter->tag() && filter->tag() != e.ref.tag())))
      continue;
    Row r;
    r.repo = e.ref.familiar_repository();
    r.tag = e.ref.tag().value_or("<none>");
    r.digest = e.ref.digest() ? e.ref.digest()->str() : e.target.digest.str();
    try {
      store::Image img = st.image(e.target);
      r.id = img.id().short_hex();
      r.created = img.config.created;
      int64_t size = img.manifest.config.size;
      for (const auto& l : img.manifest.layers) size += l.size;
      r.size = human_size(static_cast<double>(size));
    } catch (const Error&) {
      r.id = "<missing>";  // a tag whose blobs are gone: show it so that it can be removed
      r.size = "N/A";
    }
    r.created_text = human_ago(r.created);
    rows.push_back(r);
  }
  // Newest first, like docker.
  std::stable_sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.created > y.created; });
  if (a.has("quiet")) {
    std::set<std::string> seen;
    for (const auto& r : rows)
      if (seen.insert(r.id).second) std::printf("%s\n", r.id.c_str());
    return 0;
  }
  size_t wr = 10, wt = 3, wc = 7;
  for (const auto& r : rows) {
    wr = std::max(wr, r.repo.size());
    wt = std::max(wt, r.tag.size());
    wc = std::max(wc, r.created_text.size());
  }
  bool digests = a.has("digests");
  auto line = [&](const std::string& repo, const std::string& tag, const std::string& dg, const std::string& id,
                  const std::string& created, const std::string& size) {
    std::printf("%-*s   %-*s   ", static_cast<int>(wr), repo.c_str(), static_cast<int>(wt), tag.c_str());
    if (digests) std::printf("%-71s   ", dg.c_str());
    std::printf("%-12s   %-*s   %s\n", id.c_str(), static_cast<int>(wc), created.c_str(), size.c_str());
  };
  line("REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE");
  for (const auto& r : rows) line(r.repo, r.tag, r.digest, r.id, r.created_text, r.size);
  return 0;
}

int run_inspect(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {{"platform", 0, true, false, "OS/ARCH  the platform of a multi-platform image"}};
  ParsedArgs a = parse_args("inspect", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild inspect IMAGE...", "Show an image's config, manifest and layers as JSON.",
                             specs);
    return 0;
  }
  if (a.positional().empty()) fail(ErrorKind::usage, "xbuild inspect needs an IMAGE (see xbuild inspect --help)");
  store::Store st = open_store(g);
  store::Platform platform =
      a.value("platform") ? store::Platform::parse(*a.value("platform")) : store::Platform::host();
  json out = json::array();
  for (const auto& name : a.positional()) {
    store::Image img = st.image(name, platform);
    json tags = json::array(), digests = json::array();
    for (const auto& e : st.list_images()) {
      if (e.target.digest != img.target.digest) continue;
      if (e.ref.tag()) tags.push_back(e.ref.familiar());
      digests.push_back(e.ref.familiar_repository() + "@" + img.manifest_desc.digest.str());
    }
    json config = json::parse(img.config.to_json());
    int64_t size = 0;
    json layers = json::array();
    for (const auto& l : img.manifest.layers) {
      size += l.size;
      layers.push_back(l.to_json());
    }
    json diff_ids = json::array();
    for (const auto& d : img.config.diff_ids) diff_ids.push_back(d.str());
    out.push_back(json{
        {"Id", img.id().str()},
        {"RepoTags", tags},
        {"RepoDigests", digests},
        {"Created", img.config.created},
        {"Author", img.config.author},
        {"Architecture", img.config.architecture},
        {"Os", img.config.os},
        {"Variant", img.config.variant},
        {"Config", config.value("config", json::object())},
        {"RootFS", {{"Type", "layers"}, {"Layers", diff_ids}}},
        {"History", config.value("history", json::array())},
        {"Size", size},
        {"Descriptor", img.target.to_json()},
        {"Manifest", json::parse(st.read_blob(img.manifest_desc.digest))},
        {"ManifestDigest", img.manifest_desc.digest.str()},
        {"Layers", layers},
    });
  }
  std::cout << dump_json(out, 4) << "\n";
  return 0;
}

int run_tag(const Globals& g, const std::vector<std::string>& args) {
  ParsedArgs a = parse_args("tag", {}, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild tag SOURCE TARGET", "Give an image in the store another name.", {});
    return 0;
  }
  if (a.positional().size() != 2) fail(ErrorKind::usage, "xbuild tag needs SOURCE and TARGET");
  store::Store st = open_store(g);
  store::ImageRef dst = store::ImageRef::parse(a.positional()[1]);
  if (dst.digest()) fail(ErrorKind::usage, "xbuild tag: TARGET must be a tag, not a digest: " + a.positional()[1]);
  store::Image img = st.image(a.positional()[0]);
  st.set_image(dst, img.target);
  return 0;
}

int run_rmi(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {{"force", 'f', false, false, "remove every tag of an image given by ID"}};
  ParsedArgs a = parse_args("rmi", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild rmi [-f] IMAGE...", "Remove image references from the store.", specs);
    return 0;
  }
  if (a.positional().empty()) fail(ErrorKind::usage, "xbuild rmi needs an IMAGE");
  store::Store st = open_store(g);
  for (const auto& name : a.positional()) {
    if (auto ref = store::ImageRef::try_parse(name); ref && st.remove_image(*ref)) {
      std::printf("Untagged: %s\n", ref->familiar().c_str());
      continue;
    }
    store::Image img = st.image(name);  // by ID (throws not_found naming it)
    std::vector<store::ImageRef> refs;
    for (const auto& e : st.list_images())
      if (e.target.digest == img.target.digest) refs.push_back(e.ref);
    if (refs.size() > 1 && !a.has("force"))
      fail(ErrorKind::failed_precondition, "image " + name + " has " + std::to_string(refs.size()) +
                                               " names; remove them by name or use xbuild rmi -f");
    for (const auto& r : refs) {
      st.remove_image(r);
      std::printf("Untagged: %s\n", r.familiar().c_str());
    }
    std::printf("Deleted: %s\n", img.id().str().c_str());
  }
  return 0;
}

}  // namespace

}  // namespace xb::cli

XBUILD_COMMAND("images", "List images in the local store", xb::cli::run_images);
XBUILD_COMMAND("inspect", "Show an image's config, manifest and layers", xb::cli::run_inspect);
XBUILD_COMMAND("tag", "Give an image another name", xb::cli::run_tag);
XBUILD_COMMAND("rmi", "Remove images from the local store", xb::cli::run_rmi);
