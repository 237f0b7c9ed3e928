// Small helpers for tests that build and compare directory trees.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace xb::testing {

namespace fs = std::filesystem;

inline void put(const fs::path& p, const std::string& content, mode_t mode = 0644) {
  fs::create_directories(p.parent_path());
  {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << content;
  }
  ::chmod(p.c_str(), mode);
}

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Node {
  char type = '?';    // f, d, l, other
  unsigned mode = 0;  // permission and special bits
  unsigned uid = 0, gid = 0;
  std::string data;  // file content or link target
  ino_t ino = 0;
  bool operator==(const Node& o) const {
    return type == o.type && mode == o.mode && uid == o.uid && gid == o.gid && data == o.data;
  }
};

// Every path below root ("/a", "/a/b"), as lstat and readlink see it.
inline std::map<std::string, Node> snapshot(const fs::path& root) {
  std::map<std::string, Node> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    struct stat st;
    ::lstat(it->path().c_str(), &st);
    Node n;
    n.mode = st.st_mode & 07777;
    n.uid = st.st_uid;
    n.gid = st.st_gid;
    n.ino = st.st_ino;
    if (S_ISREG(st.st_mode)) {
      n.type = 'f';
      n.data = slurp(it->path());
    } else if (S_ISDIR(st.st_mode)) {
      n.type = 'd';
    } else if (S_ISLNK(st.st_mode)) {
      n.type = 'l';
      n.data = fs::read_symlink(it->path()).string();
    } else {
      n.type = 'o';
    }
    out["/" + it->path().lexically_relative(root).string()] = n;
  }
  return out;
}

}  // namespace xb::testing
