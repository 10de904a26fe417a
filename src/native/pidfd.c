/* Process file descriptors: a pidfd becomes readable when its process exits. */
#define _GNU_SOURCE
#include "napi-util.h"
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* pidfd_open(pid) -> fd or -errno */
static napi_value pidfd_open_fn(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "pidfd_open(pid)");
  long fd = syscall(SYS_pidfd_open, (pid_t)fb_i32(env, argv[0]), 0);
  return fb_int(env, fd < 0 ? -errno : fd);
}

void pidfd_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "pidfd_open", pidfd_open_fn);
}
