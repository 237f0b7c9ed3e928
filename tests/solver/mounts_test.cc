// RUN mounts (solver/mounts.h): the rules that decide what a mount becomes,
// without root: cache directories by id and sharing, secret ids and targets,
// tmpfs options, .dockerignore on context binds, and in-root resolution of
// bind sources.
#include "solver/mounts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/fs.h"

namespace xb::solver {
namespace {

namespace fs = std::filesystem;

MountSpec cache(std::string target, std::string id = "") {
  MountSpec m;
  m.type = MountSpec::Type::cache;
  m.target = std::move(target);
  m.id = std::move(id);
  m.read_only = false;
  return m;
}

TEST(Mounts, CacheMountsAreNamedByIdElseTarget) {
  fs::path root = "/store";
  // The id names the directory; without one the target does, so two steps
  // mounting the same target share it, and another id does not.
  EXPECT_EQ(cache_mount_base(root, cache("/root/.cache")), cache_mount_base(root, cache("/x", "/root/.cache")));
  EXPECT_NE(cache_mount_base(root, cache("/root/.cache")), cache_mount_base(root, cache("/root/.cache", "go")));
  EXPECT_EQ(cache_mount_base(root, cache("/a", "go")).parent_path(), root / "cache-mounts");
  EXPECT_EQ(cache_mount_base(root, cache("/a", "go")).filename().string(), std::string(Digest::of("go").hex()));
}

TEST(Mounts, SharedCacheIsOneDirectoryForAll) {
  TempDir tmp("mounts-test");
  fs::path base = tmp.path() / "cache-mounts" / "abc";
  std::vector<FileLock> locks;
  EXPECT_EQ(cache_mount_dir(base, MountSpec::Sharing::shared, locks), base);
  EXPECT_EQ(cache_mount_dir(base, MountSpec::Sharing::shared, locks), base);
  EXPECT_TRUE(locks.empty());  // nobody waits for a shared cache
}

TEST(Mounts, PrivateCacheGivesEachHolderItsOwnInstance) {
  TempDir tmp("mounts-test");
  fs::path base = tmp.path() / "cache-mounts" / "abc";
  std::vector<FileLock> first, second, third;
  EXPECT_EQ(cache_mount_dir(base, MountSpec::Sharing::private_, first), base);
  EXPECT_EQ(cache_mount_dir(base, MountSpec::Sharing::private_, second), fs::path(base.string() + "-1"));
  EXPECT_EQ(first.size(), 1u);
  EXPECT_EQ(second.size(), 1u);
  // Once the first step is done, its instance is free again.
  first.clear();
  EXPECT_EQ(cache_mount_dir(base, MountSpec::Sharing::private_, third), base);
}

TEST(Mounts, LockedCacheIsHeldExclusively) {
  TempDir tmp("mounts-test");
  fs::path base = tmp.path() / "cache-mounts" / "abc";
  std::vector<FileLock> locks;
  EXPECT_EQ(cache_mount_dir(base, MountSpec::Sharing::locked, locks), base);
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_TRUE(fs::is_directory(base));
  // Another holder would wait: the lock is not free.
  EXPECT_FALSE(FileLock::try_lock(base.string() + ".lock", FileLock::Mode::exclusive).owns());
  locks.clear();
  EXPECT_TRUE(FileLock::try_lock(base.string() + ".lock", FileLock::Mode::exclusive).owns());
}

TEST(Mounts, SecretIdAndTargetDefaults) {
  MountSpec m;
  m.type = MountSpec::Type::secret;
  m.id = "token";
  EXPECT_EQ(secret_id(m), "token");
  EXPECT_EQ(secret_target(m), "/run/secrets/token");
  m.id.clear();
  m.target = "/etc/app/key.pem";  // BuildKit: the id defaults to the target's file name
  EXPECT_EQ(secret_id(m), "key.pem");
  EXPECT_EQ(secret_target(m), "/etc/app/key.pem");
}

TEST(Mounts, TheLastSecretWithAnIdWins) {
  std::vector<SecretSource> secrets = {{"a", "/one", ""}, {"b", "", "B"}, {"a", "/two", ""}};
  ASSERT_NE(find_secret(secrets, "a"), nullptr);
  EXPECT_EQ(find_secret(secrets, "a")->file, "/two");
  EXPECT_EQ(find_secret(secrets, "b")->env, "B");
  EXPECT_EQ(find_secret(secrets, "c"), nullptr);
}

TEST(Mounts, TmpfsIsNosuidNodevWithItsSize) {
  MountSpec m;
  m.type = MountSpec::Type::tmpfs;
  EXPECT_EQ(tmpfs_options(m), (std::vector<std::string>{"nosuid", "nodev"}));
  m.size_bytes = 1048576;
  EXPECT_EQ(tmpfs_options(m), (std::vector<std::string>{"nosuid", "nodev", "size=1048576"}));
}

TEST(Mounts, DockerignoreHidesContextBindSources) {
  IgnorePredicate ignored = [](std::string_view p, bool) { return p == "secret.txt" || p == "build" || p == "src"; };
  SkipDirPredicate skip = [](std::string_view d) { return d == "build"; };  // src holds a re-included file
  EXPECT_TRUE(excluded_from_context("secret.txt", false, ignored, skip));
  EXPECT_TRUE(excluded_from_context("build", true, ignored, skip));
  EXPECT_FALSE(excluded_from_context("src", true, ignored, skip));  // mounted, its excluded files left out
  EXPECT_FALSE(excluded_from_context("main.c", false, ignored, skip));
  EXPECT_FALSE(excluded_from_context("", true, ignored, skip));      // the context itself
  EXPECT_FALSE(excluded_from_context("secret.txt", false, {}, {}));  // no .dockerignore
}

TEST(Mounts, BindSourcesResolveInsideTheirRoot) {
  TempDir tmp("mounts-test");
  fs::path root = tmp.path() / "root";
  fs::create_directories(root / "etc");
  write_file_atomic(root / "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  fs::create_symlink("/etc", root / "abs");     // absolute: the root's /etc, not the host's
  fs::create_symlink("../../..", root / "up");  // climbing: stops at the root
  fs::path real = fs::canonical(root);
  EXPECT_EQ(resolve_in_root(root, "/etc/passwd", "missing"), real / "etc/passwd");
  EXPECT_EQ(resolve_in_root(root, "abs/passwd", "missing"), real / "etc/passwd");
  EXPECT_EQ(resolve_in_root(root, "up/etc", "missing"), real / "etc");
  EXPECT_EQ(resolve_in_root(root, "", "missing"), real);
  try {
    resolve_in_root(root, "abs/shadow", "source \"abs/shadow\" not found");
    FAIL() << "resolved a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_EQ(e.message(), "source \"abs/shadow\" not found");
  }
}

}  // namespace
}  // namespace xb::solver
