/* base64.h - the one base64 (RFC 4648 section 4: the standard alphabet,
 * padded, no line breaks): the patch of every review, the caBundles and
 * Secrets the certs and install commands print, and its decoding for the
 * offline commands and the fuzz harness. Part of the core: no I/O. */
#ifndef MESHINJECT_BASE64_H
#define MESHINJECT_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* The longest input either function takes: bytes. */
#define BASE64_MAX	((size_t)1 << 30)

/* The padded base64 of data[0..len): a new NUL-terminated string the
 * caller frees, its length in *outlen unless outlen is NULL; NULL when len
 * passes BASE64_MAX or memory runs out. Table-driven, two digits a lookup:
 * the patch of a review is encoded on every request. */
char *base64_encode(const void *data, size_t len, size_t *outlen);

/* The same digits appended to b, NUL-terminated, for an answer written
 * around them. Returns 0, or -1 (len passes BASE64_MAX, memory). */
struct buf;
int base64_append(struct buf *b, const void *data, size_t len);

/* Whether base64_encode may use SSSE3 where the CPU has it (the default);
 * false: the portable loops only. For the tests, which compare both with
 * OpenSSL's encoder. Call before encoding on other threads. */
void base64_use_simd(bool on);

/* The bytes of the padded base64 text s[0..len), strictly: a multiple of
 * four characters of the standard alphabet, "=" only as the last one or
 * two, no white space, the bits padding leaves unused zero (the one
 * spelling base64_encode writes for any input). Returns 0 with *out a new
 * buffer the caller frees (NUL after the bytes, so that decoded text reads
 * as a string) and its length in *outlen; -1 when s is not such a text,
 * -2 when len passes BASE64_MAX or memory runs out, *out NULL either way. */
int base64_decode(const char *s, size_t len, unsigned char **out,
    size_t *outlen);

#endif
