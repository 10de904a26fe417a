/* Private anonymous memory lent to JavaScript as ArrayBuffers, for a pool of
 * receive buffers that are mapped and faulted in once and then reused.
 * A region is an opaque handle; each anon_lend makes a new external
 * ArrayBuffer over its first bytes and counts it until V8 frees that
 * ArrayBuffer's memory. A region is unmapped only while none is alive, so no
 * ArrayBuffer ever points at unmapped memory, whatever JavaScript does. */
#include "napi-util.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

typedef struct {
  void *addr;
  size_t length;
  int64_t lent;   /* ArrayBuffers over this region not yet freed by V8 */
  int unmapped;
  int orphaned;   /* the handle was collected: the last lent buffer frees the struct */
} region_t;

static void region_free_if_done(region_t *r) {
  if (r->orphaned && r->lent == 0) {
    if (!r->unmapped) munmap(r->addr, r->length);
    free(r);
  }
}

/* The handle was collected: nothing in JavaScript can reach the region any
 * more; it is unmapped once its last lent ArrayBuffer is freed. */
static void region_handle_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  region_t *r = data;
  r->orphaned = 1;
  region_free_if_done(r);
}

static void lent_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)data;
  region_t *r = hint;
  r->lent--;
  region_free_if_done(r);
}

static region_t *region_of(napi_env env, napi_value v) {
  region_t *r = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, (void **)&r) != napi_ok) return NULL;
  return r;
}

/* anon_map(lengthBytes) -> region handle, or -errno (mmap, private anonymous, read/write) */
static napi_value anon_map(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "anon_map(lengthBytes)");
  int64_t length = fb_i64(env, argv[0]);
  if (length <= 0) return fb_int(env, -EINVAL);
  region_t *r = calloc(1, sizeof *r);
  if (!r) return fb_int(env, -ENOMEM);
  void *addr = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED) {
    int e = errno;
    free(r);
    return fb_int(env, -e);
  }
  r->addr = addr;
  r->length = (size_t)length;
  napi_value handle;
  if (napi_create_external(env, r, region_handle_finalize, NULL, &handle) != napi_ok) {
    munmap(addr, (size_t)length);
    free(r);
    return fb_int(env, -ENOMEM);
  }
  return handle;
}

/* anon_advise(region, advice) -> 0 or -errno (madvise of the whole region:
 * MADV_HUGEPAGE, MADV_POPULATE_WRITE, ...) */
static napi_value anon_advise(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "anon_advise(region, advice)");
  region_t *r = region_of(env, argv[0]);
  if (!r) return fb_throw(env, "anon_advise: not a region");
  if (r->unmapped) return fb_int(env, -EINVAL);
  int rc = madvise(r->addr, r->length, fb_i32(env, argv[1]));
  return fb_int(env, rc < 0 ? -errno : 0);
}

/* anon_lend(region, lengthBytes) -> a new ArrayBuffer over the region's first
 * lengthBytes, or -errno (no system call). The region counts it as lent
 * until V8 frees it. */
static napi_value anon_lend(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "anon_lend(region, lengthBytes)");
  region_t *r = region_of(env, argv[0]);
  if (!r) return fb_throw(env, "anon_lend: not a region");
  int64_t length = fb_i64(env, argv[1]);
  if (r->unmapped || length <= 0 || (size_t)length > r->length) return fb_int(env, -EINVAL);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, r->addr, (size_t)length, lent_finalize, r, &ab) != napi_ok) return fb_int(env, -ENOMEM);
  r->lent++;
  return ab;
}

/* anon_lent(region) -> how many ArrayBuffers lent over it V8 has not freed yet (no system call) */
static napi_value anon_lent(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "anon_lent(region)");
  region_t *r = region_of(env, argv[0]);
  if (!r) return fb_throw(env, "anon_lent: not a region");
  return fb_int(env, r->lent);
}

/* anon_unmap(region) -> 0 or -errno (munmap); -EBUSY while an ArrayBuffer lent over it is alive */
static napi_value anon_unmap(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "anon_unmap(region)");
  region_t *r = region_of(env, argv[0]);
  if (!r) return fb_throw(env, "anon_unmap: not a region");
  if (r->unmapped) return fb_int(env, -EINVAL);
  if (r->lent > 0) return fb_int(env, -EBUSY);
  if (munmap(r->addr, r->length) < 0) return fb_int(env, -errno);
  r->unmapped = 1;
  return fb_int(env, 0);
}

void anon_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "anon_map", anon_map);
  fb_export(env, exports, "anon_advise", anon_advise);
  fb_export(env, exports, "anon_lend", anon_lend);
  fb_export(env, exports, "anon_lent", anon_lent);
  fb_export(env, exports, "anon_unmap", anon_unmap);
}
