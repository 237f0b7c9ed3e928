// Random names for temporary files, snapshots and containers.
#pragma once

#include <cstddef>
#include <string>

namespace xb {

// `digits` lowercase hex digits from the kernel's CSPRNG (getrandom(2)): no
// seed to share between threads or to repeat in a forked child, so two
// processes or threads never race for the same name by construction.
std::string random_hex(size_t digits);

}  // namespace xb
