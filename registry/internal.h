// Private helpers of registry/, shared by its .cc files and its tests.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace xb::registry {

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace xb::registry
