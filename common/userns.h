// Whether this process runs in a user namespace of its own (rootless
// xbuild, or inside a container that has one): then overlayfs keeps its
// bookkeeping in user.overlay.* xattrs (mount option userxattr), device
// nodes cannot be made, and sysfs cannot be mounted for the host network.
// Kept in common/ because the snapshotter and the executor both adapt to it.
#pragma once

namespace xb {

// True unless /proc/self/uid_map is the initial namespace's identity map of
// all 2^32 ids (read at each call: the cli may enter one after a first look).
// Also true after note_user_namespace(): an identity map of all ids (root
// of a container entering a namespace of its own) cannot be told apart.
bool in_user_namespace();
void note_user_namespace();

}  // namespace xb
