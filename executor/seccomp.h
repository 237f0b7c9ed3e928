// Private to executor/: the default seccomp filter, compiled once to BPF in
// the parent so that the container's child only has to load it.
#pragma once

#include <linux/filter.h>

#include <vector>

namespace xb::executor::detail {

// Docker's default profile in effect for a container with the default
// capabilities: mount, module, kexec, bpf, keyring, clock, swap, reboot,
// namespace (setns, unshare, clone with CLONE_NEWUSER) and similar calls
// fail with EPERM; clone3 fails with ENOSYS so that libc falls back to
// clone, whose flags the filter can see.
const std::vector<sock_filter>& default_seccomp_program();

}  // namespace xb::executor::detail
