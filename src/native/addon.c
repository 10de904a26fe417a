/* The fastbus addon: module entry. Each concern lives in its own file and
 * registers its functions here. Every function makes one system call (or a
 * short fixed sequence) and returns a non-negative result or -errno. */
#include "napi-util.h"

static napi_value init(napi_env env, napi_value exports) {
  address_init(env, exports);
  cma_init(env, exports);
  memfd_init(env, exports);
  mmap_init(env, exports);
  anon_init(env, exports);
  heap_init(env, exports);
  eventfd_init(env, exports);
  loop_spin_init(env, exports);
  loop_turn_init(env, exports);
  loop_busy_init(env, exports);
  poll_init(env, exports);
  socket_init(env, exports);
  fd_init(env, exports);
  pidfd_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
