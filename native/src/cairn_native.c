/*
 * The single entry point of the cairn_native addon. It only wires concerns together;
 * the functions live in one file per concern (xattr.c, fsmeta.c, ...).
 */
#include "cairn_native.h"

static napi_value init(napi_env env, napi_value exports) {
  if (!cairn_init_xattr(env, exports)) return NULL;
  if (!cairn_init_fsmeta(env, exports)) return NULL;
  if (!cairn_init_chunker(env, exports)) return NULL;
  if (!cairn_init_aead(env, exports)) return NULL;
  if (!cairn_init_address(env, exports)) return NULL;
  if (!cairn_init_scandir(env, exports)) return NULL;
  if (!cairn_init_readfile(env, exports)) return NULL;
  if (!cairn_init_exit_now(env, exports)) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
