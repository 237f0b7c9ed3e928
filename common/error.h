// The one error model of xbuild (docs/dev/errors.md): a kind, a message, a
// chain of context added as the error travels up, and, for errors that come
// from a Dockerfile, the location that the CLI shows with a caret.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

enum class ErrorKind {
  usage,             // bad command line: exit code 2
  invalid_argument,  // bad input: Dockerfile, reference, archive, flag value
  not_found,         // image, tag, file, stage that does not exist
  already_exists,
  failed_precondition,  // the system is not in a state to do this (no overlayfs, not root)
  permission_denied,    // EPERM/EACCES, registry 401/403
  unavailable,          // network, registry 5xx, connection refused
  data_loss,            // digest mismatch, truncated or corrupt content
  resource_exhausted,   // ENOSPC, memory limit, PIDs limit
  cancelled,            // interrupted by the user or a timeout
  io,                   // another system-call failure
  internal,             // a bug in xbuild
};

std::string_view to_string(ErrorKind kind);

// Where in a Dockerfile (or another text input) an error comes from.
struct SourceLocation {
  std::string file;       // as the user named it, e.g. "Dockerfile"
  int line = 0;           // 1-based; 0 means unknown
  int column = 0;         // 1-based; 0 means the whole line
  std::string line_text;  // the offending line, without its newline
};

class Error : public std::exception {
 public:
  Error(ErrorKind kind, std::string message);

  ErrorKind kind() const { return kind_; }
  // The innermost message, without context.
  const std::string& message() const { return message_; }
  // Outermost first: "pull busybox", "fetch blob sha256:…".
  const std::vector<std::string>& context() const { return context_; }
  const std::optional<SourceLocation>& location() const { return location_; }

  // Adds an outer layer of context: the message becomes "context: message".
  Error& with_context(std::string context);
  // Attaches a location unless one is already attached (the innermost wins).
  Error& at(SourceLocation location);

  // "context: context: message", one line.
  const char* what() const noexcept override { return rendered_.c_str(); }

  // What the CLI prints: "file:line:col: what()" then, when the line is
  // known, the line and a caret under the column.
  std::string render() const;

 private:
  void rerender();

  ErrorKind kind_;
  std::string message_;
  std::vector<std::string> context_;
  std::optional<SourceLocation> location_;
  std::string rendered_;
};

// Throws Error(kind, message).
[[noreturn]] void fail(ErrorKind kind, std::string message);

// Throws an Error for a failed system call, crun-style:
//   mount overlay `/var/lib/xbuild/snapshots/3/fs`: EINVAL (Invalid argument)
// The kind follows errno (ENOENT → not_found, EACCES/EPERM → permission_denied,
// ENOSPC/EDQUOT → resource_exhausted, otherwise io).
[[noreturn]] void throw_errno(std::string_view call, std::string_view path, int err);
[[noreturn]] void throw_errno(std::string_view call, std::string_view path = {});

// The symbolic name of an errno value ("EINVAL").
std::string_view errno_name(int err);

// The process exit code for an error: 2 for usage, 1 otherwise.
int exit_code_for(const Error& error);

}  // namespace xb
