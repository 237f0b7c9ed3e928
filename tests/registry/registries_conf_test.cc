// The registries.conf subset: what maps onto RegistryConfig, what is
// ignored with a warning, and what is an error naming file:line.
#include <gtest/gtest.h>

#include "common/error.h"
#include "registry/registry.h"

using namespace xb::registry;

namespace {

std::string error_of(const std::string& text) {
  try {
    RegistriesConf::parse(text, "/etc/r.conf");
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::invalid_argument);
    return e.what();
  }
  return "(no error)";
}

TEST(RegistriesConf, ParsesRegistriesAndMirrors) {
  RegistriesConf c = RegistriesConf::parse(R"(# podman's example
unqualified-search-registries = ["docker.io",
  "quay.io"]   # over two lines

[[registry]]
location = "docker.io"  # a comment
[[registry.mirror]]
location = "127.0.0.1:5000"
insecure = true
[[registry.mirror]]
location = 'mirror.example.com'

[[registry]]
prefix = "reg.example.com:5000"
location = "reg.example.com:5000"
insecure = true
blocked = false

[aliases]
"busybox" = "docker.io/library/busybox"
)",
                                           "/etc/r.conf");
  ASSERT_EQ(c.registries.size(), 2u);
  EXPECT_EQ(c.registries[0].prefix, "docker.io");
  ASSERT_EQ(c.registries[0].mirrors.size(), 2u);
  EXPECT_EQ(c.registries[0].mirrors[0].location, "127.0.0.1:5000");
  EXPECT_TRUE(c.registries[0].mirrors[0].insecure);
  EXPECT_EQ(c.registries[0].mirrors[1].location, "mirror.example.com");
  EXPECT_FALSE(c.registries[0].mirrors[1].insecure);
  EXPECT_TRUE(c.registries[1].insecure);
  EXPECT_EQ(c.ignored, (std::vector<std::string>{"unqualified-search-registries (line 2)", "blocked (line 17)",
                                                 "[aliases] (line 19)"}));

  RegistryConfig rc;
  rc.mirrors["docker.io"] = {"http://first:1"};  // xbuild's own config comes first
  EXPECT_TRUE(c.apply(rc).empty());
  EXPECT_EQ(rc.mirrors["docker.io"],
            (std::vector<std::string>{"http://first:1", "127.0.0.1:5000", "mirror.example.com"}));
  EXPECT_TRUE(rc.is_insecure("127.0.0.1:5000"));
  EXPECT_TRUE(rc.is_insecure("reg.example.com:5000"));
  EXPECT_FALSE(rc.is_insecure("mirror.example.com"));
}

TEST(RegistriesConf, SkipsWhatHasNoXbuildEquivalent) {
  RegistriesConf c = RegistriesConf::parse(R"([[registry]]
prefix = "example.com/team"
location = "internal.example.com/team"
[[registry]]
location = "registry-1.docker.io"
[[registry.mirror]]
location = "mirror.example.com/hub"
)",
                                           "r.conf");
  RegistryConfig rc;
  auto skipped = c.apply(rc);
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped[0].find("line 1"), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[1].find("mirror.example.com/hub"), std::string::npos) << skipped[1];
  EXPECT_TRUE(rc.mirrors.empty());
}

TEST(RegistriesConf, MalformedLinesNameFileAndLine) {
  EXPECT_NE(error_of("[[registry]]\nlocation = docker.io\n").find("/etc/r.conf:2:"), std::string::npos);
  EXPECT_NE(error_of("\n\nthis is not toml\n").find("/etc/r.conf:3:"), std::string::npos);
  EXPECT_NE(error_of("[[registry]]\nlocation = \"a\"\ninsecure = \"yes\"\n")
                .find("/etc/r.conf:3: \"insecure\" must be true or false"),
            std::string::npos);
  EXPECT_NE(error_of("[[registry.mirror]]\nlocation = \"m\"\n").find("/etc/r.conf:1:"), std::string::npos);
  EXPECT_NE(error_of("[[registry]]\nlocation = \"a\"\nlocation = \"b\"\n").find(":3: \"location\" is set twice"),
            std::string::npos);
  EXPECT_NE(error_of("[[registry]]\ninsecure = true\n").find(":1: [[registry]] needs a location"), std::string::npos);
  EXPECT_NE(error_of("[[registry]\n").find(":1:"), std::string::npos);
  EXPECT_NE(error_of("x = [\"a\",\n").find("unterminated"), std::string::npos);
  EXPECT_NE(error_of("[[registry]]\nlocation = \"a\" junk\n").find(":2:"), std::string::npos);
  EXPECT_NE(error_of("[[registry]]\nlocation = \"a\\q\"\n").find(":2:"), std::string::npos);
  // A '#' inside a string is not a comment.
  EXPECT_EQ(RegistriesConf::parse("[[registry]]\nlocation = \"a#b\"\n", "f").registries[0].location, "a#b");
}

TEST(RegistriesConf, PathFromTheEnvironment) {
  const char* old = getenv("CONTAINERS_REGISTRIES_CONF");
  std::string saved = old ? old : "";
  setenv("CONTAINERS_REGISTRIES_CONF", "/x/registries.conf", 1);
  EXPECT_EQ(RegistriesConf::default_path(), std::filesystem::path("/x/registries.conf"));
  if (old) setenv("CONTAINERS_REGISTRIES_CONF", saved.c_str(), 1);
  else unsetenv("CONTAINERS_REGISTRIES_CONF");
}

}  // namespace
