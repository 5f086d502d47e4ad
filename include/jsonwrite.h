/* jsonwrite.h - jansson 2.14's json_dumps, byte for byte, without its
 * per-character callbacks: one growing buffer, runs copied with memcpy. */
#ifndef MESHINJECT_JSONWRITE_H
#define MESHINJECT_JSONWRITE_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* The flags jsonwrite_dumps takes; any other bit makes it return NULL. */
#define JSONWRITE_FLAGS	(JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | \
			 JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(31))

/* Serialise v exactly as json_dumps(v, flags) does, faster: flags may hold
 * JSON_COMPACT, JSON_SORT_KEYS, JSON_ENCODE_ANY, JSON_REAL_PRECISION(n) and
 * JSON_PRESERVE_ORDER (2.14's default order anyway); anything else: NULL.
 * v is borrowed. Returns a new NUL-terminated text that the caller frees
 * with free() (never jansson's allocator), its length in *lenp when lenp is
 * not NULL; NULL where json_dumps returns NULL (v NULL, a string value that
 * is not valid UTF-8, a scalar top level without JSON_ENCODE_ANY, a
 * container inside itself) and where jansson would print a NaN or infinite
 * real (which a json_t cannot hold), or when memory runs out.
 * Like json_dumps, an object key that is not valid UTF-8 does not fail: it
 * is written up to its last escape before the bad byte, unquoted.
 * Nesting has no limit, as in jansson, but jsonwrite does not recurse: a
 * tree deep enough to overflow json_dumps's stack is written here too. */
char *jsonwrite_dumps(const json_t *v, size_t flags, size_t *lenp);

/* The same text appended to b, NUL-terminated, for a writer that builds a
 * larger text around v (the patch). Returns 0, or -1 where jsonwrite_dumps
 * returns NULL, b then holding a cut text that the caller drops. */
int jsonwrite_append(struct buf *b, const json_t *v, size_t flags);

/* The scalars as jsonwrite_dumps writes them, appended to b (no NUL: the
 * caller ends the text with buf_take), for writers that build a text
 * without a tree (the log line). Each returns 0, or -1 when the buffer has
 * failed.
 * jsonwrite_string: s[0..n) quoted and escaped; -2 when it is not valid
 * UTF-8, the buffer then holding a cut text that the caller drops.
 * jsonwrite_real: -1 too for a NaN or an infinity; precision as in
 * JSON_REAL_PRECISION (17 when unset); *point caches the locale's decimal
 * point between calls and starts as '\0'. */
int jsonwrite_string(struct buf *b, const char *s, size_t n);
int jsonwrite_integer(struct buf *b, json_int_t v);
int jsonwrite_real(struct buf *b, double d, int precision, char *point);

#endif
