/* Small helpers shared by the addon's files: argument fetching, -errno
 * results and function registration. No system calls here. */
#ifndef FASTBUS_NAPI_UTIL_H
#define FASTBUS_NAPI_UTIL_H

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <stdint.h>
#include <stddef.h>

#define FB_MAX_ARGS 6

/* Fetch up to FB_MAX_ARGS arguments into argv; returns the count. */
size_t fb_args(napi_env env, napi_callback_info info, napi_value *argv);

int32_t fb_i32(napi_env env, napi_value v);
uint32_t fb_u32(napi_env env, napi_value v);
int64_t fb_i64(napi_env env, napi_value v);
uint64_t fb_bigint_u64(napi_env env, napi_value v);

napi_value fb_int(napi_env env, int64_t n);
napi_value fb_bigint(napi_env env, uint64_t n);
napi_value fb_undefined(napi_env env);

/* The bytes of any ArrayBuffer, TypedArray or DataView; 0 on success. */
int fb_bytes(napi_env env, napi_value v, void **data, size_t *length);

/* Throws a TypeError; native.ts validates first, so this marks a bug. */
napi_value fb_throw(napi_env env, const char *message);

void fb_export(napi_env env, napi_value exports, const char *name, napi_callback fn);

/* Each file registers its functions through one of these. */
void address_init(napi_env env, napi_value exports);
void cma_init(napi_env env, napi_value exports);
void memfd_init(napi_env env, napi_value exports);
void mmap_init(napi_env env, napi_value exports);
void anon_init(napi_env env, napi_value exports);
void heap_init(napi_env env, napi_value exports);
void eventfd_init(napi_env env, napi_value exports);
void poll_init(napi_env env, napi_value exports);
void socket_init(napi_env env, napi_value exports);
void fd_init(napi_env env, napi_value exports);
void pidfd_init(napi_env env, napi_value exports);
void loop_spin_init(napi_env env, napi_value exports);
void loop_turn_init(napi_env env, napi_value exports);
void loop_busy_init(napi_env env, napi_value exports);

#endif
