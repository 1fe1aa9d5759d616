/*
 * FastCDC cut finder: the native twin of src/chunker/fast-cdc.ts (the reference). It
 * must give the same cut points byte for byte, for any split of the stream into
 * update() calls; test/chunker/native-cdc.test.ts proves it against the TypeScript.
 *
 * The rule (docs/repository-format.md, Chunking), for a chunk starting at stream offset
 * s with bytes b[0..] relative to s and avg = 2^k:
 *
 *   h = 0
 *   for i = min .. max-1:                   bytes before min are not hashed
 *     h = (h << 1) + gear[b[i]]  mod 2^32
 *     if h & (i < avg ? maskS : maskL) == 0: cut after b[i] (length i + 1)
 *   otherwise cut after b[max-1] (length max)
 *
 * maskS / maskL are the k+2 / k-2 high bits of a 32-bit word. The state between calls
 * is exactly the TypeScript's: the stream offset, the bytes seen of the current chunk
 * (pos) and h.
 *
 * JS API (registered as exports.Chunker):
 *   new Chunker(min, avg, max, gear: Uint32Array(256))   gear is copied
 *   update(data: Uint8Array): number[]   absolute offsets of the cuts ending in data
 *   finish(): number[]                   [stream length] if bytes are pending, else [];
 *                                        the next update() starts a new stream at 0
 * Calls are synchronous on the calling thread (a 1 MiB piece takes well under a
 * millisecond); the object keeps no global state, so it works in worker threads.
 */
#include "cairn_native.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define CAIRN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define CAIRN_UNLIKELY(x) (x)
#endif

/* The same limits as validateChunkerParams() in src/chunker/fast-cdc.ts. */
#define CHUNKER_MIN_LIMIT 64u
#define CHUNKER_MAX_LIMIT (64u * 1024u * 1024u)
/* Offsets are returned as JS numbers: past 2^53 they would no longer be exact. */
#define MAX_SAFE_OFFSET 9007199254740991ull

typedef struct {
  uint32_t gear[256];
  uint32_t min, avg, max;
  uint32_t mask_s, mask_l;
  uint32_t pos;    /* bytes of the current (unfinished) chunk seen so far, < max */
  uint32_t h;      /* gear hash of the current chunk's bytes from index min on */
  uint64_t offset; /* absolute stream offset of the next byte update() will see */
} chunker_t;

/*
 * Hashes data[0..n) into *hp and returns the number of bytes consumed: either n (no
 * hit, *hit = false) or the index just after the first byte whose hash has no bit of
 * `mask` set (*hit = true).
 *
 * The hot loop. The naive form, h = (h << 1) + gear[b] per byte, is one long dependency
 * chain (shift, add) that caps it at ~1.8 GB/s here. Four bytes at a time, the hashes
 * after each byte are computed from h at the start of the step plus prefix sums of the
 * gear values, which depend only on the data and so run ahead out of order:
 *   h1 = (h << 1) + g0, h2 = (h << 2) + t2, h3 = (h << 3) + t3, h4 = (h << 4) + t4
 * with t2 = 2 g0 + g1, t3 = 2 t2 + g2, t4 = 2 t3 + g3 (all mod 2^32, exactly equal to
 * the byte-by-byte values). That leaves one short chain per four bytes (~2.8 GB/s of
 * hashed bytes on the reference machine). Each hash is still tested, in order.
 */
static inline size_t scan(const uint8_t *data, size_t n, uint32_t *hp, uint32_t mask, const uint32_t *gear,
                          bool *hit) {
  const uint8_t *p = data;
  const uint8_t *end = data + n;
  uint32_t h = *hp;
  while (end - p >= 4) {
    const uint32_t g0 = gear[p[0]], g1 = gear[p[1]], g2 = gear[p[2]], g3 = gear[p[3]];
    const uint32_t t2 = (g0 << 1) + g1;
    const uint32_t t3 = (t2 << 1) + g2;
    const uint32_t t4 = (t3 << 1) + g3;
    const uint32_t h1 = (h << 1) + g0;
    const uint32_t h2 = (h << 2) + t2;
    const uint32_t h3 = (h << 3) + t3;
    const uint32_t h4 = (h << 4) + t4;
    if (CAIRN_UNLIKELY((h1 & mask) == 0)) {
      h = h1;
      p += 1;
      goto found;
    }
    if (CAIRN_UNLIKELY((h2 & mask) == 0)) {
      h = h2;
      p += 2;
      goto found;
    }
    if (CAIRN_UNLIKELY((h3 & mask) == 0)) {
      h = h3;
      p += 3;
      goto found;
    }
    h = h4;
    p += 4;
    if (CAIRN_UNLIKELY((h4 & mask) == 0)) goto found;
  }
  while (p < end) {
    h = (h << 1) + gear[*p++];
    if (CAIRN_UNLIKELY((h & mask) == 0)) goto found;
  }
  *hp = h;
  *hit = false;
  return n;
found:
  *hp = h;
  *hit = true;
  return (size_t)(p - data);
}

/*
 * Feeds data[0..n) and writes the absolute offsets of the cuts into cuts[] (which must
 * hold n / (min + 1) + 1 entries: every cut but the first needs min + 1 new bytes).
 * Returns the number of cuts. Mirrors FastCdc.update() step by step.
 */
static size_t chunker_update(chunker_t *c, const uint8_t *data, size_t n, double *cuts) {
  const uint64_t base = c->offset;
  const uint32_t min = c->min, avg = c->avg, max = c->max;
  uint32_t pos = c->pos;
  uint32_t h = c->h;
  size_t i = 0;
  size_t count = 0;

  while (i < n) {
    if (pos < min) {
      /* Bytes before min are not hashed: skip them in O(1). */
      const size_t skip = min - pos;
      if (skip >= n - i) {
        pos += (uint32_t)(n - i);
        i = n;
        break;
      }
      i += skip;
      pos = min;
    }
    bool cut = false;
    if (pos < avg) {
      size_t limit = avg - pos;
      if (limit > n - i) limit = n - i;
      const size_t used = scan(data + i, limit, &h, c->mask_s, c->gear, &cut);
      i += used;
      pos += (uint32_t)used;
    }
    if (!cut && pos >= avg) {
      size_t limit = max - pos;
      if (limit > n - i) limit = n - i;
      const size_t used = scan(data + i, limit, &h, c->mask_l, c->gear, &cut);
      i += used;
      pos += (uint32_t)used;
      if (pos == max) cut = true;
    }
    if (cut) {
      cuts[count++] = (double)(base + i);
      pos = 0;
      h = 0;
    }
  }

  c->pos = pos;
  c->h = h;
  c->offset = base + n;
  return count;
}

/* A mask of the `bits` highest bits of a 32-bit word (bits in [5, 27] here). */
static uint32_t high_mask(unsigned bits) {
  return (uint32_t)(0xffffffffu << (32u - bits));
}

/* ---- Node-API glue ---------------------------------------------------------------- */

/* Tags wrapped objects so a method called on a foreign object throws instead of
 * reinterpreting its pointer. Random, fixed forever. */
static const napi_type_tag chunker_tag = {0x636169726e63646bULL, 0x9b3c51d7e2a4f081ULL};

static napi_value throw_invalid_value(napi_env env, const char *message) {
  /* Like Node's ERR_INVALID_ARG_VALUE, a TypeError. */
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", message);
  return NULL;
}

static bool get_size_param(napi_env env, napi_value value, const char *what, uint32_t *out) {
  char message[192];
  napi_valuetype vt;
  if (napi_typeof(env, value, &vt) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  if (vt != napi_number) {
    snprintf(message, sizeof(message), "Chunker: %s must be a number", what);
    cairn_throw_type_error(env, message);
    return false;
  }
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  if (!isfinite(d) || d != trunc(d) || d < CHUNKER_MIN_LIMIT || d > CHUNKER_MAX_LIMIT) {
    snprintf(message, sizeof(message), "Chunker: %s must be an integer between %u and %u bytes, got %.17g", what,
             CHUNKER_MIN_LIMIT, CHUNKER_MAX_LIMIT, d);
    throw_invalid_value(env, message);
    return false;
  }
  *out = (uint32_t)d;
  return true;
}

static void chunker_finalize(napi_env env, void *data, void *hint) {
  free(data);
}

/* The wrapped chunker of `this`, or NULL with a TypeError pending. */
static chunker_t *unwrap_this(napi_env env, napi_callback_info info, const char *method, size_t argc_wanted,
                              napi_value *argv) {
  size_t argc = argc_wanted;
  napi_value self;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) {
    cairn_throw_napi_failure(env);
    return NULL;
  }
  char message[128];
  bool tagged = false;
  napi_valuetype vt;
  if (napi_typeof(env, self, &vt) != napi_ok) {
    cairn_throw_napi_failure(env);
    return NULL;
  }
  if (vt == napi_object && napi_check_object_type_tag(env, self, &chunker_tag, &tagged) != napi_ok) {
    cairn_throw_napi_failure(env);
    return NULL;
  }
  void *c = NULL;
  if (!tagged || napi_unwrap(env, self, &c) != napi_ok || c == NULL) {
    snprintf(message, sizeof(message), "Chunker.%s called on an object that is not a Chunker", method);
    cairn_throw_type_error(env, message);
    return NULL;
  }
  if (argc < argc_wanted) {
    snprintf(message, sizeof(message), "Chunker.%s expects %zu argument(s), got %zu", method, argc_wanted, argc);
    cairn_throw_type_error(env, message);
    return NULL;
  }
  return c;
}

/* new Chunker(min, avg, max, gear) */
static napi_value chunker_new(napi_env env, napi_callback_info info) {
  napi_value new_target;
  CAIRN_NAPI(env, napi_get_new_target(env, info, &new_target));
  if (new_target == NULL) return cairn_throw_type_error(env, "Class constructor Chunker cannot be invoked without 'new'");

  size_t argc = 4;
  napi_value argv[4];
  napi_value self;
  CAIRN_NAPI(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 4) return cairn_throw_type_error(env, "Chunker expects 4 arguments (min, avg, max, gear)");

  uint32_t min, avg, max;
  if (!get_size_param(env, argv[0], "min", &min) || !get_size_param(env, argv[1], "avg", &avg) ||
      !get_size_param(env, argv[2], "max", &max)) {
    return NULL;
  }
  if ((avg & (avg - 1)) != 0) return throw_invalid_value(env, "Chunker: avg must be a power of two");
  if (!(min < avg && avg < max)) return throw_invalid_value(env, "Chunker: need min < avg < max");

  bool is_typed = false;
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void *table = NULL;
  CAIRN_NAPI(env, napi_is_typedarray(env, argv[3], &is_typed));
  if (is_typed) CAIRN_NAPI(env, napi_get_typedarray_info(env, argv[3], &type, &length, &table, NULL, NULL));
  if (!is_typed || type != napi_uint32_array) return cairn_throw_type_error(env, "Chunker: gear must be a Uint32Array");
  if (length != 256) return throw_invalid_value(env, "Chunker: gear must have 256 entries");

  chunker_t *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    napi_throw_error(env, "ENOMEM", "Chunker: out of memory");
    return NULL;
  }
  /* A private copy: a caller changing its table later must not change our cut points. */
  memcpy(c->gear, table, sizeof(c->gear));
  c->min = min;
  c->avg = avg;
  c->max = max;
  unsigned k = 0;
  while ((1u << k) < avg) k++;
  c->mask_s = high_mask(k + 2);
  c->mask_l = high_mask(k - 2);

  if (napi_wrap(env, self, c, chunker_finalize, NULL, NULL) != napi_ok) {
    free(c);
    cairn_throw_napi_failure(env);
    return NULL;
  }
  CAIRN_NAPI(env, napi_type_tag_object(env, self, &chunker_tag));
  return self;
}

static napi_value cuts_to_array(napi_env env, const double *cuts, size_t count) {
  napi_value array;
  CAIRN_NAPI(env, napi_create_array_with_length(env, count, &array));
  for (size_t j = 0; j < count; j++) {
    napi_value v;
    CAIRN_NAPI(env, napi_create_double(env, cuts[j], &v));
    CAIRN_NAPI(env, napi_set_element(env, array, (uint32_t)j, v));
  }
  return array;
}

/* update(data: Uint8Array): number[] */
static napi_value chunker_update_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  chunker_t *c = unwrap_this(env, info, "update", 1, argv);
  if (c == NULL) return NULL;
  void *data = NULL;
  size_t n = 0;
  if (!cairn_get_bytes(env, argv[0], "Chunker.update: data", &data, &n)) return NULL;
  if (n > MAX_SAFE_OFFSET - c->offset) {
    return cairn_throw_range_error(env, "Chunker.update: the stream would exceed 2^53 - 1 bytes");
  }

  /* Most calls find a few cuts; the bound is for the worst case (tiny min). */
  double small[64];
  const size_t bound = n / ((size_t)c->min + 1) + 1;
  double *cuts = small;
  if (bound > sizeof(small) / sizeof(small[0])) {
    cuts = malloc(bound * sizeof(double));
    if (cuts == NULL) {
      napi_throw_error(env, "ENOMEM", "Chunker.update: out of memory");
      return NULL;
    }
  }
  const size_t count = chunker_update(c, data, n, cuts);
  napi_value result = cuts_to_array(env, cuts, count);
  if (cuts != small) free(cuts);
  return result;
}

/* finish(): number[] */
static napi_value chunker_finish_js(napi_env env, napi_callback_info info) {
  chunker_t *c = unwrap_this(env, info, "finish", 0, NULL);
  if (c == NULL) return NULL;
  const double last = (double)c->offset;
  const size_t count = c->pos > 0 ? 1 : 0;
  c->offset = 0;
  c->pos = 0;
  c->h = 0;
  return cuts_to_array(env, &last, count);
}

bool cairn_init_chunker(napi_env env, napi_value exports) {
  const napi_property_descriptor methods[] = {
    {"update", NULL, chunker_update_js, NULL, NULL, NULL, napi_default_method, NULL},
    {"finish", NULL, chunker_finish_js, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value cls;
  if (napi_define_class(env, "Chunker", NAPI_AUTO_LENGTH, chunker_new, NULL, sizeof(methods) / sizeof(methods[0]),
                        methods, &cls) != napi_ok ||
      napi_set_named_property(env, exports, "Chunker", cls) != napi_ok) {
    cairn_throw_napi_failure(env);
    return false;
  }
  return true;
}
