// The parsers of --add-host, --ulimit and --ssh (cli/run_inputs.h): what
// buildx accepts, what it refuses, and one line naming the value.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/run_inputs.h"
#include "common/error.h"
#include "common/fs.h"

namespace fs = std::filesystem;
using xb::cli::parse_add_host;
using xb::cli::parse_ssh;
using xb::cli::parse_ulimit;

namespace {

std::string usage_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::usage);
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "no error";
  return {};
}

}  // namespace

TEST(RunInputs, AddHost) {
  auto h = parse_add_host("db:10.0.0.5");
  EXPECT_EQ(h.host, "db");
  EXPECT_EQ(h.ip, "10.0.0.5");
  // buildx 0.13: HOST=IP too, and IPv6 after the first colon or in brackets.
  EXPECT_EQ(parse_add_host("db=10.0.0.5").ip, "10.0.0.5");
  EXPECT_EQ(parse_add_host("v6:::1").ip, "::1");
  EXPECT_EQ(parse_add_host("v6=[2001:db8::0001]").ip, "2001:db8::1");  // as Go's net.IP.String()
  EXPECT_EQ(parse_add_host("m:::ffff:1.2.3.4").ip, "1.2.3.4");
  EXPECT_EQ(parse_add_host("host.docker.internal:host-gateway").ip, xb::cli::kHostGatewayIp);
  EXPECT_NE(usage_error([] { parse_add_host("db"); }).find("--add-host db: want HOST:IP"), std::string::npos);
  EXPECT_NE(usage_error([] { parse_add_host(":1.2.3.4"); }).find("want HOST:IP"), std::string::npos);
  EXPECT_NE(usage_error([] { parse_add_host("db:10.0.0.256"); }).find("\"10.0.0.256\" is not an IP address"),
            std::string::npos);
  usage_error([] { parse_add_host("db:example.com"); });
}

TEST(RunInputs, Ulimit) {
  auto u = parse_ulimit("nofile=1024:2048");
  EXPECT_EQ(u.name, "nofile");
  EXPECT_EQ(u.soft, 1024);
  EXPECT_EQ(u.hard, 2048);
  u = parse_ulimit("nproc=300");  // hard = soft
  EXPECT_EQ(u.soft, 300);
  EXPECT_EQ(u.hard, 300);
  u = parse_ulimit("core=-1");  // unlimited
  EXPECT_EQ(u.soft, -1);
  EXPECT_EQ(u.hard, -1);
  EXPECT_EQ(parse_ulimit("memlock=64:-1").hard, -1);
  for (const char* name : {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
                           "rss", "rtprio", "rttime", "sigpending", "stack"})
    EXPECT_EQ(parse_ulimit(std::string(name) + "=1").name, name);
  EXPECT_NE(usage_error([] { parse_ulimit("files=10"); }).find("unknown limit \"files\""), std::string::npos);
  usage_error([] { parse_ulimit("as=10"); });  // go-units leaves it out
  EXPECT_NE(usage_error([] { parse_ulimit("nofile"); }).find("want NAME=SOFT[:HARD]"), std::string::npos);
  EXPECT_NE(usage_error([] { parse_ulimit("nofile=ten"); }).find("whole numbers"), std::string::npos);
  usage_error([] { parse_ulimit("nofile=1:2:3"); });
  usage_error([] { parse_ulimit("nofile=1.5"); });
  usage_error([] { parse_ulimit("nofile=99999999999999999999"); });
  EXPECT_NE(usage_error([] { parse_ulimit("nofile=2048:1024"); }).find("soft limit must not be above"),
            std::string::npos);
  usage_error([] { parse_ulimit("nofile=-1:1024"); });
}

TEST(RunInputs, Ssh) {
  xb::TempDir dir("ssh-parse");
  fs::path key = dir.path() / "id_ed25519", key2 = dir.path() / "id_rsa";
  std::ofstream(key) << "key";
  std::ofstream(key2) << "key";
  fs::path sock = dir.path() / "agent.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

  auto s = parse_ssh("default", sock.string());  // $SSH_AUTH_SOCK
  EXPECT_EQ(s.id, "default");
  EXPECT_EQ(s.socket, sock);
  EXPECT_TRUE(s.keys.empty());
  s = parse_ssh("git=" + sock.string(), "");
  EXPECT_EQ(s.id, "git");
  EXPECT_EQ(s.socket, sock);
  s = parse_ssh("deploy=" + key.string() + "," + key2.string(), "");
  EXPECT_EQ(s.id, "deploy");
  EXPECT_TRUE(s.socket.empty());
  ASSERT_EQ(s.keys.size(), 2u);
  EXPECT_EQ(s.keys[1], key2);
  EXPECT_EQ(parse_ssh("=" + key.string(), "").id, "default");

  EXPECT_NE(usage_error([] { parse_ssh("default", ""); }).find("SSH_AUTH_SOCK is not set"), std::string::npos);
  EXPECT_NE(usage_error([&] { parse_ssh("x=" + (dir.path() / "nope").string(), ""); }).find("no such file or socket"),
            std::string::npos);
  EXPECT_NE(usage_error([&] { parse_ssh("x=" + sock.string() + "," + key.string(), ""); }).find("is a socket"),
            std::string::npos);
  EXPECT_NE(usage_error([&] { parse_ssh("x=" + dir.path().string(), ""); }).find("neither an agent socket nor a key"),
            std::string::npos);
  ::close(fd);
}
