/* jsonread.c - a JSON reader that builds the tree jansson 2.14's json_loadb
 * builds, several times faster, or declines and leaves the answer to jansson.
 *
 * jansson reads a byte at a time through a callback, keeps line and column,
 * and saves every token into a buffer before converting it. Here the input
 * is one buffer: a pointer walks it, plain string bytes are passed over with
 * a class table, and a string without escapes goes into its node straight
 * from the input. Whatever jansson rejects is rejected here too (with
 * JSON_REJECT_DUPLICATES, without JSON_DECODE_ANY or JSON_ALLOW_NUL); the
 * few texts jansson accepts that would cost code to reproduce are declined
 * instead (see jsonread.h). tests/check_jsonread.c and
 * tests/fuzz/fuzz_jsonread.c hold the two parsers to that. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonread.h"
#include "jsonscan.h"
#include "utf8.h"

/* Deeper than this, jansson decides (it gives up at 2048). */
#define MAX_DEPTH	512
#define FRAMES_INLINE	32	/* frames before the stack moves to the heap */
#define KEYS_INLINE	64	/* skipped keys before they move to the heap */
#define DBUF_INLINE	128	/* decoded string bytes before the heap */
#define KEYS_LINEAR	16	/* a skipped object's keys compared in turn */
#define MAX_PROBES	32	/* past this, the keys collide on purpose */
#define SKIP_KEYS_MAX	32	/* keys of one level of a skip (a bit each) */

#if JSON_INTEGER_IS_LONG_LONG
#define JINT_MAX	LLONG_MAX
#define JINT_MIN	LLONG_MIN
#else
#define JINT_MAX	LONG_MAX
#define JINT_MIN	LONG_MIN
#endif

/* What a byte is inside a string. */
enum {
	B_PLAIN,	/* itself */
	B_QUOTE,	/* the end */
	B_ESCAPE,	/* a backslash */
	B_CONTROL,	/* below 0x20: jansson rejects it raw */
	B_UTF8		/* part of a multi-byte sequence to check */
};

#define P B_PLAIN
#define Q B_QUOTE
#define E B_ESCAPE
#define C B_CONTROL
#define U B_UTF8
static const unsigned char byte_class[256] = {
	C, C, C, C, C, C, C, C, C, C, C, C, C, C, C, C,	/* 00 */
	C, C, C, C, C, C, C, C, C, C, C, C, C, C, C, C,	/* 10 */
	P, P, Q, P, P, P, P, P, P, P, P, P, P, P, P, P,	/* 20 */
	P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,	/* 30 */
	P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,	/* 40 */
	P, P, P, P, P, P, P, P, P, P, P, P, E, P, P, P,	/* 50 */
	P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,	/* 60 */
	P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,	/* 70 */
	U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,	/* 80 */
	U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,	/* 90 */
	U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,	/* a0 */
	U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,	/* b0 */
	U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,	/* c0 */
	U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,	/* d0 */
	U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,	/* e0 */
	U, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,	/* f0 */
};
#undef P
#undef Q
#undef E
#undef C
#undef U


/* A string's decoded bytes when it had escapes. */
struct dbuf {
	char *data;
	size_t cap;
	char small[DBUF_INLINE];
};

/* A key of an object in the skipped subtree, kept to find duplicates. */
struct skipkey {
	size_t off;		/* into the input, or into the arena if escaped */
	size_t len;
	uint32_t hash;
	int escaped;
};

struct frame {
	json_t *node;		/* borrowed from its parent; NULL when skipped */
	uint32_t *index;	/* skipped object with many keys: open
				 * addressing over them (key number + 1) */
	size_t icap;
	size_t key0;		/* skipped object: its first key in keys */
	size_t mark;		/* skipped object: arena length before it */
	/* object on a skip path: the keys to skip or follow in it; else
	 * NULL */
	const struct jsonread_skip *level;
	uint32_t skipped;	/* the keys of level skipped here, a bit each */
	char type;		/* '{' or '[' */
};

struct parser {
	const char *text;
	struct frame *frames;
	size_t depth;
	struct skipkey *keys;
	size_t nkeys, keycap;
	char *arena;		/* decoded escaped keys of skipped objects */
	size_t arenalen, arenacap;
	struct dbuf key, val;
	struct frame small_frames[FRAMES_INLINE];
	struct skipkey small_keys[KEYS_INLINE];
};

static void
dbuf_init(struct dbuf *b)
{
	b->data = b->small;
	b->cap = sizeof(b->small);
}

static void
dbuf_free(struct dbuf *b)
{
	if (b->data != b->small)
		free(b->data);
}

/* Make room for n bytes; what was there is not kept. Returns 0 or -1. */
static int
dbuf_reserve(struct dbuf *b, size_t n)
{
	char *d;

	if (n <= b->cap)
		return 0;
	if ((d = malloc(n)) == NULL)
		return -1;
	dbuf_free(b);
	b->data = d;
	b->cap = n;
	return 0;
}

/* The four bytes jansson's lex_scan skips as whitespace, no others. */
static const unsigned char is_ws[256] = {
	['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [' '] = 1
};

/* Past whitespace. Most calls find none: one lookup; most of the others
 * one byte (the space of ": " or ", "): a second. An indented text's runs
 * of spaces are passed eight bytes at a time, the last word's by where
 * its first byte that is not a space is. */
static inline const unsigned char *
skip_ws(const unsigned char *p, const unsigned char *end)
{
	uint64_t x;

	if (p == end || !is_ws[*p])
		return p;
	if (++p == end || !is_ws[*p])
		return p;
	while (end - p >= 8) {
		memcpy(&x, p, sizeof(x));
		x ^= UINT64_C(0x2020202020202020);
		if (x != 0) {
#if JSONSCAN_LITTLE
			/* the lowest byte not zero is the first not a space */
			p += (unsigned)__builtin_ctzll(x) / 8;
#endif
			break;
		}
		p += 8;
	}
	while (p < end && is_ws[*p])
		p++;
	return p;
}

/* The code point v (valid, not a surrogate) as UTF-8 at t; its length. */
static size_t
utf8_put(char *t, uint32_t v)
{
	if (v < 0x80) {
		t[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		t[0] = (char)(0xC0 | v >> 6);
		t[1] = (char)(0x80 | (v & 0x3F));
		return 2;
	}
	if (v < 0x10000) {
		t[0] = (char)(0xE0 | v >> 12);
		t[1] = (char)(0x80 | (v >> 6 & 0x3F));
		t[2] = (char)(0x80 | (v & 0x3F));
		return 3;
	}
	t[0] = (char)(0xF0 | v >> 18);
	t[1] = (char)(0x80 | (v >> 12 & 0x3F));
	t[2] = (char)(0x80 | (v >> 6 & 0x3F));
	t[3] = (char)(0x80 | (v & 0x3F));
	return 4;
}

/* The four hex digits at p, or -1. */
static long
hex4(const unsigned char *p)
{
	long v = 0;
	int i, d;

	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/*
 * The slow half of scan_string, from the first backslash p of the string
 * whose text starts at s: decode it into buf, checking it as jansson does
 * (the escapes it knows, \uXXXX with surrogates paired, no \u0000 since
 * JSON_ALLOW_NUL is not set). Returns 1 with the decoded length in *lenp and
 * *endp past the closing quote, or -1.
 */
static int
string_unescape(const unsigned char *s, const unsigned char *p,
    const unsigned char *end, struct dbuf *buf, const unsigned char **endp,
    size_t *lenp)
{
	const unsigned char *q;
	long v, v2;
	size_t n;
	char *t;

	/* Decoding never lengthens a string: find its end and size buf once. */
	for (q = p; q < end && *q != '"'; q += *q == '\\' ? 2 : 1)
		;
	if (q >= end)
		return -1;
	if (dbuf_reserve(buf, (size_t)(q - s)) == -1)
		return -1;
	t = buf->data;
	memcpy(t, s, (size_t)(p - s));
	t += p - s;
	while (p < q) {
		switch (byte_class[*p]) {
		case B_PLAIN:
			*t++ = (char)*p++;
			break;
		case B_UTF8:
			if ((n = utf8_seq_len(p, (size_t)(q - p))) == 0)
				return -1;
			memcpy(t, p, n);
			t += n;
			p += n;
			break;
		case B_ESCAPE:
			/* the scan for q leaves a byte after every backslash */
			switch (p[1]) {
			case '"':
			case '\\':
			case '/':
				*t++ = (char)p[1];
				break;
			case 'b':
				*t++ = '\b';
				break;
			case 'f':
				*t++ = '\f';
				break;
			case 'n':
				*t++ = '\n';
				break;
			case 'r':
				*t++ = '\r';
				break;
			case 't':
				*t++ = '\t';
				break;
			case 'u':
				if (q - p < 6 || (v = hex4(p + 2)) == -1)
					return -1;
				p += 6;
				if (v >= 0xD800 && v <= 0xDBFF) {
					if (q - p < 6 || p[0] != '\\' ||
					    p[1] != 'u' ||
					    (v2 = hex4(p + 2)) < 0xDC00 ||
					    v2 > 0xDFFF)
						return -1;
					p += 6;
					v = ((v - 0xD800) << 10) +
					    (v2 - 0xDC00) + 0x10000;
				} else if ((v >= 0xDC00 && v <= 0xDFFF) ||
				    v == 0)
					return -1;
				t += utf8_put(t, (uint32_t)v);
				continue;
			default:
				return -1;
			}
			p += 2;
			break;
		default:
			/* a control character; no quote is left before q */
			return -1;
		}
	}
	*endp = q + 1;
	*lenp = (size_t)(t - buf->data);
	return 1;
}

/*
 * Check the string whose opening quote p points at, as jansson's lexer
 * does: valid UTF-8, no raw control characters, known escapes.
 * Returns 0 when the string is the input bytes themselves (*sp points into
 * the input), 1 when it had escapes and was decoded into buf (*sp is
 * buf->data), with its length in *lenp and *endp past the closing quote;
 * -1 when jansson would reject it, or memory ran out.
 */
static int
scan_string(const unsigned char *p, const unsigned char *end,
    struct dbuf *buf, const unsigned char **endp, const char **sp,
    size_t *lenp)
{
	const unsigned char *s = ++p;
	size_t n;
	int r;

	for (;;) {
#if JSONSCAN_SSE2
		while (end - p >= 16) {		/* sixteen at a time */
			unsigned bits = jsonscan_block16(p);

			if (bits != 0) {
				p += __builtin_ctz(bits);
				goto special;
			}
			p += 16;
		}
#endif
#if JSONSCAN_LITTLE
		while (end - p >= 8) {
			uint64_t x, m;

			memcpy(&x, p, sizeof(x));
			if ((m = jsonscan_word(x)) != 0) {
				p += __builtin_ctzll(m) / 8;
				goto special;
			}
			p += 8;
		}
#endif
		while (end - p >= 4) {
			if (byte_class[p[0]] != B_PLAIN)
				goto special;
			if (byte_class[p[1]] != B_PLAIN) {
				p += 1;
				goto special;
			}
			if (byte_class[p[2]] != B_PLAIN) {
				p += 2;
				goto special;
			}
			if (byte_class[p[3]] != B_PLAIN) {
				p += 3;
				goto special;
			}
			p += 4;
		}
		while (p < end && byte_class[*p] == B_PLAIN)
			p++;
		if (p == end)
			return -1;
special:
		switch (byte_class[*p]) {
		case B_QUOTE:
			*sp = (const char *)s;
			*lenp = (size_t)(p - s);
			*endp = p + 1;
			return 0;
		case B_UTF8:
			if ((n = utf8_seq_len(p, (size_t)(end - p))) == 0)
				return -1;
			p += n;
			break;
		case B_ESCAPE:
			r = string_unescape(s, p, end, buf, endp, lenp);
			*sp = buf->data;
			return r;
		default:
			return -1;
		}
	}
}

/*
 * Check the number at p as jansson's lexer does: JSON's grammar, then an
 * integer (no '.', no exponent) must fit json_int_t as strtoll sees it, and
 * a real must not overflow in strtod (underflow is fine). buf holds a copy
 * of a long real for strtod. Returns 0 with *endp past the number and, when
 * vp is not NULL, its new node in *vp; -1 when jansson would reject it, when
 * strtod does not read the whole number (a locale whose decimal point is
 * not '.', where jansson swaps the point first), or memory ran out.
 */
static int
scan_number(const unsigned char *p, const unsigned char *end,
    struct dbuf *buf, const unsigned char **endp, json_t **vp)
{
	const unsigned char *s = p, *d;
	unsigned long long u;
	char tmp[64], *nt, *e;
	json_int_t iv;
	double dv;
	int neg, real = 0;
	size_t n;

	if ((neg = *p == '-'))
		p++;
	d = p;
	if (p == end)
		return -1;
	if (*p == '0') {
		if (++p < end && *p >= '0' && *p <= '9')
			return -1;
	} else if (*p >= '1' && *p <= '9') {
		while (++p < end && *p >= '0' && *p <= '9')
			;
	} else
		return -1;
	n = (size_t)(p - d);
	if (p < end && *p == '.') {
		if (++p == end || *p < '0' || *p > '9')
			return -1;
		while (++p < end && *p >= '0' && *p <= '9')
			;
		real = 1;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || *p < '0' || *p > '9')
			return -1;
		while (++p < end && *p >= '0' && *p <= '9')
			;
		real = 1;
	}
	*endp = p;

	if (!real) {
		/* No leading zeros: 20 digits are past any json_int_t. */
		if (n > 19)
			return -1;
		for (u = 0; d < p; d++)
			u = u * 10 + (unsigned)(*d - '0');
		if (u > (unsigned long long)JINT_MAX + neg)
			return -1;
		if (vp == NULL)
			return 0;
		if (!neg)
			iv = (json_int_t)u;
		else if (u == (unsigned long long)JINT_MAX + 1)
			iv = JINT_MIN;
		else
			iv = -(json_int_t)u;
		return (*vp = json_integer(iv)) == NULL ? -1 : 0;
	}

	n = (size_t)(p - s);
	nt = tmp;
	if (n >= sizeof(tmp)) {
		if (dbuf_reserve(buf, n + 1) == -1)
			return -1;
		nt = buf->data;
	}
	memcpy(nt, s, n);
	nt[n] = '\0';
	errno = 0;
	dv = strtod(nt, &e);
	if (e != nt + n || ((dv == HUGE_VAL || dv == -HUGE_VAL) &&
	    errno == ERANGE))
		return -1;
	if (vp == NULL)
		return 0;
	return (*vp = json_real(dv)) == NULL ? -1 : 0;
}

/* FNV-1a with a final mix, so that the low bits index the table well. */
static uint32_t
key_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

static int
key_eq(const struct parser *ps, const struct skipkey *k, const char *s,
    size_t len, uint32_t h)
{
	const char *ks;

	if (k->hash != h || k->len != len)
		return 0;
	ks = k->escaped ? ps->arena + k->off : ps->text + k->off;
	return memcmp(ks, s, len) == 0;
}

/*
 * Put key number i (already in ps->keys) into f's index. Returns 0, or -1
 * when it probed too far: the keys collide, perhaps by design, and jansson
 * (whose hash is seeded) is better placed to read them.
 */
static int
index_put(struct parser *ps, struct frame *f, size_t i)
{
	size_t mask = f->icap - 1, j, probes;

	j = ps->keys[i].hash & mask;
	for (probes = 0; f->index[j] != 0; probes++) {
		if (probes == MAX_PROBES)
			return -1;
		j = (j + 1) & mask;
	}
	f->index[j] = (uint32_t)(i + 1);
	return 0;
}

/* Rebuild f's index over its n keys at twice their number. */
static int
index_grow(struct parser *ps, struct frame *f, size_t n)
{
	size_t cap = 32, i;

	while (cap < 2 * n)
		cap *= 2;
	free(f->index);
	if ((f->index = calloc(cap, sizeof(*f->index))) == NULL)
		return -1;
	f->icap = cap;
	for (i = f->key0; i < ps->nkeys; i++)
		if (index_put(ps, f, i) == -1)
			return -1;
	return 0;
}

/*
 * Note a key (its decoded text) of the skipped object f, which builds
 * nothing, so that duplicates are still found as jansson would find them.
 * Returns 0, or -1 on a duplicate, on keys that collide too much, or when
 * memory runs out.
 */
static int
skipped_key_add(struct parser *ps, struct frame *f, const char *s,
    size_t len, int escaped)
{
	struct skipkey *k;
	uint32_t h = key_hash(s, len);
	size_t i, j, probes, n = ps->nkeys - f->key0;

	if (f->index == NULL) {
		for (i = f->key0; i < ps->nkeys; i++)
			if (key_eq(ps, &ps->keys[i], s, len, h))
				return -1;
	} else {
		j = h & (f->icap - 1);
		for (probes = 0; f->index[j] != 0; probes++) {
			if (probes == MAX_PROBES ||
			    key_eq(ps, &ps->keys[f->index[j] - 1], s, len,
			    h))
				return -1;
			j = (j + 1) & (f->icap - 1);
		}
	}

	if (ps->nkeys == ps->keycap) {
		if (ps->keycap >= UINT32_MAX / 4)
			return -1;
		if (ps->keys == ps->small_keys) {
			k = malloc(2 * ps->keycap * sizeof(*k));
			if (k != NULL)
				memcpy(k, ps->keys, ps->nkeys * sizeof(*k));
		} else
			k = realloc(ps->keys, 2 * ps->keycap * sizeof(*k));
		if (k == NULL)
			return -1;
		ps->keys = k;
		ps->keycap *= 2;
	}
	k = &ps->keys[ps->nkeys];
	k->len = len;
	k->hash = h;
	k->escaped = escaped;
	if (!escaped)
		k->off = (size_t)(s - ps->text);
	else {
		/* s is in the key buffer, which the next key overwrites */
		if (ps->arenacap - ps->arenalen < len) {
			size_t cap = ps->arenacap ? ps->arenacap : 1024;
			char *a;

			while (cap - ps->arenalen < len)
				cap *= 2;
			if ((a = realloc(ps->arena, cap)) == NULL)
				return -1;
			ps->arena = a;
			ps->arenacap = cap;
		}
		k->off = ps->arenalen;
		memcpy(ps->arena + ps->arenalen, s, len);
		ps->arenalen += len;
	}
	ps->nkeys++;
	n++;

	if (f->index == NULL && n <= KEYS_LINEAR)
		return 0;
	if (f->index == NULL || 2 * n > f->icap)
		return index_grow(ps, f, n);
	return index_put(ps, f, ps->nkeys - 1);
}

/* A new frame on top of the stack, or NULL when too deep or out of memory. */
static struct frame *
frame_push(struct parser *ps)
{
	struct frame *f;

	if (ps->depth == MAX_DEPTH)
		return NULL;
	if (ps->depth == FRAMES_INLINE && ps->frames == ps->small_frames) {
		if ((f = malloc(MAX_DEPTH * sizeof(*f))) == NULL)
			return NULL;
		memcpy(f, ps->frames, ps->depth * sizeof(*f));
		ps->frames = f;
	}
	f = &ps->frames[ps->depth++];
	f->index = NULL;
	f->icap = 0;
	f->key0 = ps->nkeys;
	f->mark = ps->arenalen;
	f->skipped = 0;
	return f;
}

static void
frame_pop(struct parser *ps)
{
	struct frame *f = &ps->frames[--ps->depth];

	free(f->index);
	ps->nkeys = f->key0;
	ps->arenalen = f->mark;
}

/*
 * Hand a new node to its parent, the top frame, under key when that is an
 * object; with no frame it is the root. Returns 0, or -1 on a duplicate key
 * (the object did not grow) or when memory ran out; node is stolen either
 * way, as by json_object_set_new.
 */
static int
node_attach(struct parser *ps, json_t **rootp, json_t *node,
    const char *key, size_t klen)
{
	struct frame *f;
	size_t size;

	if (ps->depth == 0) {
		*rootp = node;
		return 0;
	}
	f = &ps->frames[ps->depth - 1];
	if (f->type == '[')
		return json_array_append_new(f->node, node);
	/* jansson would look the key up first; a replaced value, which leaves
	 * the size alone, says the same for one hash lookup instead of two */
	size = json_object_size(f->node);
	if (json_object_setn_new_nocheck(f->node, key, klen, node) == -1)
		return -1;
	return json_object_size(f->node) == size ? -1 : 0;
}

/* The entry of level whose key is key[0..klen), or -1. */
static int
skip_find(const struct jsonread_skip *level, const char *key, size_t klen)
{
	int i;

	for (i = 0; level[i].key != NULL; i++)
		if (level[i].key[0] == (klen > 0 ? key[0] : '\0') &&
		    strlen(level[i].key) == klen &&
		    memcmp(key, level[i].key, klen) == 0)
			return i;
	return -1;
}

json_t *
jsonread_loadb(const char *text, size_t len, const struct jsonread_skip *skip)
{
	struct parser ps;
	struct frame *f = NULL;
	const unsigned char *p, *end;
	const char *key = NULL, *s;
	json_t *root = NULL, *node = NULL;
	size_t klen = 0, slen;
	const struct jsonread_skip *level;
	int build = 1, c, r, i;

	if (text == NULL)
		return NULL;
	ps.text = text;
	ps.frames = ps.small_frames;
	ps.depth = 0;
	ps.keys = ps.small_keys;
	ps.nkeys = 0;
	ps.keycap = KEYS_INLINE;
	ps.arena = NULL;
	ps.arenalen = ps.arenacap = 0;
	dbuf_init(&ps.key);
	dbuf_init(&ps.val);
	level = skip != NULL && skip[0].key != NULL ? skip : NULL;

	p = (const unsigned char *)text;
	end = p + len;
	p = skip_ws(p, end);
	/* without JSON_DECODE_ANY the top level is an object or an array */
	if (p == end || (*p != '{' && *p != '['))
		goto fail;

	/* At a value's first byte: build says whether it goes into the tree,
	 * level where an object value is on the skip path. */
value:
	switch (*p) {
	case '{':
	case '[':
		c = *p;
		node = NULL;
		if (build) {
			node = c == '{' ? json_object() : json_array();
			/* into its parent now, so that the key can go */
			if (node == NULL ||
			    node_attach(&ps, &root, node, key, klen) == -1)
				goto fail;
		}
		if ((f = frame_push(&ps)) == NULL)
			goto fail;
		f->node = node;
		f->type = (char)c;
		f->level = c == '{' ? level : NULL;
		p = skip_ws(p + 1, end);
		if (p == end)
			goto fail;
		if (*p == (c == '{' ? '}' : ']')) {
			p++;
			frame_pop(&ps);
			goto next;
		}
		if (c == '{')
			goto member;
		level = NULL;
		goto value;
	case '"':
		if ((r = scan_string(p, end, &ps.val, &p, &s, &slen)) == -1)
			goto fail;
		if (!build)
			goto next;
		if ((node = json_stringn_nocheck(s, slen)) == NULL)
			goto fail;
		break;
	case 't':
		if (end - p < 4 || memcmp(p, "true", 4) != 0)
			goto fail;
		p += 4;
		node = json_true();
		break;
	case 'f':
		if (end - p < 5 || memcmp(p, "false", 5) != 0)
			goto fail;
		p += 5;
		node = json_false();
		break;
	case 'n':
		if (end - p < 4 || memcmp(p, "null", 4) != 0)
			goto fail;
		p += 4;
		node = json_null();
		break;
	default:
		if (scan_number(p, end, &ps.val, &p,
		    build ? &node : NULL) == -1)
			goto fail;
		break;
	}
	if (build && node_attach(&ps, &root, node, key, klen) == -1)
		goto fail;

	/* After a value: a separator, the end of a container, or of the text. */
next:
	p = skip_ws(p, end);
	if (ps.depth == 0) {
		if (p != end)
			goto fail;
		goto done;
	}
	if (p == end)
		goto fail;
	f = &ps.frames[ps.depth - 1];
	if (*p == ',') {
		p = skip_ws(p + 1, end);
		if (p == end)
			goto fail;
		if (f->type == '{')
			goto member;
		build = f->node != NULL;
		level = NULL;
		goto value;
	}
	if (*p != (f->type == '{' ? '}' : ']'))
		goto fail;
	p++;
	frame_pop(&ps);
	goto next;

	/* At an object member's key; f is the object. */
member:
	if (*p != '"')
		goto fail;
	if ((r = scan_string(p, end, &ps.key, &p, &key, &klen)) == -1)
		goto fail;
	/* NUL in a key: scan_string refused \u0000 already. */
	build = f->node != NULL;
	level = NULL;
	if (!build) {
		if (skipped_key_add(&ps, f, key, klen, r) == -1)
			goto fail;
	} else if (f->level != NULL &&
	    (i = skip_find(f->level, key, klen)) != -1) {
		if (f->level[i].under != NULL)
			level = f->level[i].under;
		else {
			/* a second one: not in the object, so that its size
			 * cannot tell; past the bits, jansson decides */
			if (i >= SKIP_KEYS_MAX || f->skipped & UINT32_C(1) << i)
				goto fail;
			f->skipped |= UINT32_C(1) << i;
			build = 0;
		}
	}
	p = skip_ws(p, end);
	if (p == end || *p != ':')
		goto fail;
	p = skip_ws(p + 1, end);
	if (p == end)
		goto fail;
	goto value;

fail:
	json_decref(root);
	root = NULL;
done:
	while (ps.depth > 0)
		frame_pop(&ps);
	if (ps.frames != ps.small_frames)
		free(ps.frames);
	if (ps.keys != ps.small_keys)
		free(ps.keys);
	free(ps.arena);
	dbuf_free(&ps.key);
	dbuf_free(&ps.val);
	return root;
}
