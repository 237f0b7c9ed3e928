// The build's inputs as buildx takes them: CONTEXT (a directory, `-`, a
// tarball, an http(s) URL of a tarball or a Dockerfile, a git URL), -f
// (a path, or `-`: stdin) and --build-context NAME=VALUE. What is not a
// host directory is fetched or unpacked into temporary directories that
// live as long as the BuildInputs (fileop's git_checkout, unpack_context).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fs.h"
#include "convert/convert.h"
#include "store/store.h"

namespace xb::cli {

struct BuildInputs {
  std::filesystem::path context_dir;
  std::filesystem::path dockerfile;  // where to read it on the host
  std::string dockerfile_display;    // how errors name it
  bool temporary = false;            // the context was made for this build
  std::vector<std::shared_ptr<TempDir>> temps;
};

// CONTEXT and -f: a remote or archived context's -f names a file inside it
// (as BuildKit reads it there); `-` for both is a usage error. A git
// context keeps .git with keep_git_dir (BUILDKIT_CONTEXT_KEEP_GIT_DIR).
BuildInputs resolve_inputs(const std::string& context, const std::optional<std::string>& file, bool keep_git_dir);

// One --build-context NAME=VALUE: docker-image://REF, oci-layout://DIR[:TAG|@DIGEST]
// (its image copied into the store, untagged), a git URL, an http(s) URL
// (the file itself, named as ADD names a download, as BuildKit v0.13's),
// else a directory. Temporary
// directories join `inputs.temps`. Returns the name as convert looks it up.
std::pair<std::string, convert::NamedContext> parse_build_context(const std::string& text, store::Store& store,
                                                                  BuildInputs& inputs);

}  // namespace xb::cli
