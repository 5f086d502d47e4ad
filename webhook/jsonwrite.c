/* jsonwrite.c - json_dumps of jansson 2.14 (src/dump.c, src/strconv.c)
 * rewritten for speed, the same bytes out; see jsonwrite.h.
 *
 * json_dumps hands every run of plain bytes and every escape to a callback
 * that appends to a strbuffer, decodes each character with utf8_iterate and
 * finally copies the text once more with strdup. Here one doubling buffer
 * is written directly, strings are scanned eight bytes at a time for what
 * needs a closer look (escapes, and UTF-8, checked in the same pass) and
 * copied by runs, and the tree is walked with an explicit stack instead of
 * recursion. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonscan.h"
#include "jsonwrite.h"
#include "utf8.h"

#define OUT_FIRST	1024	/* bytes first; buf.h doubles them */
#define FRAMES_INLINE	32	/* containers open before the stack mallocs */
#define MEMBERS_INLINE	64	/* sorted keys before the key stack mallocs */
/* Ancestors compared one by one when a container opens; deeper ones are
 * found through a hash set, so that a very deep tree stays linear. */
#define PATH_SCAN	32
/* Insertion sort below this many keys, qsort above. */
#define SORT_SMALL	12

enum frame_kind {
	FRAME_ARRAY,
	FRAME_OBJECT,		/* in iteration order */
	FRAME_SORTED		/* members in writer.members[first..n) */
};

struct frame {
	const json_t *v;
	enum frame_kind kind;
	void *iter;		/* FRAME_OBJECT: the next member, NULL at end */
	size_t first;		/* FRAME_SORTED: its first member */
	size_t i;		/* next index (array, sorted), members done */
	size_t n;		/* array size, end of the sorted members */
};

struct member {
	const char *key;
	size_t len;
	json_t *value;
};

/* Containers open at PATH_SCAN and deeper: open addressing, linear
 * probing, deletion by backward shift (no tombstones). */
struct ptrset {
	const void **slots;
	size_t cap;		/* 0 or a power of two */
	size_t count;
};

struct writer {
	struct buf out;
	struct frame *stack;
	size_t depth, stack_cap;
	struct member *members;
	size_t n_members, members_cap;
	struct ptrset deep;
	bool compact;
	bool sort;
	int precision;		/* JSON_REAL_PRECISION's, 17 when unset */
	char point;		/* the locale's decimal point, 0 until needed */
	struct frame stack_inline[FRAMES_INLINE];
	struct member members_inline[MEMBERS_INLINE];
};

/* What a string byte needs: copied as is, escaped, or checked as the lead
 * of a UTF-8 sequence (which jansson keeps as is when it is valid). */
enum {
	BYTE_PLAIN,
	BYTE_ESCAPE,
	BYTE_UTF8
};

#define E1	BYTE_ESCAPE
#define U8	BYTE_UTF8
#define U8x16	U8, U8, U8, U8, U8, U8, U8, U8, U8, U8, U8, U8, U8, U8, U8, U8
static const unsigned char byte_class[256] = {
	E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1,
	E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1, E1,
	0, 0, E1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, E1, 0, 0, 0,	/* '\\' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x7f plain */
	U8x16, U8x16, U8x16, U8x16, U8x16, U8x16, U8x16, U8x16
};
#undef E1
#undef U8
#undef U8x16

/* The letter after the backslash for the bytes with a two-byte escape
 * (jansson's dump_string); 0 for the other control bytes, written \\u00XX. */
static const char escape_short[256] = {
	['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',
	['\r'] = 'r', ['\t'] = 't'
};

/* jansson's hex digits in \\u00XX are upper case. */
static const char hex[] = "0123456789ABCDEF";

#define RUN_SHORT	16	/* a run between escapes copied as a block */

/* ---- output ----------------------------------------------------------- */

/* Appends to the buf (buf.h) without its NUL after each: jsonwrite
 * writes runs into data + len itself, and buf_take terminates the text
 * once. One store fewer per append: a review makes thousands. */
static inline int
out_put(struct buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	return 0;
}

static inline int
out_putc(struct buf *b, char c)
{
	if (buf_reserve(b, 1) == -1)
		return -1;
	b->data[b->len++] = c;
	return 0;
}

/* ---- scalars ------------------------------------------------------------ */


/* The first byte from p on that is not plain, or end; p..end are the last
 * bytes of a string of n. Bytes are tested eight at a time; the last few
 * are loaded as one word too, overlapping bytes already seen when the
 * string is long enough, else copied and padded with spaces. */
static inline const unsigned char *
plain_skip(const unsigned char *p, const unsigned char *end, size_t n)
{
	uint64_t x, m;
	size_t left;

#if JSONSCAN_SSE2
	while (end - p >= 16) {		/* sixteen at a time */
		unsigned bits = jsonscan_block16(p);

		if (bits != 0)
			return p + __builtin_ctz(bits);
		p += 16;
	}
#endif
	while (end - p >= 8) {
		memcpy(&x, p, sizeof(x));
		if ((m = jsonscan_word(x)) != 0) {
#if JSONSCAN_LITTLE
			return p + __builtin_ctzll(m) / 8;
#else
			return p;
#endif
		}
		p += 8;
	}
	if ((left = (size_t)(end - p)) == 0)
		return end;
#if JSONSCAN_LITTLE
	if (n >= 8) {
		memcpy(&x, end - 8, sizeof(x));
		x >>= 8 * (8 - left);
	} else {
		x = 0;
		memcpy(&x, p, left);
	}
	x |= (JSONSCAN_ONES * ' ') << (8 * left);
	if ((m = jsonscan_word(x)) == 0)
		return end;
	return p + __builtin_ctzll(m) / 8;
#else
	(void)n;
	while (p < end && byte_class[*p] == BYTE_PLAIN)
		p++;
	return p;
#endif
}

/* Copy the plain run [run, p) and the escape of the byte at p (which
 * needs one) to b, whose room the caller reserved: (end - run) + 6 +
 * RUN_SHORT bytes at least. Runs between escapes are short (an embedded
 * text's keys): a fixed copy of RUN_SHORT bytes, where the string has
 * them, instead of a call to memcpy; the bytes past the run are
 * overwritten next or lie past len. */
static inline void
escape_one(struct buf *b, const unsigned char *run, const unsigned char *p,
    const unsigned char *end)
{
	unsigned char c = *p;
	char *o = b->data + b->len;

	if ((size_t)(p - run) <= RUN_SHORT && (size_t)(end - run) >= RUN_SHORT)
		memcpy(o, run, RUN_SHORT);
	else
		memcpy(o, run, (size_t)(p - run));
	o += p - run;
	o[0] = '\\';
	if ((o[1] = escape_short[c]) != 0)
		b->len += (size_t)(p - run) + 2;
	else {
		o[1] = 'u';		/* "\\u%04X" */
		o[2] = '0';
		o[3] = '0';
		o[4] = hex[c >> 4];
		o[5] = hex[c & 0xF];
		b->len += (size_t)(p - run) + 6;
	}
}

/* Are the n (< 32) bytes at p all plain? A review writes some two hundred
 * short strings (keys, names): two overlapping loads of the string's own
 * bytes test them, with no loop and no read outside the string. */
static inline bool
plain_short(const unsigned char *p, size_t n)
{
	uint64_t x, y;
	uint32_t lo, hi;

	if (n >= 16) {
#if JSONSCAN_SSE2
		return (jsonscan_block16(p) | jsonscan_block16(p + n - 16)) == 0;
#else
		return false;
#endif
	}
	if (n >= 8) {
		memcpy(&x, p, 8);
		memcpy(&y, p + n - 8, 8);
		return (jsonscan_word(x) | jsonscan_word(y)) == 0;
	}
	if (n >= 4) {
		memcpy(&lo, p, 4);
		memcpy(&hi, p + n - 4, 4);
		return jsonscan_word((uint64_t)lo | (uint64_t)hi << 32) == 0;
	}
	if (n == 0)
		return true;
	x = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 |
	    (uint64_t)p[n - 1] << 16 | (JSONSCAN_ONES * ' ') << 24;
	return jsonscan_word(x) == 0;
}

/* Copy the n (< 32) bytes at p to o, by the same overlapping halves. */
static inline void
copy_short(char *o, const unsigned char *p, size_t n)
{
	if (n >= 16) {
		memcpy(o, p, 16);
		memcpy(o + n - 16, p + n - 16, 16);
	} else if (n >= 8) {
		memcpy(o, p, 8);
		memcpy(o + n - 8, p + n - 8, 8);
	} else if (n >= 4) {
		memcpy(o, p, 4);
		memcpy(o + n - 4, p + n - 4, 4);
	} else if (n > 0) {
		o[0] = (char)p[0];
		o[n / 2] = (char)p[n / 2];
		o[n - 1] = (char)p[n - 1];
	}
}

/* Write s[0..n) as a JSON string the way jansson's dump_string does (no
 * JSON_ENSURE_ASCII, no JSON_ESCAPE_SLASH). Returns 0, -1 when memory runs
 * out, or -2 for bad UTF-8, with the buffer cut where jansson's output
 * stops: after the opening quote and everything up to the last escape
 * before the bad byte (jansson flushes a run of plain bytes only when an
 * escape or the end follows it).
 *
 * An embedded JSON text (the proxy's bootstrap) has a quote every few
 * bytes: scanning again after each escape, as the byte-wise loop does,
 * cost more than the escapes, so long strings go by blocks first. */
int
jsonwrite_string(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *run;
	size_t mark, k;

	if (buf_reserve(b, n + 2) == -1)
		return -1;
	if (n < 32 && plain_short(p, n)) {
		char *o = b->data + b->len;

		o[0] = '"';
		copy_short(o + 1, p, n);
		o[n + 1] = '"';
		b->len += n + 2;
		return 0;
	}
	b->data[b->len++] = '"';
	mark = b->len;
	run = p;
#if JSONSCAN_SSE2
	/* While 32 bytes are left, every block of 16 is stored as it is and
	 * then mended at each byte the mask flags, lowest first: an escape
	 * is written in its place and the rest of the block stored again
	 * after it (the load reaches at most 16 bytes past the block, still
	 * inside the string). Each escape grows the text by at most five
	 * bytes: room for the block written in full is reserved once. A
	 * block with a byte above 0x7f goes the byte-wise way below. */
	if (end - p >= 32) {
		size_t len = b->len;

		while (end - p >= 32) {
			unsigned bits = jsonscan_block16(p);
			__m128i v = _mm_loadu_si128((const __m128i *)
			    (const void *)p);
			char *o;

			if (b->cap - len <= 16 * 6 + 16) {
				b->len = len;
				if (buf_reserve(b, 16 * 6 + 16 + (size_t)(end -
				    p)) == -1)
					return -1;
			}
			o = b->data + len;
			_mm_storeu_si128((__m128i *)(void *)o, v);
			if (bits == 0) {
				len += 16;
				p += 16;
				continue;
			}
			if (_mm_movemask_epi8(v) != 0)	/* UTF-8: below */
				break;
			do {
				unsigned i = (unsigned)__builtin_ctz(bits);
				unsigned char c = p[i];
				char *e = o + i;

				e[0] = '\\';
				if ((e[1] = escape_short[c]) != 0)
					o += 1;
				else {
					e[1] = 'u';
					e[2] = '0';
					e[3] = '0';
					e[4] = hex[c >> 4];
					e[5] = hex[c & 0xF];
					o += 5;
				}
				_mm_storeu_si128((__m128i *)(void *)(o + i + 1),
				    _mm_loadu_si128((const __m128i *)
				    (const void *)(p + i + 1)));
				mark = len + (size_t)(o - (b->data + len)) + i + 1;
				bits &= bits - 1;
			} while (bits != 0);
			len += (size_t)(o - (b->data + len)) + 16;
			p += 16;
		}
		b->len = len;
		run = p;
		if (buf_reserve(b, (size_t)(end - p) + 6 + RUN_SHORT) == -1)
			return -1;
	}
#endif
	while (p < end) {
		if ((p = plain_skip(p, end, n)) == end)
			break;
		switch (byte_class[*p]) {
		case BYTE_PLAIN:
			p++;
			continue;
		case BYTE_UTF8:
			if ((k = utf8_seq_len(p, (size_t)(end - p))) == 0) {
				b->len = mark;
				return -2;
			}
			p += k;
			continue;
		default:
			break;
		}
		if (buf_reserve(b, (size_t)(end - run) + 6 + RUN_SHORT) == -1)
			return -1;
		escape_one(b, run, p, end);
		mark = b->len;
		run = ++p;
	}
	memcpy(b->data + b->len, run, (size_t)(p - run));
	b->len += (size_t)(p - run);
	b->data[b->len++] = '"';
	return 0;
}

/* "%" JSON_INTEGER_FORMAT, without printf. */
int
jsonwrite_integer(struct buf *b, json_int_t v)
{
	char tmp[3 * sizeof(json_int_t) + 2], *q = tmp + sizeof(tmp);
	unsigned long long u;

	u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--q = '-';
	return out_put(b, q, (size_t)(tmp + sizeof(tmp) - q));
}

/* jansson's jsonp_dtostr (2.14 is built without dtoa): "%.17g" (or
 * JSON_REAL_PRECISION's digits), the locale's decimal point turned back into '.', ".0" appended
 * when there is neither '.' nor 'e', then the exponent's '+' and leading
 * zeros dropped. jansson would print a NaN or an infinity as "nan.0" or
 * "inf.0", which is not JSON; json_real cannot hold either, so refuse. */
int
jsonwrite_real(struct buf *b, double d, int precision, char *point)
{
	char buf[100], *pos, *start, *end;	/* MAX_REAL_STR_LENGTH */
	size_t len;
	int ret;

	if (!isfinite(d))
		return -1;
	ret = snprintf(buf, sizeof(buf), "%.*g", precision, d);
	if (ret < 0 || (size_t)ret >= sizeof(buf))
		return -1;
	len = (size_t)ret;
	if (*point == '\0') {
		/* jansson's get_decimal_point: "1." in the current locale,
		 * asked once per call here rather than once per real. */
		char one[16];

		if (snprintf(one, sizeof(one), "%#.0f", 1.0) < 2)
			return -1;
		*point = one[1];
	}
	if (*point != '.' && (pos = strchr(buf, *point)) != NULL)
		*pos = '.';
	if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
		if (len + 3 >= sizeof(buf))
			return -1;
		buf[len++] = '.';
		buf[len++] = '0';
		buf[len] = '\0';
	}
	if ((start = strchr(buf, 'e')) != NULL) {
		start++;
		end = start + 1;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, len - (size_t)(end - buf));
			len -= (size_t)(end - start);
		}
	}
	return out_put(b, buf, len);
}

/* ---- ancestors ---------------------------------------------------------- */

static inline size_t
ptr_hash(const void *p)
{
	uint64_t h = (uint64_t)(uintptr_t)p;

	h ^= h >> 29;
	h *= UINT64_C(0x9E3779B97F4A7C15);
	return (size_t)(h ^ (h >> 32));
}

static bool
ptrset_has(const struct ptrset *s, const void *p)
{
	size_t mask = s->cap - 1, i;

	if (s->count == 0)
		return false;
	for (i = ptr_hash(p) & mask; s->slots[i] != NULL; i = (i + 1) & mask)
		if (s->slots[i] == p)
			return true;
	return false;
}

/* Add p, absent from s. Returns 0 or -1. */
static int
ptrset_add(struct ptrset *s, const void *p)
{
	size_t mask, i, j;

	if ((s->count + 1) * 2 > s->cap) {
		size_t cap = s->cap != 0 ? s->cap * 2 : 64;
		const void **old = s->slots, **slots;

		if (cap > SIZE_MAX / sizeof(*slots) ||
		    (slots = calloc(cap, sizeof(*slots))) == NULL)
			return -1;
		for (j = 0; j < s->cap; j++) {
			if (old[j] == NULL)
				continue;
			for (i = ptr_hash(old[j]) & (cap - 1); slots[i] != NULL;
			    i = (i + 1) & (cap - 1))
				;
			slots[i] = old[j];
		}
		free(old);
		s->slots = slots;
		s->cap = cap;
	}
	mask = s->cap - 1;
	for (i = ptr_hash(p) & mask; s->slots[i] != NULL; i = (i + 1) & mask)
		;
	s->slots[i] = p;
	s->count++;
	return 0;
}

/* Remove p, present in s; the entries after it in its probe run move back
 * over the hole when their home slot does not lie between it and them. */
static void
ptrset_del(struct ptrset *s, const void *p)
{
	size_t mask = s->cap - 1, i, j, home;

	for (i = ptr_hash(p) & mask; s->slots[i] != p; i = (i + 1) & mask)
		;
	s->slots[i] = NULL;
	for (j = (i + 1) & mask; s->slots[j] != NULL; j = (j + 1) & mask) {
		home = ptr_hash(s->slots[j]) & mask;
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			s->slots[i] = s->slots[j];
			s->slots[j] = NULL;
			i = j;
		}
	}
	s->count--;
}

/* Is the container v open already, that is, would writing it loop? jansson
 * keeps its ancestors in a hashtable (jsonp_loop_check) and fails. */
static bool
writer_on_path(const struct writer *w, const json_t *v)
{
	size_t i, n = w->depth < PATH_SCAN ? w->depth : PATH_SCAN;

	for (i = 0; i < n; i++)
		if (w->stack[i].v == v)
			return true;
	return w->depth > PATH_SCAN && ptrset_has(&w->deep, v);
}

/* ---- containers --------------------------------------------------------- */

/* A new frame on top of the stack for the container v, or NULL. */
static struct frame *
writer_push(struct writer *w, const json_t *v, enum frame_kind kind)
{
	struct frame *f;

	if (w->depth == w->stack_cap) {
		size_t cap = w->stack_cap * 2;

		if (cap > SIZE_MAX / sizeof(*f))
			return NULL;
		if (w->stack == w->stack_inline) {
			if ((f = malloc(cap * sizeof(*f))) == NULL)
				return NULL;
			memcpy(f, w->stack, w->depth * sizeof(*f));
		} else if ((f = realloc(w->stack, cap * sizeof(*f))) == NULL)
			return NULL;
		w->stack = f;
		w->stack_cap = cap;
	}
	if (w->depth >= PATH_SCAN && ptrset_add(&w->deep, v) == -1)
		return NULL;
	f = &w->stack[w->depth++];
	f->v = v;
	f->kind = kind;
	f->iter = NULL;
	f->first = f->i = f->n = 0;
	return f;
}

static void
writer_pop(struct writer *w)
{
	struct frame *f = &w->stack[--w->depth];

	if (f->kind == FRAME_SORTED)
		w->n_members = f->first;
	if (w->depth >= PATH_SCAN)
		ptrset_del(&w->deep, f->v);
}

/* jansson's compare_keys: bytes as unsigned, then the shorter first. Keys
 * of one object differ, so any sort gives jansson's order. */
static inline int
member_cmp(const struct member *a, const struct member *b)
{
	int res = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);

	if (res != 0)
		return res;
	return a->len < b->len ? -1 : a->len > b->len;
}

static int
member_qsort_cmp(const void *a, const void *b)
{
	return member_cmp(a, b);
}

static void
members_sort(struct member *m, size_t n)
{
	size_t i, j;
	struct member t;

	if (n > SORT_SMALL) {
		qsort(m, n, sizeof(*m), member_qsort_cmp);
		return;
	}
	for (i = 1; i < n; i++) {
		t = m[i];
		for (j = i; j > 0 && member_cmp(&t, &m[j - 1]) < 0; j--)
			m[j] = m[j - 1];
		m[j] = t;
	}
}

/* Collect the members of the object v behind iter onto the member stack,
 * sorted. Returns 0 or -1. */
static int
writer_collect(struct writer *w, const json_t *v, void *iter, size_t *first)
{
	size_t n = json_object_size(v);
	struct member *m;

	if (n > SIZE_MAX / sizeof(*m) - w->n_members)
		return -1;
	if (w->n_members + n > w->members_cap) {
		size_t cap = w->members_cap;

		while (cap < w->n_members + n)
			cap = cap <= SIZE_MAX / sizeof(*m) / 2 ?
			    cap * 2 : w->n_members + n;
		if (w->members == w->members_inline) {
			if ((m = malloc(cap * sizeof(*m))) == NULL)
				return -1;
			memcpy(m, w->members, w->n_members * sizeof(*m));
		} else if ((m = realloc(w->members, cap * sizeof(*m))) ==
		    NULL)
			return -1;
		w->members = m;
		w->members_cap = cap;
	}
	*first = w->n_members;
	m = w->members + w->n_members;
	/* json_object_size and the iteration agree unless the tree is being
	 * changed under us; stay inside what was reserved regardless. */
	for (; iter != NULL && n > 0; n--, m++) {
		m->key = json_object_iter_key(iter);
		m->len = json_object_iter_key_len(iter);
		m->value = json_object_iter_value(iter);
		iter = json_object_iter_next((json_t *)v, iter);
	}
	w->n_members = (size_t)(m - w->members);
	members_sort(w->members + *first, w->n_members - *first);
	return 0;
}

/* Write a scalar, or open a container: "[]" / "{}" when it is empty, else
 * its opening bracket and a frame for its items. Returns 0 or -1. */
static int
writer_value(struct writer *w, const json_t *v)
{
	struct frame *f;
	void *iter;
	size_t n, first;

	if (v == NULL)
		return -1;
	switch (json_typeof(v)) {
	case JSON_NULL:
		return out_put(&w->out, "null", 4);
	case JSON_TRUE:
		return out_put(&w->out, "true", 4);
	case JSON_FALSE:
		return out_put(&w->out, "false", 5);
	case JSON_INTEGER:
		return jsonwrite_integer(&w->out, json_integer_value(v));
	case JSON_REAL:
		return jsonwrite_real(&w->out, json_real_value(v), w->precision,
		    &w->point);
	case JSON_STRING:
		return jsonwrite_string(&w->out, json_string_value(v),
		    json_string_length(v)) == 0 ? 0 : -1;
	case JSON_ARRAY:
		if ((n = json_array_size(v)) == 0)
			return out_put(&w->out, "[]", 2);
		if (writer_on_path(w, v) || out_putc(&w->out, '[') == -1 ||
		    (f = writer_push(w, v, FRAME_ARRAY)) == NULL)
			return -1;
		f->n = n;
		return 0;
	case JSON_OBJECT:
		if ((iter = json_object_iter((json_t *)v)) == NULL)
			return out_put(&w->out, "{}", 2);
		if (writer_on_path(w, v) || out_putc(&w->out, '{') == -1)
			return -1;
		if (w->sort) {
			if (writer_collect(w, v, iter, &first) == -1)
				return -1;
			if ((f = writer_push(w, v, FRAME_SORTED)) == NULL) {
				w->n_members = first;
				return -1;
			}
			f->first = f->i = first;
			f->n = w->n_members;
		} else {
			if ((f = writer_push(w, v, FRAME_OBJECT)) == NULL)
				return -1;
			f->iter = iter;
		}
		return 0;
	default:
		return -1;
	}
}

/* One member: its key as jansson writes it (a bad key is cut, not an
 * error: dump.c ignores dump_string's result for keys), the separator,
 * and its value. */
static int
writer_member(struct writer *w, const char *key, size_t len,
    const json_t *value)
{
	if (jsonwrite_string(&w->out, key, len) == -1)
		return -1;
	if ((w->compact ? out_putc(&w->out, ':') : out_put(&w->out, ": ",
	    2)) == -1)
		return -1;
	return writer_value(w, value);
}

/* Between two items: "," and, without JSON_COMPACT, the space dump_indent
 * adds at indent 0. */
static inline int
writer_comma(struct writer *w)
{
	return w->compact ? out_putc(&w->out, ',') : out_put(&w->out, ", ",
	    2);
}

/* Write v and everything under it. Returns 0 or -1. */
static int
writer_run(struct writer *w, const json_t *v)
{
	struct frame *f;
	struct member m;
	const char *key;
	json_t *value;
	size_t len;

	if (writer_value(w, v) == -1)
		return -1;
	while (w->depth > 0) {
		f = &w->stack[w->depth - 1];
		switch (f->kind) {
		case FRAME_ARRAY:
			if (f->i == f->n) {
				writer_pop(w);
				if (out_putc(&w->out, ']') == -1)
					return -1;
				continue;
			}
			if (f->i > 0 && writer_comma(w) == -1)
				return -1;
			/* f moves when writer_value grows the stack */
			value = json_array_get(f->v, f->i++);
			if (writer_value(w, value) == -1)
				return -1;
			break;
		case FRAME_OBJECT:
			if (f->iter == NULL) {
				writer_pop(w);
				if (out_putc(&w->out, '}') == -1)
					return -1;
				continue;
			}
			if (f->i++ > 0 && writer_comma(w) == -1)
				return -1;
			key = json_object_iter_key(f->iter);
			len = json_object_iter_key_len(f->iter);
			value = json_object_iter_value(f->iter);
			f->iter = json_object_iter_next((json_t *)f->v, f->iter);
			if (writer_member(w, key, len, value) == -1)
				return -1;
			break;
		case FRAME_SORTED:
			if (f->i == f->n) {
				writer_pop(w);
				if (out_putc(&w->out, '}') == -1)
					return -1;
				continue;
			}
			if (f->i > f->first && writer_comma(w) == -1)
				return -1;
			/* a copy: the member stack moves when it grows */
			m = w->members[f->i++];
			if (writer_member(w, m.key, m.len, m.value) == -1)
				return -1;
			break;
		}
	}
	return 0;
}

int
jsonwrite_append(struct buf *b, const json_t *v, size_t flags)
{
	struct writer w;
	int rc;

	if ((flags & ~(size_t)JSONWRITE_FLAGS) != 0 || v == NULL)
		return -1;
	if (!(flags & JSON_ENCODE_ANY) && !json_is_array(v) &&
	    !json_is_object(v))
		return -1;
	w.out = *b;
	memset(&w.deep, 0, sizeof(w.deep));
	w.stack = w.stack_inline;
	w.stack_cap = FRAMES_INLINE;
	w.depth = 0;
	w.members = w.members_inline;
	w.members_cap = MEMBERS_INLINE;
	w.n_members = 0;
	w.compact = (flags & JSON_COMPACT) != 0;
	w.sort = (flags & JSON_SORT_KEYS) != 0;
	w.precision = (int)((flags >> 11) & 0x1F);
	if (w.precision == 0)
		w.precision = 17;
	w.point = '\0';

	rc = writer_run(&w, v);
	*b = w.out;
	if (rc == 0 && b->data != NULL)
		b->data[b->len] = '\0';
	if (w.stack != w.stack_inline)
		free(w.stack);
	if (w.members != w.members_inline)
		free(w.members);
	free(w.deep.slots);
	return rc;
}

char *
jsonwrite_dumps(const json_t *v, size_t flags, size_t *lenp)
{
	struct buf out;
	char *text = NULL;

	buf_init(&out, BUF_MAX);	/* as jansson's strbuffer */
	if (buf_reserve(&out, OUT_FIRST - 1) == 0 &&
	    jsonwrite_append(&out, v, flags) == 0)
		text = buf_take(&out, lenp);
	buf_free(&out);
	return text;
}
