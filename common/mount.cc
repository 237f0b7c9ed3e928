#include "common/mount.h"

#include <sys/mount.h>
#include <unistd.h>

#include "common/error.h"

namespace xb {

namespace {

// Longest common directory prefix ("/a/b/") of paths, or "".
std::string common_dir(const std::vector<std::string>& paths) {
  if (paths.empty()) return "";
  std::string prefix = paths[0];
  for (const auto& p : paths) {
    size_t n = 0;
    while (n < prefix.size() && n < p.size() && prefix[n] == p[n]) ++n;
    prefix.resize(n);
  }
  auto slash = prefix.rfind('/');
  return slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
}

}  // namespace

MountArgs mount_args(const Mount& mount) {
  MountArgs a;
  std::vector<std::string> data;
  for (const auto& o : mount.options) {
    if (o == "ro") a.flags |= MS_RDONLY;
    else if (o == "rw") a.flags &= ~static_cast<unsigned long>(MS_RDONLY);
    else if (o == "nosuid") a.flags |= MS_NOSUID;
    else if (o == "nodev") a.flags |= MS_NODEV;
    else if (o == "noexec") a.flags |= MS_NOEXEC;
    else if (o == "noatime") a.flags |= MS_NOATIME;
    else if (o == "relatime") a.flags |= MS_RELATIME;
    else if (o == "bind") a.bind = true;
    else if (o == "rbind") {
      a.bind = true;
      a.flags |= MS_REC;
    } else data.push_back(o);
  }
  if (mount.type == "bind") a.bind = true;
  if (a.bind) a.flags |= MS_BIND;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) {
      if (!s.empty()) s += ',';
      s += x;
    }
    return s;
  };
  a.data = join(data);
  long page = ::sysconf(_SC_PAGESIZE);
  if (mount.type != "overlay" || static_cast<long>(a.data.size()) < page) return a;
  // Name the snapshot dirs relative to their common parent (dirs elsewhere,
  // e.g. an extra layer the executor adds, stay absolute).
  std::vector<std::string> lowers, others;
  for (const auto& o : data) {
    auto eq = o.find('=');
    if (eq == std::string::npos) continue;
    std::string k = o.substr(0, eq), v = o.substr(eq + 1);
    if (k == "lowerdir") {
      size_t i = 0;
      while (i <= v.size()) {
        size_t j = v.find(':', i);
        if (j == std::string::npos) j = v.size();
        lowers.push_back(v.substr(i, j - i));
        i = j + 1;
      }
    } else if (k == "upperdir" || k == "workdir") {
      others.push_back(v);
    }
  }
  if (lowers.empty()) return a;
  std::vector<std::string> dirs = others;
  dirs.push_back(lowers.back());
  if (others.empty() && lowers.size() >= 2) dirs.push_back(lowers[lowers.size() - 2]);
  std::string base = common_dir(dirs);
  if (base.size() <= 1) return a;
  auto strip = [&](const std::string& p) { return p.rfind(base, 0) == 0 ? p.substr(base.size()) : p; };
  std::vector<std::string> rel;
  for (const auto& o : data) {
    auto eq = o.find('=');
    std::string k = eq == std::string::npos ? o : o.substr(0, eq);
    if (k == "lowerdir") {
      std::string v = o.substr(eq + 1), out;
      size_t i = 0;
      while (i <= v.size()) {
        size_t j = v.find(':', i);
        if (j == std::string::npos) j = v.size();
        if (!out.empty()) out += ':';
        out += strip(v.substr(i, j - i));
        i = j + 1;
      }
      rel.push_back("lowerdir=" + out);
    } else if (k == "upperdir" || k == "workdir") {
      rel.push_back(k + "=" + strip(o.substr(eq + 1)));
    } else {
      rel.push_back(o);
    }
  }
  a.data = join(rel);
  a.chdir = base;
  if (static_cast<long>(a.data.size()) >= page)
    fail(ErrorKind::failed_precondition, "overlay mount options are too long even relative to " + base + " (" +
                                             std::to_string(a.data.size()) + " bytes): too many layers");
  return a;
}

}  // namespace xb
