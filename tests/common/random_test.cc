#include "common/random.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

namespace xb {
namespace {

TEST(RandomHex, LengthAndDigits) {
  for (size_t n : {0u, 1u, 12u, 16u, 33u}) {
    std::string s = random_hex(n);
    EXPECT_EQ(s.size(), n);
    EXPECT_EQ(s.find_first_not_of("0123456789abcdef"), std::string::npos) << s;
  }
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(random_hex(16));
  EXPECT_EQ(seen.size(), 1000u);
}

// No generator state is shared with a forked child (the store's old
// generator had to reseed by pid): parent and child pick different names.
TEST(RandomHex, AForkedChildPicksOtherNames) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  random_hex(16);  // whatever state there might be, the child inherits it
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string s = random_hex(16);
    (void)!::write(p[1], s.data(), s.size());
    ::_exit(0);
  }
  std::string mine = random_hex(16);
  char buf[16];
  ASSERT_EQ(::read(p[0], buf, sizeof buf), 16);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(p[0]);
  ::close(p[1]);
  EXPECT_NE(std::string(buf, 16), mine);
}

}  // namespace
}  // namespace xb
