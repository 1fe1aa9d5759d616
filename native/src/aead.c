/*
 * AES-256-GCM sealing in place, with the OpenSSL that Node itself links (its symbols
 * are exported by the node binary; headers come with node's include/ dir). node:crypto
 * can only return a new Buffer per call; a backup seals ~1.6 GB in 1-4 MiB blobs, and
 * each such Buffer is garbage that V8 frees late. Sealing into the pack buffer keeps a
 * worker's memory at the buffers it already owns. Same algorithm and layout as
 * src/crypto/aead.ts (ciphertext || 16-byte tag), so output is byte-identical.
 */
#include "cairn_native.h"

#include <openssl/evp.h>
#include <string.h>

#define KEY_SIZE 32
#define NONCE_SIZE 12
#define TAG_SIZE 16

/* A fresh AES-256-GCM context for sealing (enc 1) or opening (enc 0) with this key and
 * 12-byte nonce, the AAD already fed in; NULL on an OpenSSL failure. */
static EVP_CIPHER_CTX *gcm_begin(int enc, const void *key, const void *nonce, const void *aad, size_t aad_len) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  int ok = ctx != NULL;
  ok = ok && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_SIZE, NULL) == 1;
  ok = ok && EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1;
  ok = ok && (aad_len == 0 || EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1);
  if (ok) return ctx;
  EVP_CIPHER_CTX_free(ctx);
  return NULL;
}

/* aeadSealInPlace(key, nonce, aad, buf, start, length): encrypts buf[start, start+length)
 * in place and writes the tag to buf[start+length, start+length+16). */
static napi_value seal_in_place(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!cairn_get_args(env, info, 6, argv)) return NULL;
  void *key, *nonce, *aad, *buf;
  size_t key_len, nonce_len, aad_len, buf_len;
  if (!cairn_get_bytes(env, argv[0], "key", &key, &key_len)) return NULL;
  if (!cairn_get_bytes(env, argv[1], "nonce", &nonce, &nonce_len)) return NULL;
  if (!cairn_get_bytes(env, argv[2], "aad", &aad, &aad_len)) return NULL;
  if (!cairn_get_bytes(env, argv[3], "buf", &buf, &buf_len)) return NULL;
  int64_t start, length;
  if (!cairn_get_int64(env, argv[4], "start", &start)) return NULL;
  if (!cairn_get_int64(env, argv[5], "length", &length)) return NULL;
  if (key_len != KEY_SIZE) return cairn_throw_range_error(env, "key must be 32 bytes");
  if (nonce_len != NONCE_SIZE) return cairn_throw_range_error(env, "nonce must be 12 bytes");
  if (start < 0 || length < 0 || length > INT32_MAX || (uint64_t)start + (uint64_t)length + TAG_SIZE > buf_len) {
    return cairn_throw_range_error(env, "start/length out of the buffer (room for the tag included)");
  }
  unsigned char *p = (unsigned char *)buf + start;
  EVP_CIPHER_CTX *ctx = gcm_begin(1, key, nonce, aad, aad_len);
  int ok = ctx != NULL;
  int n = 0;
  ok = ok && (length == 0 || EVP_EncryptUpdate(ctx, p, &n, p, (int)length) == 1);
  ok = ok && EVP_EncryptFinal_ex(ctx, p + length, &n) == 1 && n == 0;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, p + length) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    napi_throw_error(env, NULL, "AES-256-GCM seal failed in OpenSSL");
    return NULL;
  }
  return NULL;
}

/* aeadOpenInto(key, nonce, aad, sealed, dst, dstStart): decrypts sealed (ciphertext ||
 * tag) into dst[dstStart, dstStart + sealed.length - 16) and returns true, or returns
 * false when authentication fails. dst may be sealed itself (in place) or any other
 * buffer; on false its bytes in that range are unauthenticated garbage the caller must
 * not use. Check and restore open ~1.5 GB in 1-8 MiB blobs: decrypting into a buffer the
 * thread keeps, instead of a new one per blob, saves a page fault per 4 KiB and the
 * garbage V8 frees late. */
static napi_value open_into(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!cairn_get_args(env, info, 6, argv)) return NULL;
  void *key, *nonce, *aad, *sealed, *dst;
  size_t key_len, nonce_len, aad_len, sealed_len, dst_len;
  if (!cairn_get_bytes(env, argv[0], "key", &key, &key_len)) return NULL;
  if (!cairn_get_bytes(env, argv[1], "nonce", &nonce, &nonce_len)) return NULL;
  if (!cairn_get_bytes(env, argv[2], "aad", &aad, &aad_len)) return NULL;
  if (!cairn_get_bytes(env, argv[3], "sealed", &sealed, &sealed_len)) return NULL;
  if (!cairn_get_bytes(env, argv[4], "dst", &dst, &dst_len)) return NULL;
  int64_t start;
  if (!cairn_get_int64(env, argv[5], "dstStart", &start)) return NULL;
  if (key_len != KEY_SIZE) return cairn_throw_range_error(env, "key must be 32 bytes");
  if (nonce_len != NONCE_SIZE) return cairn_throw_range_error(env, "nonce must be 12 bytes");
  if (sealed_len < TAG_SIZE || sealed_len - TAG_SIZE > INT32_MAX) return cairn_throw_range_error(env, "sealed must hold at least the tag");
  size_t length = sealed_len - TAG_SIZE;
  if (start < 0 || (uint64_t)start + length > dst_len) return cairn_throw_range_error(env, "dstStart/length out of the destination");
  unsigned char *in = (unsigned char *)sealed;
  unsigned char *out = (unsigned char *)dst + start;
  unsigned char tag[TAG_SIZE];
  /* The tag is read before decrypting: in place, the plaintext overwrites the ciphertext
   * (never the tag, which lies after it, but a caller's dst may overlap it). */
  memcpy(tag, in + length, TAG_SIZE);
  EVP_CIPHER_CTX *ctx = gcm_begin(0, key, nonce, aad, aad_len);
  if (!ctx) {
    napi_throw_error(env, NULL, "AES-256-GCM open failed in OpenSSL");
    return NULL;
  }
  int n = 0;
  int ok = length == 0 || EVP_DecryptUpdate(ctx, out, &n, in, (int)length) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, tag) == 1;
  /* Final fails exactly when the tag does not match: that is the authentication. */
  ok = ok && EVP_DecryptFinal_ex(ctx, out + length, &n) == 1;
  EVP_CIPHER_CTX_free(ctx);
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

bool cairn_init_aead(napi_env env, napi_value exports) {
  return cairn_export(env, exports, "aeadSealInPlace", seal_in_place) && cairn_export(env, exports, "aeadOpenInto", open_into);
}
