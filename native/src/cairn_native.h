/*
 * Shared declarations of the cairn_native addon. Each concern (xattrs, file metadata,
 * the chunker) lives in its own .c file and exposes one cairn_init_* function
 * that cairn_native.c calls from the single module init.
 */
#ifndef CAIRN_NATIVE_H
#define CAIRN_NATIVE_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Evaluates a napi call; on failure makes sure an exception is pending and returns NULL. */
#define CAIRN_NAPI(env, call)                                   \
  do {                                                          \
    if ((call) != napi_ok) {                                    \
      cairn_throw_napi_failure((env));                          \
      return NULL;                                              \
    }                                                           \
  } while (0)

/* errors.c */
const char *cairn_errno_name(int err);
/* Throws an Error shaped like Node's fs errors: code = errno name, errno = -err (Node's
 * convention), syscall, path. Returns NULL so callers can `return cairn_throw_errno(...)`. */
napi_value cairn_throw_errno(napi_env env, int err, const char *syscall, const char *path);
napi_value cairn_throw_type_error(napi_env env, const char *message);
napi_value cairn_throw_range_error(napi_env env, const char *message);
void cairn_throw_napi_failure(napi_env env);

/* args.c — every getter throws a TypeError/RangeError and returns false on bad input. */
bool cairn_get_args(napi_env env, napi_callback_info info, size_t count, napi_value *argv);
/* A path or name from a Buffer/Uint8Array (raw bytes) or a string (UTF-8). The result is
 * malloc'ed and NUL-terminated; embedded NUL bytes are rejected because the kernel would
 * silently truncate the path there. */
bool cairn_get_cstring(napi_env env, napi_value value, const char *what, char **out);
bool cairn_get_bytes(napi_env env, napi_value value, const char *what, void **data, size_t *len);
/* An exact integer from a Number (must be integral) or a BigInt (must fit). */
bool cairn_get_int64(napi_env env, napi_value value, const char *what, int64_t *out);
bool cairn_get_uint64(napi_env env, napi_value value, const char *what, uint64_t *out);
bool cairn_get_bool(napi_env env, napi_value value, const char *what, bool *out);
bool cairn_export(napi_env env, napi_value exports, const char *name, napi_callback fn);

/* One init per concern. */
bool cairn_init_xattr(napi_env env, napi_value exports);
bool cairn_init_fsmeta(napi_env env, napi_value exports);
/* chunker.c: the Chunker class (FastCDC cut finder, twin of src/chunker/fast-cdc.ts). */
bool cairn_init_chunker(napi_env env, napi_value exports);
/* aead.c: aeadSealInPlace and aeadOpenInto (AES-256-GCM into the caller's buffer, twins of src/crypto/aead.ts). */
bool cairn_init_aead(napi_env env, napi_value exports);
/* address.c: addressMod, for buffers that O_DIRECT reads can fill (src/util/aligned-buffer.ts). */
bool cairn_init_address(napi_env env, napi_value exports);
/* scandir.c: scanDirs, directories' sorted entries with their lstat, read on the thread pool (src/fs/dir-lister.ts). */
bool cairn_init_scandir(napi_env env, napi_value exports);
/* readfile.c: readFileStart, a file's open, read, fstat and close in one call (src/pipeline/file-task.ts). */
bool cairn_init_readfile(napi_env env, napi_value exports);
/* exit-now.c: exitNow, _exit(2) for a second Ctrl-C that must not wait for the thread pool (src/cli/main.ts). */
bool cairn_init_exit_now(napi_env env, napi_value exports);

#endif
