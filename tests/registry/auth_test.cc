#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "registry/internal.h"
#include "registry/registry.h"

using namespace xb::registry;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

TEST(AuthChallenge, ParsesDockerHubBearer) {
  auto c = AuthChallenge::parse(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "Bearer");
  EXPECT_EQ(c[0].params.at("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(c[0].params.at("service"), "registry.docker.io");
  EXPECT_EQ(c[0].params.at("scope"), "repository:library/busybox:pull");
}

TEST(AuthChallenge, ParsesBasicAndSeveralChallenges) {
  auto c = AuthChallenge::parse(R"(Basic realm="my \"realm\"", Bearer realm=https://t/x,error="invalid_token")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "Basic");
  EXPECT_EQ(c[0].params.at("realm"), "my \"realm\"");
  EXPECT_EQ(c[1].scheme, "Bearer");
  EXPECT_EQ(c[1].params.at("realm"), "https://t/x");
  EXPECT_EQ(c[1].params.at("error"), "invalid_token");
  EXPECT_TRUE(AuthChallenge::parse("").empty());
  EXPECT_EQ(AuthChallenge::parse("basic REALM=x")[0].params.at("realm"), "x");
}

TEST(Base64, RoundTrip) {
  for (std::string s : {"", "a", "ab", "abc", "user:pässword", "xbuild:s3cret"}) {
    EXPECT_EQ(base64_decode(base64_encode(s)).value(), s);
  }
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_FALSE(base64_decode("!!"));
}

TEST(RegistryConfig, InsecureHosts) {
  RegistryConfig c;
  c.insecure_registries = {"myreg.lan:5000"};
  // Loopback and listed hosts may fall back to plain HTTP…
  EXPECT_TRUE(c.may_use_http("localhost"));
  EXPECT_TRUE(c.may_use_http("localhost:5000"));
  EXPECT_TRUE(c.may_use_http("127.0.0.1:5000"));
  EXPECT_TRUE(c.may_use_http("127.1.2.3"));
  EXPECT_TRUE(c.may_use_http("[::1]:5000"));
  EXPECT_TRUE(c.may_use_http("myreg.lan:5000"));
  EXPECT_FALSE(c.may_use_http("myreg.lan"));
  EXPECT_FALSE(c.may_use_http("docker.io"));
  EXPECT_FALSE(c.may_use_http("127.example.com"));
  EXPECT_FALSE(c.may_use_http("10.0.0.1:5000"));
  // …but only listed ones accept a certificate nobody can verify.
  EXPECT_TRUE(c.is_insecure("myreg.lan:5000"));
  EXPECT_FALSE(c.is_insecure("127.0.0.1:5000"));
  EXPECT_FALSE(c.is_insecure("localhost"));
  EXPECT_TRUE(c.tls_for("127.0.0.1:5000").verify);
  EXPECT_FALSE(c.tls_for("myreg.lan:5000").verify);
}

TEST(RegistryConfig, CertsDirectories) {
  xb::TempDir d("certs");
  RegistryConfig c;
  c.certs_dirs = {d.path() / "docker", d.path() / "containers"};
  // Nothing anywhere: the CA's place is named in the first root.
  TlsSettings none = c.tls_for("reg.lan:5000");
  EXPECT_TRUE(none.ca_files.empty());
  EXPECT_EQ(none.ca_hint, d.path() / "docker/reg.lan:5000/ca.crt");
  // The first root that has the host's directory is the one read.
  fs::create_directories(d.path() / "containers/reg.lan:5000");
  fs::create_directories(d.path() / "containers/other:1");
  xb::write_file_atomic(d.path() / "containers/reg.lan:5000/b.crt", "x");
  xb::write_file_atomic(d.path() / "containers/reg.lan:5000/a.crt", "x");
  xb::write_file_atomic(d.path() / "containers/reg.lan:5000/client.cert", "x");
  xb::write_file_atomic(d.path() / "containers/reg.lan:5000/client.key", "x");
  xb::write_file_atomic(d.path() / "containers/other:1/c.crt", "x");
  TlsSettings t = c.tls_for("reg.lan:5000");
  ASSERT_EQ(t.ca_files.size(), 2u);
  EXPECT_EQ(t.ca_files[0].filename(), "a.crt");
  EXPECT_EQ(t.client_cert.filename(), "client.cert");
  EXPECT_EQ(t.client_key.filename(), "client.key");
  EXPECT_EQ(t.ca_hint, d.path() / "containers/reg.lan:5000/ca.crt");
  // A certificate without its key is a clear error.
  fs::remove(d.path() / "containers/reg.lan:5000/client.key");
  try {
    c.tls_for("reg.lan:5000");
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_NE(std::string(e.what()).find("client.cert has no key"), std::string::npos) << e.what();
  }
  // A host name cannot reach outside the roots.
  EXPECT_TRUE(c.tls_for("..").ca_files.empty());
}

TEST(RegistryConfig, CertsRootsFromTheEnvironment) {
  const char* old = std::getenv("XBUILD_CERTS_DIRS");
  std::string saved = old ? old : "";
  setenv("XBUILD_CERTS_DIRS", "/a/certs.d::/b", 1);
  EXPECT_EQ(RegistryConfig::default_certs_dirs(), (std::vector<fs::path>{"/a/certs.d", "/b"}));
  unsetenv("XBUILD_CERTS_DIRS");
  auto d = RegistryConfig::default_certs_dirs();
  // root: docker's then podman's system roots (a non-root user's own root comes first).
  if (geteuid() == 0) {
    EXPECT_EQ(d, (std::vector<fs::path>{"/etc/docker/certs.d", "/etc/containers/certs.d"}));
  }
  if (old) setenv("XBUILD_CERTS_DIRS", saved.c_str(), 1);
}

TEST(RegistryConfig, LoadsFile) {
  xb::TempDir d("cfg");
  EXPECT_TRUE(RegistryConfig::load(d.path() / "missing.json").mirrors.empty());
  xb::write_file_atomic(d.path() / "c.json",
                        R"({"insecure-registries":["a:1"],"mirrors":{"docker.io":["http://127.0.0.1:5000"]}})");
  RegistryConfig c = RegistryConfig::load(d.path() / "c.json");
  EXPECT_EQ(c.insecure_registries, std::vector<std::string>{"a:1"});
  EXPECT_EQ(c.mirrors.at("docker.io").at(0), "http://127.0.0.1:5000");
  xb::write_file_atomic(d.path() / "bad.json", R"({"mirrors":{"docker.io":"x"}})");
  try {
    RegistryConfig::load(d.path() / "bad.json");
    ADD_FAILURE();
  } catch (const xb::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos);
  }
}

TEST(CredentialStore, AuthsRoundTripKeepsOtherKeys) {
  xb::TempDir d("creds");
  fs::path file = d.path() / "config.json";
  xb::write_file_atomic(file, R"({"auths":{"other:1":{"auth":"eDp5"}},"psFormat":"table"})");
  CredentialStore cs(file);
  EXPECT_FALSE(cs.get("reg:5000"));
  cs.store("reg:5000", Credentials{"u", "p:w", ""});
  cs.store("docker.io", Credentials{"hub", "pw", ""});
  EXPECT_EQ(cs.get("reg:5000")->username, "u");
  EXPECT_EQ(cs.get("reg:5000")->password, "p:w");
  EXPECT_EQ(cs.get("other:1")->username, "x");
  EXPECT_EQ(cs.get("docker.io")->username, "hub");
  json j = json::parse(xb::read_file(file));
  EXPECT_EQ(j["psFormat"], "table");
  // The same format docker writes: base64 of user:password under the registry's key.
  EXPECT_EQ(j["auths"]["reg:5000"]["auth"], base64_encode("u:p:w"));
  EXPECT_TRUE(j["auths"].contains("https://index.docker.io/v1/"));
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::others_read, fs::perms::none);
  EXPECT_TRUE(cs.erase("reg:5000"));
  EXPECT_FALSE(cs.erase("reg:5000"));
  EXPECT_FALSE(cs.get("reg:5000"));
  EXPECT_EQ(cs.get("docker.io")->password, "pw");
}

TEST(CredentialStore, ReadsDockerUrlKeys) {
  xb::TempDir d("creds");
  fs::path file = d.path() / "config.json";
  xb::write_file_atomic(file,
                        R"({"auths":{"https://reg.example.com/v1/":{"auth":")" + base64_encode("a:b") + R"("}}})");
  EXPECT_EQ(CredentialStore(file).get("reg.example.com")->password, "b");
}

TEST(CredentialStore, DefaultPathFollowsDockerConfig) {
  const char* old = getenv("DOCKER_CONFIG");
  std::string saved = old ? old : "";
  setenv("DOCKER_CONFIG", "/x/y", 1);
  EXPECT_EQ(CredentialStore::default_path(), fs::path("/x/y/config.json"));
  if (old) setenv("DOCKER_CONFIG", saved.c_str(), 1);
  else unsetenv("DOCKER_CONFIG");
}

// Sets environment variables for one scope and restores them after.
class ScopedEnv {
 public:
  void set(const char* name, const std::string& value) {
    remember(name);
    setenv(name, value.c_str(), 1);
  }
  void unset(const char* name) {
    remember(name);
    unsetenv(name);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) setenv(name.c_str(), value->c_str(), 1);
      else unsetenv(name.c_str());
    }
  }

 private:
  void remember(const char* name) {
    if (saved_.count(name)) return;
    const char* v = getenv(name);
    saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

// podman's order (containers-auth.json(5)): $REGISTRY_AUTH_FILE alone; else
// ${XDG_RUNTIME_DIR}/containers/auth.json before docker's config.json.
TEST(CredentialStore, PodmanAuthFilesAndPrecedence) {
  xb::TempDir d("creds");
  ScopedEnv env;
  fs::path docker = d.path() / "docker", xdg = d.path() / "run";
  fs::create_directories(docker);
  fs::create_directories(xdg / "containers");
  auto auths = [](const std::string& user) {
    return R"({"auths":{"reg:5000":{"auth":")" + base64_encode(user + ":pw") + R"("}}})";
  };
  xb::write_file_atomic(docker / "config.json", R"({"auths":{"reg:5000":{"auth":")" + base64_encode("docker:pw") +
                                                    R"("},"only-docker:1":{"auth":")" + base64_encode("d:pw") +
                                                    R"("}}})");
  env.set("DOCKER_CONFIG", docker.string());
  env.unset("REGISTRY_AUTH_FILE");
  env.unset("XDG_RUNTIME_DIR");
  EXPECT_EQ(CredentialStore().get("reg:5000")->username, "docker");

  // auth.json under XDG_RUNTIME_DIR comes first; docker's file still answers for the rest.
  xb::write_file_atomic(xdg / "containers" / "auth.json", auths("xdg"));
  env.set("XDG_RUNTIME_DIR", xdg.string());
  EXPECT_EQ(CredentialStore().get("reg:5000")->username, "xdg");
  EXPECT_EQ(CredentialStore().get("only-docker:1")->username, "d");
  // A missing auth.json is no error.
  env.set("XDG_RUNTIME_DIR", (d.path() / "nowhere").string());
  EXPECT_EQ(CredentialStore().get("reg:5000")->username, "docker");
  env.set("XDG_RUNTIME_DIR", xdg.string());

  // REGISTRY_AUTH_FILE (and so --authfile) is the only file: no fallback,
  // and login writes there, leaving docker's config.json alone.
  fs::path explicit_file = d.path() / "my-auth.json";
  xb::write_file_atomic(explicit_file, auths("explicit"));
  env.set("REGISTRY_AUTH_FILE", explicit_file.string());
  CredentialStore cs;
  EXPECT_EQ(cs.files(), std::vector<fs::path>{explicit_file});
  EXPECT_EQ(cs.get("reg:5000")->username, "explicit");
  EXPECT_FALSE(cs.get("only-docker:1"));
  cs.store("new:1", Credentials{"n", "p", ""});
  EXPECT_TRUE(json::parse(xb::read_file(explicit_file))["auths"].contains("new:1"));
  EXPECT_FALSE(json::parse(xb::read_file(docker / "config.json"))["auths"].contains("new:1"));
}

TEST(CredentialStore, UsesCredentialHelpers) {
  xb::TempDir d("creds");
  // A docker-credential-test helper that keeps one secret in a file, as the
  // real helpers do in a keychain.
  fs::path bin = d.path() / "bin";
  fs::create_directories(bin);
  std::string script = "#!/bin/sh\nstore=" + (d.path() / "secret").string() + R"(
case "$1" in
  get) read server; if [ -f "$store" ]; then cat "$store"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) cat > "$store" ;;
  erase) rm -f "$store" ;;
esac
)";
  xb::write_file_atomic(bin / "docker-credential-test", script, 0755);
  std::string path = bin.string() + ":" + getenv("PATH");
  std::string old_path = getenv("PATH");
  setenv("PATH", path.c_str(), 1);
  fs::path file = d.path() / "config.json";
  xb::write_file_atomic(file, R"({"credHelpers":{"helped:1":"test"}})");
  CredentialStore cs(file);
  EXPECT_FALSE(cs.get("helped:1"));
  cs.store("helped:1", Credentials{"hu", "hp", ""});
  auto c = cs.get("helped:1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "hu");
  EXPECT_EQ(c->password, "hp");
  // The secret went to the helper, not into config.json.
  EXPECT_EQ(xb::read_file(file).find("hp"), std::string::npos);
  EXPECT_TRUE(cs.erase("helped:1"));
  EXPECT_FALSE(cs.get("helped:1"));
  setenv("PATH", old_path.c_str(), 1);
}

}  // namespace
