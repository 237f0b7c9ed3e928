// xbuild prune · du · fsck: the store's housekeeping (docs/dev/hardening.md).
#include <cstdio>
#include <iostream>

#include "cli/args.h"
#include "cli/store_cli.h"
#include "common/error.h"
#include "gc/gc.h"

namespace xb::cli {

namespace {

int run_prune(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {
      {"all", 'a', false, false, "also remove all build cache, unpacked layers and cache mounts"},
      {"dry-run", 0, false, false, "show what would be removed, remove nothing"},
      // docker's prune asks first and needs -f in scripts; xbuild never asks, so -f only keeps those scripts working.
      {"force", 'f', false, false, "do not ask for confirmation (xbuild never asks)"},
      {"keep-storage", 0, true, false, "SIZE  keep at most this much build cache (least recently used goes)"},
      {"verbose", 'v', false, false, "list every item removed"}};
  ParsedArgs a = parse_args("prune", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild prune [-f] [--all] [--dry-run] [--keep-storage SIZE]",
                             "Remove unreferenced blobs, snapshots and build cache, and what killed builds left "
                             "behind (temporary files, snapshots, cgroups, secret files, mounts).\n"
                             "Tagged images always stay.",
                             specs);
    return 0;
  }
  if (!a.positional().empty()) fail(ErrorKind::usage, "xbuild prune takes no arguments (see xbuild prune --help)");
  gc::PruneOptions o;
  o.all = a.has("all");
  o.dry_run = a.has("dry-run");
  if (auto k = a.value("keep-storage")) o.keep_storage = parse_size("--keep-storage", *k);
  o.on_wait = [] { std::fprintf(stderr, "waiting for running builds on this store to finish...\n"); };
  store::Store st(g.root);  // no lease: prune takes the store's lock exclusively
  gc::PruneReport r = gc::prune(st, o);
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_kind;
  for (const auto& i : r.items) {
    if (a.has("verbose") || o.dry_run)
      std::printf("%s%s\t%s\t%s\n", o.dry_run ? "would remove " : "removed ", i.kind.c_str(), i.name.c_str(),
                  human_size(double(i.size)).c_str());
    by_kind[i.kind].first++;
    by_kind[i.kind].second += i.size;
  }
  for (const auto& [k, v] : by_kind)
    std::printf("%s: %llu (%s)\n", k.c_str(), static_cast<unsigned long long>(v.first),
                human_size(double(v.second)).c_str());
  std::printf("%s: %s\n", o.dry_run ? "Would reclaim" : "Total reclaimed space",
              human_size(double(r.reclaimed())).c_str());
  return 0;
}

int run_du(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs;
  ParsedArgs a = parse_args("du", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild du", "Show the disk usage of the store, by kind.", specs);
    return 0;
  }
  if (!a.positional().empty()) fail(ErrorKind::usage, "xbuild du takes no arguments");
  store::Store st(g.root);
  auto rows = gc::disk_usage(st);
  std::printf("%-16s %8s %10s %12s\n", "TYPE", "COUNT", "SIZE", "RECLAIMABLE");
  uint64_t total = 0, reclaim = 0;
  for (const auto& r : rows) {
    std::printf("%-16s %8llu %10s %12s\n", r.kind.c_str(), static_cast<unsigned long long>(r.count),
                human_size(double(r.size)).c_str(), human_size(double(r.reclaimable)).c_str());
    if (r.kind != "images") total += r.size;  // images' blobs are counted under blobs
    reclaim += r.reclaimable;
  }
  std::printf("Total on disk: %s, reclaimable by xbuild prune: %s\n", human_size(double(total)).c_str(),
              human_size(double(reclaim)).c_str());
  return 0;
}

int run_fsck(const Globals& g, const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = {{"repair", 0, false, false, "remove corrupt blobs and dangling cache records"}};
  ParsedArgs a = parse_args("fsck", specs, args);
  if (a.has("help")) {
    std::cout << format_help("xbuild fsck [--repair]",
                             "Check the store: every blob against its digest, every image's manifests, configs "
                             "and layers, every cache record's snapshot and blobs, the snapshots' metadata.\n"
                             "Exit 1 when something is corrupt.",
                             specs);
    return 0;
  }
  if (!a.positional().empty()) fail(ErrorKind::usage, "xbuild fsck takes no arguments");
  store::Store st(g.root);
  gc::FsckReport r = gc::fsck(st, a.has("repair"));
  for (const auto& p : r.problems) std::printf("corrupt: %s\n", p.c_str());
  for (const auto& p : r.repaired) std::printf("repaired: %s\n", p.c_str());
  for (const auto& p : r.leftovers) std::printf("leftover: %s\n", p.c_str());
  std::printf("checked %llu blobs, %llu images, %llu cache records, %llu snapshots: %s\n",
              static_cast<unsigned long long>(r.blobs), static_cast<unsigned long long>(r.images),
              static_cast<unsigned long long>(r.records), static_cast<unsigned long long>(r.snapshots),
              r.problems.empty() ? "ok" : (std::to_string(r.problems.size()) + " problems").c_str());
  if (!r.leftovers.empty())
    std::printf("%zu leftovers of killed processes: xbuild prune removes them\n", r.leftovers.size());
  if (!r.problems.empty() && r.repaired.size() < r.problems.size()) {
    std::fprintf(stderr, "error: the store %s is corrupt: run xbuild fsck --repair, then pull or build again\n",
                 g.root.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

XBUILD_COMMAND("prune", "Remove unreferenced data and leftovers of killed builds", run_prune);
XBUILD_COMMAND("du", "Show the store's disk usage", run_du);
XBUILD_COMMAND("fsck", "Verify the store (blob digests, references)", run_fsck);

}  // namespace xb::cli
