/* buf.h - the one growable byte buffer: bounded by a limit set at init
 * (curl's dynbuf), failure sticky (jansson's strbuffer, turned so that a
 * writer checks once at the end). Part of the core: no I/O.
 *
 *	struct buf b;
 *	buf_init(&b, MAX);
 *	buf_add(&b, p, n); buf_lit(&b, "x"); buf_printf(&b, "%d", i);
 *	text = buf_take(&b, &len);	(NULL if anything failed)
 *
 * The appends are inline and only call out of line (buf_grow) when the
 * buffer must grow: the review path appends thousands of times per pod. */
#ifndef MESHINJECT_BUF_H
#define MESHINJECT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The largest limit (jansson's strbuffer stops there too): for texts
 * bounded only by their input, such as json_dumps's. */
#define BUF_MAX		(SIZE_MAX / 2)

/* The first allocation, unless the first append needs more. */
#define BUF_FIRST	256

struct buf {
	char *data;	/* NULL until the first append; owned */
	size_t len;	/* bytes written, never more than limit */
	size_t cap;	/* 0, or more than len: room for the NUL */
	size_t limit;
	bool failed;	/* out of memory, or an append would pass limit */
};

/* An empty buffer that will hold at most limit bytes (not counting its
 * NUL); limit is at most BUF_MAX. Allocates nothing. */
void buf_init(struct buf *b, size_t limit);

/* Make room for n more bytes and a NUL. Returns 0, or -1 when the buffer
 * failed now or before: memory ran out or len + n would pass the limit.
 * A failed buffer frees its bytes, is empty and refuses every append until
 * buf_free or buf_init. Out of line; buf_reserve is its fast path. */
int buf_grow(struct buf *b, size_t n);

/* Room for n more bytes and a NUL: 0, or -1 (the buffer has failed). For
 * writers that write into data + len themselves and then add to len. */
static inline int
buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len > n)
		return 0;
	return buf_grow(b, n);
}

/* Append n bytes of s (which may not point into the buffer); the text
 * stays NUL-terminated. Returns 0, or -1 when the buffer has failed. */
static inline int
buf_add(struct buf *b, const void *s, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* Append one byte. Returns 0 or -1, as buf_add. */
static inline int
buf_addc(struct buf *b, char c)
{
	if (buf_reserve(b, 1) == -1)
		return -1;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
	return 0;
}

/* Append the NUL-terminated s. Returns 0 or -1, as buf_add. */
static inline int
buf_lit(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* Append as printf would write. Returns 0 or -1 (also when the format
 * fails), as buf_add. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The allocator every buffer grows with: realloc unless a test (making
 * each allocation fail in turn, as jansson's json_set_alloc_funcs allows)
 * sets another; NULL puts realloc back. Not for use while buffers grow in
 * other threads. */
void buf_set_realloc(void *(*fn)(void *, size_t));

/* Fail the buffer on purpose (a writer's own error, such as a NULL string
 * to write), as memory running out would. Returns -1. */
int buf_fail(struct buf *b);

/* Hand over the text: a new NUL-terminated string the caller frees with
 * free() ("" when nothing was appended), its length in *lenp unless lenp is
 * NULL; or NULL (nothing to free) when the buffer failed or memory ran out.
 * Either way the buffer is left empty, as after buf_init. */
char *buf_take(struct buf *b, size_t *lenp);

/* Free the bytes and leave the buffer empty and not failed, its limit
 * kept. NULL is a no-op. */
void buf_free(struct buf *b);

#endif
