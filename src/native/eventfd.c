/* eventfd doorbells: one counter per direction, non-blocking. */
#include "napi-util.h"
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* efd_open(initial) -> fd or -errno (non-blocking, close-on-exec) */
static napi_value efd_open(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "efd_open(initial)");
  int fd = eventfd(fb_u32(env, argv[0]), EFD_NONBLOCK | EFD_CLOEXEC);
  return fb_int(env, fd < 0 ? -errno : fd);
}

/* efd_signal(fd, n) -> 0 or -errno: adds n to the counter */
static napi_value efd_signal(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "efd_signal(fd, n)");
  uint64_t n = fb_u32(env, argv[1]);
  ssize_t r = write(fb_i32(env, argv[0]), &n, sizeof n);
  return fb_int(env, r < 0 ? -errno : 0);
}

/* efd_drain(fd) -> the counter (then zero) or -errno (-EAGAIN when zero) */
static napi_value efd_drain(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "efd_drain(fd)");
  uint64_t n = 0;
  ssize_t r = read(fb_i32(env, argv[0]), &n, sizeof n);
  return fb_int(env, r < 0 ? -errno : (int64_t)n);
}

void eventfd_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "efd_open", efd_open);
  fb_export(env, exports, "efd_signal", efd_signal);
  fb_export(env, exports, "efd_drain", efd_drain);
}
