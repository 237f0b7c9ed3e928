// JSON text from documents that carry strings out of a Dockerfile, a context
// or a registry. Those are bytes, not always UTF-8, and nlohmann's dump()
// throws on invalid UTF-8 (type_error.316), which once reached the user as
// "error: internal: …". Every dump of such a document goes through here.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace xb {

// A document's text (image config, manifest, index, records, progress,
// inspect output): invalid UTF-8 becomes U+FFFD, as Go's json.Marshal does
// for BuildKit's and docker's documents. indent as nlohmann's dump().
std::string dump_json(const nlohmann::json& j, int indent = -1, char indent_char = ' ');

// Text for a cache key: exactly dump() when every string is valid UTF-8 (keys
// do not change), else each invalid string as its bytes (a JSON binary
// value), so that different bytes never give the same key.
std::string dump_exact(const nlohmann::json& j);

}  // namespace xb
