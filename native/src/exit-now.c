/*
 * Ending the process at once with an exit code. process.exit() runs exit(3), whose
 * destructors include libuv's, which joins the thread pool: a pool thread blocked in a
 * read that never returns (a FIFO nobody writes, a hung NFS mount) then kept a second
 * Ctrl-C from ending cairn. _exit(2) skips them; the kernel closes every descriptor.
 * Only src/cli/main.ts calls it, after its output was written (stdout and stderr are
 * synchronous for files and pipes on Linux).
 */
#include <unistd.h>
#include "cairn_native.h"

/* exitNow(code: number): never returns. */
static napi_value exit_now(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!cairn_get_args(env, info, 1, argv)) return NULL;
  int64_t code = 0;
  if (!cairn_get_int64(env, argv[0], "code", &code)) return NULL;
  _exit((int)(code & 0xff));
}

bool cairn_init_exit_now(napi_env env, napi_value exports) {
  return cairn_export(env, exports, "exitNow", exit_now);
}
