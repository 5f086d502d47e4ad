/* buf.c - the one growable byte buffer (buf.h): doubling growth up to a
 * limit fixed at init, failure sticky. The appends themselves are inline
 * in buf.h; here is what runs when the buffer grows. No I/O. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"

static void *(*buf_realloc)(void *, size_t) = realloc;

void
buf_set_realloc(void *(*fn)(void *, size_t))
{
	buf_realloc = fn != NULL ? fn : realloc;
}

void
buf_init(struct buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit < BUF_MAX ? limit : BUF_MAX;
	b->failed = false;
}

/* Sticky: a failed buffer holds nothing, so that its cap - len is 0 and
 * every later buf_reserve comes to buf_grow and fails too. */
int
buf_fail(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = true;
	return -1;
}

int
buf_grow(struct buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed || n > b->limit - b->len)
		return buf_fail(b);
	if (b->cap - b->len > n)
		return 0;
	/* limit <= BUF_MAX, so neither the doubling nor the + 1 overflows. */
	cap = b->cap != 0 ? b->cap : BUF_FIRST;
	while (cap - b->len <= n)
		cap *= 2;
	if (cap > b->limit + 1)
		cap = b->limit + 1;
	if ((p = buf_realloc(b->data, cap)) == NULL)
		return buf_fail(b);
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (buf_reserve(b, 0) == -1)
		return -1;
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return buf_fail(b);
	if ((size_t)n >= room) {
		/* It did not fit: grow to the length it told, write again. */
		if (buf_reserve(b, (size_t)n) == -1)
			return -1;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

char *
buf_take(struct buf *b, size_t *lenp)
{
	char *s;

	if (b->failed || buf_reserve(b, 0) == -1) {
		buf_free(b);
		return NULL;
	}
	s = b->data;
	s[b->len] = '\0';
	if (lenp != NULL)
		*lenp = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return s;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}
