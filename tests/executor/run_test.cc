// Containers for real, as root, on a busybox root file system made by
// tests/tools/make-busybox-rootfs and mounted as an overlay: what a user
// would check from inside (PID 1, hostname, capabilities, limits) and from
// outside (no write reaches the host, no mount, process or cgroup is left).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <atomic>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "executor/executor.h"
#include "executor/init_binary.h"

namespace xb::executor {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Cgroup dirs this process created and left behind, in any hierarchy.
int leftover_cgroups() {
  int n = 0;
  std::string prefix = std::to_string(::getpid()) + "-";
  for (const char* h : {"memory", "pids", "cpu", "devices", "unified"}) {
    fs::path d = fs::path("/sys/fs/cgroup") / h / "xbuild";
    std::error_code ec;
    for (auto& e : fs::directory_iterator(d, ec)) n += e.path().filename().string().rfind(prefix, 0) == 0;
  }
  return n;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class RunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    const char* src = std::getenv("XBUILD_SOURCE_DIR");
    std::string tool = std::string(src ? src : ".") + "/tests/tools/make-busybox-rootfs";
    lower_ = new TempDir("xb-exec-rootfs");
    std::string cmd = "sh " + tool + " " + (lower_->path() / "rootfs.tar").string() + " && mkdir " +
                      (lower_->path() / "root").string() + " && tar -xf " + (lower_->path() / "rootfs.tar").string() +
                      " -C " + (lower_->path() / "root").string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() {
    delete lower_;
    lower_ = nullptr;
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "containers need root";
    for (const char* d : {"upper", "work"}) fs::create_directory(dir_.path() / d);
  }

  fs::path lower() const { return lower_->path() / "root"; }
  fs::path upper() const { return dir_.path() / "upper"; }

  RunSpec spec(std::vector<std::string> args) {
    RunSpec s;
    s.root = {Mount{"overlay",
                    "overlay",
                    "/",
                    {"lowerdir=" + lower().string(), "upperdir=" + upper().string(),
                     "workdir=" + (dir_.path() / "work").string()}}};
    s.args = std::move(args);
    s.hostname = "xb-test";
    s.on_output = [this](Stream st, std::string_view d) { (st == Stream::stdout_stream ? out_ : err_) += d; };
    return s;
  }
  ExitStatus sh(const std::string& script, RunSpec* custom = nullptr) {
    RunSpec s = custom ? *custom : spec({});
    s.args = {"/bin/sh", "-c", script};
    out_.clear();
    err_.clear();
    return run(s);
  }

  static TempDir* lower_;
  TempDir dir_{"xb-exec-test"};
  std::string out_, err_;
};

TempDir* RunTest::lower_ = nullptr;

TEST_F(RunTest, ProcessIsPid1WithItsOwnHostname) {
  ExitStatus st = sh("echo $$; hostname; cat /etc/hostname");
  EXPECT_TRUE(st.ok()) << st.describe() << err_;
  EXPECT_EQ(out_, "1\nxb-test\nxb-test\n");
}

TEST_F(RunTest, ExitCodesAndOutputStreams) {
  ExitStatus st = sh("echo out; echo err >&2; exit 3");
  EXPECT_EQ(st.exit_code, 3);
  EXPECT_EQ(st.describe(), "exit code 3");
  EXPECT_EQ(out_, "out\n");
  EXPECT_EQ(err_, "err\n");
}

TEST_F(RunTest, HostProcessesAndMountsAreInvisible) {
  ASSERT_TRUE(sh("ps -o pid | tail -n +2; echo ---; cat /proc/self/mountinfo").ok()) << err_;
  std::string procs = out_.substr(0, out_.find("---"));
  EXPECT_LE(count_lines(procs), 3) << procs;  // sh, ps (and tail)
  EXPECT_EQ(out_.find(" /work"), std::string::npos) << out_;
  EXPECT_EQ(out_.find(" /run/xbuild"), std::string::npos) << out_;
}

TEST_F(RunTest, WritesStayInTheUpperDir) {
  ASSERT_TRUE(sh("echo x > /newfile && rm /bin/ls && mkdir -p /a/b").ok()) << err_;
  EXPECT_TRUE(fs::exists(lower() / "bin/ls"));
  EXPECT_FALSE(fs::exists(lower() / "newfile"));
  EXPECT_FALSE(fs::exists("/newfile"));
  EXPECT_EQ(slurp(upper() / "newfile"), "x\n");
  // Mount points created for /proc, /dev, /sys and /etc/hosts are gone again.
  EXPECT_FALSE(fs::exists(upper() / "proc"));
  EXPECT_FALSE(fs::exists(upper() / "dev"));
  EXPECT_FALSE(fs::exists(upper() / "etc/hosts"));
  EXPECT_FALSE(fs::exists(upper() / "etc"));
}

TEST_F(RunTest, BindRootGetsItsMountPointStubsRemoved) {
  // The native snapshotter hands out a bind mount of a full tree: mount
  // points are created in it for the run and removed again afterwards.
  fs::path tree = dir_.path() / "tree";
  ASSERT_EQ(std::system(("cp -a " + lower().string() + " " + tree.string()).c_str()), 0);
  RunSpec s = spec({});
  s.root = {Mount{"bind", tree.string(), "/", {"rbind", "rw"}}};
  ASSERT_TRUE(sh("cat /etc/hostname && echo y > /made", &s).ok()) << err_;
  EXPECT_EQ(out_, "xb-test\n");
  EXPECT_TRUE(fs::exists(tree / "made"));
  for (const char* p : {"proc", "dev", "sys", "etc/hosts", "etc/hostname", "etc/resolv.conf"})
    EXPECT_FALSE(fs::exists(tree / p)) << p;
  EXPECT_TRUE(fs::exists(tree / "etc/passwd"));
}

TEST_F(RunTest, DefaultCapabilitiesNoNewPrivsAndSeccomp) {
  ASSERT_TRUE(sh("grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status").ok()) << err_;
  EXPECT_NE(out_.find("CapEff:\t00000000a80425fb"), std::string::npos) << out_;
  EXPECT_NE(out_.find("CapBnd:\t00000000a80425fb"), std::string::npos) << out_;
  EXPECT_NE(out_.find("NoNewPrivs:\t1"), std::string::npos) << out_;
  EXPECT_NE(out_.find("Seccomp:\t2"), std::string::npos) << out_;
  // Blocked by the filter (and by the missing CAP_SYS_ADMIN).
  EXPECT_FALSE(sh("mount -t tmpfs none /mnt").ok());
  EXPECT_FALSE(sh("unshare -U true").ok());
}

TEST_F(RunTest, InsecureLiftsCapabilitiesAndSeccomp) {
  RunSpec s = spec({});
  s.security = Security::insecure;
  ASSERT_TRUE(
      sh("grep -E '^(CapEff|Seccomp):' /proc/self/status; mkdir -p /mnt && mount -t tmpfs none /mnt && echo mounted",
         &s)
          .ok())
      << err_;
  EXPECT_EQ(out_.find("CapEff:\t00000000a80425fb"), std::string::npos) << out_;
  EXPECT_NE(out_.find("Seccomp:\t0"), std::string::npos) << out_;
  EXPECT_NE(out_.find("mounted"), std::string::npos);
}

TEST_F(RunTest, UserGroupsAndWorkdir) {
  RunSpec s = spec({});
  s.user = "app";
  s.cwd = "/work/dir";
  ASSERT_TRUE(sh("id; pwd; grep CapEff /proc/self/status; echo $HOME", &s).ok()) << err_;
  // What BuildKit v0.13 prints for USER app on this root (primary gid among the groups).
  EXPECT_NE(out_.find("uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n"), std::string::npos) << out_;
  EXPECT_NE(out_.find("/work/dir\n"), std::string::npos);
  EXPECT_NE(out_.find("CapEff:\t0000000000000000"), std::string::npos) << out_;
  EXPECT_NE(out_.find("/home/app"), std::string::npos);
}

TEST_F(RunTest, TerminalFromTheContainersDevpts) {
  RunSpec s = spec({});
  s.tty = true;
  ASSERT_TRUE(sh("tty; echo $TERM", &s).ok()) << out_;
  EXPECT_EQ(out_, "/dev/pts/0\r\nxterm\r\n");
}

TEST_F(RunTest, OnlyStdioIsInherited) {
  int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_TRUE(sh("ls /proc/self/fd").ok()) << err_;
  ::close(leaked);
  EXPECT_EQ(out_, "0\n1\n2\n3\n") << out_;  // 3: ls's own directory
}

TEST_F(RunTest, NetworkNoneHasOnlyLoopback) {
  RunSpec s = spec({});
  s.network = Network::none;
  ASSERT_TRUE(sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/operstate", &s).ok())
      << err_;
  EXPECT_TRUE(out_ == "lo\nunknown\n" || out_ == "lo\nup\n") << out_;
}

TEST_F(RunTest, MemoryLimitKillsWithAClearMessage) {
  RunSpec s = spec({});
  s.limits.memory_bytes = 64ull << 20;
  ExitStatus st = sh("head -c 300m /dev/zero | tail > /dev/null; echo survived", &s);
  EXPECT_TRUE(st.oom_killed) << st.describe() << out_ << err_;
  EXPECT_EQ(st.describe(), "killed: out of memory (limit 64 MiB)");
  EXPECT_EQ(leftover_cgroups(), 0);
}

TEST_F(RunTest, PidsLimitStopsAForkStorm) {
  RunSpec s = spec({});
  s.limits.pids = 20;
  s.timeout = std::chrono::seconds(20);
  ExitStatus st = sh("i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; echo spawned $i", &s);
  EXPECT_FALSE(st.timed_out);
  EXPECT_NE(err_.find("fork"), std::string::npos) << st.describe() << out_ << err_;
}

TEST_F(RunTest, CpuLimitIsAccepted) {
  RunSpec s = spec({});
  s.limits.cpus = 0.5;
  EXPECT_TRUE(sh("true", &s).ok()) << err_;
}

TEST_F(RunTest, TimeoutAndCancelKillTheTree) {
  RunSpec s = spec({});
  s.timeout = std::chrono::milliseconds(300);
  auto t0 = std::chrono::steady_clock::now();
  ExitStatus st = sh("sleep 100 & sleep 100", &s);
  EXPECT_TRUE(st.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));

  std::thread canceller([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel_all();
  });
  st = sh("sleep 100");
  canceller.join();
  EXPECT_TRUE(st.cancelled) << st.describe();
  // A later run is not affected.
  EXPECT_TRUE(sh("true").ok());
}

TEST_F(RunTest, ExtraMountsBindAndTmpfs) {
  TempDir host("xb-exec-bind");
  RunSpec s = spec({});
  s.mounts = {Mount{"bind", host.path().string(), "/data", {"rw"}}, Mount{"bind", host.path().string(), "/ro", {"ro"}},
              Mount{"tmpfs", "", "/scratch", {"size=1m"}}};
  ASSERT_TRUE(sh("echo hi > /data/f && ! echo no > /ro/g 2>/dev/null && echo t > /scratch/x && cat /ro/f", &s).ok())
      << err_;
  EXPECT_EQ(out_, "hi\n");
  EXPECT_EQ(slurp(host.path() / "f"), "hi\n");
  EXPECT_FALSE(fs::exists(host.path() / "g"));
  EXPECT_FALSE(fs::exists(upper() / "data"));
}

// A read-only bind of a directory with a mount inside it (a context on a
// host with submounts): the submount is read-only in the container too, as
// mount_setattr(MOUNT_ATTR_RDONLY, AT_RECURSIVE) makes it (crun, bubblewrap);
// a remount of the bind alone would leave it writable.
TEST_F(RunTest, ReadOnlyBindIsReadOnlyInItsSubmounts) {
  TempDir host("xb-exec-rbind");
  fs::create_directory(host.path() / "sub");
  ASSERT_EQ(::mount("tmpfs", (host.path() / "sub").c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{host.path() / "sub"};
  std::ofstream(host.path() / "sub/f") << "host\n";
  RunSpec s = spec({});
  s.mounts = {Mount{"bind", host.path().string(), "/ro", {"ro", "rbind"}}};
  ExitStatus st = sh(
      "cat /ro/sub/f; echo top > /ro/g; echo sub > /ro/sub/g; echo over > /ro/sub/f; "
      "grep ' /ro/sub ' /proc/self/mountinfo | cut -d' ' -f6",
      &s);
  EXPECT_EQ(st.signal, 0) << st.describe() << err_;
  EXPECT_EQ(out_.substr(0, 5), "host\n") << out_;
  EXPECT_NE(out_.find("\nro"), std::string::npos) << "the submount's mount options: " << out_;
  EXPECT_FALSE(fs::exists(host.path() / "g"));
  EXPECT_FALSE(fs::exists(host.path() / "sub/g")) << "a write went through the read-only bind's submount";
  EXPECT_EQ(slurp(host.path() / "sub/f"), "host\n");
}

// CVE-2024-23652 shape: the RUN moves a stub's parent away and puts a symlink
// to a host directory in its place; removing the stubs after the run must not
// follow it (the host's empty dir and file named like the stubs stay).
TEST_F(RunTest, StubCleanupDoesNotFollowASymlinkPlantedByTheRun) {
  TempDir host("xb-exec-host");
  fs::create_directory(host.path() / "stub");
  std::ofstream(host.path() / "file").close();
  TempDir src("xb-exec-src");
  std::ofstream(src.path() / "f") << "bound\n";
  // A bind root (native snapshotter): overlayfs refuses to rename the parent (EXDEV).
  fs::path tree = dir_.path() / "tree";
  ASSERT_EQ(std::system(("cp -a " + lower().string() + " " + tree.string()).c_str()), 0);
  RunSpec s = spec({});
  s.root = {Mount{"bind", tree.string(), "/", {"rbind", "rw"}}};
  s.mounts = {Mount{"tmpfs", "", "/m/stub", {"size=1m"}},
              Mount{"bind", (src.path() / "f").string(), "/m/file", {"ro"}}};
  ASSERT_TRUE(sh("mv /m /m.old && ln -s " + host.path().string() + " /m && echo planted", &s).ok()) << err_;
  EXPECT_EQ(out_, "planted\n");
  EXPECT_TRUE(fs::is_symlink(tree / "m"));
  EXPECT_TRUE(fs::is_directory(host.path() / "stub")) << "the stub cleanup deleted a host directory";
  EXPECT_TRUE(fs::exists(host.path() / "file")) << "the stub cleanup deleted a host file";
}

TEST_F(RunTest, ProcAsInDockersDefaultProfile) {
  // Read-only: kernel settings; masked: /proc/keys, /proc/timer_list, /sys/firmware.
  ASSERT_TRUE(sh("( : >> /proc/sys/kernel/core_pattern ) 2>&1; ( : >> /proc/irq/default_smp_affinity ) 2>&1;"
                 "wc -c < /proc/timer_list; wc -c < /proc/keys; ls -A /sys/firmware | wc -l")
                  .ok())
      << err_;
  EXPECT_NE(out_.find("/proc/sys/kernel/core_pattern: Read-only file system"), std::string::npos) << out_;
  EXPECT_NE(out_.find("/proc/irq/default_smp_affinity: Read-only file system"), std::string::npos) << out_;
  EXPECT_TRUE(out_.ends_with("\n0\n0\n0\n")) << out_;
}

TEST_F(RunTest, HostDevicesCannotBeOpened) {
  // mknod is allowed (CAP_MKNOD, as in Docker); opening is not.
  for (const char* mode : {"v1", "bpf"}) {
    if (std::string(mode) == "v1" && !fs::exists("/sys/fs/cgroup/devices/devices.allow")) continue;
    ::setenv("XBUILD_DEVICE_CGROUP", mode, 1);
    struct Unset {
      ~Unset() { ::unsetenv("XBUILD_DEVICE_CGROUP"); }
    } unset;
    ExitStatus st = sh(
        "rm -f /kmsg /loop; mknod /kmsg c 1 11 && mknod /loop b 7 0 && echo made;"
        "head -c 1 /kmsg 2>&1; head -c 1 /loop 2>&1; echo x > /dev/null && echo null-ok");
    EXPECT_TRUE(st.ok()) << st.describe() << err_;
    EXPECT_NE(out_.find("made\n"), std::string::npos) << mode << ": " << out_;
    EXPECT_NE(out_.find("/kmsg: Operation not permitted"), std::string::npos) << mode << ": " << out_;
    EXPECT_NE(out_.find("/loop: Operation not permitted"), std::string::npos) << mode << ": " << out_;
    EXPECT_NE(out_.find("null-ok"), std::string::npos) << mode << ": " << out_;
  }
  EXPECT_EQ(leftover_cgroups(), 0);
}

TEST_F(RunTest, CommandsStartFromASealedInitNotTheHostBinary) {
  // An interpreter of /proc/self/exe reaches xbuild-init, not this binary.
  ASSERT_TRUE(sh("printf '#!/proc/self/exe\\n' > /evil && chmod +x /evil").ok()) << err_;
  RunSpec s = spec({"/evil"});
  out_.clear();
  err_.clear();
  ExitStatus st = run(s);
  EXPECT_EQ(st.exit_code, 127) << st.describe();
  EXPECT_NE(err_.find("xbuild-init: starts a container's command"), std::string::npos) << err_;
  // Its copy cannot be changed, not even through a writable reopen.
  int fd = detail::init_binary_fd();
  int seals = ::fcntl(fd, F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
            F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  UniqueFd w(::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(w);
  EXPECT_LT(::write(w.get(), "x", 1), 0);
  EXPECT_EQ(errno, EPERM);
}

TEST_F(RunTest, NothingLeaksAfterAFailedRun) {
  std::string before = slurp("/proc/self/mountinfo");
  RunSpec s = spec({"/no/such/command"});
  s.limits.memory_bytes = 64ull << 20;
  try {
    run(s);
    ADD_FAILURE() << "exec of a missing command succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/command"), std::string::npos) << e.what();
  }
  RunSpec bad = spec({"true"});
  bad.root[0].options[0] = "lowerdir=/nonexistent-lower";
  EXPECT_THROW(run(bad), Error);
  // Other processes may unmount things meanwhile: no more lines than before.
  EXPECT_LE(count_lines(slurp("/proc/self/mountinfo")), count_lines(before));
  EXPECT_EQ(leftover_cgroups(), 0);
  EXPECT_TRUE(fs::is_empty(upper()));
}

// The solver runs steps from several threads while others are being
// created. A child that called glibc's setgroups/setresuid then waited
// forever for a thread the parent was creating at clone time (glibc
// broadcasts those calls to every thread it knows of); each run here has a
// timeout, so a regression fails instead of hanging.
TEST_F(RunTest, RunsWhileOtherThreadsAreBeingCreated) {
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop) std::thread([] {}).join();
  });
  int bad = 0;
  std::string last;
  for (int i = 0; i < 40; ++i) {
    RunSpec s = spec({});
    s.user = "app";
    s.timeout = std::chrono::seconds(5);
    ExitStatus st = sh("id -u", &s);
    if (!st.ok() || out_ != "1000\n") {
      bad++;
      last = st.describe() + " " + out_ + err_;
    }
  }
  stop = true;
  churn.join();
  EXPECT_EQ(bad, 0) << last;
}

}  // namespace
}  // namespace xb::executor
