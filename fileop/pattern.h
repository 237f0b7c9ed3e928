// Path patterns of COPY/ADD, private to fileop/: Go's filepath.Match (the
// wildcards of source paths) and BuildKit's patternmatcher (--exclude and
// --parents patterns: .dockerignore syntax with `**` and `!` exceptions).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/pattern.h"
#include "fileop/fileop.h"

namespace xb::fileop {

// Whether one path element has an unescaped '*', '?' or '['.
bool has_wildcards(std::string_view element);

}  // namespace xb::fileop
