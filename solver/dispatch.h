// Dispatch (private to solver/): BuildKit's dockerfile2llb. Walks the stages
// the target needs, instruction by instruction, keeping each stage's image
// config, ENV/ARG state and file-system vertex; expands words as BuildKit
// does; yields the graph and the target's image config and history.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "frontend/frontend.h"
#include "solver/ops.h"
#include "store/store.h"

namespace xb::solver {

// Finds (pulling when needed) the image a FROM or --from names.
class ImageResolver {
 public:
  virtual ~ImageResolver() = default;
  virtual store::Image resolve(const store::ImageRef& ref) = 0;
};

struct DispatchOptions {
  std::map<std::string, std::string> build_args;
  std::string target;
  std::map<std::string, std::string> labels;
  bool no_cache = false;
  std::string network = "host";  // the build's default for RUN: "host" or "none"
  bool allow_insecure = false;   // --allow security.insecure
  bool allow_network_host = false;  // --allow network.host: RUN --network=host may run
  std::filesystem::path context_dir;
  fileop::IgnorePredicate ignored;
  fileop::SkipDirPredicate can_skip_dir;
  ContextKeys* context = nullptr;
  fileop::UrlCache* urls = nullptr;  // ADD <url> revalidation (null: download every time)
};

struct Dispatched {
  std::vector<std::unique_ptr<Vertex>> vertices;  // owns every vertex
  Vertex* target = nullptr;  // the target's file system (null: empty)
  store::ImageConfig image;  // the target's config; history without times, no diff_ids
  int steps = 0;             // vertices that may run
  // Build-check findings only dispatch can see (UndefinedVar: a variable
  // used before ENV or ARG defines it), in dispatch order.
  std::vector<frontend::CheckFinding> findings;
};

Dispatched dispatch(const frontend::Dockerfile& dockerfile, const DispatchOptions& options,
                    ImageResolver& images);

// Gives a dispatched image its times once its layers are known, as BuildKit's
// exporter does (normalizeLayersAndHistory, patchImageConfig): a step's
// history entry gets the time its layer was first made, so a cached rebuild
// yields the same config and image ID; an entry without a layer gets the
// time of the layer before it (or, before the first new layer, that of the
// first new layer); the image is as old as its last entry (`now` when there
// is none). With SOURCE_DATE_EPOCH every new entry and the image get it.
void stamp_history(store::ImageConfig& image, const std::vector<Layer>& layers,
                   std::optional<int64_t> source_date_epoch, const std::string& now);

}  // namespace xb::solver
