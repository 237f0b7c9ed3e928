// Byte sizes as users write them ("512m", "1.5GiB", "100", "2 kb"), parsed
// as docker's go-units does, so that a flag accepts what docker's accepts.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace xb {

// go-units has two maps: RAMInBytes (docker's --memory, --shm-size,
// `builder prune --keep-storage`, RUN --mount=type=tmpfs,size=) reads
// k/m/g/t/p as powers of 1024; FromHumanSize as powers of 1000.
enum class SizeUnits { binary, decimal };

// A number (decimal, with an optional fraction or exponent), an optional
// space, and an optional unit: b, or k/m/g/t/p followed by nothing, "b" or
// "ib", any case. nullopt for anything else, a negative size, or one
// beyond 2^63-1 bytes (go-units returns an int64). A fraction of a byte
// is cut off, as go-units does.
std::optional<uint64_t> parse_size(std::string_view text, SizeUnits units);

}  // namespace xb
