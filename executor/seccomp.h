// Private to executor/: the default seccomp filter, compiled once to BPF in
// the parent so that the container's child only has to load it.
#pragma once

#include <linux/filter.h>

#include <vector>

namespace xb::executor::detail {

// Docker's default profile in effect for a container with the default
// capabilities: every call it does not allow (mount, module, kexec, bpf,
// keyring, clock, swap, reboot, hostname, namespaces: setns, unshare, clone
// with a namespace flag; socket(AF_VSOCK); old i386 calls) fails with
// EPERM; clone3 fails with ENOSYS so that libc falls back to clone, whose
// flags the filter can see. Differences: docs/dev/executor.md.
const std::vector<sock_filter>& default_seccomp_program();

}  // namespace xb::executor::detail
