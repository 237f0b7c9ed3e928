#include "executor/cgroup.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/error.h"

namespace xb::executor::detail {

namespace fs = std::filesystem;

namespace {

struct Layout {
  std::map<std::string, fs::path> v1;  // controller → mount point
  fs::path v2;                         // the cgroup2 mount, if any
  std::vector<std::string> v2_controllers;
};

// Read once: the mount table of cgroup hierarchies does not change under us.
const Layout& layout() {
  static const Layout l = [] {
    Layout out;
    std::ifstream f("/proc/self/mountinfo");
    std::string line;
    while (std::getline(f, line)) {
      // "... mountpoint opts ... - fstype source superopts"
      std::istringstream in(line);
      std::string id, parent, dev, root, mp, opts, tok;
      in >> id >> parent >> dev >> root >> mp >> opts;
      while (in >> tok && tok != "-") {
      }
      std::string fstype, source, super;
      in >> fstype >> source >> super;
      if (fstype == "cgroup2" && out.v2.empty()) {
        out.v2 = mp;
      } else if (fstype == "cgroup") {
        std::istringstream so(super);
        std::string o;
        while (std::getline(so, o, ','))
          if (o == "memory" || o == "pids" || o == "cpu" || o == "devices") out.v1.emplace(o, mp);
      }
    }
    if (!out.v2.empty()) {
      std::ifstream c(out.v2 / "cgroup.controllers");
      std::string ctl;
      while (c >> ctl) out.v2_controllers.push_back(ctl);
    }
    return out;
  }();
  return l;
}

void write_to(const fs::path& p, const std::string& value) {
  UniqueFd fd = open_or_throw(p, O_WRONLY | O_TRUNC);
  if (::write(fd.get(), value.data(), value.size()) < 0) throw_errno("write " + value + " to", p.string());
}

std::string read_small(const fs::path& p) {
  try {
    return read_file(p);
  } catch (const Error&) {
    return "";
  }
}

uint64_t counter(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

// mkdir parent/xbuild/name; another xbuild may remove an empty "xbuild"
// between our two mkdirs, so retry.
fs::path make_dir(const fs::path& mount, const std::string& name) {
  fs::path parent = mount / "xbuild", dir = parent / name;
  for (int attempt = 0;; ++attempt) {
    if (::mkdir(parent.c_str(), 0755) < 0 && errno != EEXIST) throw_errno("mkdir cgroup", parent.string());
    if (::mkdir(dir.c_str(), 0755) == 0) return dir;
    if (errno != ENOENT || attempt > 10) throw_errno("mkdir cgroup", dir.string());
  }
}

// Docker's default device allow-list (moby oci/defaults.go plus runc's
// implicit devices): char major, minor (-1: any).
struct AllowedDevice {
  uint32_t major;
  int64_t minor;
};
constexpr AllowedDevice kAllowedDevices[] = {
    {1, 3},    {1, 5}, {1, 7}, {1, 8}, {1, 9},  // null zero full random urandom
    {5, 0},    {5, 1}, {5, 2},                  // tty console ptmx
    {136, -1},                                  // /dev/pts/*
};

// The v1 devices controller's rules: deny everything, then allow mknod of
// any node (CAP_MKNOD stays, as in Docker) and opening the allowed ones.
void write_device_rules_v1(const fs::path& d) {
  write_to(d / "devices.deny", "a");
  std::vector<std::string> rules = {"c *:* m", "b *:* m"};
  for (const auto& a : kAllowedDevices)
    rules.push_back("c " + std::to_string(a.major) + ":" + (a.minor < 0 ? "*" : std::to_string(a.minor)) + " rwm");
  for (const auto& r : rules) write_to(d / "devices.allow", r);
}

// The same rules as a BPF_PROG_TYPE_CGROUP_DEVICE program (what runc and
// systemd attach on cgroup v2). r1 points to struct bpf_cgroup_dev_ctx;
// return 1 allows, 0 denies (EPERM).
std::vector<bpf_insn> device_program() {
  std::vector<bpf_insn> p;
  auto insn = [&](uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst;
    i.src_reg = src;
    i.off = off;
    i.imm = imm;
    p.push_back(i);
    return p.size() - 1;
  };
  insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0);  // r2 = access_type
  insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0);
  insn(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_3, 0, 0, 0xffff);   // r3 = device type
  insn(BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_2, 0, 0, 16);       // r2 = access
  insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0);  // r4 = major
  insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0);  // r5 = minor
  insn(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_2, 0, 0, ~static_cast<int32_t>(BPF_DEVCG_ACC_MKNOD));
  std::vector<size_t> to_allow, to_deny;
  to_allow.push_back(insn(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_2, 0, 0, 0));  // mknod only
  to_deny.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, 0, BPF_DEVCG_DEV_CHAR));
  for (const auto& a : kAllowedDevices) {
    std::vector<size_t> to_next;
    to_next.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, static_cast<int32_t>(a.major)));
    if (a.minor >= 0)
      to_next.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, static_cast<int32_t>(a.minor)));
    to_allow.push_back(insn(BPF_JMP | BPF_JA, 0, 0, 0, 0));
    for (size_t j : to_next) p[j].off = static_cast<int16_t>(p.size() - j - 1);
  }
  size_t deny = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
  insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  size_t allow = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
  insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  for (size_t j : to_allow) p[j].off = static_cast<int16_t>(allow - j - 1);
  for (size_t j : to_deny) p[j].off = static_cast<int16_t>(deny - j - 1);
  return p;
}

// Loaded once per process; attaching it to a cgroup takes a reference, so
// the kernel keeps it as long as a container's cgroup exists.
int device_program_fd() {
  static const int fd = [] {
    std::vector<bpf_insn> prog = device_program();
    static char log[4096];
    union bpf_attr attr {};
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<uint64_t>(prog.data());
    attr.insn_cnt = static_cast<uint32_t>(prog.size());
    attr.license = reinterpret_cast<uint64_t>("Apache");
    attr.log_buf = reinterpret_cast<uint64_t>(log);
    attr.log_size = sizeof log;
    attr.log_level = 1;
    int r = static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
    if (r < 0) throw_errno(std::string("load the BPF device program (") + log + ")");
    ::fcntl(r, F_SETFD, FD_CLOEXEC);
    return r;
  }();
  return fd;
}

void attach_device_program(int dir_fd, const fs::path& dir) {
  union bpf_attr attr {};
  attr.target_fd = static_cast<uint32_t>(dir_fd);
  attr.attach_bpf_fd = static_cast<uint32_t>(device_program_fd());
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (::syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr) < 0)
    throw_errno("attach the BPF device program to", dir.string());
}

}  // namespace

CgroupDir::CgroupDir(const std::string& name, const Limits& limits, bool restrict_devices) {
  const Layout& l = layout();
  std::vector<std::string> wanted;
  if (limits.memory_bytes) wanted.emplace_back("memory");
  if (limits.pids) wanted.emplace_back("pids");
  if (limits.cpus) wanted.emplace_back("cpu");
  bool bpf_devices = false;
  if (restrict_devices) {
    const char* force = std::getenv("XBUILD_DEVICE_CGROUP");
    std::string mode = force ? force : "";
    bool have_v1 = l.v1.count("devices") != 0;
    // The BPF program wherever there is a cgroup2 hierarchy (hybrid hosts
    // too): the child is then created in its cgroup (CLONE_INTO_CGROUP)
    // instead of moving itself into a v1 one, which costs an RCU grace
    // period (cgroup_threadgroup_rwsem), 5-15 ms per run on this host.
    if (mode == "bpf" || (mode != "v1" && !l.v2.empty())) {
      if (l.v2.empty())
        fail(ErrorKind::failed_precondition,
             "cannot restrict the container's devices: no cgroup devices controller and no cgroup2 hierarchy on this "
             "host (mount one, or build with --allow security.insecure and RUN --security=insecure)");
      bpf_devices = true;
    } else {
      if (!have_v1)
        fail(ErrorKind::failed_precondition, "XBUILD_DEVICE_CGROUP=v1: no cgroup v1 devices controller on this host");
      wanted.emplace_back("devices");
    }
    devices_mode_ = bpf_devices ? "bpf" : "v1";
  }
  try {
    std::vector<std::string> on_v2;
    for (const auto& c : wanted) {
      auto it = l.v1.find(c);
      if (it != l.v1.end()) {
        fs::path d = make_dir(it->second, name);
        dirs_.push_back(d);
        if (c == "devices") {
          write_device_rules_v1(d);
        } else if (c == "memory") {
          memory_dir_ = d;
          write_to(d / "memory.limit_in_bytes", std::to_string(*limits.memory_bytes));
          // Memory+swap equal to memory: no swap, so the limit means what it says.
          if (fs::exists(d / "memory.memsw.limit_in_bytes"))
            write_to(d / "memory.memsw.limit_in_bytes", std::to_string(*limits.memory_bytes));
        } else if (c == "pids") {
          write_to(d / "pids.max", std::to_string(*limits.pids));
        } else {
          write_to(d / "cpu.cfs_period_us", "100000");
          write_to(d / "cpu.cfs_quota_us", std::to_string(static_cast<int64_t>(std::llround(*limits.cpus * 100000))));
        }
      } else if (std::find(l.v2_controllers.begin(), l.v2_controllers.end(), c) != l.v2_controllers.end()) {
        on_v2.push_back(c);
      } else {
        fail(ErrorKind::failed_precondition, "cannot limit " + c + ": no cgroup " + c + " controller on this host");
      }
    }
    if (!on_v2.empty() || bpf_devices) {
      v2_ = true;
      std::string enable;
      for (const auto& c : on_v2) enable += "+" + c + " ";
      if (!enable.empty()) {
        enable.pop_back();
        write_to(l.v2 / "cgroup.subtree_control", enable);
      }
      fs::path d = make_dir(l.v2, name);
      if (!enable.empty()) write_to(l.v2 / "xbuild" / "cgroup.subtree_control", enable);
      dirs_.push_back(d);
      v2_dir_fd_ = open_or_throw(d, O_RDONLY | O_DIRECTORY);
      if (bpf_devices) attach_device_program(v2_dir_fd_.get(), d);
      for (const auto& c : on_v2) {
        if (c == "memory") {
          memory_dir_ = d;
          write_to(d / "memory.max", std::to_string(*limits.memory_bytes));
          if (fs::exists(d / "memory.swap.max")) write_to(d / "memory.swap.max", "0");
        } else if (c == "pids") {
          write_to(d / "pids.max", std::to_string(*limits.pids));
        } else {
          write_to(d / "cpu.max",
                   std::to_string(static_cast<int64_t>(std::llround(*limits.cpus * 100000))) + " 100000");
        }
      }
    }
    for (const auto& d : dirs_) {
      if (v2_dir_fd_ && d.parent_path().parent_path() == l.v2) continue;  // CLONE_INTO_CGROUP
      procs_fds_.push_back(open_or_throw(d / "cgroup.procs", O_WRONLY));
      procs_fd_ints_.push_back(procs_fds_.back().get());
    }
  } catch (...) {
    destroy();
    throw;
  }
}

CgroupDir::~CgroupDir() { destroy(); }

bool CgroupDir::oom_killed() const {
  if (memory_dir_.empty()) return false;
  std::string text = read_small(memory_dir_ / (v2_ && memory_dir_.string().find(layout().v2.string()) == 0
                                                   ? "memory.events"
                                                   : "memory.oom_control"));
  return counter(text, "oom_kill") > 0;
}

void CgroupDir::destroy() noexcept {
  procs_fds_.clear();
  procs_fd_ints_.clear();
  v2_dir_fd_.reset();
  for (const auto& d : dirs_) {
    for (int attempt = 0; attempt < 2000; ++attempt) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) break;
      std::istringstream procs(read_small(d / "cgroup.procs"));
      pid_t pid;
      while (procs >> pid) ::kill(pid, SIGKILL);
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    // The shared parent goes too once no xbuild uses it.
    ::rmdir(d.parent_path().c_str());
  }
  dirs_.clear();
}

}  // namespace xb::executor::detail

namespace xb::executor {

namespace fs = std::filesystem;

namespace {

// Whether pid is a live xbuild process (a recycled pid running something
// else does not keep a cgroup alive).
bool xbuild_alive(pid_t pid) {
  if (::kill(pid, 0) < 0 && errno == ESRCH) return false;
  std::string exe;
  char buf[4096];
  ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  if (n < 0) return errno != ENOENT;
  exe.assign(buf, static_cast<size_t>(n));
  std::string base = fs::path(exe).filename().string();
  return base.find("xbuild") != std::string::npos || base.find("_tests") != std::string::npos;
}

}  // namespace

std::vector<std::string> stale_cgroups(bool remove) {
  const detail::Layout& l = detail::layout();
  std::vector<fs::path> parents;
  for (const auto& [c, mp] : l.v1) parents.push_back(mp / "xbuild");
  if (!l.v2.empty()) parents.push_back(l.v2 / "xbuild");
  std::sort(parents.begin(), parents.end());
  parents.erase(std::unique(parents.begin(), parents.end()), parents.end());
  std::vector<std::string> out;
  for (const auto& parent : parents) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(parent, ec)) {
      if (!e.is_directory()) continue;
      std::string name = e.path().filename().string();
      size_t dash = name.find('-');
      pid_t pid = 0;
      try {
        pid = static_cast<pid_t>(std::stol(name.substr(0, dash)));
      } catch (...) {
        continue;  // not one of ours
      }
      if (dash == std::string::npos || pid <= 0 || xbuild_alive(pid)) continue;
      out.push_back(e.path().string());
      if (!remove) continue;
      for (int attempt = 0; attempt < 2000; ++attempt) {
        if (::rmdir(e.path().c_str()) == 0 || errno != EBUSY) break;
        std::istringstream procs(detail::read_small(e.path() / "cgroup.procs"));
        pid_t p;
        while (procs >> p) ::kill(p, SIGKILL);
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    }
    if (remove) ::rmdir(parent.c_str());
  }
  return out;
}

}  // namespace xb::executor
