/*
 * Extended attributes of the entry itself, never of a symlink's target (the l* calls).
 * Linux only for now: elsewhere every call fails with ENOTSUP, which callers already
 * treat as "this file system has no xattrs".
 */
#include "cairn_native.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <sys/xattr.h>
#endif

/* A size query and the read that follows are two syscalls; the value can grow in between
 * (ERANGE). Retry a few times rather than loop forever against a busy writer. */
#define CAIRN_XATTR_RETRIES 8

static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!cairn_get_args(env, info, 2, argv)) return NULL;
  char *path = NULL, *name = NULL;
  if (!cairn_get_cstring(env, argv[0], "path", &path)) return NULL;
  if (!cairn_get_cstring(env, argv[1], "name", &name)) {
    free(path);
    return NULL;
  }
  napi_value result = NULL;
#ifdef __linux__
  for (int attempt = 0; attempt < CAIRN_XATTR_RETRIES; attempt++) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0) break;
    char *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
      errno = ENOMEM;
      break;
    }
    ssize_t got = lgetxattr(path, name, buf, (size_t)size);
    if (got < 0) {
      int saved = errno;
      free(buf);
      errno = saved;
      if (saved == ERANGE) continue;
      break;
    }
    napi_status status = napi_create_buffer_copy(env, (size_t)got, buf, NULL, &result);
    free(buf);
    if (status != napi_ok) {
      cairn_throw_napi_failure(env);
      result = NULL;
      errno = 0;
    }
    break;
  }
#else
  errno = ENOTSUP;
#endif
  if (result == NULL) {
    int err = errno;
    if (err == 0) {
      /* exception already pending */
    } else if (err == ENODATA) {
      /* A missing attribute is an answer, not a failure. */
      napi_get_null(env, &result);
    } else {
      cairn_throw_errno(env, err, "lgetxattr", path);
    }
  }
  free(path);
  free(name);
  return result;
}

static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!cairn_get_args(env, info, 1, argv)) return NULL;
  char *path = NULL;
  if (!cairn_get_cstring(env, argv[0], "path", &path)) return NULL;
  char *buf = NULL;
  ssize_t got = -1;
#ifdef __linux__
  /* Most entries have no names or a few: one call into a small buffer answers, where a
   * size query first made it two path lookups for every new file of a backup. */
  char first[1024];
  got = llistxattr(path, first, sizeof first);
  if (got >= 0) {
    buf = malloc(got > 0 ? (size_t)got : 1);
    if (buf == NULL) {
      errno = ENOMEM;
      got = -1;
    } else {
      memcpy(buf, first, (size_t)got);
    }
  }
  for (int attempt = 0; got < 0 && errno == ERANGE && attempt < CAIRN_XATTR_RETRIES; attempt++) {
    ssize_t size = llistxattr(path, NULL, 0);
    if (size < 0) break;
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
      errno = ENOMEM;
      break;
    }
    got = llistxattr(path, buf, (size_t)size);
    if (got >= 0) break;
    int saved = errno;
    free(buf);
    buf = NULL;
    errno = saved;
    if (saved != ERANGE) break;
  }
#else
  errno = ENOTSUP;
#endif
  if (got < 0) {
    cairn_throw_errno(env, errno == 0 ? ERANGE : errno, "llistxattr", path);
    free(buf);
    free(path);
    return NULL;
  }
  free(path);

  napi_value array;
  if (napi_create_array(env, &array) != napi_ok) {
    free(buf);
    cairn_throw_napi_failure(env);
    return NULL;
  }
  /* The kernel returns "name1\0name2\0". Names are UTF-8 in practice (namespace.name);
   * invalid bytes would be replaced by U+FFFD here. */
  uint32_t index = 0;
  for (ssize_t start = 0; start < got;) {
    size_t len = strnlen(buf + start, (size_t)(got - start));
    if (len > 0) {
      napi_value name;
      if (napi_create_string_utf8(env, buf + start, len, &name) != napi_ok ||
          napi_set_element(env, array, index++, name) != napi_ok) {
        free(buf);
        cairn_throw_napi_failure(env);
        return NULL;
      }
    }
    start += (ssize_t)len + 1;
  }
  free(buf);
  return array;
}

static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!cairn_get_args(env, info, 3, argv)) return NULL;
  char *path = NULL, *name = NULL;
  void *value = NULL;
  size_t len = 0;
  if (!cairn_get_cstring(env, argv[0], "path", &path)) return NULL;
  if (!cairn_get_cstring(env, argv[1], "name", &name)) goto done;
  if (!cairn_get_bytes(env, argv[2], "value", &value, &len)) goto done;
#ifdef __linux__
  if (lsetxattr(path, name, len > 0 ? value : "", len, 0) != 0) {
    cairn_throw_errno(env, errno, "lsetxattr", path);
  }
#else
  cairn_throw_errno(env, ENOTSUP, "lsetxattr", path);
#endif
done:
  free(path);
  free(name);
  return NULL;
}

bool cairn_init_xattr(napi_env env, napi_value exports) {
  return cairn_export(env, exports, "lgetxattr", js_lgetxattr) &&
         cairn_export(env, exports, "llistxattr", js_llistxattr) &&
         cairn_export(env, exports, "lsetxattr", js_lsetxattr);
}
