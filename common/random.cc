#include "common/random.h"

#include <sys/random.h>

#include <cerrno>

#include "common/error.h"

namespace xb {

std::string random_hex(size_t digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string bytes((digits + 1) / 2, '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("getrandom", "");
    }
    got += static_cast<size_t>(n);
  }
  std::string out;
  out.reserve(digits);
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  out.resize(digits);
  return out;
}

}  // namespace xb
