// StepInputs: what a step's key was made of, and the one line that says
// which of it changed between two builds of the same step (docs/dev/cache.md,
// "Why a step missed").
#include <algorithm>
#include <map>

#include "cache/cache.h"
#include "common/error.h"

namespace xb::cache {

using nlohmann::json;

namespace {

// Cut to at most max bytes, on a UTF-8 character boundary.
std::string cut(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

std::string shown(const std::string& text) { return text.empty() ? "\"\"" : text; }

// "sha256:<64 hex>" anywhere in text → "sha256:<12 hex>".
std::string short_digests(std::string text) {
  for (size_t at = text.find("sha256:"); at != std::string::npos; at = text.find("sha256:", at + 7)) {
    size_t end = at + 7;
    while (end < text.size() && isxdigit(static_cast<unsigned char>(text[end]))) ++end;
    if (end - at - 7 == 64) text.erase(at + 7 + 12, 52);
  }
  return text;
}

// The directory every path lies under ("src/" for src/a and src/b/c), "" if none.
std::string common_dir(const std::vector<std::string>& paths) {
  if (paths.empty()) return "";
  std::string prefix = paths[0].substr(0, paths[0].rfind('/') == std::string::npos ? 0 : paths[0].rfind('/') + 1);
  for (const auto& p : paths) {
    while (!prefix.empty() && p.compare(0, prefix.size(), prefix) != 0) {
      prefix.pop_back();
      size_t slash = prefix.rfind('/');
      prefix = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
    }
  }
  return prefix;
}

std::string counted(size_t n, const std::string& what, const std::string& under_word,
                    const std::vector<std::string>& paths) {
  std::string dir = common_dir(paths);
  std::string out = std::to_string(n) + " files " + what;
  if (!dir.empty()) out += " " + under_word + " " + dir;
  return out;
}

char octal_digit(uint32_t v) { return static_cast<char>('0' + (v & 7)); }
std::string octal(uint32_t mode) {
  mode &= 07777;
  std::string s;
  for (int shift = 9; shift >= 0; shift -= 3) s += octal_digit(mode >> shift);
  return s;
}

bool is_dir(const StepInputs::File& f) { return !f.path.empty() && f.path.back() == '/'; }

// What changed between two file lists, as short reasons.
void diff_files(const std::vector<StepInputs::File>& before, const std::vector<StepInputs::File>& now,
                std::vector<std::string>& out) {
  std::map<std::string, const StepInputs::File*> b, n;
  bool summarized = false;
  for (const auto& f : before) {
    b[f.path] = &f;
    summarized |= f.count > 0;
  }
  for (const auto& f : now) {
    n[f.path] = &f;
    summarized |= f.count > 0;
  }
  if (summarized) {
    // Summaries per top-level directory (long lists): counts, not names.
    for (const auto& [path, f] : n) {
      std::string where = path.empty() ? "the context's top directory" : path;
      auto it = b.find(path);
      uint32_t now_count = f->count ? f->count : 1;
      if (it == b.end()) {
        out.push_back(std::to_string(now_count) + " files added under " + where);
        continue;
      }
      uint32_t was = it->second->count ? it->second->count : 1;
      if (*it->second == *f) continue;
      if (now_count > was) out.push_back(std::to_string(now_count - was) + " files added under " + where);
      else if (now_count < was) out.push_back(std::to_string(was - now_count) + " files removed from " + where);
      else out.push_back("files under " + where + " changed");
    }
    for (const auto& [path, f] : b)
      if (!n.count(path))
        out.push_back("files under " + (path.empty() ? std::string("the top directory") : path) + " removed");
    return;
  }
  std::vector<std::string> content, added_files, added_dirs, removed_files, removed_dirs;
  std::vector<std::string> modes;
  for (const auto& [path, f] : n) {
    auto it = b.find(path);
    if (it == b.end()) {
      (is_dir(*f) ? added_dirs : added_files).push_back(path);
      continue;
    }
    if (it->second->content != f->content) content.push_back(path);
    if ((it->second->mode & 07777) != (f->mode & 07777))
      modes.push_back("mode of " + path + " changed (" + octal(it->second->mode) + " → " + octal(f->mode) + ")");
  }
  for (const auto& [path, f] : b)
    if (!n.count(path)) (is_dir(*f) ? removed_dirs : removed_files).push_back(path);
  if (content.size() <= 2) {
    for (const auto& p : content) out.push_back(p + ": content changed");
  } else {
    out.push_back(counted(content.size(), "changed", "under", content));
  }
  out.insert(out.end(), modes.begin(), modes.end());
  auto listed = [&](std::vector<std::string>& files, std::vector<std::string>& dirs, const std::string& verb,
                    const std::string& under) {
    if (files.empty()) files = dirs;  // only directories: tell those
    if (files.size() == 1) out.push_back(files[0] + " " + verb);
    else if (files.size() > 1) out.push_back(counted(files.size(), verb, under, files));
  };
  listed(added_files, added_dirs, "added", "under");
  listed(removed_files, removed_dirs, "removed", "from");
}

std::string label(const std::string& name) {
  auto rest = [&](size_t n) { return name.substr(n); };
  if (name.rfind("arg:", 0) == 0) return "build arg " + rest(4);
  if (name.rfind("env:", 0) == 0) return "env " + rest(4);
  if (name.rfind("secret:", 0) == 0) return "secret " + rest(7);
  if (name.rfind("mount:", 0) == 0) return "mount " + rest(6);
  if (name.rfind("context:", 0) == 0) return "context files of mount " + rest(8);
  if (name.rfind("url:", 0) == 0) return rest(4);
  if (name.rfind("input:", 0) == 0) return "input";
  if (name == "base") return "base image";
  if (name == "parent") return "parent step";
  return name;
}

void changed(const StepInputs::Part& was, const StepInputs::Part& now, std::vector<std::string>& out) {
  const std::string& n = now.name;
  if (n == "files") {
    size_t before = out.size();
    diff_files(was.files, now.files, out);
    if (out.size() == before) out.push_back("files changed" + (now.text.empty() ? "" : ": " + now.text));
    return;
  }
  if (n == "parent" || n.rfind("input:", 0) == 0) {
    out.push_back(label(n) + " changed" + (now.text.empty() ? "" : ": " + now.text));
    return;
  }
  if (n.rfind("url:", 0) == 0 || n.rfind("context:", 0) == 0) {
    out.push_back(label(n) + ": content changed");
    return;
  }
  if (n.rfind("secret:", 0) == 0) {  // never a value: the text is the id
    out.push_back(label(n) + " mount changed");
    return;
  }
  if (n == "base") {
    // "busybox:latest@sha256:…": name the reference once when it stayed.
    std::string a = short_digests(was.text), b = short_digests(now.text);
    size_t at_a = a.rfind('@'), at_b = b.rfind('@');
    if (at_a != std::string::npos && at_b != std::string::npos && a.substr(0, at_a) == b.substr(0, at_b))
      out.push_back("base image " + b.substr(0, at_b) + " changed: " + a.substr(at_a + 1) + " → " + b.substr(at_b + 1));
    else if (a != b) out.push_back("base image changed: " + shown(a) + " → " + shown(b));
    else out.push_back("base image changed");
    return;
  }
  if (was.text != now.text) out.push_back(label(n) + " changed: " + shown(was.text) + " → " + shown(now.text));
  else out.push_back(label(n) + " changed");
}

}  // namespace

StepInputs::Part& StepInputs::add(std::string name, std::string fingerprint, std::string text, bool weak) {
  // Digests shown short (the fingerprint has them whole), so that a long reference still fits.
  parts.push_back(
      Part{std::move(name), std::move(fingerprint), cut(short_digests(std::move(text)), kMaxText), weak, {}});
  return parts.back();
}

void StepInputs::set_files(Part& part, std::vector<File> files) {
  std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.path < b.path; });
  if (files.size() <= kMaxFiles) {
    part.files = std::move(files);
    return;
  }
  // One entry per top-level directory: its path, how many entries, and a
  // digest of their paths, modes and contents.
  std::vector<File> groups;
  std::string enc;
  auto close = [&] {
    if (groups.empty()) return;
    groups.back().content = std::string(Digest::of(enc).hex().substr(0, 16));
    enc.clear();
  };
  for (const auto& f : files) {
    size_t slash = f.path.find('/');
    std::string top = slash == std::string::npos ? "" : f.path.substr(0, slash + 1);
    if (groups.size() >= kMaxFiles && groups.back().path != top) top = "*";  // the rest, together
    if (groups.empty() || groups.back().path != top) {
      close();
      groups.push_back(File{top, 0, "", 0});
    }
    groups.back().count++;
    enc += f.path + '\0' + std::to_string(f.mode) + '\0' + f.content + '\n';
  }
  close();
  part.files = std::move(groups);
}

const StepInputs::Part* StepInputs::find(std::string_view name) const {
  for (const auto& p : parts)
    if (p.name == name) return &p;
  return nullptr;
}

json StepInputs::to_json() const {
  json out = json::array();
  for (const auto& p : parts) {
    json j = {{"name", p.name}, {"fp", p.fingerprint}};
    if (!p.text.empty()) j["text"] = p.text;
    if (p.weak) j["weak"] = true;
    if (!p.files.empty()) {
      json& fs = j["files"] = json::array();
      for (const auto& f : p.files) {
        json e = {f.path, f.mode, f.content};
        if (f.count) e.push_back(f.count);
        fs.push_back(std::move(e));
      }
    }
    out.push_back(std::move(j));
  }
  return out;
}

StepInputs StepInputs::from_json(const json& j) {
  StepInputs in;
  if (!j.is_array()) fail(ErrorKind::invalid_argument, "step inputs: not an array");
  for (const auto& e : j) {
    Part p;
    p.name = e.at("name").get<std::string>();
    p.fingerprint = e.at("fp").get<std::string>();
    p.text = e.value("text", std::string());
    p.weak = e.value("weak", false);
    if (auto it = e.find("files"); it != e.end()) {
      for (const auto& f : *it) {
        File file{f.at(0).get<std::string>(), f.at(1).get<uint32_t>(), f.at(2).get<std::string>(), 0};
        if (f.size() > 3) file.count = f.at(3).get<uint32_t>();
        p.files.push_back(std::move(file));
      }
    }
    in.parts.push_back(std::move(p));
  }
  return in;
}

std::string explain_change(const StepInputs& before, const StepInputs& now) {
  std::vector<std::string> strong, weak;
  for (const auto& p : now.parts) {
    const StepInputs::Part* b = before.find(p.name);
    std::vector<std::string>& out = p.weak ? weak : strong;
    if (!b) {
      if (p.name.rfind("arg:", 0) == 0 || p.name.rfind("env:", 0) == 0)
        out.push_back(label(p.name) + " set: " + shown(p.text));
      else out.push_back(label(p.name) + " added" + (p.text.empty() ? "" : ": " + p.text));
    } else if (b->fingerprint != p.fingerprint || b->files != p.files) {
      changed(*b, p, out);
    }
  }
  for (const auto& b : before.parts) {
    if (now.find(b.name)) continue;
    std::vector<std::string>& out = b.weak ? weak : strong;
    if (b.name.rfind("arg:", 0) == 0 || b.name.rfind("env:", 0) == 0)
      out.push_back(label(b.name) + " unset (was " + shown(b.text) + ")");
    else out.push_back(label(b.name) + " removed" + (b.text.empty() ? "" : ": " + b.text));
  }
  const std::vector<std::string>& reasons = strong.empty() ? weak : strong;
  constexpr size_t kShown = 3;
  std::string line;
  for (size_t i = 0; i < reasons.size() && i < kShown; ++i) line += (i ? "; " : "") + reasons[i];
  if (reasons.size() > kShown) line += "; and " + std::to_string(reasons.size() - kShown) + " more";
  return line;
}

}  // namespace xb::cache
