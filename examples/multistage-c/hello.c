#include <stdio.h>
#include <sys/utsname.h>

int main(int argc, char** argv) {
  struct utsname u;
  const char* who = argc > 1 ? argv[1] : "world";
  if (uname(&u) != 0) {
    perror("uname");
    return 1;
  }
  printf("hello, %s, from a static binary on %s %s\n", who, u.sysname, u.machine);
  return 0;
}
