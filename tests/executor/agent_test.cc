// AgentForward (executor/ssh_agent.cc): a RUN's socket relays every
// connection to the agent's, both ways, with the mount's owner and mode;
// it is gone when the object is.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "common/fs.h"
#include "executor/executor.h"

namespace fs = std::filesystem;

namespace {

sockaddr_un address(const fs::path& p) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, p.c_str(), sizeof a.sun_path - 1);
  return a;
}

}  // namespace

TEST(AgentForward, RelaysEveryConnectionBothWays) {
  xb::TempDir dir("agent-fwd");
  fs::path agent = dir.path() / "agent.sock";
  int l = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto a = address(agent);
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(l, 4), 0);
  // A fake agent: answers each request with "re:" + the request, twice per connection.
  std::thread server([l] {
    for (int n = 0; n < 2; ++n) {
      int c = ::accept(l, nullptr, nullptr);
      if (c < 0) return;
      char buf[256];
      ssize_t r;
      while ((r = ::read(c, buf, sizeof buf)) > 0) {
        std::string reply = "re:" + std::string(buf, static_cast<size_t>(r));
        (void)!::write(c, reply.data(), reply.size());
      }
      ::close(c);
    }
  });
  fs::path fwd_path = dir.path() / "run.sock";
  {
    xb::executor::AgentForward fwd(agent, fwd_path, 0, 0, 0640);
    struct stat st {};
    ASSERT_EQ(::stat(fwd_path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    for (int n = 0; n < 2; ++n) {
      int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      auto fa = address(fwd_path);
      ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&fa), sizeof fa), 0);
      std::string req = "hello" + std::to_string(n);
      ASSERT_EQ(::write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
      ::shutdown(c, SHUT_WR);
      std::string got;
      char buf[256];
      ssize_t r;
      while ((r = ::read(c, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(r));
      EXPECT_EQ(got, "re:" + req);
      ::close(c);
    }
  }
  EXPECT_FALSE(fs::exists(fwd_path));
  server.join();
  ::close(l);
}
