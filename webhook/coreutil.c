/* coreutil.c - small helpers the core modules share: messages that quote
 * user input (cut, counted, kept valid UTF-8) and borrowed reads of a pod's
 * string fields. No I/O. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "coreutil.h"

void
utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		size_t len, i;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			len = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			len = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			len = 4;
		else
			len = 0;
		for (i = 1; len > 0 && i < len; i++)
			if ((p[i] & 0xc0) != 0x80)
				len = 0;
		/* Overlong, surrogate and out-of-range forms. */
		if ((len == 3 && p[0] == 0xe0 && p[1] < 0xa0) ||
		    (len == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
		    (len == 4 && p[0] == 0xf0 && p[1] < 0x90) ||
		    (len == 4 && p[0] == 0xf4 && p[1] >= 0x90))
			len = 0;
		if (len == 0) {
			*p++ = '?';
			continue;
		}
		p += len;
	}
}

void
msg_add(struct msg_list *l, const char *fmt, ...)
{
	va_list ap;

	if (l->n >= POLICY_MSG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(l->items[l->n], POLICY_MSG_LEN, fmt, ap);
	va_end(ap);
	utf8_clean(l->items[l->n]);
	l->n++;
}
