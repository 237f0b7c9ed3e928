// Content identities. A Digest is always valid ("sha256:" and 64 lowercase
// hex digits); there is no empty Digest, so use std::optional for "none".
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace xb {

class Digest {
 public:
  // Parses "sha256:<64 hex>" (the only algorithm OCI registries require);
  // throws Error(invalid_argument) naming the bad text.
  static Digest parse(std::string_view text);
  static std::optional<Digest> try_parse(std::string_view text);
  static Digest from_sha256_hex(std::string_view hex);
  // The sha256 of a byte string.
  static Digest of(std::string_view bytes);

  const std::string& str() const { return value_; }
  std::string_view algorithm() const { return std::string_view(value_).substr(0, 6); }
  std::string_view hex() const { return std::string_view(value_).substr(7); }
  // The 12-digit form users see ("IMAGE ID").
  std::string short_hex() const { return std::string(hex().substr(0, 12)); }

  auto operator<=>(const Digest&) const = default;

 private:
  explicit Digest(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

// Streaming sha256 (OpenSSL), for blobs and layers too big to hold.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Ends the stream; the object may not be updated afterwards.
  Digest finish();
  uint64_t bytes() const { return bytes_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  uint64_t bytes_ = 0;
};

// XXH3-128 for local fast paths only (context change detection, stat cache);
// never for anything that names content outside the process.
class Xxh128 {
 public:
  Xxh128();
  ~Xxh128();
  Xxh128(const Xxh128&) = delete;
  Xxh128& operator=(const Xxh128&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // 32 lowercase hex digits; the object may still be updated afterwards.
  std::string hex() const;
  static std::string hex_of(std::string_view data);

 private:
  void* state_;
};

}  // namespace xb
