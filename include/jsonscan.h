/* jsonscan.h - the scan that jsonread.c, jsonwrite.c and inject.c share:
 * where, in a run of a JSON string's bytes, is the first one that cannot
 * stand as is (below 0x20, '"', '\\', above 0x7f). Inline; no I/O, no
 * allocation. */
#ifndef MESHINJECT_JSONSCAN_H
#define MESHINJECT_JSONSCAN_H

#include <stdint.h>

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JSONSCAN_LITTLE	1
#else
#define JSONSCAN_LITTLE	0
#endif
#if JSONSCAN_LITTLE && defined(__SSE2__)
#define JSONSCAN_SSE2	1
#include <emmintrin.h>
#else
#define JSONSCAN_SSE2	0
#endif
#define JSONSCAN_ONES	UINT64_C(0x0101010101010101)
#define JSONSCAN_HIGHS	UINT64_C(0x8080808080808080)

/* The high bit of each byte of x that is below 0x20, '"', '\\' or above
 * 0x7f, and maybe of bytes above those (a borrow carries upwards): on a
 * little-endian load, the lowest bit set, if any, marks the first byte
 * that is not plain. Eight bytes tested at once. */
static inline uint64_t
jsonscan_word(uint64_t x)
{
	uint64_t q = x ^ (JSONSCAN_ONES * '"'), b = x ^ (JSONSCAN_ONES * '\\');

	return (((x - JSONSCAN_ONES * 0x20) & ~x) | ((q - JSONSCAN_ONES) & ~q) |
	    ((b - JSONSCAN_ONES) & ~b) | x) & JSONSCAN_HIGHS;
}

#if JSONSCAN_SSE2
/* The sixteen bytes at p: bit i set when p[i] is not plain, 0 when all
 * are. As signed bytes, those below 0x20 and those above 0x7f are both
 * less than 0x20, so three compares do. */
static inline unsigned
jsonscan_block16(const unsigned char *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);

	return (unsigned)_mm_movemask_epi8(_mm_or_si128(
	    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
	    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))));
}
#endif

#endif
