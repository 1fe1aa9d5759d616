/*
 * JS errors for failed system calls. They mimic Node's own fs errors (code, errno,
 * syscall, path) so that TypeScript callers handle native and node:fs failures alike.
 */
#include "cairn_native.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct errno_name {
  int value;
  const char *name;
};

/* First match wins: on Linux ENOTSUP == EOPNOTSUPP and Node calls it ENOTSUP. */
static const struct errno_name errno_names[] = {
  {EPERM, "EPERM"},         {ENOENT, "ENOENT"},       {ESRCH, "ESRCH"},
  {EINTR, "EINTR"},         {EIO, "EIO"},             {ENXIO, "ENXIO"},
  {E2BIG, "E2BIG"},         {EBADF, "EBADF"},         {EAGAIN, "EAGAIN"},
  {ENOMEM, "ENOMEM"},       {EACCES, "EACCES"},       {EFAULT, "EFAULT"},
  {EBUSY, "EBUSY"},         {EEXIST, "EEXIST"},       {EXDEV, "EXDEV"},
  {ENODEV, "ENODEV"},       {ENOTDIR, "ENOTDIR"},     {EISDIR, "EISDIR"},
  {EINVAL, "EINVAL"},       {ENFILE, "ENFILE"},       {EMFILE, "EMFILE"},
  {ETXTBSY, "ETXTBSY"},     {EFBIG, "EFBIG"},         {ENOSPC, "ENOSPC"},
  {ESPIPE, "ESPIPE"},       {EROFS, "EROFS"},         {EMLINK, "EMLINK"},
  {ERANGE, "ERANGE"},       {ENAMETOOLONG, "ENAMETOOLONG"},
  {ENOSYS, "ENOSYS"},       {ENOTEMPTY, "ENOTEMPTY"}, {ELOOP, "ELOOP"},
#ifdef ENODATA
  {ENODATA, "ENODATA"},
#endif
#ifdef ENOATTR
  {ENOATTR, "ENOATTR"},
#endif
  {ENOTSUP, "ENOTSUP"},     {EOPNOTSUPP, "EOPNOTSUPP"},
#ifdef EDQUOT
  {EDQUOT, "EDQUOT"},
#endif
#ifdef EOVERFLOW
  {EOVERFLOW, "EOVERFLOW"},
#endif
#ifdef ESTALE
  {ESTALE, "ESTALE"},
#endif
};

const char *cairn_errno_name(int err) {
  for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
    if (errno_names[i].value == err) return errno_names[i].name;
  }
  return "UNKNOWN";
}

static void set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok) {
    napi_set_named_property(env, obj, key, v);
  }
}

napi_value cairn_throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  const char *name = cairn_errno_name(err);
  const char *text = strerror(err);
  size_t size = strlen(name) + strlen(text) + strlen(syscall) + (path ? strlen(path) : 0) + 16;
  char *message = malloc(size);
  if (message == NULL) {
    napi_throw_error(env, name, text);
    return NULL;
  }
  if (path) {
    snprintf(message, size, "%s: %s, %s '%s'", name, text, syscall, path);
  } else {
    snprintf(message, size, "%s: %s, %s", name, text, syscall);
  }

  napi_value code, msg, error, errno_value;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_error(env, code, msg, &error) != napi_ok) {
    free(message);
    napi_throw_error(env, name, text);
    return NULL;
  }
  free(message);
  if (napi_create_int32(env, -err, &errno_value) == napi_ok) {
    napi_set_named_property(env, error, "errno", errno_value);
  }
  set_string(env, error, "syscall", syscall);
  if (path) set_string(env, error, "path", path);
  napi_throw(env, error);
  return NULL;
}

napi_value cairn_throw_type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

napi_value cairn_throw_range_error(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
  return NULL;
}

void cairn_throw_napi_failure(napi_env env) {
  /* Read the error info first: any further napi call overwrites it. The message points
   * into a static table inside Node, so it stays valid. */
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  const char *message = info && info->error_message ? info->error_message : "Node-API call failed";
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  napi_throw_error(env, "ERR_CAIRN_NATIVE", message);
}
