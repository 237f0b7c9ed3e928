#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "store/store.h"

using namespace xb::store;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Every file under blobs/sha256 hashes to its name.
void expect_blobs_verified(const fs::path& root) {
  for (const auto& e : fs::directory_iterator(root / "blobs/sha256")) {
    std::string data = xb::read_file(e.path());
    EXPECT_EQ(xb::Digest::of(data).hex(), e.path().filename().string()) << e.path();
  }
}

size_t blob_count(const fs::path& root) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(root / "blobs/sha256")) ++n;
  return n;
}

TEST(Store, CreatesAnOciLayout) {
  xb::TempDir dir("store-test");
  Store s(dir.path() / "root");
  EXPECT_EQ(json::parse(xb::read_file(dir.path() / "root/oci-layout"))["imageLayoutVersion"], "1.0.0");
  json idx = json::parse(xb::read_file(dir.path() / "root/index.json"));
  EXPECT_EQ(idx["schemaVersion"], 2);
  EXPECT_TRUE(idx["manifests"].empty());
  Store again(dir.path() / "root");  // opening an existing store changes nothing
  EXPECT_TRUE(again.list_images().empty());
}

// No other host user may reach anything in the store (docs/dev/hardening.md):
// a new store's root is 0700, and an old 0755 store is tightened on open.
TEST(Store, RootIsPrivate) {
  xb::TempDir dir("store-test");
  Store s(dir.path() / "new");
  EXPECT_EQ(fs::status(dir.path() / "new").permissions(), fs::perms::owner_all);
  fs::create_directories(dir.path() / "old");
  fs::permissions(dir.path() / "old", fs::perms(0755));
  Store old(dir.path() / "old");
  EXPECT_EQ(fs::status(dir.path() / "old").permissions(), fs::perms::owner_all);
}

TEST(Store, PutReadAndVerify) {
  xb::TempDir dir("store-test");
  Store s(dir.path());
  xb::Digest d = s.put_blob("hello");
  EXPECT_EQ(d, xb::Digest::of("hello"));
  EXPECT_TRUE(s.has_blob(d));
  EXPECT_EQ(s.blob_size(d), 5u);
  EXPECT_EQ(s.read_blob(d), "hello");
  EXPECT_EQ(xb::read_file(s.blob_path(d)), "hello");
  EXPECT_EQ(s.put_blob("hello"), d);  // idempotent
  EXPECT_FALSE(s.has_blob(xb::Digest::of("other")));
  try {
    s.open_blob(xb::Digest::of("other"));
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::not_found);
  }
}

TEST(Store, WriterRefusesWrongDigestOrSize) {
  xb::TempDir dir("store-test");
  Store s(dir.path());
  {
    BlobWriter w = s.write_blob(xb::Digest::of("expected"));
    w.write("something else");
    try {
      w.commit();
      ADD_FAILURE();
    } catch (const xb::Error& e) {
      EXPECT_EQ(e.kind(), xb::ErrorKind::data_loss);
      EXPECT_NE(std::string(e.what()).find("digest mismatch"), std::string::npos);
    }
  }
  {
    BlobWriter w = s.write_blob(xb::Digest::of("abc"), 4);
    w.write("abc");
    EXPECT_THROW(w.commit(), xb::Error);
  }
  {
    BlobWriter w = s.write_blob(std::nullopt, 2);
    EXPECT_THROW(w.write("abc"), xb::Error);
  }
  {
    BlobWriter w = s.write_blob(xb::Digest::of("fine"));
    w.write("garbage");
    w.reset();
    w.write("fine");
    EXPECT_EQ(w.commit(), xb::Digest::of("fine"));
  }
  {
    BlobWriter abandoned = s.write_blob();
    abandoned.write("never committed");
  }
  EXPECT_EQ(blob_count(dir.path()), 1u);
  EXPECT_TRUE(fs::is_empty(dir.path() / "ingest"));
  expect_blobs_verified(dir.path());
}

TEST(Store, KilledWriterLeavesNoBlob) {
  xb::TempDir dir("store-test");
  Store s(dir.path());
  std::string chunk(1 << 16, 'x');
  for (int round = 0; round < 5; ++round) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        Store child(dir.path());
        BlobWriter w = child.write_blob();
        for (int i = 0;; ++i) {
          w.write(chunk);
          if (i % 64 == 63) {
            w.commit();
            w = child.write_blob();
          }
        }
      } catch (...) {
        _exit(1);
      }
    }
    usleep(20000 + round * 15000);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
  }
  // Whatever was committed is complete; the rest is only under ingest/.
  expect_blobs_verified(dir.path());
}

TEST(Store, ImageReferences) {
  xb::TempDir dir("store-test");
  Store s(dir.path());
  Descriptor m1{.media_type = std::string(media_type::oci_manifest), .digest = xb::Digest::of("m1"), .size = 2};
  Descriptor m2{.media_type = std::string(media_type::oci_manifest), .digest = xb::Digest::of("m2"), .size = 2};
  ImageRef bb = ImageRef::parse("busybox");
  s.set_image(bb, m1);
  s.set_image(ImageRef::parse("localhost:5000/x:1"), m1);
  EXPECT_EQ(s.resolve(ImageRef::parse("docker.io/library/busybox:latest"))->digest, m1.digest);
  s.set_image(bb, m2);  // retagging replaces
  EXPECT_EQ(s.resolve(bb)->digest, m2.digest);
  auto all = s.list_images();
  ASSERT_EQ(all.size(), 2u);
  json idx = json::parse(xb::read_file(dir.path() / "index.json"));
  ASSERT_EQ(idx["manifests"].size(), 2u);
  std::set<std::string> names;
  for (auto& m : idx["manifests"]) names.insert(m["annotations"]["org.opencontainers.image.ref.name"]);
  EXPECT_EQ(names, (std::set<std::string>{"docker.io/library/busybox:latest", "localhost:5000/x:1"}));
  EXPECT_TRUE(s.remove_image(bb));
  EXPECT_FALSE(s.remove_image(bb));
  EXPECT_FALSE(s.resolve(bb));
  EXPECT_EQ(s.list_images().size(), 1u);
}

TEST(Store, ConcurrentTaggersLoseNothing) {
  xb::TempDir dir("store-test");
  Store s(dir.path());
  constexpr int kProcs = 4, kTags = 25;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        Store child(dir.path());
        for (int t = 0; t < kTags; ++t)
          child.set_image(ImageRef::parse("p" + std::to_string(p) + ":t" + std::to_string(t)),
                          Descriptor{.media_type = std::string(media_type::oci_manifest),
                                     .digest = xb::Digest::of(std::to_string(t)),
                                     .size = 1});
      } catch (...) {
        _exit(1);
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int status = 0;
    waitpid(k, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(s.list_images().size(), static_cast<size_t>(kProcs * kTags));
}

TEST(Store, ImageByNameOrId) {
  xb::TempDir dir("store-test");
  Store s(dir.path());
  xb::Digest layer = s.put_blob("layer");
  ImageConfig cfg;
  cfg.architecture = "amd64";
  cfg.os = "linux";
  cfg.diff_ids = {layer};
  std::string cfg_json = cfg.to_json();
  xb::Digest cfg_digest = s.put_blob(cfg_json);
  Manifest m{.media_type = std::string(media_type::oci_manifest),
             .config = Descriptor{.media_type = std::string(media_type::oci_config),
                                  .digest = cfg_digest,
                                  .size = static_cast<int64_t>(cfg_json.size())}};
  m.layers.push_back(Descriptor{.media_type = std::string(media_type::oci_layer), .digest = layer, .size = 5});
  std::string mj = m.to_json();
  Descriptor md{.media_type = std::string(media_type::oci_manifest),
                .digest = s.put_blob(mj),
                .size = static_cast<int64_t>(mj.size())};
  s.set_image(ImageRef::parse("app:1"), md);
  EXPECT_EQ(s.image("app:1").id(), cfg_digest);
  EXPECT_EQ(s.image(cfg_digest.str()).manifest_desc.digest, md.digest);
  EXPECT_EQ(s.image(cfg_digest.short_hex()).config.diff_ids.at(0), layer);
  try {
    s.image("nothere");
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::not_found);
    EXPECT_NE(std::string(e.what()).find("nothere"), std::string::npos);
  }
}

TEST(Records, PutGetListRemove) {
  xb::TempDir dir("store-test");
  Store s(dir.path());
  Records r = s.records("cache");
  EXPECT_FALSE(r.get("k"));
  r.put("sha256:abc/def", "value 1");
  r.put_json("j", json{{"a", 1}});
  EXPECT_EQ(r.get("sha256:abc/def").value(), "value 1");
  EXPECT_EQ(r.get_json("j").value()["a"], 1);
  EXPECT_EQ(r.list(), (std::vector<std::string>{"j", "sha256:abc/def"}));
  EXPECT_TRUE(r.remove("j"));
  EXPECT_FALSE(r.remove("j"));
  EXPECT_EQ(s.records("cache").list().size(), 1u);
  EXPECT_TRUE(s.records("other").list().empty());
  EXPECT_THROW(r.put("", "x"), xb::Error);
  EXPECT_THROW(s.records("../x"), xb::Error);
}

TEST(Records, KeysBecomeSafeFileNames) {
  // A record's file is its key percent-encoded: letters, digits, "-", "_" and
  // a "." after the first byte stay; no key names a hidden file, "..", or a path.
  xb::TempDir dir("store-test");
  Store s(dir.path());
  Records r = s.records("cache");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sha256:ab.c/d", "sha256%3Aab.c%2Fd"},
      {".hidden", "%2Ehidden"},
      {"..", "%2E."},
      {"a~b c%", "a%7Eb%20c%25"},
      {"\xc3\xa9", "%C3%A9"},
      {"x-y_z.", "x-y_z."},
  };
  std::vector<std::string> keys;
  for (const auto& [key, file] : cases) {
    r.put(key, "v " + key);
    EXPECT_TRUE(fs::exists(dir.path() / "records/cache" / file)) << file;
    EXPECT_EQ(r.get(key).value(), "v " + key);
    keys.push_back(key);
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(r.list(), keys);
  // A file whose name is no encoding the store writes is not a record.
  xb::write_file_atomic(dir.path() / "records/cache/bad%2", "xbuild-record 1\nv");
  EXPECT_EQ(r.list(), keys);
}

TEST(Records, RefusesUnknownFormatVersion) {
  xb::TempDir dir("store-test");
  Store s(dir.path());
  Records r = s.records("cache");
  r.put("k", "v");
  xb::write_file_atomic(dir.path() / "records/cache/k", "xbuild-record 9\nv");
  try {
    r.get("k");
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_NE(std::string(e.what()).find("xbuild-record 9"), std::string::npos);
  }
}

}  // namespace
