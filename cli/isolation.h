// How this process isolates what it runs, decided once before a command
// runs (--isolation, $XBUILD_ISOLATION; docs/dev/executor.md "Isolation
// modes"): root with CAP_SYS_ADMIN keeps the namespaces it has always used;
// anyone else first tries a user namespace of its own (rootless: uid 0 in
// it is the user, 1..N the user's /etc/subuid range, mapped by newuidmap),
// then chroot, then none.
#pragma once

#include <string>

namespace xb::cli {

// mode: "auto", "namespaces", "chroot" or "none". A mode that cannot work
// here fails (failed_precondition, one line saying why) before anything
// runs. With announce, one line on stderr says what was chosen and what
// it means, unless it is the plain root case. Must run while the process
// has only one thread (unshare(CLONE_NEWUSER) requires it).
void setup_isolation(const std::string& mode, bool announce);

// Whether a command needs setup_isolation: everything that touches the
// store (whose files, rootless, belong to the subordinate ids).
bool needs_isolation(const std::string& command);

}  // namespace xb::cli
