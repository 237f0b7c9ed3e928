// `xbuild parse FILE`: the Dockerfile's syntax tree in BuildKit's dump format,
// or with --json its stages of typed instructions, for tools and debugging.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/command.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/json.h"
#include "frontend/frontend.h"

namespace {

using nlohmann::json;
namespace fe = xb::frontend;

json command_line(const fe::CommandLine& c) { return {{"args", c.args}, {"shell_form", c.prepend_shell}}; }

json heredocs(const std::vector<fe::Heredoc>& hs) {
  json out = json::array();
  for (const auto& h : hs)
    out.push_back({{"name", h.name}, {"fd", h.fd}, {"expand", h.expand}, {"chomp", h.chomp}, {"content", h.content}});
  return out;
}

json key_values(const std::vector<fe::KeyValue>& kvs) {
  json out = json::array();
  for (const auto& kv : kvs) out.push_back({{"key", kv.key}, {"value", kv.value}});
  return out;
}

json contents(const std::vector<fe::SourceContent>& cs) {
  json out = json::array();
  for (const auto& c : cs) out.push_back({{"path", c.path}, {"data", c.data}, {"expand", c.expand}});
  return out;
}

const char* mount_type(fe::Mount::Type t) {
  switch (t) {
    case fe::Mount::Type::bind: return "bind";
    case fe::Mount::Type::cache: return "cache";
    case fe::Mount::Type::tmpfs: return "tmpfs";
    case fe::Mount::Type::secret: return "secret";
    case fe::Mount::Type::ssh: return "ssh";
  }
  return "?";
}

json instruction(const fe::Instruction& in) {
  json j = {{"instruction", std::string(fe::name_of(in.kind))},
            {"line", in.location.line},
            {"end_line", in.end_line},
            {"expands", fe::expands(in.kind)}};
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, fe::RunCmd>) {
          j["command"] = command_line(c.command);
          j["heredocs"] = heredocs(c.heredocs);
          json mounts = json::array();
          for (const auto& m : c.mounts)
            mounts.push_back({{"type", mount_type(m.type)},
                              {"target", m.target},
                              {"source", m.source},
                              {"from", m.from},
                              {"id", m.id},
                              {"readonly", m.read_only}});
          j["mounts"] = mounts;
          j["network"] = c.network;
          j["security"] = c.security;
        } else if constexpr (std::is_same_v<T, fe::CmdCmd> || std::is_same_v<T, fe::EntrypointCmd>) {
          j["command"] = command_line(c.command);
        } else if constexpr (std::is_same_v<T, fe::ShellCmd>) {
          j["shell"] = c.shell;
        } else if constexpr (std::is_same_v<T, fe::EnvCmd>) {
          j["env"] = key_values(c.env);
        } else if constexpr (std::is_same_v<T, fe::LabelCmd>) {
          j["labels"] = key_values(c.labels);
        } else if constexpr (std::is_same_v<T, fe::MaintainerCmd>) {
          j["maintainer"] = c.maintainer;
        } else if constexpr (std::is_same_v<T, fe::ExposeCmd>) {
          j["ports"] = c.ports;
        } else if constexpr (std::is_same_v<T, fe::UserCmd>) {
          j["user"] = c.user;
        } else if constexpr (std::is_same_v<T, fe::WorkdirCmd>) {
          j["path"] = c.path;
        } else if constexpr (std::is_same_v<T, fe::VolumeCmd>) {
          j["volumes"] = c.volumes;
        } else if constexpr (std::is_same_v<T, fe::StopSignalCmd>) {
          j["signal"] = c.signal;
        } else if constexpr (std::is_same_v<T, fe::ArgCmd>) {
          json args = json::array();
          for (const auto& a : c.args)
            args.push_back({{"key", a.key}, {"default", a.default_value ? json(*a.default_value) : json()}});
          j["args"] = args;
        } else if constexpr (std::is_same_v<T, fe::OnbuildCmd>) {
          j["expression"] = c.expression;
        } else if constexpr (std::is_same_v<T, fe::CopyCmd>) {
          j["sources"] = c.sources;
          j["source_contents"] = contents(c.source_contents);
          j["dest"] = c.dest;
          j["from"] = c.from;
          j["chown"] = c.chown;
          j["chmod"] = c.chmod;
          j["link"] = c.link;
          j["parents"] = c.parents;
          j["excludes"] = c.excludes;
        } else if constexpr (std::is_same_v<T, fe::AddCmd>) {
          j["sources"] = c.sources;
          j["source_contents"] = contents(c.source_contents);
          j["dest"] = c.dest;
          j["chown"] = c.chown;
          j["chmod"] = c.chmod;
          j["link"] = c.link;
          j["excludes"] = c.excludes;
          j["checksum"] = c.checksum;
          j["keep_git_dir"] = c.keep_git_dir;
        } else if constexpr (std::is_same_v<T, fe::HealthcheckCmd>) {
          j["test"] = c.test;
          j["interval_ns"] = c.interval_ns;
          j["timeout_ns"] = c.timeout_ns;
          j["start_period_ns"] = c.start_period_ns;
          j["start_interval_ns"] = c.start_interval_ns;
          j["retries"] = c.retries;
        }
      },
      in.command);
  return j;
}

int run_parse(const xb::cli::Globals&, const std::vector<std::string>& args) {
  std::vector<xb::cli::FlagSpec> specs = {{"json", 0, false, false, "print the typed stages as JSON"}};
  auto parsed = xb::cli::parse_args("parse", specs, args);
  if (parsed.has("help")) {
    std::printf("%s", xb::cli::format_help("xbuild parse [--json] FILE",
                                           "Print a Dockerfile's syntax tree in BuildKit's dump format.", specs)
                          .c_str());
    return 0;
  }
  if (parsed.positional().size() != 1)
    xb::fail(xb::ErrorKind::usage, "parse takes exactly one FILE (see xbuild parse --help)");
  const std::string& file = parsed.positional()[0];
  std::string text = xb::read_file(file);
  if (!parsed.has("json")) {
    std::string out = fe::dump_ast(fe::parse_ast(text, file));
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  fe::Dockerfile df = fe::parse_dockerfile(text, file);
  json j;
  j["escape"] = std::string(1, df.ast.escape);
  j["syntax"] = df.syntax;
  json meta = json::array();
  for (const auto& a : df.meta_args)
    meta.push_back({{"key", a.key}, {"default", a.default_value ? json(*a.default_value) : json()}});
  j["meta_args"] = meta;
  json stages = json::array();
  for (const auto& s : df.stages) {
    json st = {{"index", s.index},
               {"name", s.from.stage_name},
               {"base", s.from.base_name},
               {"platform", s.from.platform},
               {"line", s.location.line}};
    json ins = json::array();
    for (const auto& in : s.instructions) ins.push_back(instruction(in));
    st["instructions"] = ins;
    stages.push_back(st);
  }
  j["stages"] = stages;
  j["warnings"] = df.ast.warnings;
  std::printf("%s\n", xb::dump_json(j, 2).c_str());
  return 0;
}

}  // namespace

XBUILD_COMMAND("parse", "Print a Dockerfile's syntax tree (BuildKit's dump format, or --json)", run_parse);
