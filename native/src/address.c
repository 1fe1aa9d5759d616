/*
 * Where a buffer lies in memory, for O_DIRECT reads: the kernel then copies straight
 * into the caller's pages (no page cache), but only into memory aligned to the device's
 * block size. JavaScript cannot see addresses, so src/util/aligned-buffer.ts asks here
 * how far a buffer's first byte is from a multiple of `align` and views it from there.
 */
#include "cairn_native.h"

/* addressMod(view: Uint8Array, align: number): number — the view's address modulo align. */
static napi_value address_mod(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!cairn_get_args(env, info, 2, argv)) return NULL;
  void *data = NULL;
  size_t len = 0;
  int64_t align = 0;
  if (!cairn_get_bytes(env, argv[0], "view", &data, &len)) return NULL;
  if (!cairn_get_int64(env, argv[1], "align", &align)) return NULL;
  if (align <= 0 || (align & (align - 1)) != 0) return cairn_throw_range_error(env, "align must be a power of two");
  napi_value out;
  CAIRN_NAPI(env, napi_create_int64(env, (int64_t)((uintptr_t)data % (uintptr_t)align), &out));
  return out;
}

bool cairn_init_address(napi_env env, napi_value exports) {
  return cairn_export(env, exports, "addressMod", address_mod);
}
