// convert/: a Dockerfile becomes the solver's neutral steps (BuildKit's
// dockerfile2llb; docs/dev/solver.md). load() reads the Dockerfile and its
// .dockerignore inside the context; dispatch() walks the stages the target
// needs, instruction by instruction, keeping each stage's image config,
// ENV/ARG state and file-system step; expands words as BuildKit does;
// yields the steps (solver::Definition) and the target's image config and
// history. convert() adds BuildKit's build checks, check() runs them alone
// (--call=check). The CLI calls parse → convert → solve (or stops after
// check()): nothing here runs a step.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "frontend/frontend.h"
#include "solver/solver.h"
#include "store/store.h"

namespace xb::convert {

using solver::Layer;

// Finds (pulling when needed) the image a FROM or --from names, for its
// config and layers (BuildKit's ImageMetaResolver). The CLI gives the
// solver's store-and-registry resolver (solver::resolve_image).
class ImageResolver {
 public:
  virtual ~ImageResolver() = default;
  // The image for `platform` (an index resolves to that platform's manifest).
  virtual store::Image resolve(const store::ImageRef& ref, const Platform& platform) = 0;
};

// A build's Dockerfile, read inside the context (or inside its own
// directory when it lies outside the context, as buildx sends that
// directory alone), and the context's .dockerignore.
struct Source {
  frontend::Dockerfile dockerfile;
  std::string text;                                // the Dockerfile's bytes as read (provenance: its text and digest)
  std::shared_ptr<frontend::DockerIgnore> ignore;  // never null; empty without a .dockerignore
  // ignore as the solver's predicates (empty when nothing is ignored).
  fileop::IgnorePredicate ignored() const;
  fileop::SkipDirPredicate can_skip_dir() const;
};

// Reads and parses the Dockerfile (errors name it as `display`) and the
// .dockerignore. A symlink may lead elsewhere inside the directory it is
// read from, never out (no host file is read or, through a parse error, shown).
Source load(const std::filesystem::path& context_dir, const std::filesystem::path& dockerfile,
            const std::string& display);

// A --build-context NAME=VALUE as the CLI resolved it: what `FROM NAME`,
// `COPY --from=NAME` and `RUN --mount=from=NAME` read instead of an image
// (and a stage named NAME is replaced by it), as BuildKit's named contexts.
struct NamedContext {
  enum class Kind {
    image,  // docker-image://REF (resolved through the ImageResolver), or
            // oci-layout:// (`image` holds it, already in the store)
    local,  // a directory (or a download the CLI made one), with its own .dockerignore
    git,    // a repository at one ref, fetched when the build keys it
  };
  Kind kind = Kind::local;
  std::string value;                   // as given: step names
  std::optional<store::ImageRef> ref;  // image
  std::optional<store::Image> image;   // image from an oci-layout
  std::filesystem::path dir;           // local
  fileop::IgnorePredicate ignored;     // local: its .dockerignore
  fileop::SkipDirPredicate can_skip_dir;
  bool temporary = false;  // local: made for this build (no stat cache)
  fileop::GitRef git;      // git
};

// The key BuildKit looks a name up by: an image name in its familiar form
// without ":latest" ("docker.io/library/alpine:latest" → "alpine"); other
// names as given.
std::string context_name(const std::string& name);

// A directory as a named context (Kind::local), with its own .dockerignore
// (BuildKit reads NAME's .dockerignore, never the main context's).
NamedContext local_context(const std::filesystem::path& dir, const std::string& value);

struct DispatchOptions {
  std::map<std::string, NamedContext> contexts;  // by context_name()
  std::map<std::string, std::string> build_args;
  std::string target;
  std::map<std::string, std::string> labels;
  bool no_cache = false;
  std::set<std::string> no_cache_stages;  // --no-cache-filter: these stages' steps ignore the cache
  // --add-host, --ulimit, --shm-size: every RUN's (solver::ExecVertex).
  std::vector<executor::ExtraHost> extra_hosts;
  std::vector<executor::Ulimit> ulimits;
  std::optional<uint64_t> shm_bytes;
  std::string network = "host";              // the build's default for RUN: "host" or "none"
  bool allow_insecure = false;               // --allow security.insecure
  bool allow_network_host = false;           // --allow network.host: RUN --network=host may run
  solver::ProgressSink* progress = nullptr;  // build-check warnings (convert()); may be null
  // The platform the image is for (TARGETPLATFORM; FROM without --platform
  // resolves to it) and the one the build runs on (BUILDPLATFORM).
  Platform platform = Platform::host();
  Platform build_platform = Platform::host();
  // A multi-platform build: step names start with the platform, as BuildKit's
  // ("[linux/arm64 2/3] RUN …"), so that the platforms' steps are told apart.
  bool name_platform = false;
};

struct Dispatched {
  solver::Definition definition;  // the steps and the target
  store::ImageConfig image;       // the target's config; history without times, no diff_ids
  // dispatch(): the build-check findings only dispatch can see (UndefinedVar:
  // a variable used before ENV or ARG defines it), in dispatch order.
  // convert(): every build-check finding, in line order (see convert()).
  std::vector<frontend::CheckFinding> findings;
};

Dispatched dispatch(const frontend::Dockerfile& dockerfile, const DispatchOptions& options, ImageResolver& images);

// dispatch(), then BuildKit's build checks on the stages the build reaches
// (BuildKit dispatches only those): each finding is a warning to
// options.progress ("WARN: Rule: message (file:line)"), or with
// `# check=error=true` an error naming the first finding's line, before
// anything runs. The result's findings are then every build-check finding
// (the frontend's rules and dispatch's), in line order: the warnings buildx
// summarises after the build.
Dispatched convert(const Source& source, const DispatchOptions& options, ImageResolver& images);

// --call=check (BuildKit's lint subrequest): the build checks on every
// stage (each dispatched, for UndefinedVar), nothing converted for a build
// and nothing reported to options.progress. error: the Dockerfile's
// `# check=error=true` (or BUILDKIT_DOCKERFILE_CHECK) makes the findings fail.
// A bad check directive throws, naming its line.
struct Checked {
  std::vector<frontend::CheckFinding> findings;  // in line order
  bool error = false;
};
Checked check(const Source& source, const DispatchOptions& options, ImageResolver& images);

// Gives a dispatched image its times once its layers are known, as BuildKit's
// exporter does (normalizeLayersAndHistory, patchImageConfig): a step's
// history entry gets the time its layer was first made, so a cached rebuild
// yields the same config and image ID; an entry without a layer gets the
// time of the layer before it (or, before the first new layer, that of the
// first new layer); the image is as old as its last entry (`now` when there
// is none). With SOURCE_DATE_EPOCH every new entry and the image get it.
void stamp_history(store::ImageConfig& image, const std::vector<Layer>& layers,
                   std::optional<int64_t> source_date_epoch, const std::string& now);

}  // namespace xb::convert
