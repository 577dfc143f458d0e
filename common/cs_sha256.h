/*
 * cs_sha256: SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104), hex and base64.
 *
 * Written here because the project links no crypto library: the only users
 * are Graph's appsecret_proof and HTTP Basic credentials, neither of which
 * needs more than a one-shot digest.  Not constant-time with respect to the
 * data length; nothing here compares secrets.
 *
 * Thread safety: no global state; every function may be called from any
 * thread.  Ownership: callers own every buffer; nothing is allocated.
 */
#ifndef CS_SHA256_H
#define CS_SHA256_H

#include <stddef.h>

#define CS_SHA256_LEN 32

void cs_sha256(const void *data, size_t len, unsigned char out[32]);
void cs_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    unsigned char out[32]);

/* Lower-case hex of in[0..n) into out, which must hold 2n+1 bytes. */
void cs_hex(const unsigned char *in, size_t n, char *out);

/* Standard base64 (RFC 4648 section 4) with '=' padding, NUL-terminated.
 * Returns the encoded length, or 0 (out set to "" when out_size > 0) when
 * out_size cannot hold it and its terminator. */
size_t cs_base64(const void *in, size_t n, char *out, size_t out_size);

#endif
