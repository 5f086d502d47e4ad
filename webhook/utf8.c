/* utf8.c - the one UTF-8 validator (utf8.h): whole strings checked and
 * cleaned with the inline utf8_seq_len. No I/O. */
#include <stdint.h>

#include "utf8.h"

bool
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;
	size_t n;

	while (p < end) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((n = utf8_seq_len(p, (size_t)(end - p))) == 0)
			return false;
		p += n;
	}
	return true;
}

void
utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		if ((n = utf8_seq_len(p, SIZE_MAX)) == 0)
			*p++ = '?';
		else
			p += n;
	}
}
