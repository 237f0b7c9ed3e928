// Private to executor/: xbuild-init (init.c), the first program of every
// container, as a sealed memfd that the child executes with execveat.
#pragma once

#include <cstddef>

namespace xb::executor::detail {

// Its bytes (generated from the static build of init.c by embed.cmake).
extern const unsigned char kInitBinary[];
extern const size_t kInitBinarySize;

// A memfd with kInitBinary, sealed against writes, growing, shrinking and
// further seal changes, so that a container that reaches it through
// /proc/<pid>/exe can neither change it nor the host's xbuild. Created once
// per process (runc also keeps one sealed copy); close-on-exec.
int init_binary_fd();

}  // namespace xb::executor::detail
