/* base64.h - the one base64 (RFC 4648 section 4: the standard alphabet,
 * padded, no line breaks): the patch of every review, the caBundles and
 * Secrets the certs and install commands print, and its decoding for the
 * offline commands and the fuzz harness. Part of the core: no I/O. */
#ifndef MESHINJECT_BASE64_H
#define MESHINJECT_BASE64_H

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

/* The encoder's loops: portable C, SSSE3 (16 digits a step), AVX2 (32). */
enum base64_simd { BASE64_PORTABLE, BASE64_SSSE3, BASE64_AVX2 };

/* Use the widest loop up to `most` that the CPU has (the default: the
 * widest it has); returns the one now in use. For the tests, which compare
 * each with OpenSSL's encoder. Call before encoding on other threads. */
enum base64_simd base64_use_simd(enum base64_simd most);

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
