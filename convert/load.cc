// Loading a build's Dockerfile and .dockerignore, and BuildKit's build
// checks: on the result of dispatch (convert()) or alone (check()).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/fs.h"
#include "common/in_root.h"
#include "convert/convert.h"

namespace xb::convert {

namespace fs = std::filesystem;

namespace {

// A file of the build context (the Dockerfile, .dockerignore) read without
// leaving `scope`: a symlink may lead elsewhere inside it (as docker and
// BuildKit follow it), never out (absolute or "../..": EXDEV), so no host
// file is read or, through a parse error, shown. nullopt: no such file.
std::optional<std::string> read_beneath(const fs::path& scope, const fs::path& path, const std::string& what) {
  fs::path rel = fs::absolute(path).lexically_normal().lexically_relative(fs::absolute(scope).lexically_normal());
  UniqueFd dir = open_or_throw(scope, O_PATH | O_DIRECTORY);
  UniqueFd fd(open_in_root(dir.get(), rel.string(), O_RDONLY, InRoot::beneath));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == EXDEV)
      fail(ErrorKind::invalid_argument, what + " `" + path.string() + "` is a symlink that leads out of `" +
                                            scope.string() + "`: refused; put the file itself there");
    throw_errno("open " + what, path.string());
  }
  std::string text;
  read_chunks(fd.get(), path.string(), [&](std::string_view piece) { text.append(piece); });
  return text;
}

// The `# check=` directive, or the BUILDKIT_DOCKERFILE_CHECK build arg
// that replaces it (BuildKit's rule).
frontend::CheckConfig check_config(const frontend::Dockerfile& df, const DispatchOptions& options) {
  std::string directive;
  int directive_line = 1;
  for (const auto& d : df.ast.directives)
    if (d.name == "check") {
      directive = d.value;
      directive_line = d.line;
    }
  if (auto it = options.build_args.find("BUILDKIT_DOCKERFILE_CHECK"); it != options.build_args.end())
    directive = it->second;
  try {
    return frontend::parse_check_directive(directive);
  } catch (Error& e) {
    e.at(df.ast.location(directive_line));
    throw;
  }
}

// BuildKit's build checks: the frontend's rules plus what dispatch found
// (UndefinedVar), the skipped ones out, in line order.
std::vector<frontend::CheckFinding> collect_findings(const frontend::Dockerfile& df,
                                                     const frontend::CheckConfig& config,
                                                     const frontend::CheckContext& context,
                                                     std::vector<frontend::CheckFinding> from_dispatch) {
  auto findings = frontend::run_checks(df, config, context);
  if (!config.skip_all)
    for (auto& f : from_dispatch)
      if (!config.skip.count(f.rule)) findings.push_back(std::move(f));
  std::stable_sort(findings.begin(), findings.end(), [](const auto& a, const auto& b) { return a.line < b.line; });
  return findings;
}

// "lint violation found for rules: A, B" at the first finding's line.
[[noreturn]] void fail_checks(const frontend::Dockerfile& df, const std::vector<frontend::CheckFinding>& findings) {
  std::vector<std::string> rules;
  for (const auto& f : findings)
    if (std::find(rules.begin(), rules.end(), f.rule) == rules.end()) rules.push_back(f.rule);
  std::string list;
  for (const auto& r : rules) list += (list.empty() ? "" : ", ") + r;
  Error e(ErrorKind::invalid_argument, "lint violation found for rules: " + list +
                                           " (the Dockerfile's `# check=error=true` makes checks fail the build)");
  throw e.at(df.ast.location(findings.front().line));
}

// The stages a build of options.target reaches (BuildKit dispatches only
// those); empty when that cannot be told (dispatch then reports why).
std::set<int> reached_stages(const frontend::Dockerfile& df, const DispatchOptions& options) {
  frontend::Env meta;
  try {
    meta = frontend::resolve_meta_args(df, options.build_args,
                                       frontend::platform_args(options.platform, options.build_platform));
  } catch (const Error&) {
  }
  if (df.stages.empty()) return {};
  const frontend::Stage* t = options.target.empty() ? &df.stages.back() : df.find_stage(options.target);
  if (!t) return {};
  return frontend::stage_closure(df, t->index, meta);
}

}  // namespace

fileop::IgnorePredicate Source::ignored() const {
  if (!ignore || ignore->empty()) return {};
  return [ignore = ignore](std::string_view p, bool) { return ignore->matches(p); };
}

fileop::SkipDirPredicate Source::can_skip_dir() const {
  if (!ignore || ignore->empty()) return {};
  return [ignore = ignore](std::string_view d) { return ignore->can_skip_dir(d); };
}

Source load(const fs::path& context_dir, const fs::path& dockerfile_path, const std::string& display_name) {
  fs::path dockerfile = dockerfile_path.empty() ? context_dir / "Dockerfile" : dockerfile_path;
  std::string display = display_name.empty() ? dockerfile.string() : display_name;
  if (!fs::is_directory(context_dir))
    fail(ErrorKind::invalid_argument, "build context \"" + context_dir.string() + "\" is not a directory");
  // The Dockerfile is read inside the context when it is in the context, else
  // inside its own directory (buildx sends that directory alone).
  fs::path rel_to_ctx =
      fs::absolute(dockerfile).lexically_normal().lexically_relative(fs::absolute(context_dir).lexically_normal());
  bool in_context = !rel_to_ctx.empty() && *rel_to_ctx.begin() != "..";
  fs::path scope = in_context ? context_dir : fs::absolute(dockerfile).parent_path();
  std::optional<std::string> text = read_beneath(scope, dockerfile, "Dockerfile");
  if (!text)
    fail(ErrorKind::not_found,
         "read the Dockerfile: `" + dockerfile.string() + "` does not exist (name one with -f FILE)");
  Source out;
  out.dockerfile = frontend::parse_dockerfile(*text, display);
  out.text = std::move(*text);
  out.ignore = std::make_shared<frontend::DockerIgnore>(
      frontend::read_dockerignore(context_dir.string(), dockerfile.string(), [&](const std::string& p) {
        if (p == (context_dir / ".dockerignore").string()) return read_beneath(context_dir, p, ".dockerignore");
        return read_beneath(scope, p, "Dockerfile's .dockerignore");
      }));
  return out;
}

NamedContext local_context(const fs::path& dir, const std::string& value) {
  if (!fs::is_directory(dir))
    fail(ErrorKind::invalid_argument, "--build-context " + value + ": `" + dir.string() + "` is not a directory");
  NamedContext c;
  c.kind = NamedContext::Kind::local;
  c.value = value;
  c.dir = fs::absolute(dir);
  auto ignore = std::make_shared<frontend::DockerIgnore>(frontend::read_dockerignore(
      dir.string(), "", [&](const std::string& p) { return read_beneath(dir, p, ".dockerignore"); }));
  if (!ignore->empty()) {
    c.ignored = [ignore](std::string_view p, bool) { return ignore->matches(p); };
    c.can_skip_dir = [ignore](std::string_view d) { return ignore->can_skip_dir(d); };
  }
  return c;
}

Dispatched convert(const Source& source, const DispatchOptions& options, ImageResolver& images) {
  const frontend::Dockerfile& df = source.dockerfile;
  Dispatched d = dispatch(df, options, images);
  std::set<int> reached = reached_stages(df, options);
  frontend::CheckContext context;
  context.ignore = source.ignore.get();
  if (!reached.empty()) context.stages = &reached;
  frontend::CheckConfig config = check_config(df, options);
  d.findings = collect_findings(df, config, context, std::move(d.findings));
  if (d.findings.empty()) return d;
  if (options.progress) {
    for (const auto& f : d.findings) {
      solver::ProgressEvent ev;
      ev.kind = solver::ProgressEvent::Kind::info;
      ev.text = "WARN: " + f.rule + ": " + f.message + " (" + df.ast.file + ":" + std::to_string(f.line) + ")";
      options.progress->event(ev);
    }
  }
  if (config.error) fail_checks(df, d.findings);
  return d;
}

Checked check(const Source& source, const DispatchOptions& options, ImageResolver& images) {
  const frontend::Dockerfile& df = source.dockerfile;
  // Every stage, as BuildKit's lint subrequest; a finding seen in several
  // stages' dispatch (a meta ARG's, a shared parent's) counts once.
  std::vector<frontend::CheckFinding> found;
  for (const auto& stage : df.stages) {
    DispatchOptions one = options;
    one.target = std::to_string(stage.index);
    one.progress = nullptr;
    for (auto& f : dispatch(df, one, images).findings) {
      bool dup = std::any_of(found.begin(), found.end(), [&](const auto& g) {
        return g.line == f.line && g.rule == f.rule && g.message == f.message;
      });
      if (!dup) found.push_back(std::move(f));
    }
  }
  frontend::CheckConfig config = check_config(df, options);
  frontend::CheckContext context;
  context.ignore = source.ignore.get();
  Checked out;
  out.findings = collect_findings(df, config, context, std::move(found));
  out.error = config.error && !out.findings.empty();
  return out;
}

}  // namespace xb::convert
