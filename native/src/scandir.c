/*
 * scanDirs(paths): directories' entries with the lstat of each, read on a libuv pool
 * thread. The walk of a backup otherwise pays, per entry, a path lookup from the root
 * and a JS stat object on the main thread; here the main thread gets one result for a
 * batch of directories, and the kernel's work (the part that waits for the disk on a
 * cold cache) runs beside it. Batches, because each call costs ~15-20 us of the main
 * thread here (waking a pool thread), as much as decoding a dozen entries.
 * Twin of SyncDirLister in src/fs/dir-lister.ts.
 *
 * The promise resolves to flat arrays over all the batch's entries (see NativeDirScan in
 * src/util/native-addon.ts): directory d's entries end at dirEnds[d]; its names sorted by
 * their raw bytes (memcmp, shorter first on a tie: Buffer.compare); per entry the errno
 * of its fstatat or readlinkat (0 on success) and its metadata. A directory that cannot
 * be opened or read has errors[d] set and no entries: the walk records it, it is not a
 * failed call. The promise rejects only when memory runs out.
 */
#include "cairn_native.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Per entry: errno, mode, uid, gid, nlink, size (doubles: exact below 2^53). */
#define NUMS 6
/* Per entry: dev, ino, rdev (unsigned 64-bit). */
#define IDS 3
/* Per entry: atime, mtime, ctime as seconds and nanoseconds (signed 64-bit). */
#define TIMES 6

/* What failed for a directory that could not be listed (scanDirs' `syscalls`). */
enum { SYS_NONE = 0, SYS_OPEN = 1, SYS_FDOPENDIR = 2, SYS_READDIR = 3 };

typedef struct {
  char *data;
  size_t len, cap;
} bytes_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char **paths;
  size_t npaths;
  /* Per directory: errno (0 when listed), the call that failed, end of its entries. */
  int32_t *errors;
  uint8_t *syscalls;
  uint32_t *dir_ends;
  /* One directory's names as read (NUL-terminated), sorted through `order`. */
  bytes_t raw;
  uint32_t *starts, *lens, *order;
  size_t nraw, rawcap;
  /* Entries of all directories, in order. */
  bytes_t names, links;
  uint32_t *name_ends, *link_ends;
  double *nums;
  uint64_t *ids;
  int64_t *times;
  size_t count, cap;
  bool oom;
} scan_t;

static bool bytes_append(bytes_t *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return false;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return true;
}

static bool grow(void **p, size_t count, size_t elem) {
  void *q = realloc(*p, count * elem);
  if (!q) return false;
  *p = q;
  return true;
}

/* Room for one more entry in the result arrays. */
static bool reserve_entry(scan_t *s) {
  if (s->count < s->cap) return true;
  size_t cap = s->cap ? s->cap * 2 : 256;
  if (!grow((void **)&s->name_ends, cap, sizeof(uint32_t)) || !grow((void **)&s->link_ends, cap, sizeof(uint32_t)) ||
      !grow((void **)&s->nums, cap * NUMS, sizeof(double)) || !grow((void **)&s->ids, cap * IDS, sizeof(uint64_t)) ||
      !grow((void **)&s->times, cap * TIMES, sizeof(int64_t))) {
    return false;
  }
  s->cap = cap;
  return true;
}

static int compare_names(const void *a, const void *b, void *arg) {
  const scan_t *s = arg;
  uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
  size_t li = s->lens[i], lj = s->lens[j];
  int c = memcmp(s->raw.data + s->starts[i], s->raw.data + s->starts[j], li < lj ? li : lj);
  if (c != 0) return c;
  return li < lj ? -1 : li > lj ? 1 : 0;
}

/* Reads the names of one directory into raw; false on out of memory, errno in *err. */
static bool read_names(scan_t *s, DIR *dir, int *err) {
  struct dirent *e;
  s->raw.len = 0;
  s->nraw = 0;
  for (errno = 0; (e = readdir(dir)) != NULL; errno = 0) {
    const char *n = e->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    if (s->nraw == s->rawcap) {
      size_t cap = s->rawcap ? s->rawcap * 2 : 256;
      if (!grow((void **)&s->starts, cap, sizeof(uint32_t)) || !grow((void **)&s->lens, cap, sizeof(uint32_t)) ||
          !grow((void **)&s->order, cap, sizeof(uint32_t))) {
        return false;
      }
      s->rawcap = cap;
    }
    size_t len = strlen(n);
    s->starts[s->nraw] = (uint32_t)s->raw.len;
    s->lens[s->nraw] = (uint32_t)len;
    /* NUL-terminated, so fstatat can use the name in place. */
    if (!bytes_append(&s->raw, n, len + 1)) return false;
    s->nraw++;
  }
  *err = errno;
  return true;
}

/* readlinkat into a growing buffer (a target may exceed PATH_MAX); 0 or the errno. */
static int read_link(scan_t *s, int dirfd, const char *name) {
  for (size_t size = 256;; size *= 2) {
    char *buf = malloc(size);
    if (!buf) {
      s->oom = true;
      return ENOMEM;
    }
    ssize_t n = readlinkat(dirfd, name, buf, size);
    if (n < 0) {
      int err = errno;
      free(buf);
      return err;
    }
    if ((size_t)n < size) {
      bool ok = bytes_append(&s->links, buf, (size_t)n);
      free(buf);
      if (!ok) s->oom = true;
      return ok ? 0 : ENOMEM;
    }
    free(buf);
  }
}

/* Lists one directory and appends its entries; sets errors/syscalls when it cannot. */
static void scan_one(scan_t *s, size_t d) {
  int fd = open(s->paths[d], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    s->errors[d] = errno;
    s->syscalls[d] = SYS_OPEN;
    return;
  }
  DIR *dir = fdopendir(fd);
  if (!dir) {
    s->errors[d] = errno;
    s->syscalls[d] = SYS_FDOPENDIR;
    close(fd);
    return;
  }
  int err = 0;
  if (!read_names(s, dir, &err)) {
    s->oom = true;
  } else if (err != 0) {
    s->errors[d] = err;
    s->syscalls[d] = SYS_READDIR;
  } else {
    for (size_t i = 0; i < s->nraw; i++) s->order[i] = (uint32_t)i;
    qsort_r(s->order, s->nraw, sizeof *s->order, compare_names, s);
    int dfd = dirfd(dir);
    for (size_t k = 0; k < s->nraw && !s->oom; k++) {
      const char *name = s->raw.data + s->starts[s->order[k]];
      if (!reserve_entry(s) || !bytes_append(&s->names, name, s->lens[s->order[k]])) {
        s->oom = true;
        break;
      }
      size_t e = s->count++;
      s->name_ends[e] = (uint32_t)s->names.len;
      double *num = s->nums + e * NUMS;
      uint64_t *id = s->ids + e * IDS;
      int64_t *t = s->times + e * TIMES;
      memset(num, 0, NUMS * sizeof *num);
      memset(id, 0, IDS * sizeof *id);
      memset(t, 0, TIMES * sizeof *t);
      struct stat st;
      if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        num[0] = errno;
        s->link_ends[e] = (uint32_t)s->links.len;
        continue;
      }
      /* Like lstat then readlink in node:fs: a link that cannot be read fails the entry. */
      if (S_ISLNK(st.st_mode)) {
        int lerr = read_link(s, dfd, name);
        if (lerr != 0) num[0] = lerr;
      }
      s->link_ends[e] = (uint32_t)s->links.len;
      num[1] = st.st_mode;
      num[2] = st.st_uid;
      num[3] = st.st_gid;
      num[4] = (double)st.st_nlink;
      num[5] = (double)st.st_size;
      id[0] = (uint64_t)st.st_dev;
      id[1] = (uint64_t)st.st_ino;
      id[2] = (uint64_t)st.st_rdev;
      t[0] = st.st_atim.tv_sec;
      t[1] = st.st_atim.tv_nsec;
      t[2] = st.st_mtim.tv_sec;
      t[3] = st.st_mtim.tv_nsec;
      t[4] = st.st_ctim.tv_sec;
      t[5] = st.st_ctim.tv_nsec;
    }
  }
  closedir(dir);
}

static void execute(napi_env env, void *data) {
  scan_t *s = data;
  for (size_t d = 0; d < s->npaths && !s->oom; d++) {
    scan_one(s, d);
    s->dir_ends[d] = (uint32_t)s->count;
  }
}

static void free_scan(scan_t *s) {
  for (size_t d = 0; d < s->npaths; d++) free(s->paths[d]);
  free(s->paths);
  free(s->errors);
  free(s->syscalls);
  free(s->dir_ends);
  free(s->raw.data);
  free(s->starts);
  free(s->lens);
  free(s->order);
  free(s->names.data);
  free(s->links.data);
  free(s->name_ends);
  free(s->link_ends);
  free(s->nums);
  free(s->ids);
  free(s->times);
  free(s);
}

static bool set(napi_env env, napi_value obj, const char *key, napi_value v) {
  return napi_set_named_property(env, obj, key, v) == napi_ok;
}

static bool typed(napi_env env, napi_typedarray_type type, const void *src, size_t count, size_t elem, napi_value *out) {
  void *dst = NULL;
  napi_value ab;
  if (napi_create_arraybuffer(env, count * elem, &dst, &ab) != napi_ok) return false;
  if (count > 0) memcpy(dst, src, count * elem);
  return napi_create_typedarray(env, type, count, ab, 0, out) == napi_ok;
}

static bool buffer(napi_env env, const bytes_t *b, napi_value *out) {
  void *dst = NULL;
  return napi_create_buffer_copy(env, b->len, b->len ? b->data : "", &dst, out) == napi_ok;
}

static bool build_result(napi_env env, scan_t *s, napi_value *out) {
  napi_value v;
  return napi_create_object(env, out) == napi_ok &&
         typed(env, napi_int32_array, s->errors, s->npaths, sizeof(int32_t), &v) && set(env, *out, "errors", v) &&
         typed(env, napi_uint8_array, s->syscalls, s->npaths, sizeof(uint8_t), &v) && set(env, *out, "syscalls", v) &&
         typed(env, napi_uint32_array, s->dir_ends, s->npaths, sizeof(uint32_t), &v) && set(env, *out, "dirEnds", v) &&
         buffer(env, &s->names, &v) && set(env, *out, "names", v) &&
         typed(env, napi_uint32_array, s->name_ends, s->count, sizeof(uint32_t), &v) && set(env, *out, "nameEnds", v) &&
         buffer(env, &s->links, &v) && set(env, *out, "links", v) &&
         typed(env, napi_uint32_array, s->link_ends, s->count, sizeof(uint32_t), &v) && set(env, *out, "linkEnds", v) &&
         typed(env, napi_float64_array, s->nums, s->count * NUMS, sizeof(double), &v) && set(env, *out, "nums", v) &&
         typed(env, napi_biguint64_array, s->ids, s->count * IDS, sizeof(uint64_t), &v) && set(env, *out, "ids", v) &&
         typed(env, napi_bigint64_array, s->times, s->count * TIMES, sizeof(int64_t), &v) && set(env, *out, "times", v);
}

static void complete(napi_env env, napi_status status, void *data) {
  scan_t *s = data;
  napi_value result = NULL;
  if (status == napi_ok && !s->oom && build_result(env, s, &result)) {
    napi_resolve_deferred(env, s->deferred, result);
  } else {
    napi_value code, msg, err;
    napi_create_string_utf8(env, "ENOMEM", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, "scanDirs: out of memory", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, s->deferred, err);
  }
  napi_delete_async_work(env, s->work);
  free_scan(s);
}

/* scanDirs(paths: Array<Buffer | string>): Promise<result>; see the top of this file. */
static napi_value js_scan_dirs(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!cairn_get_args(env, info, 1, argv)) return NULL;
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) return cairn_throw_type_error(env, "paths must be an array");
  CAIRN_NAPI(env, napi_get_array_length(env, argv[0], &n));
  scan_t *s = calloc(1, sizeof *s);
  if (!s) return cairn_throw_errno(env, ENOMEM, "scanDirs", NULL);
  s->paths = calloc(n ? n : 1, sizeof *s->paths);
  s->errors = calloc(n ? n : 1, sizeof *s->errors);
  s->syscalls = calloc(n ? n : 1, sizeof *s->syscalls);
  s->dir_ends = calloc(n ? n : 1, sizeof *s->dir_ends);
  if (!s->paths || !s->errors || !s->syscalls || !s->dir_ends) {
    free_scan(s);
    return cairn_throw_errno(env, ENOMEM, "scanDirs", NULL);
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    if (napi_get_element(env, argv[0], i, &el) != napi_ok) {
      free_scan(s);
      cairn_throw_napi_failure(env);
      return NULL;
    }
    if (!cairn_get_cstring(env, el, "path", &s->paths[i])) {
      free_scan(s);
      return NULL;
    }
    s->npaths = i + 1;
  }
  napi_value promise, name;
  if (napi_create_promise(env, &s->deferred, &promise) != napi_ok) {
    free_scan(s);
    cairn_throw_napi_failure(env);
    return NULL;
  }
  if (napi_create_string_utf8(env, "cairn.scanDirs", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, s, &s->work) != napi_ok ||
      napi_queue_async_work(env, s->work) != napi_ok) {
    /* The promise exists: settle it rather than leave it pending forever. */
    napi_value code, msg, err;
    napi_create_string_utf8(env, "ERR_CAIRN_NATIVE", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, "scanDirs: could not queue the work", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, s->deferred, err);
    if (s->work) napi_delete_async_work(env, s->work);
    free_scan(s);
  }
  return promise;
}

bool cairn_init_scandir(napi_env env, napi_value exports) {
  return cairn_export(env, exports, "scanDirs", js_scan_dirs);
}
