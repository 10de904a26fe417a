/* Readiness of a file descriptor, watched by libuv on Node's event loop.
 * A poller owns a uv_poll_t and a strong reference to its callback until it
 * is stopped; its JS handle is an external whose finalizer stops a poller
 * that was forgotten. One poller per fd (libuv's rule). Node-API resources
 * are released when the close is requested (the env is alive then); the
 * uv close callback, which may run after the env is gone, only frees memory.
 * A poller polls the loop after its events through the thread's adaptive
 * window (loop-spin.c), or through one of its own when opened with a maximum. */
#include "napi-util.h"
#include "loop-spin.h"
#include <errno.h>
#include <stdlib.h>
#include <uv.h>

typedef struct poller poller_t;

typedef struct {
  poller_t *p; /* NULL once the poller is closed */
} poll_box_t;

struct poller {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  loop_spin_t *spin;
  int own_spin;    /* spin is this poller's own window, closed with it */
  poll_box_t *box; /* NULL once the JS handle is collected */
};

/* Runs on the loop after uv_close, possibly after the environment is torn
 * down (a worker's loop outlives its napi_env): no Node-API here. */
static void poller_closed(uv_handle_t *h) {
  poller_t *p = h->data;
  loop_spin_release(p->spin);
  free(p);
}

/* Called only while the env is alive: from JS (poll_close, poll_open) or from
 * the handle's finalizer, which Node-API also runs at env teardown. Once the
 * handle is closing, the box no longer points at the poller. */
static void poller_close(poller_t *p) {
  uv_poll_stop(&p->handle);
  napi_delete_reference(p->env, p->callback);
  napi_async_destroy(p->env, p->context);
  p->callback = NULL;
  p->context = NULL;
  if (p->own_spin) loop_spin_close(p->spin);
  uv_close((uv_handle_t *)&p->handle, poller_closed);
}

static void poller_event(uv_poll_t *h, int status, int events) {
  poller_t *p = h->data;
  napi_env env = p->env;
  loop_spin_begin(p->spin);
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, argv[2], result;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, status, &argv[0]);
  napi_create_int32(env, events, &argv[1]);
  bool thrown = false;
  /* While the env is torn down, the call is refused with napi_pending_exception
   * although nothing was thrown: only a real exception is reported. */
  if (cb && napi_make_callback(env, p->context, recv, cb, 2, argv, &result) == napi_pending_exception &&
      napi_is_exception_pending(env, &thrown) == napi_ok && thrown) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
  loop_spin_end(p->spin);
}

static void box_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  poll_box_t *box = data;
  if (box->p) {
    box->p->box = NULL;
    poller_close(box->p);
  }
  free(box);
}

static poller_t *unbox(napi_env env, napi_value v) {
  poll_box_t *box = NULL;
  if (napi_get_value_external(env, v, (void **)&box) != napi_ok || !box) return NULL;
  return box->p;
}

static void poller_setup(napi_env env, poller_t *p, napi_value callback, loop_spin_t *own) {
  p->env = env;
  p->spin = own ? own : loop_spin_of(env);
  p->own_spin = own != NULL;
  loop_spin_hold(p->spin);
  p->handle.data = p;
  napi_create_reference(env, callback, 1, &p->callback);
  napi_value name;
  napi_create_string_utf8(env, "fastbus:poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->context);
}

/* poll_open(fd, events, callback(status, events), spinMaxUs) -> handle or -errno.
 * spinMaxUs > 0: the poller's own adaptive window, up to that long. */
static napi_value poll_open(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 4) return fb_throw(env, "poll_open(fd, events, callback, spinMaxUs)");
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uint64_t spin_max_ns = (uint64_t)fb_u32(env, argv[3]) * 1000u;
  poller_t *p = calloc(1, sizeof *p);
  poll_box_t *box = calloc(1, sizeof *box);
  loop_spin_t *own = spin_max_ns ? loop_spin_new(loop, spin_max_ns) : NULL;
  if (!p || !box || (spin_max_ns && !own)) {
    free(p); free(box);
    if (own) loop_spin_close(own);
    return fb_int(env, -ENOMEM);
  }
  int r = uv_poll_init(loop, &p->handle, fb_i32(env, argv[0]));
  if (r != 0) {
    free(p); free(box);
    if (own) loop_spin_close(own);
    return fb_int(env, r);
  }
  poller_setup(env, p, argv[2], own);
  r = uv_poll_start(&p->handle, fb_i32(env, argv[1]), poller_event);
  if (r != 0) {
    /* initialised handles are freed only through uv_close */
    free(box);
    poller_close(p);
    return fb_int(env, r);
  }
  p->box = box;
  box->p = p;
  napi_value handle;
  napi_create_external(env, box, box_finalize, NULL, &handle);
  return handle;
}

/* poll_update(handle, events) -> 0 or -errno: changes the watched events */
static napi_value poll_update(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "poll_update(handle, events)");
  poller_t *p = unbox(env, argv[0]);
  if (!p) return fb_int(env, -EBADF);
  int events = fb_i32(env, argv[1]);
  int r = events == 0 ? uv_poll_stop(&p->handle) : uv_poll_start(&p->handle, events, poller_event);
  return fb_int(env, r);
}

/* poll_close(handle) -> 0 or -errno: stops watching; the fd stays open */
static napi_value poll_close(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "poll_close(handle)");
  poller_t *p = unbox(env, argv[0]);
  if (!p) return fb_int(env, -EBADF);
  poll_box_t *box = p->box;
  if (box) box->p = NULL;
  p->box = NULL;
  poller_close(p);
  return fb_int(env, 0);
}

/* poll_ref(handle, keepAlive) -> 0 or -errno: whether it keeps Node running */
static napi_value poll_ref(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "poll_ref(handle, keepAlive)");
  poller_t *p = unbox(env, argv[0]);
  if (!p) return fb_int(env, -EBADF);
  bool keep = false;
  napi_get_value_bool(env, argv[1], &keep);
  if (keep) uv_ref((uv_handle_t *)&p->handle); else uv_unref((uv_handle_t *)&p->handle);
  return fb_int(env, 0);
}

/* poll_spin_stats(handle, out: Float64Array(3)) -> 0 or -errno: the poller's own
 * window in µs, events caught while polling, events after sleeping (-EINVAL: it has none) */
static napi_value poll_spin_stats(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  double *out;
  size_t length;
  if (fb_args(env, info, argv) < 2 || fb_bytes(env, argv[1], (void **)&out, &length) != 0 || length < 3 * sizeof(double)) {
    return fb_throw(env, "poll_spin_stats(handle, out: Float64Array(3))");
  }
  poller_t *p = unbox(env, argv[0]);
  if (!p) return fb_int(env, -EBADF);
  if (!p->own_spin) return fb_int(env, -EINVAL);
  loop_spin_read(p->spin, out);
  return fb_int(env, 0);
}

void poll_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "poll_spin_stats", poll_spin_stats);
  fb_export(env, exports, "poll_open", poll_open);
  fb_export(env, exports, "poll_update", poll_update);
  fb_export(env, exports, "poll_close", poll_close);
  fb_export(env, exports, "poll_ref", poll_ref);
}
