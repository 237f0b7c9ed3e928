// .dockerignore files as BuildKit's dockerignore.ReadAll reads them (comments,
// blank lines, a leading '/' dropped), matched by common/pattern.h (moby's
// patternmatcher semantics, shared with COPY --exclude). A bad pattern is an
// error naming its file:line.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "common/pattern.h"
#include "frontend/frontend.h"
#include "frontend/text.h"

namespace xb::frontend {

DockerIgnore::DockerIgnore(const std::vector<std::string>& patterns) : matcher_(patterns, ".dockerignore") {}

DockerIgnore DockerIgnore::parse(std::string_view text, std::string_view file) {
  std::vector<std::string> out;
  size_t i = 0;
  int line_no = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  while (i < text.size()) {
    size_t nl = text.find('\n', i);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(i, nl - i);
    i = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line[0] == '#') continue;
    std::string p(text::trim_space(line));
    if (p.empty()) continue;
    bool invert = p[0] == '!';
    if (invert) p = std::string(text::trim_space(std::string_view(p).substr(1)));
    if (!p.empty()) {
      p = clean_path(p);
      if (p.size() > 1 && p[0] == '/') p.erase(0, 1);
    }
    if (invert) p.insert(p.begin(), '!');
    try {
      (void)PatternMatcher({p}, ".dockerignore");
    } catch (Error& e) {
      SourceLocation loc;
      loc.file = std::string(file);
      loc.line = line_no;
      loc.line_text = std::string(line);
      e.at(loc);
      throw;
    }
    out.push_back(std::move(p));
  }
  return DockerIgnore(out);
}

const std::vector<std::string>& DockerIgnore::patterns() const { return matcher_.patterns(); }

bool DockerIgnore::matches(std::string_view path) const { return matcher_.matches(path); }

bool DockerIgnore::can_skip_dir(std::string_view dir) const { return matcher_.can_skip_dir(dir); }

DockerIgnore read_dockerignore(const std::string& context_dir, const std::string& dockerfile_path,
                               const FileReader& read) {
  namespace fs = std::filesystem;
  FileReader get = read ? read : [](const std::string& p) -> std::optional<std::string> {
    if (!fs::exists(p)) return std::nullopt;
    return read_file(p);
  };
  if (!dockerfile_path.empty()) {
    std::string specific = fs::path(dockerfile_path).string() + ".dockerignore";
    if (auto text = get(specific)) return DockerIgnore::parse(*text, specific);
  }
  std::string generic = (fs::path(context_dir) / ".dockerignore").string();
  if (auto text = get(generic)) return DockerIgnore::parse(*text, generic);
  return DockerIgnore();
}

}  // namespace xb::frontend
