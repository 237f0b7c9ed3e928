/* Private to executor/: the record a container's setup sends to its parent
 * over the close-on-exec pipe (run.cc), written both by the child and by
 * xbuild-init (init.c), so it is plain C. err == 0: setup is done and exec
 * follows; EOF on the pipe then means exec succeeded. */
#ifndef XB_EXECUTOR_EXEC_MESSAGE_H
#define XB_EXECUTOR_EXEC_MESSAGE_H

#include <stdint.h>

struct xb_exec_message {
  int err;
  uint64_t stubs; /* mount-point stubs created in the root, by index */
  char call[48];
  char path[400];
};

#endif
