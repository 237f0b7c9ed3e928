// Dispatch: BuildKit's dockerfile2llb. Walks the stages the target needs,
// instruction by instruction; RUN, COPY, ADD and WORKDIR become steps, the
// other instructions change the image config and history only.
#include "convert/convert.h"

#include <algorithm>
#include <charconv>
#include <csignal>
#include <set>

#include "common/error.h"
#include "common/pattern.h"

namespace xb::convert {

// The step types this conversion makes.
using solver::ExecVertex;
using solver::FileVertex;
using solver::InputRef;
using solver::MountSpec;
using solver::RunMount;
using solver::SourceVertex;
using solver::Vertex;

namespace {

using frontend::Env;
using frontend::Instruction;
using frontend::InstructionKind;

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

[[noreturn]] void fail_at(const SourceLocation& where, std::string message) {
  Error e(ErrorKind::invalid_argument, std::move(message));
  e.at(where);
  throw e;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) out += (i ? " " : "") + words[i];
  return out;
}

// Go's fmt %q of a []string: ["a" "b"].
std::string go_quoted_list(const std::vector<std::string>& words) {
  std::string out = "[";
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) out += " ";
    out += "\"";
    for (char c : words[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  return out + "]";
}

bool valid_signal(const std::string& s) {
  static const std::set<std::string> names = {
      "ABRT", "ALRM", "BUS",  "CHLD", "CLD",  "CONT", "FPE",    "HUP",    "ILL",  "INT", "IO",   "IOT",
      "KILL", "PIPE", "POLL", "PROF", "PWR",  "QUIT", "SEGV",   "STKFLT", "STOP", "SYS", "TERM", "TRAP",
      "TSTP", "TTIN", "TTOU", "URG",  "USR1", "USR2", "VTALRM", "WINCH",  "XCPU", "XFSZ"};
  int n = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec == std::errc() && ptr == s.data() + s.size()) return n > 0 && n <= 64;
  std::string u = s;
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::toupper(c); });
  if (u.rfind("SIG", 0) == 0) u = u.substr(3);
  if (u.rfind("RTMIN", 0) == 0 || u.rfind("RTMAX", 0) == 0) return true;
  return names.count(u) != 0;
}

// EXPOSE's port specs (nat.ParsePortSpecs): "80", "80/tcp", "53/udp",
// "8000-8002/tcp", "1.2.3.4:80:80" (the published part is ignored).
std::vector<std::string> port_specs(const std::string& raw, const SourceLocation& where) {
  std::string spec = raw;
  if (auto colon = spec.rfind(':'); colon != std::string::npos) spec = spec.substr(colon + 1);
  std::string proto = "tcp";
  if (auto slash = spec.find('/'); slash != std::string::npos) {
    proto = lower(spec.substr(slash + 1));
    spec = spec.substr(0, slash);
  }
  if (proto != "tcp" && proto != "udp" && proto != "sctp") fail_at(where, "invalid proto: " + proto);
  auto parse_port = [&](const std::string& t) {
    int v = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || ptr != t.data() + t.size() || v < 0 || v > 65535 || t.empty())
      fail_at(where, "invalid containerPort: " + raw);
    return v;
  };
  int lo, hi;
  if (auto dash = spec.find('-'); dash != std::string::npos) {
    lo = parse_port(spec.substr(0, dash));
    hi = parse_port(spec.substr(dash + 1));
    if (hi < lo) fail_at(where, "invalid range specified for containerPort: " + raw);
  } else {
    lo = hi = parse_port(spec);
  }
  std::vector<std::string> out;
  for (int p = lo; p <= hi; ++p) out.push_back(std::to_string(p) + "/" + proto);
  return out;
}

void add_sorted_unique(std::vector<std::string>& list, const std::string& v) {
  auto it = std::lower_bound(list.begin(), list.end(), v);
  if (it == list.end() || *it != v) list.insert(it, v);
}

void set_env_list(std::vector<std::string>& list, const std::string& key, const std::string& value) {
  for (auto& e : list) {
    if (e.compare(0, key.size() + 1, key + "=") == 0 || e == key) {
      e = key + "=" + value;
      return;
    }
  }
  list.push_back(key + "=" + value);
}

// A RUN --mount as the solver's plain data (what it reads is the RunMount's input).
MountSpec mount_spec(const frontend::Mount& m) {
  MountSpec out;
  switch (m.type) {
    case frontend::Mount::Type::bind: out.type = MountSpec::Type::bind; break;
    case frontend::Mount::Type::cache: out.type = MountSpec::Type::cache; break;
    case frontend::Mount::Type::tmpfs: out.type = MountSpec::Type::tmpfs; break;
    case frontend::Mount::Type::secret: out.type = MountSpec::Type::secret; break;
    case frontend::Mount::Type::ssh: out.type = MountSpec::Type::ssh; break;
  }
  switch (m.sharing) {
    case frontend::Mount::Sharing::shared: out.sharing = MountSpec::Sharing::shared; break;
    case frontend::Mount::Sharing::private_: out.sharing = MountSpec::Sharing::private_; break;
    case frontend::Mount::Sharing::locked: out.sharing = MountSpec::Sharing::locked; break;
  }
  out.source = m.source;
  out.target = m.target;
  out.read_only = m.read_only;
  out.id = m.id;
  out.size_bytes = m.size_bytes;
  out.mode = m.mode;
  out.uid = m.uid;
  out.gid = m.gid;
  out.required = m.required;
  out.env = m.env;
  return out;
}

struct StageState {
  const frontend::Stage* stage = nullptr;
  std::string base_name;  // expanded FROM
  StageState* base = nullptr;
  Platform platform;  // FROM --platform's, else the build's target platform
  bool dispatched = false;
  bool dispatching = false;
  Vertex* fs = nullptr;
  store::ImageConfig image;
  Env env;  // ENV and ARG values: what words expand with and RUN sees
  std::vector<std::pair<std::string, std::string>> build_args;  // declared ARGs with a value, in order
  bool cmd_set = false;
  int cmd_index = 0;  // BuildKit's "[i/n]" step counter: FROM an image is 1
  int cmd_total = 0;  // FROM an image + the stage's RUN, COPY, ADD and WORKDIR
};

class Dispatcher {
 public:
  Dispatcher(const frontend::Dockerfile& df, const DispatchOptions& opts, ImageResolver& images)
      : df_(df), opts_(opts), images_(images), escape_(df.ast.escape) {
    platform_ = frontend::platform_args(opts.platform, opts.build_platform);
    // TARGETSTAGE (BuildKit 0.17): the stage being built, "default" for an
    // unnamed last stage; like the platform args, a stage sees it after ARG.
    std::string target_stage = opts.target;
    if (const frontend::Stage* s = opts.target.empty() ? nullptr : df.find_stage(opts.target))
      if (!s->from.stage_name.empty()) target_stage = s->from.stage_name;
    if (opts.target.empty())
      target_stage = df.stages.empty() || df.stages.back().from.stage_name.empty() ? "default"
                                                                                   : df.stages.back().from.stage_name;
    platform_.set("TARGETSTAGE", target_stage);
    meta_ = frontend::resolve_meta_args(df, opts.build_args, platform_);
  }

  Dispatched run() {
    if (df_.stages.empty()) fail(ErrorKind::invalid_argument, df_.ast.file + ": the Dockerfile has no FROM");
    states_.resize(df_.stages.size());
    for (size_t i = 0; i < df_.stages.size(); ++i) {
      auto& st = states_[i];
      st.stage = &df_.stages[i];
      st.base_name = frontend::resolve_base_name(*st.stage, meta_, escape_);
      std::string platform = frontend::resolve_platform(*st.stage, meta_, escape_);
      if (platform.empty() && !st.stage->from.platform.empty())
        fail_at(st.stage->location, "failed to parse platform " + st.stage->from.platform +
                                        ": it expands to an empty string (declare the ARG before the first FROM, "
                                        "or give it with --build-arg)");
      st.platform = opts_.platform;
      if (!platform.empty()) {
        try {
          st.platform = Platform::parse(platform);
        } catch (Error& e) {
          e.at(st.stage->location);
          throw;
        }
      }
      // A FROM naming an earlier stage continues that stage.
      for (size_t j = 0; j < i; ++j)
        if (!df_.stages[j].from.stage_name.empty() && lower(st.base_name) == df_.stages[j].from.stage_name)
          st.base = &states_[j];
    }
    StageState* target = &states_.back();
    if (!opts_.target.empty()) {
      const frontend::Stage* s = df_.find_stage(opts_.target);
      if (!s) {
        std::vector<std::string> names;
        for (auto& st : df_.stages)
          if (!st.from.stage_name.empty()) names.push_back(st.from.stage_name);
        std::string hint;
        if (auto near = frontend::suggest(opts_.target, names)) hint = " (did you mean " + *near + "?)";
        fail(ErrorKind::invalid_argument, "target stage \"" + opts_.target + "\" could not be found" + hint);
      }
      target = &states_[static_cast<size_t>(s->index)];
    }
    dispatch_stage(*target);

    for (const auto& [k, v] : opts_.labels) target->image.config.labels[k] = v;
    Dispatched out;
    out.definition.target = target->fs;
    out.image = std::move(target->image);
    out.definition.vertices = std::move(vertices_);
    out.definition.steps = steps_;
    out.findings = std::move(findings_);
    return out;
  }

 private:
  // st: the stage the step belongs to (--no-cache-filter names stages, as
  // BuildKit's dispatch state's ignoreCache: case-insensitive, names only).
  template <typename V>
  V* add_vertex(std::unique_ptr<V> v, const StageState* st = nullptr) {
    V* raw = v.get();
    raw->id = static_cast<int>(vertices_.size()) + 1;
    raw->ignore_cache = opts_.no_cache;
    if (st && !st->stage->from.stage_name.empty())
      for (const auto& name : opts_.no_cache_stages)
        if (lower(name) == st->stage->from.stage_name) raw->ignore_cache = true;
    if (raw->kind != Vertex::Kind::source) ++steps_;
    vertices_.push_back(std::move(v));
    return raw;
  }

  std::string expand(const std::string& word, const StageState& st, const SourceLocation& where) {
    std::string out;
    try {
      out = frontend::expand_word(word, st.env, escape_);
    } catch (Error& e) {
      e.at(where);
      throw;
    }
    if (word.find('$') != std::string::npos) undefined_vars(word, st, where);
    return out;
  }

  // BuildKit's UndefinedVar check: "Usage of undefined variable '$X'".
  void undefined_vars(const std::string& word, const StageState& st, const SourceLocation& where) {
    for (const auto& name : frontend::plain_variables(word, escape_)) {
      if (st.env.contains(name)) continue;
      std::string msg = "Usage of undefined variable '$" + name + "'";
      std::vector<std::string> names;
      for (const auto& [k, v] : st.env.entries()) names.push_back(k);
      if (auto near = frontend::suggest(name, names)) msg += " (did you mean $" + *near + "?)";
      bool seen = std::any_of(findings_.begin(), findings_.end(),
                              [&](const auto& f) { return f.line == where.line && f.message == msg; });
      if (!seen) findings_.push_back({"UndefinedVar", msg, where.line});
    }
  }

  StageState* stage_by_name(const std::string& name) {
    for (auto& st : states_)
      if (!st.stage->from.stage_name.empty() && st.stage->from.stage_name == lower(name)) return &st;
    bool numeric = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (numeric) {
      size_t idx = std::stoul(name);
      if (idx < states_.size()) return &states_[idx];
    }
    return nullptr;
  }

  // The file system named by --from / from=: a stage (dispatched first) or an
  // image. `mount_target` is set for RUN --mount (it changes BuildKit's message).
  Vertex* input_fs(const std::string& from, StageState& current, const SourceLocation& where,
                   const std::string* mount_target = nullptr) {
    if (StageState* s = stage_by_name(from)) {
      if (s == &current) fail_at(where, "circular dependency detected on stage: " + from);
      // BuildKit reads a Dockerfile top-down: only earlier stages can be used.
      if (s->stage->index > current.stage->index) {
        if (mount_target)
          fail_at(where, "cannot mount from stage \"" + from + "\" to \"" + *mount_target +
                             "\", stage needs to be defined before current command");
        fail_at(where, "cannot copy from stage \"" + from + "\", it needs to be defined before current stage \"" +
                           stage_label(current) + "\"");
      }
      dispatch_stage(*s);
      return s->fs;
    }
    bool numeric = !from.empty() && std::all_of(from.begin(), from.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (numeric) fail_at(where, "invalid stage index " + from);
    if (const NamedContext* named = find_context(from)) return context_vertex(*named, where, current.platform).first;
    return image_vertex(from, where, current.platform).first;
  }

  const NamedContext* find_context(const std::string& name) const {
    if (opts_.contexts.empty()) return nullptr;
    auto it = opts_.contexts.find(context_name(name));
    return it == opts_.contexts.end() ? nullptr : &it->second;
  }

  // The source step of a named context (one per context): an image, or a
  // directory or repository as a file system. The image is null for those.
  std::pair<Vertex*, store::Image*> context_vertex(const NamedContext& c, const SourceLocation& where,
                                                   const Platform& platform) {
    if (c.kind == NamedContext::Kind::image && c.ref && !c.image) return image_vertex(c.ref->str(), where, platform);
    if (auto it = context_vertices_.find(&c); it != context_vertices_.end()) {
      auto* src = dynamic_cast<SourceVertex*>(it->second);
      return {it->second, src ? &src->image : nullptr};
    }
    std::unique_ptr<Vertex> v;
    store::Image* image = nullptr;
    if (c.kind == NamedContext::Kind::image) {
      auto s = std::make_unique<SourceVertex>(*c.image, c.ref.value_or(store::ImageRef::parse("oci-layout")));
      image = &s->image;
      v = std::move(s);
    } else if (c.kind == NamedContext::Kind::git) {
      auto g = std::make_unique<solver::GitSourceVertex>();
      g->ref = c.git;
      v = std::move(g);
    } else {
      auto l = std::make_unique<solver::LocalSourceVertex>();
      l->dir = c.dir;
      l->ignored = c.ignored;
      l->can_skip_dir = c.can_skip_dir;
      l->persistent = !c.temporary;
      v = std::move(l);
    }
    v->name = "[context] " + c.value;
    v->location = where;
    Vertex* raw = add_vertex(std::move(v));
    context_vertices_[&c] = raw;
    return {raw, image};
  }

  std::pair<Vertex*, store::Image*> image_vertex(const std::string& name, const SourceLocation& where,
                                                 const Platform& platform) {
    store::ImageRef ref = [&] {
      try {
        return store::ImageRef::parse(name);
      } catch (Error& e) {
        e.at(where);
        throw;
      }
    }();
    auto key = ref.str() + " " + platform.str();
    if (auto it = sources_.find(key); it != sources_.end()) {
      // A FROM shared by several stages is named for the first of them in
      // the file (BuildKit: "[stage-0 1/2] FROM …" even when a later stage
      // based on it is dispatched first).
      int& namer = source_namer_[it->second];
      if (stage_for_name_ && (namer < 0 || stage_for_name_->stage->index < namer)) {
        it->second->name = prefix_step(stage_for_name_, "FROM " + ref.str());
        namer = stage_for_name_->stage->index;
      }
      return {it->second, &it->second->image};
    }
    store::Image img = [&] {
      try {
        return images_.resolve(ref, platform);
      } catch (Error& e) {
        e.at(where);
        throw;
      }
    }();
    auto v = std::make_unique<SourceVertex>(std::move(img), ref);
    v->name = prefix_step(stage_for_name_, "FROM " + ref.str());
    v->location = where;
    SourceVertex* raw = add_vertex(std::move(v));
    sources_[key] = raw;
    source_namer_[raw] = stage_for_name_ ? stage_for_name_->stage->index : -1;
    return {raw, &raw->image};
  }

  void dispatch_stage(StageState& st) {
    if (st.dispatched) return;
    if (st.dispatching)
      fail_at(st.stage->location, "circular dependency detected on stage: " + st.stage->from.stage_name);
    st.dispatching = true;
    const SourceLocation& where = st.stage->location;
    // FROM counts only where it is a step of its own: an image. A stage
    // built on another stage or on scratch starts at its first instruction
    // (BuildKit: "[stage-2 1/3] COPY …" after "FROM b").
    st.cmd_total = st.base || lower(st.base_name) == "scratch" ? 0 : 1;
    for (const auto& ins : st.stage->instructions) {
      using K = frontend::InstructionKind;
      if (ins.kind == K::run || ins.kind == K::copy || ins.kind == K::add || ins.kind == K::workdir) ++st.cmd_total;
    }
    const NamedContext* named = nullptr;
    if (!st.stage->from.stage_name.empty()) named = find_context(st.stage->from.stage_name);
    bool replaced = named != nullptr;  // BuildKit: the context is the whole stage
    if (!named && !st.base && lower(st.base_name) != "scratch") named = find_context(st.base_name);
    if (named) {
      stage_for_name_ = &st;
      auto [v, img] = context_vertex(*named, where, st.platform);
      stage_for_name_ = nullptr;
      st.fs = v;
      if (img) {
        st.cmd_index = std::max(st.cmd_index, 1);
        st.image = img->config;
        st.image.created.clear();
        st.image.diff_ids.clear();
      } else {
        // A directory or a repository: an image with nothing but a platform
        // (and, as BuildKit's emptyImage, WORKDIR / unless it replaces a stage).
        st.image = store::ImageConfig{};
        if (!replaced) st.image.config.working_dir = "/";
      }
      if (st.image.os.empty()) st.image.os = st.platform.os;
      if (st.image.architecture.empty()) {
        st.image.architecture = st.platform.architecture;
        st.image.variant = st.platform.variant;
      }
    }
    if (replaced) {
      st.dispatching = false;
      st.dispatched = true;
      return;
    }
    if (named) {
    } else if (st.base) {
      dispatch_stage(*st.base);
      st.fs = st.base->fs;
      st.image = st.base->image;
      st.env = Env::from_list(st.image.config.env);
    } else if (lower(st.base_name) == "scratch") {
      st.image = store::ImageConfig{};
      st.image.os = st.platform.os;
      st.image.architecture = st.platform.architecture;
      st.image.variant = st.platform.variant;
      st.image.config.working_dir = "/";
    } else {
      stage_for_name_ = &st;
      auto [v, img] = image_vertex(st.base_name, where, st.platform);
      stage_for_name_ = nullptr;
      // A FROM shared with an earlier stage is one step, named for that
      // stage; this stage still counts it as its first.
      st.cmd_index = std::max(st.cmd_index, 1);
      st.fs = v;
      st.image = img->config;
      st.image.created.clear();
      if (st.image.os.empty()) st.image.os = "linux";
      if (st.image.architecture.empty()) {
        st.image.architecture = st.platform.architecture;
        st.image.variant = st.platform.variant;
      }
    }
    if (!st.base && !named) {
      // The base's diff IDs are the source's layers; the export adds them back.
      st.image.diff_ids.clear();
    }
    // Make sure that PATH is always set, as BuildKit does.
    if (!Env::from_list(st.image.config.env).contains("PATH")) st.image.config.env.emplace_back(kDefaultPath);
    st.env = Env::from_list(st.image.config.env);

    // The base image's ONBUILD triggers run first, then are cleared.
    auto triggers = std::move(st.image.config.on_build);
    st.image.config.on_build.clear();
    // A stage's base stage gives its own ONBUILD instructions, as an image would.
    {
      for (const auto& trigger : triggers) {
        frontend::Dockerfile t;
        try {
          t = frontend::parse_dockerfile("FROM scratch\n" + trigger + "\n", "ONBUILD trigger");
        } catch (Error& e) {
          e.with_context("ONBUILD trigger of " + st.base_name);
          e.at(where);
          throw;
        }
        for (const auto& ins : t.stages.at(0).instructions) {
          Instruction copy = ins;
          copy.location = where;
          dispatch_instruction(st, copy);
        }
      }
    }
    for (const auto& ins : st.stage->instructions) dispatch_instruction(st, ins);
    st.dispatching = false;
    st.dispatched = true;
  }

  void history(StageState& st, std::string created_by, bool with_layer) {
    store::HistoryEntry h;
    h.created_by = std::move(created_by);
    h.comment = "buildkit.dockerfile.v0";
    h.empty_layer = !with_layer;
    st.image.history.push_back(std::move(h));
  }

  std::vector<std::string> with_shell(const StageState& st, const std::vector<std::string>& args) {
    std::vector<std::string> out = st.image.config.shell ? *st.image.config.shell
                                                         : std::vector<std::string>{"/bin/sh", "-c"};
    out.push_back(join_words(args));
    return out;
  }

  static std::string stage_label(const StageState& st) {
    return st.stage->from.stage_name.empty() ? "stage-" + std::to_string(st.stage->index) : st.stage->from.stage_name;
  }

  // "[build 2/5] RUN make" as BuildKit's progress names its steps: the
  // stage (when there are several), the step's number among the stage's
  // FROM, RUN, COPY, ADD and WORKDIR, padded to the width of the total.
  std::string prefix_step(StageState* st, const std::string& text) {
    if (!st || st->cmd_total == 0)
      return opts_.name_platform ? "[" + (st ? st->platform : opts_.platform).str() + "] " + text : text;
    std::string out = "[";
    if (opts_.name_platform) out += st->platform.str() + " ";
    if (states_.size() > 1) {
      out += st->stage->from.stage_name.empty() ? "stage-" + std::to_string(st->stage->index)
                                                : st->stage->from.stage_name;
      out += " ";
    }
    std::string index = std::to_string(++st->cmd_index);
    std::string total = std::to_string(st->cmd_total);
    out += std::string(total.size() > index.size() ? total.size() - index.size() : 0, ' ') + index + "/" + total + "] ";
    return out + text;
  }

  std::string step_name(StageState& st, const Instruction& ins) {
    std::string text = ins.original;
    // Show the instruction's first line only; heredoc bodies stay out.
    if (auto nl = text.find('\n'); nl != std::string::npos) text = text.substr(0, nl);
    return prefix_step(&st, text);
  }

  // What explains a miss of this step later (cache::StepInputs, docs/dev/cache.md):
  // its identity (Dockerfile location, stage, platform; the n-th step of a
  // line when ONBUILD triggers share it) and the instruction as written.
  void describe_step(StageState& st, const Instruction& ins, Vertex& v) {
    std::string id = ins.location.file + ":" + std::to_string(ins.location.line) + " " + stage_label(st) + " " +
                     st.image.os + "/" + st.image.architecture;
    int n = step_ids_[id]++;
    v.step = n ? id + " #" + std::to_string(n + 1) : id;
    std::string first = ins.original.substr(0, ins.original.find('\n'));
    v.inputs.add("instruction", Digest::of(ins.original).str(), first);
  }

  // A value as a part's fingerprint: itself when short, else its digest.
  static std::string value_fp(const std::string& value) {
    return value.size() <= 64 ? "=" + value : Digest::of(value).str();
  }

  void describe_run(StageState& st, const Instruction& ins, ExecVertex& v, bool shell_form) {
    describe_step(st, ins, v);
    auto& in = v.inputs;
    if (shell_form) {
      std::vector<std::string> shell = st.image.config.shell ? *st.image.config.shell
                                                             : std::vector<std::string>{"/bin/sh", "-c"};
      in.add("shell", value_fp(join_words(shell)), join_words(shell));
    }
    for (const auto& kv : v.env) {
      size_t eq = kv.find('=');
      std::string k = kv.substr(0, eq), val = eq == std::string::npos ? "" : kv.substr(eq + 1);
      bool arg = std::any_of(st.build_args.begin(), st.build_args.end(), [&](auto& p) { return p.first == k; });
      in.add((arg ? "arg:" : "env:") + k, value_fp(val), val);
    }
    in.add("workdir", value_fp(v.cwd), v.cwd);
    in.add("user", value_fp(v.user), v.user);
    in.add("network", v.network, v.network);
    if (v.insecure) in.add("security", "insecure", "insecure");
    if (v.hostname != ExecVertex::kDefaultHostname) in.add("hostname", value_fp(v.hostname), v.hostname);
    for (const auto& m : v.mounts) {
      const MountSpec& sp = m.spec;
      std::string fp = std::to_string(static_cast<int>(sp.type)) + " " + sp.source + " " + sp.id + " " +
                       std::to_string(static_cast<int>(sp.sharing)) + " " + (sp.read_only ? "ro" : "rw") + " " +
                       std::to_string(sp.mode.value_or(0)) + " " + std::to_string(sp.uid.value_or(0)) + ":" +
                       std::to_string(sp.gid.value_or(0)) + " " + (sp.required ? "required" : "") + " " + sp.env + " " +
                       std::to_string(sp.size_bytes.value_or(0)) + " " + std::to_string(m.input.dep);
      // A secret by its id only, never its value (which no step description has).
      if (sp.type == MountSpec::Type::secret) {
        in.add("secret:" + sp.id, value_fp(sp.target + " " + fp), sp.id);
        continue;
      }
      std::string text = sp.type == MountSpec::Type::cache ? "type=cache,id=" + sp.id
                         : sp.type == MountSpec::Type::tmpfs
                             ? "type=tmpfs"
                             : "type=bind,source=" + (sp.source.empty() ? "." : sp.source);
      in.add("mount:" + sp.target, value_fp(fp), text);
    }
  }

  void dispatch_instruction(StageState& st, const Instruction& ins) {
    const SourceLocation& where = ins.location;
    auto ex = [&](const std::string& w) { return expand(w, st, where); };
    auto& cfg = st.image.config;
    switch (ins.kind) {
      case InstructionKind::env: {
        const auto& c = std::get<frontend::EnvCmd>(ins.command);
        std::string msg = "ENV";
        // Every pair is expanded before any is set, as BuildKit does: in
        // `ENV A=1 B=$A`, B sees the A from before this line.
        std::vector<std::pair<std::string, std::string>> pairs;
        for (const auto& kv : c.env) pairs.emplace_back(ex(kv.key), ex(kv.value));
        for (const auto& [key, value] : pairs) {
          set_env_list(cfg.env, key, value);
          st.env.set(key, value);
          msg += " " + key + "=" + value;
        }
        history(st, msg, false);
        break;
      }
      case InstructionKind::arg: {
        const auto& c = std::get<frontend::ArgCmd>(ins.command);
        std::string msg = "ARG";
        // As ENV: every default is expanded with the variables from before
        // the line (BuildKit: `ARG A=1 B=${A}x` gives B=x in a stage).
        std::vector<std::optional<std::string>> values;
        for (const auto& a : c.args) {
          try {
            values.push_back(frontend::resolve_stage_arg(a, st.env, opts_.build_args, meta_, platform_, escape_));
          } catch (Error& e) {
            e.at(where);
            throw;
          }
        }
        for (size_t i = 0; i < c.args.size(); ++i) {
          const auto& a = c.args[i];
          const auto& value = values[i];
          msg += " " + a.key + (a.default_value ? "=" + *a.default_value : "");
          if (value) {
            st.env.set(a.key, *value);
            auto it = std::find_if(st.build_args.begin(), st.build_args.end(),
                                   [&](auto& p) { return p.first == a.key; });
            if (it != st.build_args.end()) it->second = *value;
            else st.build_args.emplace_back(a.key, *value);
          }
        }
        history(st, msg, false);
        break;
      }
      case InstructionKind::label: {
        const auto& c = std::get<frontend::LabelCmd>(ins.command);
        std::string msg = "LABEL";
        for (const auto& kv : c.labels) {
          std::string key = ex(kv.key), value = ex(kv.value);
          cfg.labels[key] = value;
          msg += " " + key + "=" + value;
        }
        history(st, msg, false);
        break;
      }
      case InstructionKind::maintainer: {
        const auto& c = std::get<frontend::MaintainerCmd>(ins.command);
        st.image.author = c.maintainer;
        history(st, "MAINTAINER " + c.maintainer, false);
        break;
      }
      case InstructionKind::user: {
        cfg.user = ex(std::get<frontend::UserCmd>(ins.command).user);
        history(st, "USER " + cfg.user, false);
        break;
      }
      case InstructionKind::workdir: {
        std::string p = ex(std::get<frontend::WorkdirCmd>(ins.command).path);
        if (p.empty()) fail_at(where, "WORKDIR cannot be empty");
        // Go's path.Join("/", …): absolute and clean.
        std::string wd = clean_path("/" + (p[0] == '/' ? p : cfg.working_dir + "/" + p));
        cfg.working_dir = wd;
        bool layer = wd != "/";
        if (layer) {
          auto v = std::make_unique<FileVertex>();
          v->kind = Vertex::Kind::file;
          v->action = FileVertex::Action::mkdir;
          v->path = wd;
          v->mkdir_user = cfg.user;
          v->parent = st.fs;
          v->location = where;
          v->name = step_name(st, ins);
          describe_step(st, ins, *v);
          v->inputs.add("user", "=" + v->mkdir_user, v->mkdir_user);
          st.fs = add_vertex(std::move(v), &st);
        }
        history(st, "WORKDIR " + wd, layer);
        break;
      }
      case InstructionKind::volume: {
        const auto& c = std::get<frontend::VolumeCmd>(ins.command);
        std::vector<std::string> vols;
        for (const auto& v : c.volumes) {
          std::string e = ex(v);
          if (e.empty()) fail_at(where, "VOLUME specified can not be an empty string");
          add_sorted_unique(cfg.volumes, e);
          vols.push_back(e);
        }
        history(st, "VOLUME [" + join_words(vols) + "]", false);
        break;
      }
      case InstructionKind::expose: {
        const auto& c = std::get<frontend::ExposeCmd>(ins.command);
        std::vector<std::string> all;
        for (const auto& p : c.ports) {
          std::vector<std::string> words;
          try {
            words = frontend::expand_words(p, st.env, escape_);
          } catch (Error& e) {
            e.at(where);
            throw;
          }
          for (const auto& w : words)
            for (const auto& spec : port_specs(w, where)) {
              add_sorted_unique(cfg.exposed_ports, spec);
              all.push_back(spec);
            }
        }
        std::string msg = "EXPOSE map[";
        std::sort(all.begin(), all.end());
        for (size_t i = 0; i < all.size(); ++i) msg += (i ? " " : "") + all[i] + ":{}";
        history(st, msg + "]", false);
        break;
      }
      case InstructionKind::stopsignal: {
        std::string s = ex(std::get<frontend::StopSignalCmd>(ins.command).signal);
        if (!valid_signal(s)) fail_at(where, "invalid signal: " + s);
        cfg.stop_signal = s;
        history(st, "STOPSIGNAL " + s, false);
        break;
      }
      case InstructionKind::shell: {
        cfg.shell = std::get<frontend::ShellCmd>(ins.command).shell;
        history(st, "SHELL [" + join_words(*cfg.shell) + "]", false);
        break;
      }
      case InstructionKind::cmd: {
        const auto& c = std::get<frontend::CmdCmd>(ins.command).command;
        cfg.cmd = c.prepend_shell ? with_shell(st, c.args) : c.args;
        st.cmd_set = true;
        history(st, "CMD " + go_quoted_list(*cfg.cmd), false);
        break;
      }
      case InstructionKind::entrypoint: {
        const auto& c = std::get<frontend::EntrypointCmd>(ins.command).command;
        cfg.entrypoint = c.prepend_shell ? with_shell(st, c.args) : c.args;
        if (!st.cmd_set) cfg.cmd.reset();
        history(st, "ENTRYPOINT " + go_quoted_list(*cfg.entrypoint), false);
        break;
      }
      case InstructionKind::healthcheck: {
        const auto& c = std::get<frontend::HealthcheckCmd>(ins.command);
        store::HealthConfig h;
        h.test = c.test;
        h.interval = c.interval_ns;
        h.timeout = c.timeout_ns;
        h.start_period = c.start_period_ns;
        h.start_interval = c.start_interval_ns;
        h.retries = c.retries;
        cfg.healthcheck = h;
        history(st, "HEALTHCHECK " + go_quoted_list(h.test), false);
        break;
      }
      case InstructionKind::onbuild: {
        cfg.on_build.push_back(std::get<frontend::OnbuildCmd>(ins.command).expression);
        break;
      }
      case InstructionKind::run: dispatch_run(st, ins); break;
      case InstructionKind::copy:
      case InstructionKind::add: dispatch_copy(st, ins); break;
    }
  }

  // BuildKit's proxyEnvFromBuildArgs: a proxy --build-arg needs no ARG and
  // gives the step both spellings (HTTP_PROXY and http_proxy); a variable
  // the stage already has (an ARG of the same name) keeps its value.
  std::vector<std::string> proxy_env(const Env& env) const {
    static const char* const names[] = {"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"};
    std::vector<std::string> out;
    for (const char* upper : names) {
      std::optional<std::string> value;
      for (const auto& [k, v] : opts_.build_args)
        if (lower(k) == lower(upper)) value = v;
      if (!value) continue;
      for (const std::string& name : {std::string(upper), lower(upper)})
        if (!env.contains(name)) out.push_back(name + "=" + *value);
    }
    return out;
  }

  void dispatch_run(StageState& st, const Instruction& ins) {
    const auto& c = std::get<frontend::RunCmd>(ins.command);
    const SourceLocation& where = ins.location;
    std::vector<std::string> args = c.command.args;
    std::optional<ExecVertex::InlineFile> shebang_file;
    if (!c.heredocs.empty() && c.command.prepend_shell && args.size() == 1) {
      std::string cmdline = args[0];
      // "RUN <<EOF" alone: the heredoc is the script; "RUN <<EOF cmd" or
      // several heredocs: the shell gets the line and the bodies.
      std::string trimmed = cmdline;
      while (!trimmed.empty() && isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.pop_back();
      bool bare = c.heredocs.size() == 1 && trimmed.rfind("<<", 0) == 0 && trimmed.find(' ') == std::string::npos;
      if (bare && c.heredocs[0].content.rfind("#!", 0) == 0) {
        // BuildKit: a body with a shebang is a file run by its interpreter,
        // mounted at /dev/pipes/<name> (mode 0755) for the step only.
        shebang_file = ExecVertex::InlineFile{"/dev/pipes/" + c.heredocs[0].name, c.heredocs[0].content, 0755};
        args = {shebang_file->path};
      } else if (bare) {
        args = {c.heredocs[0].content};
      } else {
        std::string full = cmdline;
        for (const auto& h : c.heredocs) full += "\n" + h.content + h.name;
        args = {full};
      }
    }
    if (c.command.prepend_shell) args = with_shell(st, args);

    auto v = std::make_unique<ExecVertex>();
    v->kind = Vertex::Kind::exec;
    v->args = args;
    v->env = st.env.to_list();
    if (shebang_file) v->files.push_back(std::move(*shebang_file));
    v->proxy_env = proxy_env(st.env);
    v->cwd = st.image.config.working_dir.empty() ? "/" : st.image.config.working_dir;
    v->user = st.image.config.user;
    std::string net = c.network.empty() || c.network == "default" ? opts_.network : c.network;
    if (net != "host" && net != "none")
      fail_at(where, "RUN --network=" + c.network + ": unsupported (use default, none or host)");
    // BuildKit's entitlement: only the command line may give a step the host's
    // network (--network default follows the command line's --network).
    if (c.network == "host" && !opts_.allow_network_host)
      fail_at(where, "RUN --network=host needs the entitlement: build with --allow network.host");
    v->network = net;
    v->platform = st.platform.str();
    if (c.security == "insecure") {
      if (!opts_.allow_insecure)
        fail_at(where, "RUN --security=insecure needs the entitlement: build with --allow security.insecure");
      v->insecure = true;
    }
    size_t ssh_mounts = 0;
    std::string first_ssh;
    for (const auto& raw : c.raw_mounts) {
      frontend::Mount m = frontend::parse_mount(raw, where, &st.env, escape_);
      RunMount rm{mount_spec(m), InputRef{}};
      if (m.type == frontend::Mount::Type::ssh && rm.spec.target.empty())
        rm.spec.target = "/run/buildkit/ssh_agent." + std::to_string(ssh_mounts);  // llb's default
      if (m.type == frontend::Mount::Type::ssh && ssh_mounts++ == 0) first_ssh = rm.spec.target;
      if (m.type == frontend::Mount::Type::bind || (m.type == frontend::Mount::Type::cache && !m.from.empty())) {
        if (m.from.empty()) {
          rm.input.kind = InputRef::Kind::context;
        } else {
          Vertex* from = input_fs(m.from, st, where, &m.target);
          rm.input.kind = from ? InputRef::Kind::vertex : InputRef::Kind::none;
          if (from) {
            rm.input.dep = static_cast<int>(v->deps.size());
            v->deps.push_back(from);
          }
        }
      }
      v->mounts.push_back(std::move(rm));
    }
    // BuildKit's llb: the first ssh mount is SSH_AUTH_SOCK unless the env has one (in the key, as there).
    if (ssh_mounts && !st.env.contains("SSH_AUTH_SOCK")) v->env.push_back("SSH_AUTH_SOCK=" + first_ssh);
    v->extra_hosts = opts_.extra_hosts;
    v->ulimits = opts_.ulimits;
    v->shm_bytes = opts_.shm_bytes;
    // A global build arg of BuildKit's, taken without an ARG as there.
    if (auto h = opts_.build_args.find("BUILDKIT_SANDBOX_HOSTNAME"); h != opts_.build_args.end() && !h->second.empty())
      v->hostname = h->second;
    v->parent = st.fs;
    v->location = where;
    v->name = step_name(st, ins);
    describe_run(st, ins, *v, c.command.prepend_shell);
    st.fs = add_vertex(std::move(v), &st);

    // BuildKit's history line: "RUN |2 A=1 B=2 /bin/sh -c …".
    std::string line = "RUN ";
    if (!st.build_args.empty()) {
      line += "|" + std::to_string(st.build_args.size());
      for (const auto& [k, val] : st.build_args) line += " " + k + "=" + std::string(st.env.get(k).value_or(val));
      line += " ";
    }
    history(st, line + join_words(args) + " # buildkit", true);
  }

  void dispatch_copy(StageState& st, const Instruction& ins) {
    const SourceLocation& where = ins.location;
    bool is_add = ins.kind == InstructionKind::add;
    std::vector<std::string> raw_sources;
    std::vector<frontend::SourceContent> contents;
    std::string dest, chown, chmod, from, checksum;
    std::vector<std::string> excludes;
    bool link = false, parents = false;
    std::optional<bool> unpack;
    auto take_shared = [&](const auto& c) {  // the flags COPY and ADD have in common
      raw_sources = c.sources;
      contents = c.source_contents;
      dest = c.dest;
      chown = c.chown;
      chmod = c.chmod;
      excludes = c.excludes;
      link = c.link;
    };
    bool keep_git_dir = false;
    if (is_add) {
      const auto& c = std::get<frontend::AddCmd>(ins.command);
      take_shared(c);
      checksum = c.checksum;
      unpack = c.unpack;
      keep_git_dir = c.keep_git_dir;
    } else {
      const auto& c = std::get<frontend::CopyCmd>(ins.command);
      take_shared(c);
      from = c.from;
      parents = c.parents;
    }
    auto ex = [&](const std::string& w) { return expand(w, st, where); };
    auto v = std::make_unique<FileVertex>();
    v->kind = Vertex::Kind::file;
    v->action = FileVertex::Action::copy;
    InputRef input;
    if (!from.empty()) {
      Vertex* src = input_fs(ex(from), st, where);
      if (src) {
        input = InputRef{InputRef::Kind::vertex, 0};
        v->deps.push_back(src);
      } else {
        input = InputRef{InputRef::Kind::none, -1};
      }
    }
    std::string msg = is_add ? "ADD" : "COPY";
    for (const auto& s : raw_sources) {
      fileop::CopySource cs;
      cs.pattern = ex(s);
      msg += " " + cs.pattern;
      if (std::optional<fileop::GitRef> git; is_add && (git = fileop::GitRef::parse(cs.pattern))) {
        // BuildKit: ADD of a repository is a git source copied to dest.
        if (!checksum.empty())
          fail_at(where, "ADD --checksum is not supported for git sources (the commit is the key)");
        auto g = std::make_unique<solver::GitSourceVertex>();
        g->ref = *git;
        g->keep_git_dir = keep_git_dir;
        g->name = "git " + git->str();
        g->location = where;
        Vertex* gv = add_vertex(std::move(g));
        cs.pattern = ".";
        cs.from_context = false;
        v->source_inputs.push_back(InputRef{InputRef::Kind::vertex, static_cast<int>(v->deps.size())});
        v->deps.push_back(gv);
        v->sources.push_back(std::move(cs));
        continue;
      }
      bool url = cs.pattern.rfind("http://", 0) == 0 || cs.pattern.rfind("https://", 0) == 0;
      if (!url && !checksum.empty()) fail_at(where, "checksum can't be specified for non-HTTP sources");
      if (url) {
        if (!is_add) fail_at(where, "source can't be a URL for COPY");
        cs.kind = fileop::CopySource::Kind::url;
      } else if (input.kind == InputRef::Kind::context) {
        cs.from_context = true;  // the solver gives it the context's directory and .dockerignore
      } else {
        cs.from_context = false;
      }
      v->sources.push_back(std::move(cs));
      v->source_inputs.push_back(url ? InputRef{InputRef::Kind::none, -1} : input);
    }
    for (const auto& sc : contents) {
      fileop::CopySource cs;
      cs.kind = fileop::CopySource::Kind::content;
      cs.pattern = sc.path;
      if (sc.expand) {
        try {
          cs.content = frontend::expand_heredoc(sc.data, st.env);
        } catch (Error& e) {
          e.at(where);
          throw;
        }
      } else {
        cs.content = sc.data;
      }
      msg += " <<" + sc.path;
      v->sources.push_back(std::move(cs));
      v->source_inputs.push_back(InputRef{InputRef::Kind::none, -1});
    }
    v->options.dest = ex(dest);
    v->options.workdir = st.image.config.working_dir.empty() ? "/" : st.image.config.working_dir;
    v->options.chown = ex(chown);
    if (!chmod.empty()) {
      try {
        v->options.chmod = fileop::parse_chmod(ex(chmod));
      } catch (Error& e) {
        e.at(where);
        throw;
      }
    }
    for (const auto& e : excludes) v->options.excludes.push_back(ex(e));
    try {
      (void)PatternMatcher(v->options.excludes, "--exclude");  // refused before anything runs
    } catch (Error& e) {
      e.at(where);
      throw;
    }
    v->options.parents = parents;
    v->options.link = link;
    v->options.add = is_add;
    v->options.unpack = unpack;
    if (!checksum.empty()) {
      try {
        v->options.checksum = Digest::parse(ex(checksum));
      } catch (Error& e) {
        e.at(where);
        throw;
      }
    }
    msg += " " + v->options.dest;
    v->parent = st.fs;
    v->location = where;
    v->name = step_name(st, ins);
    describe_step(st, ins, *v);
    // As expanded: a changed ARG they use shows here (weak: the instruction or
    // the files usually say more).
    v->inputs.add("sources", value_fp(msg), msg, true);
    v->inputs.add("workdir", value_fp(v->options.workdir), v->options.workdir);
    st.fs = add_vertex(std::move(v), &st);
    history(st, msg + " # buildkit", true);
  }

  const frontend::Dockerfile& df_;
  const DispatchOptions& opts_;
  ImageResolver& images_;
  char escape_;
  Env platform_;
  Env meta_;
  std::vector<StageState> states_;
  std::vector<std::unique_ptr<Vertex>> vertices_;
  std::map<std::string, SourceVertex*> sources_;
  std::map<const NamedContext*, Vertex*> context_vertices_;
  std::map<std::string, int> step_ids_;              // describe_step: steps per identity
  std::map<const SourceVertex*, int> source_namer_;  // the stage index a FROM step is named for (-1: none)
  StageState* stage_for_name_ = nullptr;             // the stage whose FROM is being resolved
  int steps_ = 0;
  std::vector<frontend::CheckFinding> findings_;
};

}  // namespace

std::string context_name(const std::string& name) {
  auto ref = store::ImageRef::try_parse(name);
  if (!ref) return name;
  std::string f = ref->familiar();
  if (f.size() > 7 && f.compare(f.size() - 7, 7, ":latest") == 0) f.resize(f.size() - 7);
  return f;
}

Dispatched dispatch(const frontend::Dockerfile& dockerfile, const DispatchOptions& options, ImageResolver& images) {
  return Dispatcher(dockerfile, options, images).run();
}

void stamp_history(store::ImageConfig& image, const std::vector<Layer>& layers,
                   std::optional<int64_t> source_date_epoch, const std::string& now) {
  auto& history = image.history;
  if (source_date_epoch) {
    std::string epoch = store::rfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(*source_date_epoch)));
    for (auto& h : history)
      if (h.created.empty()) h.created = epoch;
    image.created = epoch;
    return;
  }
  size_t layer = 0;
  for (auto& h : history) {
    if (h.empty_layer) continue;
    if (h.created.empty() && layer < layers.size()) h.created = layers[layer].created;
    ++layer;
  }
  // The time for entries before the first new layer: that layer's, or the
  // last known one if no layer follows a gap.
  std::string fill;
  bool gap = false;
  for (const auto& h : history) {
    if (h.created.empty()) {
      gap = true;
      continue;
    }
    fill = h.created;
    if (gap) break;
  }
  gap = false;
  for (auto& h : history) {
    if (h.created.empty()) {
      gap = true;
      h.created = fill;
    } else if (gap) {
      fill = h.created;
    }
  }
  image.created = now;
  for (const auto& h : history)
    if (!h.created.empty()) image.created = h.created;
}

}  // namespace xb::convert
