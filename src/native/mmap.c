/* Shared mappings exposed to JavaScript as external ArrayBuffers.
 * A mapping is detached from JavaScript before it is unmapped, so no view
 * can ever touch unmapped memory. Unreferenced mappings are unmapped when
 * their ArrayBuffer is collected. */
#include "napi-util.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

typedef struct {
  void *addr;
  size_t length;
  int unmapped;
} mapping_t;

static void mapping_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)data;
  mapping_t *m = hint;
  if (!m->unmapped) munmap(m->addr, m->length);
  free(m);
}

/* shm_map(fd, length, writable) -> ArrayBuffer, or -errno */
static napi_value shm_map(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 3) return fb_throw(env, "shm_map(fd, length, writable)");
  int fd = fb_i32(env, argv[0]);
  size_t length = (size_t)fb_i64(env, argv[1]);
  bool writable = false;
  napi_get_value_bool(env, argv[2], &writable);
  void *addr = mmap(NULL, length, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return fb_int(env, -errno);
  mapping_t *m = malloc(sizeof *m);
  if (!m) { munmap(addr, length); return fb_int(env, -ENOMEM); }
  m->addr = addr;
  m->length = length;
  m->unmapped = 0;
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, length, mapping_finalize, m, &ab) != napi_ok) {
    munmap(addr, length);
    free(m);
    return fb_int(env, -ENOTSUP);
  }
  napi_wrap(env, ab, m, NULL, NULL, NULL);
  return ab;
}

/* shm_unmap(arrayBuffer) -> 0 or -errno; detaches, then unmaps. */
static napi_value shm_unmap(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "shm_unmap(arrayBuffer)");
  mapping_t *m = NULL;
  if (napi_remove_wrap(env, argv[0], (void **)&m) != napi_ok || !m) return fb_int(env, -EINVAL);
  void *addr = m->addr;
  size_t length = m->length;
  /* m may be freed by the finalizer during detach: do not touch it after. */
  m->unmapped = 1;
  napi_detach_arraybuffer(env, argv[0]);
  int r = munmap(addr, length);
  return fb_int(env, r < 0 ? -errno : 0);
}

void mmap_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "shm_map", shm_map);
  fb_export(env, exports, "shm_unmap", shm_unmap);
}
