// Private helpers of registry/, shared by its .cc files and its tests.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace xb::registry {

// Part of the transport's message for a plain-HTTP server on an HTTPS
// port; the client's HTTPS probe tells it from other TLS failures by it.
inline constexpr std::string_view kPlainHttpOnTlsPort = "the server answers plain HTTP, not TLS";

std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace xb::registry
