/* Helpers for argument conversion and registration (no system calls). */
#include "napi-util.h"

size_t fb_args(napi_env env, napi_callback_info info, napi_value *argv) {
  size_t argc = FB_MAX_ARGS;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc;
}

int32_t fb_i32(napi_env env, napi_value v) {
  int32_t n = 0;
  napi_get_value_int32(env, v, &n);
  return n;
}

uint32_t fb_u32(napi_env env, napi_value v) {
  uint32_t n = 0;
  napi_get_value_uint32(env, v, &n);
  return n;
}

int64_t fb_i64(napi_env env, napi_value v) {
  int64_t n = 0;
  napi_get_value_int64(env, v, &n);
  return n;
}

uint64_t fb_bigint_u64(napi_env env, napi_value v) {
  uint64_t n = 0;
  bool lossless = false;
  napi_get_value_bigint_uint64(env, v, &n, &lossless);
  return n;
}

napi_value fb_int(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

napi_value fb_bigint(napi_env env, uint64_t n) {
  napi_value v;
  napi_create_bigint_uint64(env, n, &v);
  return v;
}

napi_value fb_undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

int fb_bytes(napi_env env, napi_value v, void **data, size_t *length) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type type;
    size_t count, offset;
    napi_value ab;
    void *p;
    napi_get_typedarray_info(env, v, &type, &count, &p, &ab, &offset);
    size_t unit = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: unit = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: unit = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: unit = 8; break;
      default: unit = 1;
    }
    *data = p;
    *length = count * unit;
    return 0;
  }
  napi_is_dataview(env, v, &is);
  if (is) {
    napi_value ab;
    size_t offset;
    napi_get_dataview_info(env, v, length, data, &ab, &offset);
    return 0;
  }
  napi_is_arraybuffer(env, v, &is);
  if (is) {
    napi_get_arraybuffer_info(env, v, data, length);
    return 0;
  }
  return -1;
}

napi_value fb_throw(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

void fb_export(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  napi_set_named_property(env, exports, name, f);
}
