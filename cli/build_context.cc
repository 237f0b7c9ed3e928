// CONTEXT, -f and --build-context as buildx takes them (cli/build_context.h).
#include "cli/build_context.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "fileop/fileop.h"

namespace xb::cli {

namespace fs = std::filesystem;

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::shared_ptr<TempDir> temp(BuildInputs& in, std::string_view prefix) {
  in.temps.push_back(std::make_shared<TempDir>(prefix));
  return in.temps.back();
}

// A download for a context: fileop's messages say "ADD URL: …".
std::unique_ptr<fileop::Download> download(const std::string& url, const std::string& what) {
  try {
    return fileop::download_url(url);
  } catch (const Error& e) {
    std::string m = e.message();
    if (m.rfind("ADD ", 0) == 0) m = what + m.substr(4);
    throw Error(e.kind(), m);
  }
}

// stdin into `path` (the stream must be read twice: archive or Dockerfile).
void spool_stdin(const fs::path& path) {
  UniqueFd out = open_or_throw(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  read_chunks(0, "stdin", [&](std::string_view piece) {
    size_t done = 0;
    while (done < piece.size()) {
      ssize_t n = ::write(out.get(), piece.data() + done, piece.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("write", path.string());
      done += static_cast<size_t>(n);
    }
  });
}

// A stream that is a context archive or a Dockerfile: unpacked into a new
// directory, or the Dockerfile written beside an empty context.
void unpack_into(BuildInputs& in, const fs::path& stream, const std::string& display) {
  auto dir = temp(in, "xbuild-context");
  fs::path ctx = dir->path() / "context";
  fs::create_directory(ctx);
  UniqueFd fd = open_or_throw(stream, O_RDONLY | O_CLOEXEC);
  if (std::optional<std::string> text = fileop::unpack_context(fd.get(), ctx, display)) {
    in.dockerfile = dir->path() / "Dockerfile";
    write_file_atomic(in.dockerfile, *text, 0644, false);
  }
  in.context_dir = ctx;
  in.temporary = true;
}

}  // namespace

BuildInputs resolve_inputs(const std::string& context, const std::optional<std::string>& file, bool keep_git_dir) {
  BuildInputs in;
  if (file && *file == "-" && context == "-")
    fail(ErrorKind::usage, "xbuild build: stdin cannot be both the context (-) and the Dockerfile (-f -)");
  std::error_code ec;
  std::optional<fileop::GitRef> git;
  bool local = fs::exists(context, ec);
  if (!local) git = fileop::GitRef::parse(context);
  if (context == "-") {
    auto dir = temp(in, "xbuild-stdin");
    spool_stdin(dir->path() / "stdin");
    unpack_into(in, dir->path() / "stdin", "the context on stdin");
  } else if (git) {
    auto dir = temp(in, "xbuild-context");
    in.context_dir = dir->path() / "context";
    fileop::git_checkout(*git, in.context_dir, keep_git_dir);
    in.temporary = true;
  } else if (!local && (starts_with(context, "https://") || starts_with(context, "http://"))) {
    std::unique_ptr<fileop::Download> d = download(context, "build context ");
    unpack_into(in, d->dir.path() / d->name, context);
  } else if (local && fs::is_regular_file(context, ec)) {
    unpack_into(in, context, context);
    if (!in.dockerfile.empty())
      fail(ErrorKind::invalid_argument,
           "build context `" + context + "` is a file but not a tar archive: give a directory, a tarball or -");
  } else {
    in.context_dir = context;  // a directory (convert::load says when it is not)
  }
  if (file && *file == "-") {
    auto dir = temp(in, "xbuild-dockerfile");
    in.dockerfile = dir->path() / "Dockerfile";
    spool_stdin(in.dockerfile);
    in.dockerfile_display = "Dockerfile";
  } else if (!in.dockerfile.empty()) {
    in.dockerfile_display = "Dockerfile";  // the Dockerfile was the stream itself
  } else if (file) {
    // A local context's -f is a host path; another's names a file in it.
    in.dockerfile = in.temporary ? in.context_dir / fs::path(*file).relative_path() : fs::path(*file);
    in.dockerfile_display = *file;
  } else {
    in.dockerfile = in.context_dir / "Dockerfile";
    in.dockerfile_display = "Dockerfile";
    // BuildKit's dockerui falls back to the lower-case name.
    if (!fs::exists(in.dockerfile, ec) && fs::exists(in.context_dir / "dockerfile", ec)) {
      in.dockerfile = in.context_dir / "dockerfile";
      in.dockerfile_display = "dockerfile";
    }
  }
  // The temporary path would mean nothing to the user: name the context.
  if (in.temporary && !fs::exists(in.dockerfile, ec))
    fail(ErrorKind::not_found, "the context " + (git ? git->str() : context) + " has no " + in.dockerfile_display +
                                   " (name the file inside it with -f PATH, or give it with -f -)");
  return in;
}

namespace {

// oci-layout://DIR[:TAG|@DIGEST]: the image's blobs (for this platform)
// copied into the store, verified, untagged.
store::Image import_layout(const std::string& flag, const std::string& spec, store::Store& store) {
  std::string dir = spec, tag, digest;
  if (auto at = dir.rfind('@'); at != std::string::npos) {
    digest = dir.substr(at + 1);
    dir.resize(at);
  } else if (auto colon = dir.rfind(':'); colon != std::string::npos && dir.find('/', colon) == std::string::npos) {
    tag = dir.substr(colon + 1);
    dir.resize(colon);
  }
  fs::path root(dir);
  std::error_code ec;
  if (!fs::is_regular_file(root / "index.json", ec))
    fail(ErrorKind::not_found, flag + ": `" + dir + "` is not an OCI layout (no index.json)");
  auto blob_path = [&](const Digest& d) { return root / "blobs" / std::string(d.algorithm()) / std::string(d.hex()); };
  auto read_blob = [&](const Digest& d) {
    std::string data = read_file(blob_path(d));
    if (Digest::of(data) != d) fail(ErrorKind::data_loss, flag + ": blob " + d.str() + " does not match its digest");
    return data;
  };
  store::Index index = store::Index::parse(read_file(root / "index.json"));
  std::optional<store::Descriptor> chosen;
  for (const auto& m : index.manifests) {
    auto name = m.annotations.find("org.opencontainers.image.ref.name");
    bool match = !digest.empty() ? m.digest.str() == digest
                 : !tag.empty()
                     ? name != m.annotations.end() && name->second == tag
                     : index.manifests.size() == 1 || (name != m.annotations.end() && name->second == "latest");
    if (match) chosen = m;
  }
  if (!chosen)
    fail(ErrorKind::not_found, flag + ": no image " +
                                   (!digest.empty() ? digest
                                    : tag.empty()   ? "latest"
                                                    : tag) +
                                   " in the OCI layout `" + dir + "`");
  auto copy = [&](const store::Descriptor& d) {
    if (store.has_blob(d.digest)) return;
    UniqueFd fd = open_or_throw(blob_path(d.digest), O_RDONLY | O_CLOEXEC);
    store::BlobWriter w = store.write_blob(d.digest, static_cast<uint64_t>(d.size));
    read_chunks(fd.get(), blob_path(d.digest).string(), [&](std::string_view p) { w.write(p); });
    w.commit();
  };
  store::Descriptor manifest = *chosen;
  if (store::is_index_media_type(chosen->media_type)) {
    store.put_blob(read_blob(chosen->digest), chosen->digest);
    auto sub = store::Index::parse(read_blob(chosen->digest)).select(store::Platform::host());
    if (!sub) fail(ErrorKind::not_found, flag + ": the image has no manifest for " + store::Platform::host().str());
    manifest = *sub;
  }
  std::string mtext = read_blob(manifest.digest);
  store::Manifest m = store::Manifest::parse(mtext);
  copy(m.config);
  for (const auto& l : m.layers) copy(l);
  store.put_blob(mtext, manifest.digest);
  return store.image(*chosen);
}

}  // namespace

std::pair<std::string, convert::NamedContext> parse_build_context(const std::string& text, store::Store& store,
                                                                  BuildInputs& in) {
  const std::string flag = "--build-context " + text;
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    fail(ErrorKind::usage, flag +
                               ": want NAME=VALUE (a directory, docker-image://REF, oci-layout://DIR[:TAG], "
                               "a git URL or an https URL)");
  std::string name = text.substr(0, eq), value = text.substr(eq + 1);
  convert::NamedContext c;
  c.value = value;
  if (starts_with(value, "docker-image://")) {
    c.kind = convert::NamedContext::Kind::image;
    auto ref = store::ImageRef::try_parse(value.substr(15));
    if (!ref) fail(ErrorKind::usage, flag + ": `" + value.substr(15) + "` is not an image reference");
    c.ref = *ref;
  } else if (starts_with(value, "oci-layout://")) {
    c.kind = convert::NamedContext::Kind::image;
    c.image = import_layout(flag, value.substr(13), store);
    c.ref = store::ImageRef::try_parse(name);
  } else if (auto git = fileop::GitRef::parse(value)) {
    c.kind = convert::NamedContext::Kind::git;
    c.git = *git;
  } else if (starts_with(value, "https://") || starts_with(value, "http://")) {
    // BuildKit v0.13's http named context: the downloaded file itself,
    // named as ADD names it, mode 0600, its mtime the Last-Modified.
    auto dir = temp(in, "xbuild-named");
    std::unique_ptr<fileop::Download> d = download(value, "--build-context " + name + "=");
    fs::path file = dir->path() / d->name;
    fs::copy_file(d->dir.path() / d->name, file);
    fs::permissions(file, fs::perms(0600));
    if (d->mtime >= 0) {
      struct timespec times[2] = {{d->mtime, 0}, {d->mtime, 0}};
      if (::utimensat(AT_FDCWD, file.c_str(), times, 0) < 0) throw_errno("utimensat", file.string());
    }
    c = convert::local_context(dir->path(), value);
    c.temporary = true;
  } else if (value.find("://") != std::string::npos) {
    fail(ErrorKind::usage, flag + ": unsupported context source \"" + value.substr(0, value.find("://")) +
                               "\" (want docker-image://, oci-layout://, a git URL, an https URL or a directory)");
  } else {
    c = convert::local_context(value, value);
  }
  return {convert::context_name(name), std::move(c)};
}

}  // namespace xb::cli
