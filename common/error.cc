#include "common/error.h"

#include <cerrno>
#include <cstring>

namespace xb {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage: return "usage";
    case ErrorKind::invalid_argument: return "invalid argument";
    case ErrorKind::not_found: return "not found";
    case ErrorKind::already_exists: return "already exists";
    case ErrorKind::failed_precondition: return "failed precondition";
    case ErrorKind::permission_denied: return "permission denied";
    case ErrorKind::unavailable: return "unavailable";
    case ErrorKind::data_loss: return "data loss";
    case ErrorKind::resource_exhausted: return "resource exhausted";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::io: return "i/o error";
    case ErrorKind::internal: return "internal error";
  }
  return "unknown";
}

Error::Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) { rerender(); }

Error& Error::with_context(std::string context) {
  context_.insert(context_.begin(), std::move(context));
  rerender();
  return *this;
}

Error& Error::at(SourceLocation location) {
  if (!location_) location_ = std::move(location);
  return *this;
}

void Error::rerender() {
  rendered_.clear();
  for (const auto& c : context_) {
    rendered_ += c;
    rendered_ += ": ";
  }
  rendered_ += message_;
}

std::string Error::render() const {
  if (!location_ || location_->line <= 0) return rendered_;
  const auto& loc = *location_;
  std::string out = loc.file + ":" + std::to_string(loc.line);
  if (loc.column > 0) out += ":" + std::to_string(loc.column);
  out += ": " + rendered_;
  if (!loc.line_text.empty()) {
    out += "\n  " + std::to_string(loc.line) + " | " + loc.line_text;
    if (loc.column > 0) {
      std::string gutter(std::to_string(loc.line).size() + 5, ' ');
      std::string pad;
      // Keep tabs so that the caret lines up under the same terminal column.
      for (int i = 0; i + 1 < loc.column && i < static_cast<int>(loc.line_text.size()); ++i)
        pad += loc.line_text[static_cast<size_t>(i)] == '\t' ? '\t' : ' ';
      out += "\n" + gutter + pad + "^";
    }
  }
  return out;
}

void fail(ErrorKind kind, std::string message) { throw Error(kind, std::move(message)); }

std::string_view errno_name(int err) {
  switch (err) {
    // A table: one line per name (clang-format cannot lay out macro calls).
    // clang-format off
#define XB_ERRNO(e) \
  case e: return #e;
    XB_ERRNO(EPERM) XB_ERRNO(ENOENT) XB_ERRNO(ESRCH) XB_ERRNO(EINTR) XB_ERRNO(EIO)
    XB_ERRNO(ENXIO) XB_ERRNO(E2BIG) XB_ERRNO(ENOEXEC) XB_ERRNO(EBADF) XB_ERRNO(ECHILD)
    XB_ERRNO(EAGAIN) XB_ERRNO(ENOMEM) XB_ERRNO(EACCES) XB_ERRNO(EFAULT) XB_ERRNO(EBUSY)
    XB_ERRNO(EEXIST) XB_ERRNO(EXDEV) XB_ERRNO(ENODEV) XB_ERRNO(ENOTDIR) XB_ERRNO(EISDIR)
    XB_ERRNO(EINVAL) XB_ERRNO(ENFILE) XB_ERRNO(EMFILE) XB_ERRNO(ENOTTY) XB_ERRNO(ETXTBSY)
    XB_ERRNO(EFBIG) XB_ERRNO(ENOSPC) XB_ERRNO(ESPIPE) XB_ERRNO(EROFS) XB_ERRNO(EMLINK)
    XB_ERRNO(EPIPE) XB_ERRNO(ERANGE) XB_ERRNO(ENAMETOOLONG) XB_ERRNO(ENOSYS)
    XB_ERRNO(ENOTEMPTY) XB_ERRNO(ELOOP) XB_ERRNO(ENODATA) XB_ERRNO(EOPNOTSUPP)
    XB_ERRNO(EADDRINUSE) XB_ERRNO(ECONNREFUSED) XB_ERRNO(ECONNRESET) XB_ERRNO(ETIMEDOUT)
    XB_ERRNO(EDQUOT) XB_ERRNO(ESTALE)
    // clang-format on
#undef XB_ERRNO
                                    default : return "errno";
  }
}

static ErrorKind kind_for_errno(int err) {
  switch (err) {
    case ENOENT: return ErrorKind::not_found;
    case EEXIST: return ErrorKind::already_exists;
    case EPERM:
    case EACCES:
    case EROFS: return ErrorKind::permission_denied;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE: return ErrorKind::resource_exhausted;
    case EINTR: return ErrorKind::cancelled;
    case ECONNREFUSED:
    case ECONNRESET:
    case ETIMEDOUT: return ErrorKind::unavailable;
    default: return ErrorKind::io;
  }
}

void throw_errno(std::string_view call, std::string_view path, int err) {
  std::string msg(call);
  if (!path.empty()) {
    msg += " `";
    msg += path;
    msg += "`";
  }
  msg += ": ";
  msg += errno_name(err);
  msg += " (";
  msg += std::strerror(err);
  msg += ")";
  throw Error(kind_for_errno(err), std::move(msg));
}

void throw_errno(std::string_view call, std::string_view path) { throw_errno(call, path, errno); }

int exit_code_for(const Error& error) { return error.kind() == ErrorKind::usage ? 2 : 1; }

}  // namespace xb
