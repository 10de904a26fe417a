/* Cross-memory attach: process_vm_readv / process_vm_writev.
 * Arguments: pid, an array of local views, and the remote iovecs as a
 * BigUint64Array of (address, length) pairs. One system call per function. */
#define _GNU_SOURCE
#include "napi-util.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/uio.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Fills local[] from a JS array of views; returns the count or -1. */
static int fill_local(napi_env env, napi_value array, struct iovec *local) {
  uint32_t n = 0;
  napi_get_array_length(env, array, &n);
  if (n > IOV_MAX) return -1;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_get_element(env, array, i, &v);
    if (fb_bytes(env, v, &local[i].iov_base, &local[i].iov_len) != 0) return -1;
  }
  return (int)n;
}

/* Fills remote[] from (address, length) pairs; returns the count or -1. */
static int fill_remote(napi_env env, napi_value pairs, struct iovec *remote) {
  void *data;
  size_t bytes;
  if (fb_bytes(env, pairs, &data, &bytes) != 0 || bytes % 16 != 0) return -1;
  size_t n = bytes / 16;
  if (n > IOV_MAX) return -1;
  const uint64_t *p = data;
  for (size_t i = 0; i < n; i++) {
    remote[i].iov_base = (void *)(uintptr_t)p[2 * i];
    remote[i].iov_len = (size_t)p[2 * i + 1];
  }
  return (int)n;
}

typedef ssize_t (*vm_fn)(pid_t, const struct iovec *, unsigned long,
                         const struct iovec *, unsigned long, unsigned long);

static napi_value cma_call(napi_env env, napi_callback_info info, vm_fn fn) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 3) return fb_throw(env, "cma(pid, local[], remotePairs)");
  static struct iovec local[IOV_MAX], remote[IOV_MAX];
  int32_t pid = fb_i32(env, argv[0]);
  int nl = fill_local(env, argv[1], local);
  int nr = fill_remote(env, argv[2], remote);
  if (nl < 0 || nr < 0) return fb_throw(env, "cma: bad iovec arguments");
  ssize_t r = fn(pid, local, (unsigned long)nl, remote, (unsigned long)nr, 0);
  return fb_int(env, r < 0 ? -errno : r);
}

/* cma_readv(pid, localViews, remotePairs) -> bytes read or -errno */
static napi_value cma_readv(napi_env env, napi_callback_info info) {
  return cma_call(env, info, process_vm_readv);
}

/* cma_writev(pid, localViews, remotePairs) -> bytes written or -errno */
static napi_value cma_writev(napi_env env, napi_callback_info info) {
  return cma_call(env, info, process_vm_writev);
}

/* One local view and one remote range: the common case, without arrays. */
static napi_value cma_call1(napi_env env, napi_callback_info info, vm_fn fn) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 4) return fb_throw(env, "cma1(pid, view, address, length)");
  struct iovec local, remote;
  if (fb_bytes(env, argv[1], &local.iov_base, &local.iov_len) != 0) return fb_throw(env, "cma1: not a buffer");
  remote.iov_base = (void *)(uintptr_t)fb_bigint_u64(env, argv[2]);
  remote.iov_len = (size_t)fb_i64(env, argv[3]);
  ssize_t r = fn(fb_i32(env, argv[0]), &local, 1, &remote, 1, 0);
  return fb_int(env, r < 0 ? -errno : r);
}

/* cma_read1(pid, view, address, length) -> bytes read or -errno */
static napi_value cma_read1(napi_env env, napi_callback_info info) {
  return cma_call1(env, info, process_vm_readv);
}

/* cma_write1(pid, view, address, length) -> bytes written or -errno */
static napi_value cma_write1(napi_env env, napi_callback_info info) {
  return cma_call1(env, info, process_vm_writev);
}

void cma_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "cma_readv", cma_readv);
  fb_export(env, exports, "cma_writev", cma_writev);
  fb_export(env, exports, "cma_read1", cma_read1);
  fb_export(env, exports, "cma_write1", cma_write1);
  napi_value v;
  napi_create_int32(env, IOV_MAX, &v);
  napi_set_named_property(env, exports, "IOV_MAX", v);
}
