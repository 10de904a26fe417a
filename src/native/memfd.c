/* Anonymous shared memory files: memfd_create, ftruncate, seals. */
#define _GNU_SOURCE
#include "napi-util.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

/* memfd_open(name, allowSealing) -> fd or -errno (always close-on-exec) */
static napi_value memfd_open(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "memfd_open(name, allowSealing)");
  char name[250];
  size_t len;
  napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len);
  bool sealing = false;
  napi_get_value_bool(env, argv[1], &sealing);
  int fd = memfd_create(name, MFD_CLOEXEC | (sealing ? MFD_ALLOW_SEALING : 0));
  return fb_int(env, fd < 0 ? -errno : fd);
}

/* memfd_truncate(fd, sizeBytes) -> 0 or -errno */
static napi_value memfd_truncate(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "memfd_truncate(fd, size)");
  int r = ftruncate(fb_i32(env, argv[0]), (off_t)fb_i64(env, argv[1]));
  return fb_int(env, r < 0 ? -errno : 0);
}

/* memfd_seal(fd, seals) -> 0 or -errno */
static napi_value memfd_seal(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "memfd_seal(fd, seals)");
  int r = fcntl(fb_i32(env, argv[0]), F_ADD_SEALS, fb_i32(env, argv[1]));
  return fb_int(env, r < 0 ? -errno : 0);
}

/* memfd_get_seals(fd) -> the seal bits or -errno (EINVAL: not a sealable file);
 * a receiver checks that a file its peer passed cannot shrink under its mapping */
static napi_value memfd_get_seals(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "memfd_get_seals(fd)");
  int r = fcntl(fb_i32(env, argv[0]), F_GET_SEALS);
  return fb_int(env, r < 0 ? -errno : r);
}

void memfd_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "memfd_open", memfd_open);
  fb_export(env, exports, "memfd_truncate", memfd_truncate);
  fb_export(env, exports, "memfd_seal", memfd_seal);
  fb_export(env, exports, "memfd_get_seals", memfd_get_seals);
}
