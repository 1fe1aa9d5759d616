/*
 * File metadata that node:fs cannot set exactly: nanosecond timestamps (fs.utimes takes
 * float seconds) including on symlinks, and special files (node:fs has no mknod).
 */
#include "cairn_native.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#ifdef __linux__
#include <sys/sysmacros.h>
#endif

static bool get_nsec(napi_env env, napi_value value, const char *what, long *out) {
  int64_t v;
  if (!cairn_get_int64(env, value, what, &v)) return false;
  if (v < 0 || v > 999999999) {
    cairn_throw_range_error(env, "nanoseconds must be in [0, 999999999]");
    return false;
  }
  *out = (long)v;
  return true;
}

/* utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, nofollow) */
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!cairn_get_args(env, info, 6, argv)) return NULL;
  int64_t asec, msec;
  struct timespec times[2];
  bool nofollow = false;
  if (!cairn_get_int64(env, argv[1], "atimeSec", &asec) ||
      !get_nsec(env, argv[2], "atimeNsec", &times[0].tv_nsec) ||
      !cairn_get_int64(env, argv[3], "mtimeSec", &msec) ||
      !get_nsec(env, argv[4], "mtimeNsec", &times[1].tv_nsec) ||
      !cairn_get_bool(env, argv[5], "nofollow", &nofollow)) {
    return NULL;
  }
  times[0].tv_sec = (time_t)asec;
  times[1].tv_sec = (time_t)msec;
  if ((int64_t)times[0].tv_sec != asec || (int64_t)times[1].tv_sec != msec) {
    return cairn_throw_range_error(env, "seconds do not fit in time_t");
  }
  char *path = NULL;
  if (!cairn_get_cstring(env, argv[0], "path", &path)) return NULL;
  if (utimensat(AT_FDCWD, path, times, nofollow ? AT_SYMLINK_NOFOLLOW : 0) != 0) {
    cairn_throw_errno(env, errno, "utimensat", path);
  }
  free(path);
  return NULL;
}

/* mknod(path, mode, dev): mode carries the type bits (S_IFIFO, S_IFCHR, S_IFBLK) and
 * permissions (the umask applies, as for mknod(2)); dev is the st_rdev as lstat reports it. */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!cairn_get_args(env, info, 3, argv)) return NULL;
  int64_t mode;
  uint64_t dev;
  if (!cairn_get_int64(env, argv[1], "mode", &mode) || !cairn_get_uint64(env, argv[2], "dev", &dev)) {
    return NULL;
  }
  if (mode < 0 || mode > 0xffff) return cairn_throw_range_error(env, "mode out of range");
  if ((uint64_t)(dev_t)dev != dev) return cairn_throw_range_error(env, "dev does not fit in dev_t");
  char *path = NULL;
  if (!cairn_get_cstring(env, argv[0], "path", &path)) return NULL;
  if (mknod(path, (mode_t)mode, (dev_t)dev) != 0) {
    cairn_throw_errno(env, errno, "mknod", path);
  }
  free(path);
  return NULL;
}

bool cairn_init_fsmeta(napi_env env, napi_value exports) {
  return cairn_export(env, exports, "utimensat", js_utimensat) &&
         cairn_export(env, exports, "mknod", js_mknod);
}
