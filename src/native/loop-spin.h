/* Adaptive polling after fd activity (loop-spin.c), driven by poll.c. */
#ifndef FASTBUS_LOOP_SPIN_H
#define FASTBUS_LOOP_SPIN_H
#include <node_api.h>
#include <stdint.h>
#include <uv.h>

typedef struct loop_spin loop_spin_t;

/* This environment's state, or NULL. */
loop_spin_t *loop_spin_of(napi_env env);
/* A state of one poller's own, with the longest window max_ns; NULL on failure.
 * Its holder holds it (loop_spin_hold) and closes it with loop_spin_close. */
loop_spin_t *loop_spin_new(uv_loop_t *loop, uint64_t max_ns);
/* Closes the idle handle: the state is freed once no poller holds it. */
void loop_spin_close(loop_spin_t *s);
/* [window in µs, events caught while polling, events after sleeping] */
void loop_spin_read(const loop_spin_t *s, double out[3]);
/* A poller holds the state from its setup to its libuv close callback. */
void loop_spin_hold(loop_spin_t *s);
void loop_spin_release(loop_spin_t *s);
/* Around each readiness callback: adapt the window, then (re)start polling. */
void loop_spin_begin(loop_spin_t *s);
void loop_spin_end(loop_spin_t *s);
#endif
