/* The address of a view's bytes in this process, for cross-memory attach. */
#include "napi-util.h"

/* address_of(view) -> bigint */
static napi_value address_of(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "address_of(view)");
  void *data;
  size_t length;
  if (fb_bytes(env, argv[0], &data, &length) != 0) return fb_throw(env, "address_of: not a buffer");
  return fb_bigint(env, (uint64_t)(uintptr_t)data);
}

void address_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "address_of", address_of);
}
