/* Adaptive polling after fd activity (loop-spin.c), driven by poll.c. */
#ifndef FASTBUS_LOOP_SPIN_H
#define FASTBUS_LOOP_SPIN_H
#include <node_api.h>

typedef struct loop_spin loop_spin_t;

/* This environment's state, or NULL. */
loop_spin_t *loop_spin_of(napi_env env);
/* A poller holds the state from its setup to its libuv close callback. */
void loop_spin_hold(loop_spin_t *s);
void loop_spin_release(loop_spin_t *s);
/* Around each readiness callback: adapt the window, then (re)start polling. */
void loop_spin_begin(loop_spin_t *s);
void loop_spin_end(loop_spin_t *s);
#endif
