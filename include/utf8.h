/* utf8.h - the one UTF-8 validator, strict as jansson's utf8_check_first
 * and utf8_check_full: no continuation byte as a lead, no overlong form,
 * no surrogate (U+D800..U+DFFF), nothing past U+10FFFF. Part of the core:
 * no I/O. The sequence check is inline: jsonread and jsonwrite run it on
 * every non-ASCII character of a review. */
#ifndef MESHINJECT_UTF8_H
#define MESHINJECT_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The length of the valid UTF-8 sequence at p, of at most avail bytes
 * (avail >= 1): 1 for ASCII, 2 to 4, or 0 when the bytes there are not
 * valid UTF-8. Bytes are read in order and no further than the first that
 * does not fit, so a NUL-terminated string may pass SIZE_MAX as avail: its
 * NUL ends any sequence. */
static inline size_t
utf8_seq_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		if (avail < 2 || (p[1] & 0xC0) != 0x80)
			return 0;
		return 2;
	}
	if (c >= 0xE0 && c <= 0xEF) {
		if (avail < 3 || (p[1] & 0xC0) != 0x80 ||
		    (p[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
			return 0;	/* overlong; surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (avail < 4 || (p[1] & 0xC0) != 0x80 ||
		    (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
			return 0;	/* overlong; above U+10FFFF */
		return 4;
	}
	return 0;	/* 0x80..0xC1 (continuation, overlong lead), 0xF5.. */
}

/* Is s[0..len) valid UTF-8? (A NUL byte is: it is U+0000.) */
bool utf8_valid(const char *s, size_t len);

/* Replace every byte of the NUL-terminated s that does not begin a valid
 * sequence with '?', so that messages quoting user input (cut at any
 * byte) stay valid JSON. */
void utf8_clean(char *s);

#endif
