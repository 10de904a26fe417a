/* Adaptive polling: after fd activity, keep Node's loop polling (epoll with a
 * zero timeout) for a short window instead of sleeping at once, so that a
 * message arriving within the window needs no wake-up of this thread. The
 * window adapts as guest halt-polling does, by the gap from the end of one
 * callback to the next event: within the growth bound (a longer window would
 * have caught it), it doubles; past it, it halves.
 * One state per thread (loop_spin, shared by its pollers; its growth bound is
 * the maximum), or one of a poller's own (loop_spin_new: a channel's doorbell
 * adapts to its own peer). An own window grows on gaps of up to GROW_FACTOR
 * times its maximum: in a conversation whose peer sleeps too, each gap holds
 * both wake-ups and is longer than the window, though once both ends poll
 * every turn is caught. When that does not pay (the window is at its maximum
 * and still MISS_LIMIT events in a row came after it closed: traffic that
 * comes regularly but answers nothing), only the maximum grows it again for a
 * while (cooling, a number of events that doubles each time it does not help). */
#include "napi-util.h"
#include "loop-spin.h"
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <uv.h>

/* The first non-zero window. */
#define SPIN_START_NS 10000u
/* An own window grows on gaps of up to this many times its maximum. */
#define GROW_FACTOR 4u
/* Events in a row after a closed window at its maximum that start a cooling. */
#define MISS_LIMIT 8u
/* The first cooling's length in events, and the longest. */
#define COOL_MIN 64u
#define COOL_MAX 65536u

struct loop_spin {
  uv_idle_t idle;     /* active while polling: libuv then polls with timeout 0 */
  uint64_t max_ns;    /* 0: never poll after activity (the default) */
  uint64_t window_ns; /* the current window, 0..max_ns */
  uint64_t grow_ns;   /* a gap up to this long grows the window: max_ns, or GROW_FACTOR * max_ns for an own window */
  uint32_t misses;    /* events in a row that came after a closed window at its maximum */
  uint32_t cool;      /* events left during which only gaps up to max_ns grow the window */
  uint32_t cool_len;  /* the next cooling's length */
  uint64_t deadline;  /* uv_hrtime() at which polling stops */
  uint64_t last_end;  /* uv_hrtime() at the end of the last callback; 0 if not measured */
  int polling;
  int spun;           /* the loop has polled with a zero timeout since polling began */
  double caught;      /* events that arrived while polling */
  double woken;       /* events that came while not polling, or in the batch that began it */
  int pollers;        /* pollers holding this state (loop_spin_hold) */
  int closed;         /* the idle handle is closed: freed once no poller holds it */
};

static void on_idle(uv_idle_t *h) {
  loop_spin_t *s = h->data;
  uint64_t now = uv_hrtime();
  if (now >= s->deadline) {
    uv_idle_stop(h);
    s->polling = 0;
    return;
  }
  /* From here on, this iteration's poll does not sleep. */
  s->spun = 1;
  /* Let a task waiting for this vCPU run: polling must not delay the peer it waits for. */
  sched_yield();
}

void loop_spin_begin(loop_spin_t *s) {
  if (!s || s->max_ns == 0) return;
  if (s->polling) {
    /* Not spun yet: an earlier event of this same batch began polling, and
     * this one came with the wake-up that brought the batch. */
    if (s->spun) {
      s->caught++;
      s->misses = 0;
      s->cool_len = COOL_MIN;
    } else {
      s->woken++;
    }
    return;
  }
  s->woken++;
  if (s->last_end == 0) return;
  /* From the end of the last callback, not from when polling stopped: JavaScript
   * may have held the loop past the deadline, and the window counts in the gap. */
  uint64_t gap = uv_hrtime() - s->last_end;
  if (s->cool > 0) {
    s->cool--;
  } else if (s->window_ns == s->max_ns && gap > s->max_ns && ++s->misses >= MISS_LIMIT) {
    s->misses = 0;
    s->cool = s->cool_len;
    s->cool_len = s->cool_len < COOL_MAX ? s->cool_len * 2 : COOL_MAX;
  }
  if (gap <= (s->cool > 0 ? s->max_ns : s->grow_ns)) {
    uint64_t grown = s->window_ns ? s->window_ns * 2 : SPIN_START_NS;
    s->window_ns = grown < s->max_ns ? grown : s->max_ns;
  } else {
    s->window_ns = s->window_ns / 2 < SPIN_START_NS ? 0 : s->window_ns / 2;
  }
}

void loop_spin_end(loop_spin_t *s) {
  if (!s || s->max_ns == 0) return;
  uint64_t now = uv_hrtime();
  s->last_end = now;
  if (s->window_ns == 0) return;
  s->deadline = now + s->window_ns;
  if (!s->polling) {
    s->polling = 1;
    s->spun = 0;
    uv_idle_start(&s->idle, on_idle);
  }
}

loop_spin_t *loop_spin_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

void loop_spin_hold(loop_spin_t *s) {
  if (s) s->pollers++;
}

/* Pollers may close after the environment's cleanup (their libuv close
 * callbacks run later): the state outlives both the idle handle and them. */
void loop_spin_release(loop_spin_t *s) {
  if (s && --s->pollers == 0 && s->closed) free(s);
}

static void on_closed(uv_handle_t *h) {
  loop_spin_t *s = h->data;
  s->closed = 1;
  if (s->pollers == 0) free(s);
}

static void on_env_cleanup(void *arg) {
  loop_spin_close(arg);
}

/* loop_spin(maxUs) -> 0 or -errno: the longest window; 0 turns polling off */
static napi_value loop_spin(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "loop_spin(maxUs)");
  loop_spin_t *s = loop_spin_of(env);
  if (!s) return fb_int(env, -ENOMEM);
  s->max_ns = (uint64_t)fb_u32(env, argv[0]) * 1000u;
  s->grow_ns = s->max_ns;
  if (s->window_ns > s->max_ns) s->window_ns = s->max_ns;
  if (s->polling && s->deadline > uv_hrtime() + s->max_ns) s->deadline = uv_hrtime() + s->max_ns;
  return fb_int(env, 0);
}

/* loop_spin_stats(out: Float64Array(3)) -> 0: [window in µs, events caught while polling, events after sleeping] */
static napi_value loop_spin_stats(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  double *out;
  size_t length;
  if (fb_args(env, info, argv) < 1 || fb_bytes(env, argv[0], (void **)&out, &length) != 0 || length < 3 * sizeof(double)) {
    return fb_throw(env, "loop_spin_stats(out: Float64Array(3))");
  }
  loop_spin_t *s = loop_spin_of(env);
  if (!s) return fb_int(env, -ENOMEM);
  loop_spin_read(s, out);
  return fb_int(env, 0);
}

/* loop_yield() -> 0 or -errno: sched_yield, for a poller of JavaScript's own (a channel end
 * staying awake): a task waiting for this vCPU (the peer it waits for) runs first */
static napi_value loop_yield(napi_env env, napi_callback_info info) {
  (void)info;
  return fb_int(env, sched_yield() == 0 ? 0 : -errno);
}

loop_spin_t *loop_spin_new(uv_loop_t *loop, uint64_t max_ns) {
  loop_spin_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  if (uv_idle_init(loop, &s->idle) != 0) {
    free(s);
    return NULL;
  }
  s->idle.data = s;
  s->max_ns = max_ns;
  s->grow_ns = max_ns * GROW_FACTOR;
  s->cool_len = COOL_MIN;
  /* Polling never keeps Node running by itself. */
  uv_unref((uv_handle_t *)&s->idle);
  return s;
}

void loop_spin_close(loop_spin_t *s) {
  /* No poller event may start the closing handle again. */
  s->max_ns = 0;
  s->polling = 0;
  uv_close((uv_handle_t *)&s->idle, on_closed);
}

void loop_spin_read(const loop_spin_t *s, double out[3]) {
  out[0] = (double)s->window_ns / 1000.0;
  out[1] = s->caught;
  out[2] = s->woken;
}

void loop_spin_init(napi_env env, napi_value exports) {
  uv_loop_t *loop;
  loop_spin_t *s = napi_get_uv_event_loop(env, &loop) == napi_ok ? loop_spin_new(loop, 0) : NULL;
  if (s) {
    napi_set_instance_data(env, s, NULL, NULL);
    napi_add_env_cleanup_hook(env, on_env_cleanup, s);
  }
  fb_export(env, exports, "loop_spin", loop_spin);
  fb_export(env, exports, "loop_spin_stats", loop_spin_stats);
  fb_export(env, exports, "loop_yield", loop_yield);
}
