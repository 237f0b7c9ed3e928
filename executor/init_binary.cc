#include "executor/init_binary.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "common/fs.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux 6.3: executable even where vm.memfd_noexec asks for MFD_NOEXEC_SEAL
#endif

namespace xb::executor::detail {

int init_binary_fd() {
  static const int fd = [] {
    int f = ::memfd_create("xbuild-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (f < 0 && errno == EINVAL) f = ::memfd_create("xbuild-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (f < 0) throw_errno("memfd_create", "xbuild-init");
    UniqueFd owner(f);
    write_all(f, std::string_view(reinterpret_cast<const char*>(kInitBinary), kInitBinarySize), "xbuild-init memfd");
    if (::fcntl(f, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
      throw_errno("seal", "xbuild-init memfd");
    return owner.release();
  }();
  return fd;
}

}  // namespace xb::executor::detail
