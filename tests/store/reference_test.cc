#include <gtest/gtest.h>

#include "common/error.h"
#include "store/store.h"

using xb::store::ImageRef;
using xb::store::Platform;

namespace {

struct Case {
  const char* input;
  const char* normalized;
  const char* familiar;
};

// Expected values are docker's (reference.ParseNormalizedNamed + TagNameOnly).
const Case kCases[] = {
    {"figlet", "docker.io/library/figlet:latest", "figlet:latest"},
    {"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
    {"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"user/app", "docker.io/user/app:latest", "user/app:latest"},
    {"docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"},
    {"localhost/foo", "localhost/foo:latest", "localhost/foo:latest"},
    {"localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1", "localhost:5000/foo/bar:v1"},
    {"127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"},
    {"quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0"},
    {"[::1]:5000/a", "[::1]:5000/a:latest", "[::1]:5000/a:latest"},
    {"localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"},
    {"a-b.c-d/e__f", "a-b.c-d/e__f:latest", "a-b.c-d/e__f:latest"},
    {"foo.com:8080/x-y__z.w---v", "foo.com:8080/x-y__z.w---v:latest", ""},
    {"busybox@sha256:e5a2e0d0bd5c2e6e3b1a5b1c8e3a2c9c3d3d0e8d6a6e9b2bdc4f3f1e1c0a9b8c",
     "docker.io/library/busybox@sha256:e5a2e0d0bd5c2e6e3b1a5b1c8e3a2c9c3d3d0e8d6a6e9b2bdc4f3f1e1c0a9b8c",
     "busybox@sha256:e5a2e0d0bd5c2e6e3b1a5b1c8e3a2c9c3d3d0e8d6a6e9b2bdc4f3f1e1c0a9b8c"},
    {"h:1/r:t@sha256:e5a2e0d0bd5c2e6e3b1a5b1c8e3a2c9c3d3d0e8d6a6e9b2bdc4f3f1e1c0a9b8c",
     "h:1/r:t@sha256:e5a2e0d0bd5c2e6e3b1a5b1c8e3a2c9c3d3d0e8d6a6e9b2bdc4f3f1e1c0a9b8c", ""},
};

TEST(ImageRef, NormalizesLikeDocker) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.input);
    ImageRef r = ImageRef::parse(c.input);
    EXPECT_EQ(r.str(), c.normalized);
    if (*c.familiar) {
      EXPECT_EQ(r.familiar(), c.familiar);
    }
    // Round trips: the normalized and the familiar form parse back to the same.
    EXPECT_EQ(ImageRef::parse(r.str()), r);
    EXPECT_EQ(ImageRef::parse(r.familiar()), r);
  }
}

TEST(ImageRef, Parts) {
  ImageRef r = ImageRef::parse("localhost:5000/team/app:v2");
  EXPECT_EQ(r.domain(), "localhost:5000");
  EXPECT_EQ(r.path(), "team/app");
  EXPECT_EQ(r.tag().value(), "v2");
  EXPECT_FALSE(r.digest());
  EXPECT_EQ(r.repository(), "localhost:5000/team/app");
  EXPECT_EQ(r.reference(), "v2");
  ImageRef d = r.with_digest(xb::Digest::of("x"));
  EXPECT_EQ(d.reference(), xb::Digest::of("x").str());
  EXPECT_EQ(d.with_tag("v3").str(), "localhost:5000/team/app:v3");
}

TEST(ImageRef, RejectsInvalid) {
  struct Bad {
    const char* input;
    const char* message;
  };
  const Bad bad[] = {
      {"", "at least one component"},
      {"Busybox", "must be lowercase"},
      {"docker.io/Library/busybox", "must be lowercase"},
      {"busybox:", "invalid reference format"},
      {"busybox:-x", "invalid reference format"},
      {"a//b", "invalid reference format"},
      {"a/b/", "invalid reference format"},
      {"-a", "invalid reference format"},
      {"a..b", "invalid reference format"},
      {"a b", "invalid reference format"},
      {"busybox@sha256:abc", "invalid reference format"},
      {"busybox@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm"},
      {"e5a2e0d0bd5c2e6e3b1a5b1c8e3a2c9c3d3d0e8d6a6e9b2bdc4f3f1e1c0a9b8c", "64-byte hexadecimal"},
      {"host:port/x", "invalid reference format"},
      {"foo_bar.com/x", "invalid reference format"},
      {"a___b", "invalid reference format"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.input);
    try {
      ImageRef::parse(b.input);
      ADD_FAILURE() << "accepted";
    } catch (const xb::Error& e) {
      EXPECT_EQ(e.kind(), xb::ErrorKind::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(ImageRef::try_parse("UPPER"));
  std::string long_name(260, 'a');
  EXPECT_FALSE(ImageRef::try_parse(long_name));
  EXPECT_THROW(ImageRef::parse("x").with_tag("bad tag"), xb::Error);
}

TEST(Platform, Matches) {
  Platform amd64 = Platform::parse("linux/amd64");
  Platform have;
  have.os = "linux";
  have.architecture = "amd64";
  EXPECT_TRUE(amd64.matches(have));
  have.architecture = "arm64";
  have.variant = "v8";
  EXPECT_FALSE(amd64.matches(have));
  EXPECT_TRUE(Platform::parse("linux/arm64").matches(have));
  have.architecture = "arm";
  have.variant = "v6";
  EXPECT_FALSE(Platform::parse("linux/arm/v7").matches(have));
  have.os = "windows";
  have.architecture = "amd64";
  have.variant = "";
  EXPECT_FALSE(amd64.matches(have));
}

}  // namespace
