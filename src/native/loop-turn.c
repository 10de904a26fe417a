/* Counts the turns of this thread's event loop: a prepare handle (run just
 * before each poll for readiness) adds one to a counter that JavaScript reads
 * from its own typed array, so that it can tell one batch of readiness
 * callbacks from the next without a call into C or a JavaScript callback per
 * turn (transport/read-turns.ts shares read budgets by turn). */
#include "napi-util.h"
#include <errno.h>
#include <stdlib.h>
#include <uv.h>

struct loop_turn {
  uv_prepare_t prepare;
  napi_env env;
  napi_ref array; /* keeps the counter's storage alive while the handle runs */
  uint32_t *counter;
};

static void on_prepare(uv_prepare_t *h) {
  struct loop_turn *t = h->data;
  (*t->counter)++;
}

static void on_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_env_cleanup(void *arg) {
  struct loop_turn *t = arg;
  napi_delete_reference(t->env, t->array);
  uv_prepare_stop(&t->prepare);
  uv_close((uv_handle_t *)&t->prepare, on_closed);
}

/* loop_turn_count(counter: Uint32Array(1)) -> 0 or -errno: from now on counter[0] grows by one per loop turn */
static napi_value loop_turn_count(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  void *data;
  size_t length;
  if (fb_args(env, info, argv) < 1 || fb_bytes(env, argv[0], &data, &length) != 0 || length < sizeof(uint32_t)) {
    return fb_throw(env, "loop_turn_count(counter: Uint32Array(1))");
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return fb_int(env, -EINVAL);
  struct loop_turn *t = calloc(1, sizeof *t);
  if (!t) return fb_int(env, -ENOMEM);
  if (napi_create_reference(env, argv[0], 1, &t->array) != napi_ok) {
    free(t);
    return fb_int(env, -ENOMEM);
  }
  t->env = env;
  t->counter = data;
  t->prepare.data = t;
  uv_prepare_init(loop, &t->prepare);
  uv_prepare_start(&t->prepare, on_prepare);
  /* Counting never keeps Node running by itself. */
  uv_unref((uv_handle_t *)&t->prepare);
  napi_add_env_cleanup_hook(env, on_env_cleanup, t);
  return fb_int(env, 0);
}

void loop_turn_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "loop_turn_count", loop_turn_count);
}
