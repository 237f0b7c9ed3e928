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
#include "common/gotemplate.h"
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
  auto plural = [](long n, const char* unit) { return std::to_string(n) + " " + unit + (n == 1 ? "" : "s") + " ago"; };
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

// The platforms of an index ("linux/amd64", …; attestation manifests left
// out), or of a lone image its own; empty when unreadable.
std::vector<std::string> platforms_of(const store::Store& st, const store::Descriptor& target) {
  std::vector<std::string> out;
  try {
    if (store::is_index_media_type(target.media_type)) {
      for (const auto& m : store::Index::parse(st.read_blob(target.digest)).manifests)
        if (m.platform && m.platform->os != "unknown") out.push_back(m.platform->str());
    } else {
      out.push_back(st.image(target).config.platform().str());
    }
  } catch (const Error&) {
  }
  return out;
}

// The image users see for a tag: the host's platform of an index, else its first.
store::Image shown_image(const store::Store& st, const store::Descriptor& target) {
  try {
    return st.image(target);
  } catch (const Error& e) {
    auto ps = platforms_of(st, target);
    if (e.kind() != ErrorKind::not_found || ps.empty()) throw;
    return st.image(target, Platform::parse(ps.front()));
  }
}

// Go's time.Time.String() for docker's CreatedAt: "2023-11-14 22:13:20 +0000 UTC".
std::string go_time(const std::string& rfc3339) {
  std::tm tm{};
  if (rfc3339.empty() || !strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return "";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
  return buf;
}

// docker's --format: "json" (one object per line), "table TEMPLATE" (a
// header from `headers`, columns aligned as text/tabwriter with padding 3),
// or a Go template per row. Empty: nullopt (the command's own table).
void print_formatted(std::string format, const std::vector<json>& rows, const json& headers) {
  // As docker's formatter: a typed "\t" is a tab (for table columns).
  for (size_t p; (p = format.find("\\t")) != std::string::npos;) format.replace(p, 2, "\t");
  if (format == "json") {
    for (const auto& r : rows) std::cout << r.dump() << "\n";
    return;
  }
  bool table = format.rfind("table", 0) == 0 &&
               (format.size() == 5 || std::isspace(static_cast<unsigned char>(format[5])));
  GoTemplate tpl = GoTemplate::parse(table ? format.substr(std::min<size_t>(6, format.size())) : format);
  if (!table) {
    for (const auto& r : rows) std::cout << tpl.render(r) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> lines;
  auto add = [&](const std::string& text) {
    std::vector<std::string> cells;
    size_t start = 0;
    for (size_t p; (p = text.find('\t', start)) != std::string::npos; start = p + 1)
      cells.push_back(text.substr(start, p - start));
    cells.push_back(text.substr(start));
    lines.push_back(cells);
  };
  add(tpl.render(headers));
  for (const auto& r : rows) add(tpl.render(r));
  std::vector<size_t> width;
  for (const auto& l : lines)
    for (size_t i = 0; i + 1 < l.size(); ++i) {
      if (width.size() <= i) width.resize(i + 1, 0);
      width[i] = std::max(width[i], std::max<size_t>(10, l[i].size() + 3));
    }
  for (const auto& l : lines) {
    std::string out;
    for (size_t i = 0; i < l.size(); ++i) {
      out += l[i];
      if (i + 1 < l.size()) out += std::string(width[i] - l[i].size(), ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << "\n";
  }
}

int run_images(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {
      {"quiet", 'q', false, false, "only show image IDs"},
      {"digests", 0, false, false, "show manifest digests"},
      {"no-trunc", 0, false, false, "show full image IDs"},
      {"format", 0, true, false, "FORMAT  json, a Go template ({{.Repository}}:{{.Tag}} {{.ID}}) or table TEMPLATE"}};
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
    std::string platforms;  // "linux/amd64,linux/arm64"
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
      store::Image img = shown_image(st, e.target);
      r.id = a.has("no-trunc") ? img.id().str() : img.id().short_hex();
      r.created = img.config.created;
      int64_t size = img.manifest.config.size;
      for (const auto& l : img.manifest.layers) size += l.size;
      r.size = human_size(static_cast<double>(size));
    } catch (const Error&) {
      r.id = "<missing>";  // a tag whose blobs are gone: show it so that it can be removed
      r.size = "N/A";
    }
    r.created_text = human_ago(r.created);
    for (const auto& p : platforms_of(st, e.target)) r.platforms += (r.platforms.empty() ? "" : ",") + p;
    rows.push_back(r);
  }
  // Newest first, like docker.
  std::stable_sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.created > y.created; });
  if (auto f = a.value("format"); f && !a.has("quiet")) {
    // The fields of docker's image rows (docker images --format json).
    std::vector<json> objs;
    objs.reserve(rows.size());
    for (const auto& r : rows)
      objs.push_back(json{{"Containers", "N/A"},
                          {"CreatedAt", go_time(r.created)},
                          {"CreatedSince", r.created_text},
                          {"Digest", r.digest},
                          {"ID", r.id},
                          {"Platforms", r.platforms},
                          {"Repository", r.repo},
                          {"SharedSize", "N/A"},
                          {"Size", r.size},
                          {"Tag", r.tag},
                          {"UniqueSize", "N/A"},
                          {"VirtualSize", r.size}});
    json headers{{"Containers", "CONTAINERS"},
                 {"CreatedAt", "CREATED AT"},
                 {"CreatedSince", "CREATED"},
                 {"Digest", "DIGEST"},
                 {"ID", "IMAGE ID"},
                 {"Platforms", "PLATFORMS"},
                 {"Repository", "REPOSITORY"},
                 {"SharedSize", "SHARED SIZE"},
                 {"Size", "SIZE"},
                 {"Tag", "TAG"},
                 {"UniqueSize", "UNIQUE SIZE"},
                 {"VirtualSize", "VIRTUAL SIZE"}};
    print_formatted(*f, objs, headers);
    return 0;
  }
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
  std::vector<FlagSpec> specs = {
      {"platform", 0, true, false, "OS/ARCH  the platform of a multi-platform image"},
      {"format", 'f', true, false, "FORMAT  json or a Go template ({{.Id}}, {{json .Config}})"}};
  ParsedArgs a = parse_args("inspect", specs, args);
  std::optional<GoTemplate> tpl;
  if (auto f = a.value("format"); f && *f != "json") tpl = GoTemplate::parse(*f);  // mistakes before any work
  if (a.has("help")) {
    std::cout << format_help("xbuild inspect IMAGE...", "Show an image's config, manifest and layers as JSON.", specs);
    return 0;
  }
  if (a.positional().empty()) fail(ErrorKind::usage, "xbuild inspect needs an IMAGE (see xbuild inspect --help)");
  store::Store st = open_store(g);
  store::Platform platform = a.value("platform") ? store::Platform::parse(*a.value("platform"))
                                                 : store::Platform::host();
  json out = json::array();
  for (const auto& name : a.positional()) {
    // Without --platform, an index without the host's platform shows its first.
    store::Image img = a.value("platform") ? st.image(name, platform) : [&] {
      try {
        return st.image(name, platform);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::not_found) throw;
        auto ref = store::ImageRef::try_parse(name);
        auto target = ref ? st.resolve(*ref) : std::nullopt;
        if (!target) throw;
        return shown_image(st, *target);
      }
    }();
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
        {"Platforms", platforms_of(st, img.target)},
        {"Layers", layers},
    });
  }
  if (tpl) {
    // docker's Config is a Go struct: {{.Config.User}} is "" when unset,
    // not a missing field. The fields docker shows, where the image has none.
    static const json kDockerConfig = json::parse(R"({"Hostname":"","Domainname":"","User":"","AttachStdin":false,
      "AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,
      "Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null})");
    for (auto o : out) {
      for (const auto& [k, v] : kDockerConfig.items())
        if (!o["Config"].contains(k)) o["Config"][k] = v;
      std::cout << tpl->render(o) << "\n";
    }
    return 0;
  }
  std::cout << dump_json(out, 4) << "\n";
  return 0;
}

// docker history: the image's history entries, newest first, with the
// layer each non-empty entry made.
int run_history(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {
      {"no-trunc", 0, false, false, "do not truncate IDs and commands"},
      {"quiet", 'q', false, false, "only show image IDs"},
      {"human", 'H', true, false, "BOOL  sizes and dates in human-readable form (default true)"},
      {"format", 0, true, false, "FORMAT  json, a Go template ({{.CreatedBy}} {{.Size}}) or table TEMPLATE"}};
  ParsedArgs a = parse_args("history", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild history [OPTIONS] IMAGE", "Show the history of an image.", specs);
    return 0;
  }
  if (a.positional().size() != 1) fail(ErrorKind::usage, "xbuild history needs exactly one IMAGE");
  std::string human_flag = a.value_or("human", "true");
  if (human_flag != "true" && human_flag != "false")
    fail(ErrorKind::usage, "xbuild history: --human " + human_flag + ": want true or false");
  bool human = human_flag == "true";
  bool no_trunc = a.has("no-trunc");
  std::optional<GoTemplate> check;
  if (auto f = a.value("format"); f && *f != "json" && f->rfind("table", 0) != 0) check = GoTemplate::parse(*f);
  store::Store st = open_store(g);
  store::Image img = st.image(a.positional()[0]);
  std::vector<json> rows;
  size_t layer = 0;
  const auto& hist = img.config.history;
  std::vector<json> oldest_first;
  for (size_t i = 0; i < hist.size(); ++i) {
    const auto& h = hist[i];
    int64_t size = 0;
    if (!h.empty_layer && layer < img.manifest.layers.size()) size = img.manifest.layers[layer++].size;
    std::string created_by = h.created_by;
    if (!no_trunc && created_by.size() > 45) created_by = created_by.substr(0, 44) + "…";
    oldest_first.push_back(json{{"Comment", h.comment},
                                {"CreatedAt", human ? go_time(h.created) : h.created},
                                {"CreatedBy", created_by},
                                {"CreatedSince", human ? human_ago(h.created) : h.created},
                                {"ID", "<missing>"},
                                {"Size", human ? human_size(static_cast<double>(size)) : std::to_string(size)}});
  }
  rows.assign(oldest_first.rbegin(), oldest_first.rend());
  // As docker for an image it did not build step by step: only the top
  // entry is an image (this one); the others have no ID of their own.
  if (!rows.empty()) rows.front()["ID"] = no_trunc ? img.id().str() : img.id().short_hex();
  if (a.has("quiet")) {
    for (const auto& r : rows) std::cout << r["ID"].get<std::string>() << "\n";
    return 0;
  }
  std::string format = a.value_or("format",
                                  "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}");
  json headers{{"Comment", "COMMENT"},
               {"CreatedAt", "CREATED AT"},
               {"CreatedBy", "CREATED BY"},
               {"CreatedSince", "CREATED"},
               {"ID", "IMAGE"},
               {"Size", "SIZE"}};
  print_formatted(format, rows, headers);
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
XBUILD_COMMAND("history", "Show the history of an image", xb::cli::run_history);
XBUILD_COMMAND("rmi", "Remove images from the local store", xb::cli::run_rmi);
