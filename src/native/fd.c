/* Plain file-descriptor operations: close, read, write, size. */
#include "napi-util.h"
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* fd_close(fd) -> 0 or -errno */
static napi_value fd_close(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "fd_close(fd)");
  int r = close(fb_i32(env, argv[0]));
  return fb_int(env, r < 0 ? -errno : 0);
}

/* fd_read(fd, view) -> bytes or -errno */
static napi_value fd_read(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "fd_read(fd, view)");
  void *data; size_t len;
  if (fb_bytes(env, argv[1], &data, &len) != 0) return fb_throw(env, "fd_read: not a buffer");
  ssize_t r = read(fb_i32(env, argv[0]), data, len);
  return fb_int(env, r < 0 ? -errno : r);
}

/* fd_write(fd, view) -> bytes or -errno */
static napi_value fd_write(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "fd_write(fd, view)");
  void *data; size_t len;
  if (fb_bytes(env, argv[1], &data, &len) != 0) return fb_throw(env, "fd_write: not a buffer");
  ssize_t r = write(fb_i32(env, argv[0]), data, len);
  return fb_int(env, r < 0 ? -errno : r);
}

/* fd_size(fd) -> size in bytes (fstat) or -errno */
static napi_value fd_size(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "fd_size(fd)");
  struct stat st;
  int r = fstat(fb_i32(env, argv[0]), &st);
  return fb_int(env, r < 0 ? -errno : (int64_t)st.st_size);
}

void fd_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "fd_close", fd_close);
  fb_export(env, exports, "fd_read", fd_read);
  fb_export(env, exports, "fd_write", fd_write);
  fb_export(env, exports, "fd_size", fd_size);
}
