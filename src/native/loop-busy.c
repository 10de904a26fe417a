/* Busy polling driven from libuv's idle phase (a channel's busy mode): while a
 * busy poller is active its idle handle keeps the loop from sleeping, and
 * each turn of the loop runs one slice: the poller's callback is called again
 * and again through napi_make_callback until it returns false or the slice's
 * time is up. Each call is a callback scope of its own, so Node runs the
 * promise jobs and process.nextTick queue after each one, inside the slice:
 * an awaited reply's continuation (the next call of a conversation) runs and
 * sends before the next poll, without a turn of the loop (an epoll_wait, the
 * immediates) between. Between slices the loop turns as usual (timers, I/O).
 * Its JS handle is an external whose finalizer stops a forgotten poller; the
 * uv close callback, which may run after the env is gone, only frees memory. */
#include "napi-util.h"
#include <errno.h>
#include <stdlib.h>
#include <uv.h>

typedef struct busy busy_t;

typedef struct {
  busy_t *b; /* NULL once the poller is closed */
} busy_box_t;

struct busy {
  uv_idle_t idle;
  napi_env env;
  napi_ref callback; /* NULL once closed */
  napi_async_context context;
  uint64_t slice_ns;
  busy_box_t *box; /* NULL once the JS handle is collected */
};

static void busy_freed(uv_handle_t *h) {
  free(h->data);
}

/* Only while the env is alive: from JS (busy_close) or the handle's finalizer.
 * Memory stays until the uv close callback, so a slice whose callback closed
 * its own poller ends safely. */
static void busy_stop(busy_t *b) {
  uv_idle_stop(&b->idle);
  napi_delete_reference(b->env, b->callback);
  napi_async_destroy(b->env, b->context);
  b->callback = NULL;
  b->context = NULL;
  uv_close((uv_handle_t *)&b->idle, busy_freed);
}

/* One call of the callback; true when it asked for more of the slice. */
static int busy_call(busy_t *b) {
  napi_env env = b->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, result;
  bool more = false, thrown = false;
  napi_get_reference_value(env, b->callback, &cb);
  napi_get_global(env, &recv);
  napi_status st = cb ? napi_make_callback(env, b->context, recv, cb, 0, NULL, &result) : napi_generic_failure;
  if (st == napi_ok) {
    napi_get_value_bool(env, result, &more);
  } else if (st == napi_pending_exception && napi_is_exception_pending(env, &thrown) == napi_ok && thrown) {
    /* As poll.c: while the env is torn down the call is refused though nothing was thrown. */
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
  return more;
}

static void on_idle(uv_idle_t *h) {
  busy_t *b = h->data;
  uint64_t deadline = uv_hrtime() + b->slice_ns;
  while (b->callback != NULL && busy_call(b) && uv_hrtime() < deadline) {
  }
}

static void box_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  busy_box_t *box = data;
  if (box->b) {
    box->b->box = NULL;
    busy_stop(box->b);
  }
  free(box);
}

static busy_t *unbox(napi_env env, napi_value v) {
  busy_box_t *box = NULL;
  if (napi_get_value_external(env, v, (void **)&box) != napi_ok || !box) return NULL;
  return box->b;
}

/* busy_open(callback() -> boolean, sliceUs) -> handle or -errno: from the next
 * turn on, each turn calls callback until it returns false or sliceUs passed */
static napi_value busy_open(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "busy_open(callback, sliceUs)");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return fb_int(env, -EINVAL);
  busy_t *b = calloc(1, sizeof *b);
  busy_box_t *box = calloc(1, sizeof *box);
  if (!b || !box) {
    free(b); free(box);
    return fb_int(env, -ENOMEM);
  }
  uv_idle_init(loop, &b->idle);
  b->idle.data = b;
  b->env = env;
  b->slice_ns = (uint64_t)fb_u32(env, argv[1]) * 1000u;
  napi_create_reference(env, argv[0], 1, &b->callback);
  napi_value name;
  napi_create_string_utf8(env, "fastbus:busy", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &b->context);
  uv_idle_start(&b->idle, on_idle);
  b->box = box;
  box->b = b;
  napi_value handle;
  napi_create_external(env, box, box_finalize, NULL, &handle);
  return handle;
}

/* busy_close(handle) -> 0 or -errno: stops polling (also from inside the callback) */
static napi_value busy_close(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "busy_close(handle)");
  busy_t *b = unbox(env, argv[0]);
  if (!b) return fb_int(env, -EBADF);
  if (b->box) b->box->b = NULL;
  b->box = NULL;
  busy_stop(b);
  return fb_int(env, 0);
}

/* busy_ref(handle, keepAlive) -> 0 or -errno: whether it keeps Node running */
static napi_value busy_ref(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "busy_ref(handle, keepAlive)");
  busy_t *b = unbox(env, argv[0]);
  if (!b) return fb_int(env, -EBADF);
  bool keep = false;
  napi_get_value_bool(env, argv[1], &keep);
  if (keep) uv_ref((uv_handle_t *)&b->idle); else uv_unref((uv_handle_t *)&b->idle);
  return fb_int(env, 0);
}

void loop_busy_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "busy_open", busy_open);
  fb_export(env, exports, "busy_close", busy_close);
  fb_export(env, exports, "busy_ref", busy_ref);
}
