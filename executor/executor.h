// executor/: runs one process tree in a container of its own and reports how
// it ended. A container here is ordinary processes in fresh mount, PID, IPC
// and UTS namespaces (and a network namespace with only lo for
// Network::none), rooted by pivot_root in the snapshot's mounts, with
// /proc, a minimal /dev, /dev/pts, /dev/shm and a read-only /sys, generated
// /etc/hosts, /etc/resolv.conf and (RunSpec::etc_hostname) /etc/hostname bind-mounted (never
// written into the root), and Docker's default profile: its capabilities,
// no_new_privs, its seccomp filter, its read-only and masked /proc and /sys
// paths, its device allow-list (a cgroup for every run), and the command
// started from a sealed copy of xbuild-init, never from the host's binary;
// plus optional cgroup limits (v1, v2, hybrid).
//
// After run() returns or throws, nothing is left: the processes are dead
// (the PID namespace dies with its PID 1), the mounts lived only in the
// container's mount namespace, the cgroup dirs are removed, and the empty
// mount-point stubs that were created in the root are removed again so that
// they never reach a layer. See docs/dev/executor.md for the setup sequence.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/mount.h"
#include "common/platform.h"

namespace xb::executor {

enum class Network { host, none };
// sandbox: default capabilities + seccomp; insecure: every capability, no
// seccomp filter (--security=insecure, RUN --security=insecure).
enum class Security { sandbox, insecure };
enum class Stream { stdout_stream, stderr_stream };

struct Limits {
  std::optional<uint64_t> memory_bytes;  // memory (and memory+swap) limit
  std::optional<double> cpus;            // e.g. 1.5 CPUs (CFS quota)
  std::optional<int64_t> pids;           // max tasks in the container
};

// A resource limit of the command, docker's --ulimit NAME=SOFT[:HARD]: the
// name as docker spells it (nofile, nproc, core, …), -1 for unlimited. Set
// with setrlimit in the container before the command starts.
struct Ulimit {
  std::string name;
  int64_t soft = 0;
  int64_t hard = 0;
  bool operator==(const Ulimit&) const = default;
};
// The RLIMIT_ resource for a docker ulimit name (go-units' table), or nullopt.
std::optional<int> rlimit_resource(std::string_view name);

// A line of the container's /etc/hosts after the defaults (--add-host HOST:IP).
struct ExtraHost {
  std::string host;
  std::string ip;
  bool operator==(const ExtraHost&) const = default;
};

struct RunSpec {
  // The root file system: the mounts from Snapshotter::prepare/view (the
  // first one goes to "/"; a "ro" option makes the root read-only).
  std::vector<Mount> root;
  // Extra mounts on top, in order: "bind" (source = host path, options
  // "ro"/"rw"), "tmpfs" (options e.g. "size=64m"). Cache mounts are binds.
  // Missing targets are created (and removed again after the run if they
  // were created only as mount points and are still empty).
  std::vector<Mount> mounts;

  std::vector<std::string> args;  // argv; args[0] is looked up in the env's PATH
  std::vector<std::string> env;   // "K=V"; HOME and PATH are added if missing (HOSTNAME is not)
  std::string cwd = "/";          // created (as root, mode 0755) if missing
  // "", "name", "uid", "uid:gid", "name:group": resolved against the root's
  // /etc/passwd and /etc/group (resolve_user below). "" is root.
  std::string user;
  std::string hostname = "xbuild";
  // /etc/hostname bound to the hostname, as docker run does; BuildKit's RUN
  // has none (the root's own file, if any, shows through).
  bool etc_hostname = true;

  Network network = Network::host;
  Security security = Security::sandbox;
  Limits limits;
  std::vector<Ulimit> ulimits;         // applied in order
  std::vector<ExtraHost> extra_hosts;  // appended to the generated /etc/hosts
  uint64_t shm_bytes = 64ull << 20;    // the /dev/shm tmpfs (Docker's default 64 MiB)

  // stdin: an fd the container reads (-1: /dev/null). stdout/stderr: when
  // the fd is >= 0 the container writes straight to it; otherwise, when
  // on_output is set, every chunk is passed to it as it arrives (from the
  // calling thread); otherwise the output is discarded.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::function<void(Stream, std::string_view)> on_output;
  // Give the process a terminal (a pty whose other side is relayed to
  // stdin_fd/stdout_fd; stderr goes to the terminal too). For `xbuild run -t`.
  bool tty = false;

  // 0: no timeout. When it expires the whole tree is killed.
  std::chrono::milliseconds timeout{0};
};

struct ExitStatus {
  int exit_code = 0;        // meaningful when signal == 0
  int signal = 0;           // the signal that killed PID 1, or 0
  bool oom_killed = false;  // the memory limit killed something in the container
  bool timed_out = false;
  bool cancelled = false;                // cancel_all() (Ctrl-C) killed it
  std::optional<uint64_t> memory_limit;  // copied from the spec, for describe()

  bool ok() const { return exit_code == 0 && signal == 0 && !oom_killed && !timed_out && !cancelled; }
  // "exit code 3", "killed by signal SIGSEGV",
  // "killed: out of memory (limit 64 MiB)", "timed out", "cancelled".
  std::string describe() const;
  // What a shell would report: exit_code, or 128+signal.
  int shell_code() const { return signal ? 128 + signal : exit_code; }
};

// Runs spec and waits for PID 1 to exit. Throws xb::Error when the container
// cannot be set up (naming the step: "mount overlay `/…`: EINVAL", "exec
// `foo`: not found in PATH"); a process that runs and fails is a normal
// ExitStatus. Needs uid 0 (of the host, or of a user namespace the cli
// entered: rootless); under Isolation::none it throws failed_precondition.
// Thread-safe: several runs may proceed at once.
ExitStatus run(const RunSpec& spec);

// How containers are isolated; chosen once per process, before the first
// run, by the cli (--isolation, docs/dev/executor.md "Isolation modes").
enum class Isolation {
  // Everything above: as root, or rootless as root of a user namespace
  // (then host device nodes are bound, not made, /sys is the host's
  // read-only unless --network=none, and limits need a delegated cgroup).
  namespaces,
  // No namespace may be made (an unprivileged container): the command runs
  // chrooted into the snapshot's directory (the native driver), with
  // Docker's capabilities, no_new_privs and seccomp filter, but sharing the
  // PID, mount, network, IPC and UTS namespaces of xbuild; generated
  // /etc/hosts and /etc/resolv.conf are put in place for the run and the
  // originals restored; no /proc, /sys or RUN --mount.
  chroot,
  // Not even chroot: RUN steps fail (with one line saying why); steps
  // that only copy files still work.
  none,
};
void set_isolation(Isolation isolation);
Isolation isolation();
const char* to_string(Isolation isolation);

// Kills every running container (async-signal-safe: call it from a SIGINT
// handler); each run() returns with cancelled = true. Later runs start
// normally.
void cancel_all() noexcept;

// Cgroups (<hierarchy>/xbuild/<pid>-<n>) whose xbuild process is gone (it
// was killed before it could remove them): their paths; with remove, their
// processes are killed and the directories removed. For `xbuild prune`.
std::vector<std::string> stale_cgroups(bool remove);

// Secret files (RUN --mount=type=secret) and inline files (RUN heredocs)
// live in memory, in /dev/shm, named by the xbuild process that made them
// (xbuild-secret-<pid>-<suffix>) so that a killed build's are found.
inline constexpr std::string_view kSecretDir = "/dev/shm";
std::string secret_name(std::string_view suffix);
// Those of processes that are gone (files and directories), with their
// size measured before; with remove, removed. For `xbuild prune`.
struct StaleSecret {
  std::filesystem::path path;
  uint64_t size = 0;
};
std::vector<StaleSecret> stale_secrets(bool remove);

// SSH agents for RUN --mount=type=ssh (executor/ssh_agent.cc).
//
// An ssh-agent of xbuild's own holding key files (--ssh ID=KEY[,KEY]), as
// buildx serves one from the files: started with its socket in a private
// directory in memory, the keys added with ssh-add (no passphrase prompt:
// a protected key fails with one line), killed when the object goes. The
// keys never leave the host's files and the agent's memory.
class KeyAgent {
 public:
  // Throws Error(invalid_argument) naming the key ssh-add refused.
  explicit KeyAgent(const std::vector<std::filesystem::path>& keys);
  ~KeyAgent();
  KeyAgent(const KeyAgent&) = delete;
  KeyAgent& operator=(const KeyAgent&) = delete;
  const std::filesystem::path& socket() const { return socket_; }

 private:
  void stop() noexcept;
  std::filesystem::path dir_, socket_;
  int pid_ = -1;
};

// One RUN's view of an agent: a fresh listening socket (owner uid:gid,
// mode; what the mount is bound from) whose every connection is relayed to
// the agent's socket by a thread of its own, until the object goes. The
// container never sees the agent's own socket or path, and xbuild never
// reads what passes (the agent protocol, signatures; no key).
class AgentForward {
 public:
  AgentForward(const std::filesystem::path& agent_socket, const std::filesystem::path& listen_path, uint32_t uid,
               uint32_t gid, uint32_t mode);
  ~AgentForward();
  AgentForward(const AgentForward&) = delete;
  AgentForward& operator=(const AgentForward&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  void relay() noexcept;
  std::filesystem::path agent_, path_;
  int listen_fd_ = -1, stop_fd_ = -1;
  std::thread thread_;
};

// A user resolved against a root file system.
struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;  // supplementary groups, sorted
  std::string home = "/";
};

// Docker's rules (runc's GetExecUser): "name" or "uid" looks the user up in
// passwd (a numeric uid that is not there is used as is, gid 0); the primary
// group is the passwd entry's unless ":group" (name or number) is given;
// supplementary groups are the primary group and (only when no group is
// given) those in group that list the user by name, as BuildKit gives them. Throws not_found for an unknown user or
// group name, invalid_argument for malformed specs. Pure: takes file contents.
User resolve_user(std::string_view spec, std::string_view passwd, std::string_view group);

// ---------------------------------------------------------------------------
// Foreign platforms (docs/dev/executor.md, "Foreign platforms"): a RUN step
// for another architecture runs its programs through a binfmt_misc handler
// (qemu-user-static). The kernel starts the handler for an ELF file whose
// header matches the entry's magic under its mask; the F (fix binary) flag
// makes the kernel open the interpreter at registration, so that it works
// inside a container's root, where the host's /usr/libexec is not.

// One /proc/sys/fs/binfmt_misc entry, as the kernel prints it.
struct BinfmtEntry {
  std::string name;  // the file name ("qemu-aarch64")
  bool enabled = false;
  std::string interpreter;
  std::string flags;       // "PF", "POCF", …
  bool magic_type = true;  // M (magic) rather than E (extension) entries
  size_t offset = 0;
  std::string magic;  // bytes
  std::string mask;   // bytes, same length as magic (all ones when the entry has none)
  bool fix_binary() const { return flags.find('F') != std::string::npos; }
};

// Parses an entry's text ("enabled\ninterpreter …\nflags: PF\noffset 0\n
// magic 7f45…\nmask ff…\n"). Throws Error(invalid_argument) for text that
// is not one.
BinfmtEntry parse_binfmt_entry(std::string_view name, std::string_view text);

// The first bytes of an executable ELF file for platform's architecture
// (what binfmt_misc matches); nullopt for one xbuild does not know.
std::optional<std::string> elf_header(const Platform& platform);

// Whether the host runs platform's programs itself (its own architecture,
// or 386 on amd64), so that no handler is needed.
bool runs_natively(const Platform& host, const Platform& platform);

// The enabled entry that would run platform's programs, or nullptr.
const BinfmtEntry* find_binfmt_handler(const std::vector<BinfmtEntry>& entries, const Platform& platform);

// Throws Error(failed_precondition), one line saying how to fix it, unless
// the host can run platform's programs (natively, or through an enabled
// binfmt_misc handler with the F flag). Reads /proc/sys/fs/binfmt_misc
// (mounting binfmt_misc there when it is not, as root may).
void check_can_run(const Platform& platform);

}  // namespace xb::executor
