// Cache mounts across machines without root or a registry: the mounts
// options, where mount layers sit in the cache format, a round trip through
// a local layout, when a directory may be restored, and a hostile mount tar
// unpacked contained.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include "cache/cache.h"
#include "common/fs.h"
#include "common/tar.h"

namespace xb::cache {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Layer layer(const std::string& content) {
  Digest d = Digest::of(content);
  return Layer{d, d, content.size(), std::string(store::media_type::oci_layer)};
}

void expect_usage(const std::string& flag, const std::string& text, const std::string& says) {
  try {
    CacheSpec::parse(flag, text);
    ADD_FAILURE() << text << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage) << text;
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
}

TEST(CacheMountSpec, ExportOnlyWhenAskedRestoreUnlessRefused) {
  EXPECT_FALSE(CacheSpec::parse("--cache-to", "type=registry,ref=h:5000/c").mounts);
  EXPECT_TRUE(CacheSpec::parse("--cache-to", "type=registry,ref=h:5000/c,mounts=true").mounts);
  EXPECT_TRUE(CacheSpec::parse("--cache-from", "type=registry,ref=h:5000/c").mounts);
  EXPECT_TRUE(CacheSpec::parse("--cache-from", "h:5000/c").mounts);
  EXPECT_FALSE(CacheSpec::parse("--cache-from", "type=local,src=/c,mounts=false").mounts);
  auto capped = CacheSpec::parse("--cache-to", "type=local,dest=/c,mounts=true,mounts-max-size=500m");
  EXPECT_EQ(capped.mounts_max_size, uint64_t{500} << 20);  // docker's binary units, as --memory
  EXPECT_FALSE(CacheSpec::parse("--cache-to", "type=local,dest=/c,mounts=true").mounts_max_size);

  expect_usage("--cache-to", "type=local,dest=/c,mounts=yes", "mounts=yes (want true or false)");
  expect_usage("--cache-to", "type=local,dest=/c,mounts=true,mounts-max-size=big", "mounts-max-size=big is not a size");
  expect_usage("--cache-to", "type=local,dest=/c,mounts-max-size=1g", "mounts-max-size needs mounts=true");
  expect_usage("--cache-to", "type=inline,mounts=true", "unknown option mounts");
  expect_usage("--cache-from", "type=local,src=/c,mounts-max-size=1g", "unknown option mounts-max-size");
}

TEST(CacheMountFormat, MountsAreAnnotatedLayersAfterTheStepLayers) {
  CacheMetadata m;
  Layer a = layer("a"), b = layer("b"), apt = layer("apt tar"), go = layer("go tar");
  m.add(Digest::of("k"), {a, b});
  m.mounts.emplace("/var/cache/apt", apt);
  m.mounts.emplace("go", go);
  std::vector<store::Descriptor> descs = m.manifest_layers();
  ASSERT_EQ(descs.size(), 4u);
  EXPECT_TRUE(descs[0].annotations.empty());
  EXPECT_EQ(descs[2].annotations.at(std::string(kCacheMountAnnotation)), "/var/cache/apt");
  EXPECT_EQ(descs[3].annotations.at(std::string(kCacheMountAnnotation)), "go");
  EXPECT_EQ(descs[3].digest, go.blob);
  json cfg = json::parse(m.config_json());
  EXPECT_EQ(cfg["diff_ids"].size(), 4u);  // one per manifest layer, as every reader requires
  EXPECT_EQ(cfg["created"].size(), 4u);

  CacheMetadata back = CacheMetadata::from_config(cfg, descs);
  EXPECT_EQ(back.chain(Digest::of("k")), (std::vector<Layer>{a, b}));
  ASSERT_EQ(back.mounts.size(), 2u);
  EXPECT_EQ(back.mounts.at("go").blob, go.blob);
  EXPECT_EQ(back.mounts.at("/var/cache/apt").diff_id, apt.diff_id);
  // A reader that knows no mounts (annotations ignored) still reads the steps.
  for (auto& d : descs) d.annotations.clear();
  CacheMetadata plain = CacheMetadata::from_config(cfg, descs);
  EXPECT_EQ(plain.chain(Digest::of("k")), (std::vector<Layer>{a, b}));
  EXPECT_TRUE(plain.mounts.empty());
}

TEST(CacheMountExport, MountsTravelThroughALocalLayoutOnlyWhenAskedAndUnderTheCap) {
  TempDir tmp("cache-mount-test");
  store::Store st(tmp.path() / "store");
  for (const auto& content : {"base", "s1", "apt tar", "big tar"}) st.put_blob(content);
  CacheExport ce;
  ce.image_layers = {layer("base"), layer("s1")};
  ce.records = {{Digest::of("k1"), {layer("base"), layer("s1")}, true}};
  ce.mounts["apt"] = CacheExport::Mount{7, layer("apt tar")};
  ce.mounts["big"] = CacheExport::Mount{1 << 20, layer("big tar")};
  std::vector<std::string> info;
  ExportOptions eo;
  eo.info = [&](const std::string& m) { info.push_back(m); };
  const std::string dir = (tmp.path() / "c").string();
  auto read_back = [&](const std::string& from) {
    return RemoteCache(st, {CacheSpec::parse("--cache-from", "type=local,src=" + dir + from)}, {}, {});
  };

  export_cache(st, ce, CacheSpec::parse("--cache-to", "type=local,dest=" + dir + ",tag=no,compression=uncompressed"),
               eo);
  EXPECT_FALSE(read_back(",tag=no").mount("apt"));

  export_cache(st, ce,
               CacheSpec::parse("--cache-to", "type=local,dest=" + dir +
                                                  ",tag=yes,compression=uncompressed,mounts=true,mounts-max-size=1k"),
               eo);
  ASSERT_GE(info.size(), 2u);
  EXPECT_NE(info[info.size() - 2].find("cache mount big (1048576 bytes) is larger than mounts-max-size=1024"),
            std::string::npos)
      << info[info.size() - 2];
  EXPECT_NE(info.back().find(", 1 cache mounts"), std::string::npos) << info.back();
  RemoteCache yes = read_back(",tag=yes");
  auto apt = yes.mount("apt");
  ASSERT_TRUE(apt);
  EXPECT_EQ(apt->first.blob, layer("apt tar").blob);
  EXPECT_NE(apt->second.find("local " + dir), std::string::npos);
  EXPECT_FALSE(yes.mount("big"));
  EXPECT_EQ(yes.lookup(Digest::of("k1"))->size(), 2u);  // the steps as before
  EXPECT_FALSE(read_back(",tag=yes,mounts=false").mount("apt"));

  // The same mounts again: the same manifest (content-addressed), no new blob.
  size_t blobs = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(fs::path(dir) / "blobs" / "sha256")) ++blobs;
  std::string index = read_file(fs::path(dir) / "index.json");
  export_cache(st, ce,
               CacheSpec::parse("--cache-to", "type=local,dest=" + dir +
                                                  ",tag=yes,compression=uncompressed,mounts=true,mounts-max-size=1k"),
               eo);
  EXPECT_EQ(read_file(fs::path(dir) / "index.json"), index);
  size_t after = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(fs::path(dir) / "blobs" / "sha256")) ++after;
  EXPECT_EQ(after, blobs);
}

TEST(CacheMountRestore, OnlyAnAbsentOrEmptyDirectoryIsRestored) {
  TempDir tmp("cache-mount-test");
  EXPECT_TRUE(mount_dir_empty(tmp.path() / "absent"));
  fs::create_directory(tmp.path() / "empty");
  EXPECT_TRUE(mount_dir_empty(tmp.path() / "empty"));
  fs::create_directory(tmp.path() / "warm");
  write_file_atomic(tmp.path() / "warm" / "x.deb", "deb");
  EXPECT_FALSE(mount_dir_empty(tmp.path() / "warm"));
}

// A tar of (name, symlink target or "", content) entries, as a blob of st.
Layer put_tar(store::Store& st, const std::vector<std::tuple<std::string, std::string, std::string>>& entries) {
  std::string bytes;
  tar::Archive w = tar::writer();
  auto cb = [](archive*, void* out, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  archive_write_open(w.get(), &bytes, nullptr, cb, nullptr);
  for (const auto& [name, link, content] : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_perm(e, 0644);
    if (!link.empty()) {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, link.c_str());
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    }
    tar::write_header(w.get(), e);
    if (!content.empty()) archive_write_data(w.get(), content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(w.get());
  Digest d = st.put_blob(bytes);
  return Layer{d, d, bytes.size(), std::string(store::media_type::oci_layer)};
}

TEST(CacheMountRestore, AHostileTarCannotWriteOutsideTheMount) {
  TempDir tmp("cache-mount-test");
  store::Store st(tmp.path() / "store");
  fs::create_directories(tmp.path() / "outside");
  fs::create_directories(tmp.path() / "good");
  unpack_mount(st, put_tar(st, {{"archives/a.deb", "", "deb"}, {"lock", "", ""}}), tmp.path() / "good");
  EXPECT_EQ(read_file(tmp.path() / "good" / "archives" / "a.deb"), "deb");

  // A symlink out of the mount and a file through it stay inside (resolved
  // as a chroot would); a name leading out with ".." is refused.
  fs::create_directories(tmp.path() / "m1");
  unpack_mount(st, put_tar(st, {{"link", (tmp.path() / "outside").string(), ""}, {"link/pwned", "", "x"}}),
               tmp.path() / "m1");
  EXPECT_TRUE(fs::is_empty(tmp.path() / "outside"));
  fs::create_directories(tmp.path() / "m2");
  try {
    unpack_mount(st, put_tar(st, {{"../outside/dotdot", "", "x"}}), tmp.path() / "m2");
    ADD_FAILURE() << "a name leading out was unpacked";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is outside the extraction root"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cache mount layer sha256:"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(tmp.path() / "outside"));
}

}  // namespace
}  // namespace xb::cache
