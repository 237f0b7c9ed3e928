// ImageRef: docker's reference grammar and normalization
// (distribution/reference: ParseNormalizedNamed, TagNameOnly, FamiliarString).
#include "common/error.h"
#include "store/store.h"

namespace xb::store {

namespace {

constexpr std::string_view kDefaultDomain = "docker.io";
constexpr std::string_view kLegacyDefaultDomain = "index.docker.io";
constexpr std::string_view kOfficialRepoPrefix = "library/";
constexpr size_t kNameTotalLengthMax = 255;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// pathComponent := [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)*
bool valid_path_component(std::string_view s) {
  size_t i = 0;
  auto alnums = [&] {
    size_t start = i;
    while (i < s.size() && is_lower_alnum(s[i])) ++i;
    return i > start;
  };
  if (!alnums()) return false;
  while (i < s.size()) {
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < s.size() && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < s.size() && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnums()) return false;
  }
  return true;
}

// domainNameComponent := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool valid_domain_component(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '-') return false;
  return true;
}

// domainAndPort := (domainName | "[" ipv6 "]") (":" [0-9]+)?
bool valid_domain(std::string_view s) {
  std::string_view host = s;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : s.substr(1, close - 1))
      if (!is_hex(c) && c != ':') return false;
    host = {};
    s.remove_prefix(close + 1);
    if (s.empty()) return true;
    if (s.front() != ':') return false;
  } else {
    size_t colon = s.find(':');
    host = s.substr(0, colon);
    s = colon == std::string_view::npos ? std::string_view{} : s.substr(colon);
    size_t start = 0;
    for (;;) {
      size_t dot = host.find('.', start);
      if (!valid_domain_component(host.substr(start, dot - start))) return false;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
    if (s.empty()) return true;
  }
  std::string_view port = s.substr(1);
  if (port.empty()) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

// tag := [\w][\w.-]{0,127}
bool valid_tag(std::string_view s) {
  if (s.empty() || s.size() > 128 || !is_word(s[0])) return false;
  for (char c : s)
    if (!is_word(c) && c != '.' && c != '-') return false;
  return true;
}

bool is_64_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

[[noreturn]] void bad_ref(std::string_view text, std::string_view why) {
  std::string msg = "invalid reference format";
  if (!why.empty()) msg += ": " + std::string(why);
  fail(ErrorKind::invalid_argument, msg + " (\"" + std::string(text.substr(0, 300)) + "\")");
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

ImageRef ImageRef::parse_repository(std::string_view text) {
  if (text.empty()) bad_ref(text, "repository name must have at least one component");
  if (is_64_hex(text))
    fail(ErrorKind::invalid_argument,
         "invalid repository name (" + std::string(text) + "), cannot specify 64-byte hexadecimal strings");
  ImageRef ref;
  // Split off "@digest", then ":tag" (a colon after the last slash).
  std::string_view name = text;
  if (size_t at = name.find('@'); at != std::string_view::npos) {
    std::string_view dg = name.substr(at + 1);
    name = name.substr(0, at);
    size_t colon = dg.find(':');
    if (colon == std::string_view::npos || colon == 0 || dg.size() - colon - 1 < 32) bad_ref(text, "");
    if (dg.substr(0, colon) != "sha256")
      fail(ErrorKind::invalid_argument,
           "unsupported digest algorithm in reference \"" + std::string(text) + "\": only sha256 is supported");
    auto d = Digest::try_parse(dg);
    if (!d) bad_ref(text, "invalid digest");
    ref.digest_ = *d;
  }
  size_t slash = name.rfind('/');
  size_t colon = name.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    std::string_view tag = name.substr(colon + 1);
    if (!valid_tag(tag)) bad_ref(text, "");
    ref.tag_ = std::string(tag);
    name = name.substr(0, colon);
  }
  // docker's splitDockerDomain: the first component is a registry host if it
  // contains "." or ":", is "localhost", or has an upper-case letter.
  std::string_view remainder = name;
  size_t first = name.find('/');
  if (first == std::string_view::npos ||
      (name.substr(0, first).find_first_of(".:") == std::string_view::npos && name.substr(0, first) != "localhost" &&
       lower(name.substr(0, first)) == name.substr(0, first))) {
    ref.domain_ = kDefaultDomain;
  } else {
    ref.domain_ = std::string(name.substr(0, first));
    remainder = name.substr(first + 1);
  }
  if (ref.domain_ == kLegacyDefaultDomain) ref.domain_ = kDefaultDomain;
  if (lower(remainder) != remainder) bad_ref(text, "repository name must be lowercase");
  if (remainder.empty()) bad_ref(text, "repository name must have at least one component");
  if (!valid_domain(ref.domain_)) bad_ref(text, "");
  size_t start = 0;
  for (;;) {
    size_t s = remainder.find('/', start);
    if (!valid_path_component(remainder.substr(start, s - start))) bad_ref(text, "");
    if (s == std::string_view::npos) break;
    start = s + 1;
  }
  ref.path_ = std::string(remainder);
  if (ref.domain_ == kDefaultDomain && ref.path_.find('/') == std::string::npos)
    ref.path_ = std::string(kOfficialRepoPrefix) + ref.path_;
  if (ref.domain_.size() + 1 + ref.path_.size() > kNameTotalLengthMax)
    bad_ref(text, "repository name must not be more than 255 characters");
  return ref;
}

ImageRef ImageRef::parse(std::string_view text) {
  ImageRef ref = parse_repository(text);
  if (!ref.tag_ && !ref.digest_) ref.tag_ = "latest";
  return ref;
}

std::optional<ImageRef> ImageRef::try_parse(std::string_view text) {
  try {
    return parse(text);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::string ImageRef::repository() const { return domain_ + "/" + path_; }

std::string ImageRef::str() const {
  std::string s = repository();
  if (tag_) s += ":" + *tag_;
  if (digest_) s += "@" + digest_->str();
  return s;
}

std::string ImageRef::familiar_repository() const {
  if (domain_ != kDefaultDomain) return repository();
  std::string_view p = path_;
  if (p.substr(0, kOfficialRepoPrefix.size()) == kOfficialRepoPrefix &&
      p.find('/', kOfficialRepoPrefix.size()) == std::string_view::npos)
    p.remove_prefix(kOfficialRepoPrefix.size());
  return std::string(p);
}

std::string ImageRef::familiar() const {
  std::string s = familiar_repository();
  if (tag_) s += ":" + *tag_;
  if (digest_) s += "@" + digest_->str();
  return s;
}

std::string ImageRef::reference() const { return digest_ ? digest_->str() : tag_.value_or("latest"); }

ImageRef ImageRef::with_tag(std::string_view tag) const {
  if (!valid_tag(tag)) fail(ErrorKind::invalid_argument, "invalid tag \"" + std::string(tag) + "\"");
  ImageRef r = *this;
  r.tag_ = std::string(tag);
  r.digest_.reset();
  return r;
}

ImageRef ImageRef::with_digest(const Digest& digest) const {
  ImageRef r = *this;
  r.digest_ = digest;
  return r;
}

// ---------------------------------------------------------------------------

}  // namespace xb::store
