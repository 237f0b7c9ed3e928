#include "solver/ops.h"

#include <nlohmann/json.hpp>

#include "common/json.h"
#include "snapshotter/snapshotter.h"

namespace xb::solver {

namespace {

nlohmann::json input_json(const InputRef& in) {
  switch (in.kind) {
    case InputRef::Kind::context: return "context";
    case InputRef::Kind::vertex: return in.dep;
    case InputRef::Kind::none: return nullptr;
  }
  return nullptr;
}

std::string_view mount_type(MountSpec::Type t) {
  switch (t) {
    case MountSpec::Type::bind: return "bind";
    case MountSpec::Type::cache: return "cache";
    case MountSpec::Type::tmpfs: return "tmpfs";
    case MountSpec::Type::secret: return "secret";
    case MountSpec::Type::ssh: return "ssh";
  }
  return "?";
}

template <typename T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

SourceVertex::SourceVertex(store::Image img, store::ImageRef r) : image(std::move(img)), ref(std::move(r)) {
  kind = Kind::source;
  // What a later step's "base image changed" names: the reference and what it resolved to.
  inputs.add("image", image.target.digest.str(), ref.familiar() + "@" + image.target.digest.str());
}

// The file system an image yields is its layers' chain ID, not its manifest
// digest: the same layers under another config (an import at another time,
// gzip instead of plain tar) give the same key on every machine. What the
// config means for later steps (env, user, workdir) is in their own keys.
std::string SourceVertex::describe() const {
  auto chain = snapshotter::ChainId::of(image.config.diff_ids);
  return "image layers " + (chain ? chain->str() : std::string("none"));
}

std::optional<FsState> SourceVertex::source_state() {
  FsState s;
  const auto& layers = image.manifest.layers;
  const auto& diff_ids = image.config.diff_ids;
  if (layers.size() != diff_ids.size())
    fail(ErrorKind::invalid_argument, "image " + ref.str() + ": manifest has " + std::to_string(layers.size()) +
                                          " layers but config has " + std::to_string(diff_ids.size()) + " diff IDs");
  for (size_t i = 0; i < layers.size(); ++i)
    s.layers.push_back(
        Layer{diff_ids[i], layers[i].digest, static_cast<uint64_t>(layers[i].size), layers[i].media_type});
  return s;
}

std::string ExecVertex::describe() const {
  nlohmann::json j;
  j["args"] = args;
  j["env"] = env;
  j["cwd"] = cwd;
  j["user"] = user;
  j["network"] = network;
  j["insecure"] = insecure;
  if (hostname != kDefaultHostname) j["hostname"] = hostname;  // keys of default builds unchanged
  if (!platform.empty()) j["platform"] = platform;
  auto& ms = j["mounts"] = nlohmann::json::array();
  for (const auto& m : mounts) {
    // Secrets enter the key by id only, never by value.
    ms.push_back({{"type", mount_type(m.spec.type)},
                  {"target", m.spec.target},
                  {"source", m.spec.source},
                  {"input", input_json(m.input)},
                  {"ro", m.spec.read_only},
                  {"id", m.spec.id},
                  {"sharing", static_cast<int>(m.spec.sharing)},
                  {"size", opt(m.spec.size_bytes)},
                  {"mode", opt(m.spec.mode)},
                  {"uid", opt(m.spec.uid)},
                  {"gid", opt(m.spec.gid)},
                  {"required", m.spec.required},
                  {"env", m.spec.env}});
  }
  // Only when given: keys of builds without these flags stay as they were.
  if (!extra_hosts.empty()) {
    auto& hj = j["extra_hosts"] = nlohmann::json::array();
    for (const auto& h : extra_hosts) hj.push_back({h.host, h.ip});
  }
  if (!ulimits.empty()) {
    auto& uj = j["ulimits"] = nlohmann::json::array();
    for (const auto& u : ulimits) uj.push_back({u.name, u.soft, u.hard});
  }
  if (shm_bytes) j["shm_size"] = *shm_bytes;
  // Only when there are some: keys of steps without inline files stay as they were.
  if (!files.empty()) {
    auto& fj = j["files"] = nlohmann::json::array();
    for (const auto& f : files)
      fj.push_back({{"path", f.path}, {"content", Digest::of(f.content).str()}, {"mode", f.mode}});
  }
  return dump_exact(j);
}

std::string ExecVertex::content_key() {
  std::string out;
  for (const auto& m : mounts) {
    if (m.spec.type != MountSpec::Type::bind || m.input.kind != InputRef::Kind::context) continue;
    fileop::ContextSelection sel;
    sel.patterns = {m.spec.source.empty() ? "." : m.spec.source};
    out += context->key(sel) + "\n";
  }
  return out;
}

void ExecVertex::describe_inputs(cache::StepInputs& in) {
  for (const auto& m : mounts) {
    if (m.spec.type != MountSpec::Type::bind || m.input.kind != InputRef::Kind::context) continue;
    fileop::ContextSelection sel;
    sel.patterns = {m.spec.source.empty() ? "." : m.spec.source};
    in.add("context:" + m.spec.target, context->key(sel));
  }
}

std::string FileVertex::describe() const {
  nlohmann::json j;
  if (action == Action::mkdir) {
    j["mkdir"] = path;
    j["user"] = mkdir_user;
    return dump_exact(j);
  }
  auto& srcs = j["sources"] = nlohmann::json::array();
  for (size_t i = 0; i < sources.size(); ++i) {
    const auto& s = sources[i];
    srcs.push_back({{"kind", static_cast<int>(s.kind)},
                    {"pattern", s.pattern},
                    {"content", s.content},
                    {"input", input_json(source_inputs[i])}});
  }
  j["dest"] = options.dest;
  j["workdir"] = options.workdir;
  j["chown"] = options.chown;
  // Octal as a number (the keys of earlier builds stay valid), symbolic as written.
  j["chmod"] = !options.chmod         ? nlohmann::json(nullptr)
               : options.chmod->octal ? nlohmann::json(*options.chmod->octal)
                                      : nlohmann::json(options.chmod->symbolic);
  if (options.unpack) j["unpack"] = *options.unpack;
  j["excludes"] = options.excludes;
  j["parents"] = options.parents;
  j["add"] = options.add;
  j["checksum"] = options.checksum ? options.checksum->str() : "";
  return dump_exact(j);
}

SourceLocation FileVertex::source_location(const Error& e) const {
  SourceLocation loc = location;
  if (loc.line <= 0) return loc;
  loc.column = 1;
  for (const auto& s : sources) {
    if (s.pattern.empty() || e.message().find(s.pattern) == std::string::npos) continue;
    // The source as a word of the line (after a blank), when written as expanded.
    for (size_t at = loc.line_text.find(s.pattern); at != std::string::npos;
         at = loc.line_text.find(s.pattern, at + 1)) {
      if (at > 0 && (loc.line_text[at - 1] == ' ' || loc.line_text[at - 1] == '\t')) {
        loc.column = static_cast<int>(at) + 1;
        return loc;
      }
    }
  }
  return loc;
}

std::string FileVertex::content_key() {
  // A URL enters by what it holds now (BuildKit's http source key: content
  // digest and Last-Modified), unless --checksum already names the content.
  std::string urls_key;
  url_contents.assign(sources.size(), std::nullopt);
  if (!options.checksum) {
    for (size_t i = 0; i < sources.size(); ++i) {
      if (sources[i].kind != fileop::CopySource::Kind::url) continue;
      fileop::UrlContent c;
      try {
        if (urls) {
          c = urls->resolve(sources[i].pattern);
        } else {
          std::shared_ptr<fileop::Download> d = fileop::download_url(sources[i].pattern);
          c = fileop::UrlContent{d->digest, d->mtime, d};
        }
      } catch (Error& e) {
        e.at(source_location(e));
        throw;
      }
      urls_key += "url " + std::to_string(i) + " " + c.digest.str() + " " + std::to_string(c.mtime) + "\n";
      url_contents[i] = std::move(c);
    }
  }
  fileop::ContextSelection sel;
  for (size_t i = 0; i < sources.size(); ++i)
    if (sources[i].kind == fileop::CopySource::Kind::path && source_inputs[i].kind == InputRef::Kind::context)
      sel.patterns.push_back(sources[i].pattern);
  if (sel.patterns.empty() || !context) return urls_key;
  sel.excludes = options.excludes;
  sel.parents = options.parents;
  try {
    return urls_key + context->key(sel);
  } catch (Error& e) {
    e.at(source_location(e));  // "COPY missing /x": the line, a caret under "missing"
    throw;
  }
}

std::string LocalSourceVertex::describe() const { return "local directory"; }

std::string LocalSourceVertex::content_key() {
  // The whole directory's content (path, type, mode, size, bytes of each
  // file): the key of a copy of `.`.
  if (!keys_)
    keys_ = std::make_unique<ContextKeys>(
        std::make_unique<fileop::ContextHasher>(dir, ignored, can_skip_dir, stat_cache_file));
  fileop::ContextSelection sel;
  sel.patterns = {"."};
  try {
    return keys_->key(sel);
  } catch (Error& e) {
    e.at(location);
    throw;
  }
}

std::string GitSourceVertex::describe() const {
  nlohmann::json j;
  j["git"] = "checkout";
  j["subdir"] = ref.subdir;
  j["keep_git_dir"] = keep_git_dir;
  // .git names its remote: with it, the URL is part of the content.
  if (keep_git_dir) j["remote"] = ref.str();
  return dump_exact(j);
}

std::string GitSourceVertex::content_key() {
  if (commit.empty()) {
    checkout_ = std::make_unique<TempDir>("xbuild-git");
    dir = checkout_->path() / "tree";
    try {
      commit = fileop::git_checkout(ref, dir, keep_git_dir);
    } catch (Error& e) {
      e.at(location);
      throw;
    }
  }
  return "commit " + commit;
}

void FileVertex::describe_inputs(cache::StepInputs& in) {
  if (action != Action::copy) return;
  for (size_t i = 0; i < sources.size() && i < url_contents.size(); ++i)
    if (url_contents[i]) in.add("url:" + sources[i].pattern, url_contents[i]->digest.str());
  fileop::ContextSelection sel;
  std::string shown;
  for (size_t i = 0; i < sources.size(); ++i)
    if (sources[i].kind == fileop::CopySource::Kind::path && source_inputs[i].kind == InputRef::Kind::context) {
      sel.patterns.push_back(sources[i].pattern);
      shown += (shown.empty() ? "" : " ") + sources[i].pattern;
    }
  if (sel.patterns.empty() || !context) return;
  sel.excludes = options.excludes;
  sel.parents = options.parents;
  std::vector<fileop::ContextHasher::Listed> listed;
  std::string key = context->key(sel, listed);
  std::vector<cache::StepInputs::File> files;
  files.reserve(listed.size());
  for (auto& l : listed) files.push_back({std::move(l.path), l.mode, std::move(l.content), 0});
  cache::StepInputs::set_files(in.add("files", key, shown), std::move(files));
}

void attach_context(const std::vector<std::unique_ptr<Vertex>>& steps, const BuildContext& context) {
  for (const auto& v : steps) {
    if (auto* e = dynamic_cast<ExecVertex*>(v.get())) {
      e->context = context.keys;
    } else if (auto* f = dynamic_cast<FileVertex*>(v.get())) {
      f->context = context.keys;
      f->urls = context.urls;
      for (size_t i = 0; i < f->sources.size(); ++i) {
        auto& cs = f->sources[i];
        if (cs.kind != CopySource::Kind::path || f->source_inputs[i].kind != InputRef::Kind::context) continue;
        cs.root = context.dir;
        cs.ignored = context.ignored;
        cs.can_skip_dir = context.can_skip_dir;
      }
    }
  }
}

}  // namespace xb::solver
