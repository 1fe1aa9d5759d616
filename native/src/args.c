/*
 * Argument conversion shared by all concerns. Paths arrive as raw bytes (Buffer) so that
 * names which are not valid UTF-8 survive; strings are accepted for convenience.
 */
#include "cairn_native.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cairn_get_args(napi_env env, napi_callback_info info, size_t count, napi_value *argv) {
  size_t argc = count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  if (argc < count) {
    char message[96];
    snprintf(message, sizeof(message), "expected %zu arguments, got %zu", count, argc);
    cairn_throw_type_error(env, message);
    return false;
  }
  return true;
}

static bool type_error(napi_env env, const char *what, const char *expected) {
  char message[160];
  snprintf(message, sizeof(message), "%s must be %s", what, expected);
  cairn_throw_type_error(env, message);
  return false;
}

bool cairn_get_bytes(napi_env env, napi_value value, const char *what, void **data, size_t *len) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) {
    return type_error(env, what, "a Buffer or Uint8Array");
  }
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, value, &type, len, data, NULL, NULL) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  if (type != napi_uint8_array && type != napi_uint8_clamped_array) {
    return type_error(env, what, "a Buffer or Uint8Array");
  }
  return true;
}

bool cairn_get_cstring(napi_env env, napi_value value, const char *what, char **out) {
  napi_valuetype vt;
  if (napi_typeof(env, value, &vt) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  char *copy = NULL;
  size_t len = 0;
  if (vt == napi_string) {
    if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
      cairn_throw_napi_failure(env);
      return false;
    }
    copy = malloc(len + 1);
    if (copy == NULL) return type_error(env, what, "small enough to copy");
    if (napi_get_value_string_utf8(env, value, copy, len + 1, &len) != napi_ok) {
      free(copy);
      cairn_throw_napi_failure(env);
      return false;
    }
  } else {
    void *data = NULL;
    if (!cairn_get_bytes(env, value, what, &data, &len)) return false;
    copy = malloc(len + 1);
    if (copy == NULL) return type_error(env, what, "small enough to copy");
    if (len > 0) memcpy(copy, data, len);
    copy[len] = '\0';
  }
  if (memchr(copy, '\0', len) != NULL) {
    free(copy);
    return type_error(env, what, "free of NUL bytes");
  }
  *out = copy;
  return true;
}

bool cairn_get_int64(napi_env env, napi_value value, const char *what, int64_t *out) {
  napi_valuetype vt;
  if (napi_typeof(env, value, &vt) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  if (vt == napi_bigint) {
    bool lossless = false;
    if (napi_get_value_bigint_int64(env, value, out, &lossless) != napi_ok) {
      cairn_throw_napi_failure(env);
      return false;
    }
    if (!lossless) {
      char message[160];
      snprintf(message, sizeof(message), "%s does not fit in 64 bits", what);
      cairn_throw_range_error(env, message);
      return false;
    }
    return true;
  }
  if (vt == napi_number) {
    double d;
    if (napi_get_value_double(env, value, &d) != napi_ok) {
      cairn_throw_napi_failure(env);
      return false;
    }
    /* 2^63 is exactly representable; anything at or beyond it would overflow. */
    if (!isfinite(d) || d != trunc(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0) {
      char message[160];
      snprintf(message, sizeof(message), "%s must be an integer in the 64-bit range", what);
      cairn_throw_range_error(env, message);
      return false;
    }
    *out = (int64_t)d;
    return true;
  }
  return type_error(env, what, "a number or a bigint");
}

bool cairn_get_uint64(napi_env env, napi_value value, const char *what, uint64_t *out) {
  napi_valuetype vt;
  if (napi_typeof(env, value, &vt) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  if (vt == napi_bigint) {
    bool lossless = false;
    if (napi_get_value_bigint_uint64(env, value, out, &lossless) != napi_ok) {
      cairn_throw_napi_failure(env);
      return false;
    }
    if (!lossless) {
      char message[160];
      snprintf(message, sizeof(message), "%s must be a non-negative 64-bit integer", what);
      cairn_throw_range_error(env, message);
      return false;
    }
    return true;
  }
  int64_t v;
  if (!cairn_get_int64(env, value, what, &v)) return false;
  if (v < 0) {
    char message[160];
    snprintf(message, sizeof(message), "%s must not be negative", what);
    cairn_throw_range_error(env, message);
    return false;
  }
  *out = (uint64_t)v;
  return true;
}

bool cairn_get_bool(napi_env env, napi_value value, const char *what, bool *out) {
  napi_valuetype vt;
  if (napi_typeof(env, value, &vt) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  if (vt != napi_boolean) return type_error(env, what, "a boolean");
  if (napi_get_value_bool(env, value, out) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  return true;
}

bool cairn_export(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f) != napi_ok ||
      napi_set_named_property(env, exports, name, f) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  return true;
}
