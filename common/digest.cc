#include "common/digest.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include "common/error.h"

namespace xb {

namespace {

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string to_hex(const unsigned char* data, size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

}  // namespace

std::optional<Digest> Digest::try_parse(std::string_view text) {
  if (text.size() != 7 + 64 || text.substr(0, 7) != "sha256:") return std::nullopt;
  if (!is_lower_hex(text.substr(7))) return std::nullopt;
  return Digest(std::string(text));
}

Digest Digest::parse(std::string_view text) {
  if (auto d = try_parse(text)) return *d;
  fail(ErrorKind::invalid_argument,
       "invalid digest \"" + std::string(text.substr(0, 100)) + "\": want sha256: and 64 lowercase hex digits");
}

Digest Digest::from_sha256_hex(std::string_view hex) { return parse("sha256:" + std::string(hex)); }

Digest Digest::of(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  if (!state_->ctx || EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) != 1)
    fail(ErrorKind::internal, "OpenSSL: cannot initialise sha256");
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t size) {
  if (size == 0) return;
  EVP_DigestUpdate(state_->ctx, data, size);
  bytes_ += size;
}

Digest Sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, md, &len);
  return Digest::from_sha256_hex(to_hex(md, len));
}

Xxh128::Xxh128() : state_(XXH3_createState()) { XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)); }
Xxh128::~Xxh128() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Xxh128::update(const void* data, size_t size) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data, size);
}

std::string Xxh128::hex() const {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  return to_hex(c.digest, sizeof(c.digest));
}

std::string Xxh128::hex_of(std::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  return to_hex(c.digest, sizeof(c.digest));
}

}  // namespace xb
