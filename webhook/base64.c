/* base64.c - the one base64 (base64.h): encoding by a table of digit
 * pairs, decoding by a table of digit values, both strict RFC 4648. No
 * I/O. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"

static const char digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Two base64 digits for each 12-bit value, made once (reviews are encoded
 * on several threads at once: pthread_once). */
static uint16_t pairs[4096];
static pthread_once_t pairs_once = PTHREAD_ONCE_INIT;

/* Each byte's digit value; 64 for a byte that is not a digit. */
static const unsigned char values[256] = {
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64, 64, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
	64,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 64,
	64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define SSSE3	1

/* Twelve bytes to sixteen digits at a time with SSSE3's byte shuffle
 * (Wojciech Mula's method): each group of three bytes spread over four,
 * its four 6-bit values moved to the low bits of a byte each by two
 * multiplies, and each value's distance to its digit read from a
 * 16-entry table indexed by its range. Needs 16 readable bytes from `in`;
 * returns the bytes consumed (a multiple of 12). Some five times fewer
 * instructions than the six-byte loop: the patch of a review is ~5 KB. */
#define SPREAD	1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10
#define SHIFT	'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, \
		'0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, \
		'/' - 63, 'A', 0, 0

__attribute__((target("ssse3"))) static size_t
encode_ssse3(const unsigned char *in, size_t len, char *out)
{
	const __m128i spread = _mm_setr_epi8(SPREAD);
	const __m128i shift = _mm_setr_epi8(SHIFT);
	size_t i;

	for (i = 0; len - i >= 16; i += 12, out += 16) {
		__m128i x, a, b, range;

		x = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
		x = _mm_shuffle_epi8(x, spread);
		a = _mm_mulhi_epu16(_mm_and_si128(x,
		    _mm_set1_epi32(0x0fc0fc00)), _mm_set1_epi32(0x04000040));
		b = _mm_mullo_epi16(_mm_and_si128(x,
		    _mm_set1_epi32(0x003f03f0)), _mm_set1_epi32(0x01000010));
		x = _mm_or_si128(a, b);		/* sixteen values 0..63 */
		/* 0..25 -> 13, 26..51 -> 0, 52..61 -> 1..10, 62 -> 11, 63 -> 12 */
		range = _mm_subs_epu8(x, _mm_set1_epi8(51));
		range = _mm_or_si128(range, _mm_and_si128(_mm_cmpgt_epi8(
		    _mm_set1_epi8(26), x), _mm_set1_epi8(13)));
		x = _mm_add_epi8(x, _mm_shuffle_epi8(shift, range));
		_mm_storeu_si128((__m128i *)(void *)out, x);
	}
	return i;
}

/* The same steps on two groups of twelve bytes at once, one in each
 * 128-bit lane of an AVX2 register (AVX2's shuffle stays within a lane):
 * 24 bytes to 32 digits a step, half the SSSE3 loop's instructions.
 * Needs 28 readable bytes from `in`; returns the bytes consumed (a
 * multiple of 24), the rest for encode_ssse3. */
__attribute__((target("avx2"))) static size_t
encode_avx2(const unsigned char *in, size_t len, char *out)
{
	const __m256i spread = _mm256_setr_epi8(SPREAD, SPREAD);
	const __m256i shift = _mm256_setr_epi8(SHIFT, SHIFT);
	size_t i;

	for (i = 0; len - i >= 28; i += 24, out += 32) {
		__m256i x, a, b, range;

		x = _mm256_inserti128_si256(_mm256_castsi128_si256(
		    _mm_loadu_si128((const __m128i *)(const void *)(in + i))),
		    _mm_loadu_si128((const __m128i *)(const void *)
		    (in + i + 12)), 1);
		x = _mm256_shuffle_epi8(x, spread);
		a = _mm256_mulhi_epu16(_mm256_and_si256(x,
		    _mm256_set1_epi32(0x0fc0fc00)),
		    _mm256_set1_epi32(0x04000040));
		b = _mm256_mullo_epi16(_mm256_and_si256(x,
		    _mm256_set1_epi32(0x003f03f0)),
		    _mm256_set1_epi32(0x01000010));
		x = _mm256_or_si256(a, b);
		range = _mm256_subs_epu8(x, _mm256_set1_epi8(51));
		range = _mm256_or_si256(range, _mm256_and_si256(
		    _mm256_cmpgt_epi8(_mm256_set1_epi8(26), x),
		    _mm256_set1_epi8(13)));
		x = _mm256_add_epi8(x, _mm256_shuffle_epi8(shift, range));
		_mm256_storeu_si256((__m256i *)(void *)out, x);
	}
	return i;
}

/* The widest loop in use: set with the pairs, lowered by base64_use_simd. */
static enum base64_simd simd;
#else
#define SSSE3	0
#endif

static void
pairs_init(void)
{
	size_t i;

#if SSSE3
	__builtin_cpu_init();
	simd = __builtin_cpu_supports("avx2") ? BASE64_AVX2 :
	    __builtin_cpu_supports("ssse3") ? BASE64_SSSE3 : BASE64_PORTABLE;
#endif
	for (i = 0; i < 4096; i++)
		memcpy(&pairs[i], (const char[2]){ digits[i >> 6],
		    digits[i & 63] }, 2);
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WIDE	1
#else
#define WIDE	0
#endif

enum base64_simd
base64_use_simd(enum base64_simd most)
{
	pthread_once(&pairs_once, pairs_init);
#if SSSE3
	simd = most >= BASE64_AVX2 && __builtin_cpu_supports("avx2") ?
	    BASE64_AVX2 : most >= BASE64_SSSE3 &&
	    __builtin_cpu_supports("ssse3") ? BASE64_SSSE3 : BASE64_PORTABLE;
	return simd;
#else
	(void)most;
	return BASE64_PORTABLE;
#endif
}

/* Three bytes to two table lookups of two digits each: OpenSSL's
 * EVP_EncodeBlock took four times as long, 7 % of a review. Where the
 * machine is little-endian, six bytes at a time (one 8-byte load while
 * eight are left, four lookups, one 8-byte store): 40 % fewer
 * instructions than three at a time, the same digits; sixteen digits a
 * step with SSSE3 where the CPU has it (encode_ssse3), 32 with AVX2
 * (encode_avx2). */
/* The padded base64 of in[0..len) at out, which has room for it and a
 * NUL; returns the digits written (the NUL not counted). */
static size_t
encode(const unsigned char *in, size_t len, char *out)
{
	char *o = out;
	size_t i = 0;
	uint32_t v;

	pthread_once(&pairs_once, pairs_init);
#if SSSE3
	if (simd == BASE64_AVX2 && len >= 28) {
		i = encode_avx2(in, len, o);
		o += i / 3 * 4;
	}
	if (simd >= BASE64_SSSE3 && len - i >= 16) {
		size_t n = encode_ssse3(in + i, len - i, o);

		i += n;
		o += n / 3 * 4;
	}
#endif
#if WIDE
	for (; len - i >= 8; i += 6, o += 8) {
		uint64_t x, d;

		memcpy(&x, in + i, sizeof(x));
		x = __builtin_bswap64(x) >> 16;	/* in[i..i+6) as 48 bits */
		d = (uint64_t)pairs[x >> 36] |
		    (uint64_t)pairs[x >> 24 & 4095] << 16 |
		    (uint64_t)pairs[x >> 12 & 4095] << 32 |
		    (uint64_t)pairs[x & 4095] << 48;
		memcpy(o, &d, sizeof(d));
	}
#endif
	for (; i + 3 <= len; i += 3, o += 4) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		memcpy(o, &pairs[v >> 12], 2);
		memcpy(o + 2, &pairs[v & 4095], 2);
	}
	if (len - i > 0) {
		v = (uint32_t)in[i] << 16;
		if (len - i == 2)
			v |= (uint32_t)in[i + 1] << 8;
		memcpy(o, &pairs[v >> 12], 2);
		memcpy(o + 2, &pairs[v & 4095], 2);
		o[3] = '=';
		if (len - i == 1)
			o[2] = '=';
		o += 4;
	}
	*o = '\0';
	return (size_t)(o - out);
}

char *
base64_encode(const void *data, size_t len, size_t *outlen)
{
	char *out;
	size_t n;

	if (len > BASE64_MAX)
		return NULL;
	out = malloc(4 * ((len + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	n = encode(data, len, out);
	if (outlen != NULL)
		*outlen = n;
	return out;
}

int
base64_append(struct buf *b, const void *data, size_t len)
{
	if (len > BASE64_MAX || buf_reserve(b, 4 * ((len + 2) / 3)) == -1)
		return -1;
	b->len += encode(data, len, b->data + b->len);
	return 0;
}

int
base64_decode(const char *s, size_t len, unsigned char **out,
    size_t *outlen)
{
	const unsigned char *in = (const unsigned char *)s;
	unsigned char *buf, *o;
	size_t i, pad = 0;
	uint32_t v = 0;

	*out = NULL;
	if (len % 4 != 0)
		return -1;
	if (len > BASE64_MAX)
		return -2;
	if (len > 0 && in[len - 1] == '=')
		pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
	if ((buf = malloc(len / 4 * 3 + 1)) == NULL)
		return -2;
	o = buf;
	for (i = 0; i < len; i += 4) {
		unsigned a = values[in[i]], b = values[in[i + 1]];
		unsigned c = values[in[i + 2]], d = values[in[i + 3]];

		if (i + 4 == len && pad > 0) {
			/* The last quantum: "xx==" or "xxx=". */
			if (pad == 2)
				c = 0;
			d = 0;
		}
		if ((a | b | c | d) > 63)
			goto bad;
		v = a << 18 | b << 12 | c << 6 | d;
		*o++ = (unsigned char)(v >> 16);
		*o++ = (unsigned char)(v >> 8);
		*o++ = (unsigned char)v;
	}
	/* The bits padding leaves unused must be zero: one spelling each. */
	if ((pad == 2 && (v & 0xFFFF) != 0) || (pad == 1 && (v & 0xFF) != 0))
		goto bad;
	o -= pad;
	*o = '\0';
	*outlen = (size_t)(o - buf);
	*out = buf;
	return 0;
bad:
	free(buf);
	return -1;
}
