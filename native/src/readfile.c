/*
 * readFileStart(path, buf, offset, out): opens a file for backup, reads it into
 * buf[offset..] and, when it ended there, fstats and closes it: one call for what took
 * openSync, two readSync, fstatSync and closeSync. Through node:fs those cost ~15-18 us
 * a file here (a BigInt stat object, fd bookkeeping, a wrapper per call), the system
 * calls themselves ~5, and a backup of many small files spent a third of its worker
 * time in them. Twin of the node:fs path in src/pipeline/file-task.ts.
 *
 * The file is opened O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, with O_NOATIME where the kernel
 * allows it (EPERM without ownership: opened again without). Reads go on until the
 * buffer is full or the file has ended. A read shorter than asked is followed by an
 * fstat: when the size equals the bytes read, the file ended there and is not read
 * again to see a 0 (the file growing after that fstat is the same race as growing after
 * a final read that returned 0: the caller compares size and times with the walk's).
 *
 * Returns the bytes read. out (a BigInt64Array of 5) receives [fd, size, mtime ns,
 * ctime ns, xattrs]: fd is -1 when the file was read to its end, stat'ed and closed (size
 * and times are then set); otherwise the buffer filled first and fd is still open for
 * the caller to go on reading and stat, and to close with closeFd (Node's closeSync
 * warns about a descriptor it did not open). xattrs is what flistxattr on the open file
 * said: 1 it has some, 0 none (or the file system has none), -1 it could not tell. The
 * main thread then reads the names and values only for files that have some: a
 * llistxattr by path for every new file cost it ~9 us of its ~45 per small file.
 * Failures throw errors shaped like node:fs's (code ENOENT, ELOOP, EACCES, EIO, ...),
 * with the file closed.
 */
#include "cairn_native.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef O_NOATIME
#define O_NOATIME 0
#endif

static int64_t ns_of(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

static napi_value js_read_file_start(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!cairn_get_args(env, info, 4, argv)) return NULL;
  void *data;
  size_t len;
  int64_t offset;
  if (!cairn_get_bytes(env, argv[1], "buf", &data, &len) || !cairn_get_int64(env, argv[2], "offset", &offset)) return NULL;
  if (offset < 0 || (uint64_t)offset > len) return cairn_throw_range_error(env, "offset outside the buffer");
  bool is_typed;
  napi_typedarray_type out_type;
  size_t out_len;
  void *out_data;
  CAIRN_NAPI(env, napi_is_typedarray(env, argv[3], &is_typed));
  if (!is_typed) return cairn_throw_type_error(env, "out must be a BigInt64Array of 5");
  CAIRN_NAPI(env, napi_get_typedarray_info(env, argv[3], &out_type, &out_len, &out_data, NULL, NULL));
  if (out_type != napi_bigint64_array || out_len < 5) return cairn_throw_type_error(env, "out must be a BigInt64Array of 5");
  int64_t *out = out_data;
  char *path = NULL;
  if (!cairn_get_cstring(env, argv[0], "path", &path)) return NULL;

  // O_NONBLOCK: a fifo swapped in since the walk saw a file would block open (and the
  // worker) until some writer came; regular files ignore the flag.
  const int base = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
  int fd = open(path, base | O_NOATIME);
  if (fd < 0 && errno == EPERM && O_NOATIME != 0) fd = open(path, base);
  if (fd < 0) {
    cairn_throw_errno(env, errno, "open", path);
    free(path);
    return NULL;
  }
#ifdef __linux__
  ssize_t names = flistxattr(fd, NULL, 0);
  out[4] = names > 0 ? 1 : names == 0 || errno == ENOTSUP ? 0 : -1;
#else
  out[4] = -1;
#endif
  char *p = (char *)data + offset;
  size_t room = len - (size_t)offset, got = 0;
  bool ended = false, stated = false;
  const char *failed = NULL; /* the call that failed, errno set */
  struct stat st;
  while (got < room) {
    ssize_t n = read(fd, p + got, room - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed = "read";
      break;
    }
    if (n == 0) {
      ended = true;
      break;
    }
    got += (size_t)n;
    if (got < room) {
      // A short read: usually the end. The size says whether it is.
      if (fstat(fd, &st) != 0) {
        failed = "fstat";
        break;
      }
      if (S_ISREG(st.st_mode) && (uint64_t)st.st_size == (uint64_t)got) {
        ended = stated = true;
        break;
      }
    }
  }
  if (!failed && ended && !stated && fstat(fd, &st) != 0) failed = "fstat";
  if (failed) {
    int saved = errno;
    close(fd);
    cairn_throw_errno(env, saved, failed, path);
    free(path);
    return NULL;
  }
  free(path);
  if (ended) {
    close(fd); // read-only: nothing to lose on a failed close
    out[0] = -1;
    out[1] = (int64_t)st.st_size;
    out[2] = ns_of(st.st_mtim);
    out[3] = ns_of(st.st_ctim);
  } else {
    out[0] = fd;
  }
  napi_value result;
  CAIRN_NAPI(env, napi_create_double(env, (double)got, &result));
  return result;
}

/* closeFd(fd): closes a descriptor readFileStart left open. */
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!cairn_get_args(env, info, 1, argv)) return NULL;
  int64_t fd;
  if (!cairn_get_int64(env, argv[0], "fd", &fd)) return NULL;
  if (fd < 0 || fd > INT32_MAX) return cairn_throw_range_error(env, "fd out of range");
  if (close((int)fd) != 0 && errno != EINTR) return cairn_throw_errno(env, errno, "close", NULL);
  return NULL;
}

bool cairn_init_readfile(napi_env env, napi_value exports) {
  return cairn_export(env, exports, "readFileStart", js_read_file_start) && cairn_export(env, exports, "closeFd", js_close_fd);
}
