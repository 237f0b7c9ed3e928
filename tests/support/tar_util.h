// A tiny ustar writer and reader for crafting hostile layers in tests (names
// with "..", absolute names, links out of the root) that real tar tools
// refuse to write, layers as Go's archive/tar writes them, and for listing
// what a diff produced byte for byte (independent of libarchive).
#pragma once

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace xb::testing {

class TarBuilder {
 public:
  TarBuilder& file(const std::string& name, const std::string& content, unsigned mode = 0644, unsigned uid = 0,
                   unsigned gid = 0, long mtime = 1700000000) {
    header(name, '0', content.size(), mode, "", uid, gid, mtime);
    out_ += content;
    out_.append((512 - content.size() % 512) % 512, '\0');
    return *this;
  }
  // A pax extended header for the next entry: "SCHILY.xattr.user.k" = v.
  TarBuilder& pax(const std::string& key, const std::string& value) { return pax({{key, value}}); }
  // One pax extended header with several records, written as Go's
  // archive/tar writes them: values as bytes, no hdrcharset.
  TarBuilder& pax(const std::vector<std::pair<std::string, std::string>>& records) {
    std::string body;
    for (const auto& [key, value] : records) {
      std::string rec = " " + key + "=" + value + "\n";
      size_t len = rec.size() + 1;
      while (std::to_string(len).size() + rec.size() != len) ++len;
      body += std::to_string(len) + rec;
    }
    header("PaxHeader", 'x', body.size(), 0644, "", 0, 0, 1700000000);
    out_ += body;
    out_.append((512 - body.size() % 512) % 512, '\0');
    return *this;
  }
  TarBuilder& dir(const std::string& name, unsigned mode = 0755, unsigned uid = 0, unsigned gid = 0) {
    header(name, '5', 0, mode, "", uid, gid, 1700000000);
    return *this;
  }
  TarBuilder& symlink(const std::string& name, const std::string& target) {
    header(name, '2', 0, 0777, target, 0, 0, 1700000000);
    return *this;
  }
  TarBuilder& hardlink(const std::string& name, const std::string& target) {
    header(name, '1', 0, 0644, target, 0, 0, 1700000000);
    return *this;
  }
  TarBuilder& fifo(const std::string& name) {
    header(name, '6', 0, 0644, "", 0, 0, 1700000000);
    return *this;
  }
  TarBuilder& chardev(const std::string& name, unsigned major, unsigned minor) {
    header(name, '3', 0, 0666, "", 0, 0, 1700000000, major, minor);
    return *this;
  }
  std::string finish() const { return out_ + std::string(1024, '\0'); }

 private:
  void header(const std::string& name, char type, size_t size, unsigned mode, const std::string& link, unsigned uid,
              unsigned gid, long mtime, unsigned major = 0, unsigned minor = 0) {
    char h[512] = {};
    std::snprintf(h, 100, "%s", name.c_str());
    std::snprintf(h + 100, 8, "%07o", mode);
    std::snprintf(h + 108, 8, "%07o", uid);
    std::snprintf(h + 116, 8, "%07o", gid);
    std::snprintf(h + 124, 12, "%011lo", static_cast<unsigned long>(size));
    std::snprintf(h + 136, 12, "%011lo", static_cast<unsigned long>(mtime));
    h[156] = type;
    std::snprintf(h + 157, 100, "%s", link.c_str());
    std::memcpy(h + 257,
                "ustar\0"
                "00",
                8);
    std::snprintf(h + 329, 8, "%07o", major);
    std::snprintf(h + 337, 8, "%07o", minor);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    out_.append(h, 512);
  }
  std::string out_;
};

struct TarEntry {
  std::string name;
  char type;
  std::string link;
  std::string content;
  unsigned mode;
  long mtime;
  std::map<std::string, std::string> pax;  // the records of its pax header
};

// Lists a tar's entries (ustar and pax "path"/"linkpath" records).
inline std::vector<TarEntry> read_tar(const std::string& tar) {
  std::vector<TarEntry> out;
  size_t off = 0;
  std::map<std::string, std::string> pax;
  while (off + 512 <= tar.size()) {
    const char* h = tar.data() + off;
    if (h[0] == 0) break;
    size_t size = std::strtoul(std::string(h + 124, 12).c_str(), nullptr, 8);
    char type = h[156];
    std::string body = tar.substr(off + 512, size);
    off += 512 + (size + 511) / 512 * 512;
    if (type == 'x') {
      size_t i = 0;
      while (i < body.size()) {
        size_t sp = body.find(' ', i);
        size_t len = std::stoul(body.substr(i, sp - i));
        std::string rec = body.substr(sp + 1, len - (sp - i) - 2);
        auto eq = rec.find('=');
        pax[rec.substr(0, eq)] = rec.substr(eq + 1);
        i += len;
      }
      continue;
    }
    TarEntry e;
    std::string prefix(h + 345, strnlen(h + 345, 155));
    e.name = std::string(h, strnlen(h, 100));
    if (!prefix.empty()) e.name = prefix + "/" + e.name;
    if (pax.count("path")) e.name = pax["path"];
    e.link = pax.count("linkpath") ? pax["linkpath"] : std::string(h + 157, strnlen(h + 157, 100));
    e.type = type;
    e.content = body;
    e.mode = static_cast<unsigned>(std::strtoul(std::string(h + 100, 8).c_str(), nullptr, 8));
    e.mtime = std::strtol(std::string(h + 136, 12).c_str(), nullptr, 8);
    e.pax = std::move(pax);
    pax.clear();
    out.push_back(e);
  }
  return out;
}

}  // namespace xb::testing
