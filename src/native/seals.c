/* Reading the seals of a memfd (fcntl F_GET_SEALS): a receiver checks that a
 * file its peer passed cannot shrink under its mapping. */
#define _GNU_SOURCE
#include "napi-util.h"
#include <errno.h>
#include <fcntl.h>

/* memfd_get_seals(fd) -> the seal bits or -errno (EINVAL: not a sealable file) */
static napi_value memfd_get_seals(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "memfd_get_seals(fd)");
  int r = fcntl(fb_i32(env, argv[0]), F_GET_SEALS);
  return fb_int(env, r < 0 ? -errno : r);
}

void seals_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "memfd_get_seals", memfd_get_seals);
}
