// Reading blobs out of the store verified (issue 14): every blob that leaves
// the store — save, export, push, a layer's unpack — is hashed as it streams.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/fs.h"
#include "store/store.h"

namespace xb::store {

// A blob being read out of the store and hashed on the way (every blob that
// leaves the store: save, export, push, a layer's unpack). After the last
// byte — read() returning 0, pump(), or finish() — bytes that no longer
// match the digest throw Error(data_loss) naming the blob and `xbuild fsck
// --repair`; callers must not publish what they made from the bytes before.
class VerifiedBlobReader {
 public:
  size_t read(void* buf, size_t size);                           // 0 at the end, verified by then
  void pump(const std::function<void(std::string_view)>& sink);  // the rest, then verify
  void finish();                           // reads what is left (a decoder may stop early), then verifies
  uint64_t size() const { return size_; }  // of the file
  int fd() const { return fd_.get(); }

 private:
  friend VerifiedBlobReader read_blob_verified(const Store& store, const Digest& digest);
  VerifiedBlobReader(UniqueFd fd, Digest digest, std::string where, uint64_t size);
  void verify();
  UniqueFd fd_;
  Digest digest_;
  std::string where_;  // the store's root, for the message
  uint64_t size_ = 0;
  Sha256 hash_;
  bool verified_ = false;
};

// "blob sha256:… in the store ROOT is corrupt (its bytes hash to sha256:…): run `xbuild fsck --repair`, …"
std::string corrupt_blob_message(const Digest& digest, const std::string& root, const Digest& got);

// A reader of the blob that verifies its digest as it streams.
VerifiedBlobReader read_blob_verified(const Store& store, const Digest& digest);

}  // namespace xb::store
