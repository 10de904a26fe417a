/* What the addon tells V8's heap about memory it cannot see: an amount of
 * external memory added or taken back (napi_adjust_external_memory). V8
 * weighs external memory when it decides to collect; a large enough report
 * makes it collect at once (the receive pool uses this to get back buffers
 * the listener dropped, docs/channel.md "Large payloads"). No system call. */
#include "napi-util.h"

/* heap_adjust_external(changeBytes) -> V8's external memory total after the change */
static napi_value heap_adjust_external(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "heap_adjust_external(changeBytes)");
  int64_t total = 0;
  if (napi_adjust_external_memory(env, fb_i64(env, argv[0]), &total) != napi_ok) return fb_throw(env, "heap_adjust_external: napi_adjust_external_memory failed");
  return fb_int(env, total);
}

void heap_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "heap_adjust_external", heap_adjust_external);
}
