/* coreutil.c - small helpers the core modules share: messages that quote
 * user input (cut, counted, kept valid UTF-8) and borrowed reads of a pod's
 * string fields. No I/O. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "coreutil.h"

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
