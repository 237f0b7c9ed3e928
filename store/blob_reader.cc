#include "store/blob_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "common/interrupt.h"

namespace xb::store {

std::string corrupt_blob_message(const Digest& digest, const std::string& root, const Digest& got) {
  return "blob " + digest.str() + " in the store " + root + " is corrupt (its bytes hash to " + got.str() +
         "): run `xbuild fsck --repair`, then pull or build the image again";
}

VerifiedBlobReader read_blob_verified(const Store& store, const Digest& digest) {
  UniqueFd fd = store.open_blob(digest);
  struct stat sb {};
  if (::fstat(fd.get(), &sb) < 0) throw_errno("stat", store.blob_path(digest).string());
  return VerifiedBlobReader(std::move(fd), digest, store.root().string(), static_cast<uint64_t>(sb.st_size));
}

VerifiedBlobReader::VerifiedBlobReader(UniqueFd fd, Digest digest, std::string where, uint64_t size)
    : fd_(std::move(fd)), digest_(std::move(digest)), where_(std::move(where)), size_(size) {}

size_t VerifiedBlobReader::read(void* buf, size_t size) {
  if (verified_) return 0;
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read", "blob " + digest_.str());
    if (n == 0) {
      verify();
      return 0;
    }
    check_interrupt();
    hash_.update(buf, static_cast<size_t>(n));
    return static_cast<size_t>(n);
  }
}

void VerifiedBlobReader::pump(const std::function<void(std::string_view)>& sink) {
  std::string buf(1 << 20, '\0');
  while (size_t n = read(buf.data(), buf.size())) sink(std::string_view(buf.data(), n));
}

void VerifiedBlobReader::finish() {
  pump([](std::string_view) {});
}

void VerifiedBlobReader::verify() {
  verified_ = true;
  Digest got = hash_.finish();
  if (got != digest_) fail(ErrorKind::data_loss, corrupt_blob_message(digest_, where_, got));
}

}  // namespace xb::store
