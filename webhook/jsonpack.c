/* jsonpack.c - json_pack for the patch builders, without its checks of
 * strings the core has already checked.
 *
 * json_pack was a fifth of a review: it reads its format token by token
 * and checks every key and string for UTF-8, though every string the
 * builders give it was checked already (jsonpack.h says where). */
#include <stdarg.h>
#include <stdbool.h>

#include <string.h>

#include "jsonalloc.h"
#include "jsonpack.h"
#include "jsonwrite.h"

struct packer {
	const char *fmt;
	va_list *ap;
	bool failed;
	bool bad_format;	/* stop reading: the arguments are out of step */
};

static json_t *pack_value(struct packer *p);

static void
pack_skip(struct packer *p)
{
	while (*p->fmt == ' ' || *p->fmt == ',' || *p->fmt == ':' ||
	    *p->fmt == '\t' || *p->fmt == '\n')
		p->fmt++;
}

/* Keys and values up to the closing '}' (the '{' read). */
static json_t *
pack_object(struct packer *p)
{
	json_t *o = json_object(), *v;
	const char *key;

	if (o == NULL)
		p->failed = true;
	for (;;) {
		pack_skip(p);
		if (*p->fmt == '}') {
			p->fmt++;
			return o;
		}
		if (*p->fmt != 's') {
			p->failed = p->bad_format = true;
			json_decref(o);
			return NULL;
		}
		p->fmt++;
		key = va_arg(*p->ap, const char *);
		pack_skip(p);
		v = pack_value(p);
		if (p->bad_format) {
			json_decref(v);
			json_decref(o);
			return NULL;
		}
		if (key == NULL || v == NULL || o == NULL) {
			p->failed = true;
			json_decref(v);
			continue;
		}
		/* Steals v, also when it fails. */
		if (json_object_set_new_nocheck(o, key, v) == -1)
			p->failed = true;
	}
}

/* Values up to the closing ']' (the '[' read). */
static json_t *
pack_array(struct packer *p)
{
	json_t *a = json_array(), *v;

	if (a == NULL)
		p->failed = true;
	for (;;) {
		pack_skip(p);
		if (*p->fmt == ']') {
			p->fmt++;
			return a;
		}
		v = pack_value(p);
		if (p->bad_format) {
			json_decref(v);
			json_decref(a);
			return NULL;
		}
		if (v == NULL || a == NULL) {
			p->failed = true;
			json_decref(v);
			continue;
		}
		if (json_array_append_new(a, v) == -1)
			p->failed = true;
	}
}

static json_t *
pack_value(struct packer *p)
{
	const char *s;
	json_t *v;

	switch (*p->fmt++) {
	case '{':
		return pack_object(p);
	case '[':
		return pack_array(p);
	case 's':
		s = va_arg(*p->ap, const char *);
		return s != NULL ? json_string_nocheck(s) : NULL;
	case 'i':
		return json_integer(va_arg(*p->ap, int));
	case 'I':
		return json_integer(va_arg(*p->ap, json_int_t));
	case 'b':
		return va_arg(*p->ap, int) ? json_true() : json_false();
	case 'f':
		return json_real(va_arg(*p->ap, double));
	case 'o':
		return va_arg(*p->ap, json_t *);
	case 'O':
		v = va_arg(*p->ap, json_t *);
		return v != NULL ? json_incref(v) : NULL;
	default:
		p->fmt--;
		p->bad_format = true;
		return NULL;
	}
}

json_t *
jsonpack(const char *fmt, ...)
{
	struct packer p;
	va_list ap;
	json_t *v;

	va_start(ap, fmt);
	p.fmt = fmt;
	p.ap = &ap;
	p.failed = p.bad_format = false;
	pack_skip(&p);
	v = pack_value(&p);
	pack_skip(&p);
	va_end(ap);
	if (p.failed || p.bad_format || *p.fmt != '\0') {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* ---- the same formats, written as text --------------------------------- */

struct texter {
	struct buf *b;
	const char *fmt;
	va_list *ap;
	bool failed;		/* stop writing; the arguments are still read */
	bool bad_format;	/* stop reading too */
	char point;		/* jsonwrite_real's cached decimal point */
};

static void text_value(struct texter *t);

static void
text_skip(struct texter *t)
{
	while (*t->fmt == ' ' || *t->fmt == ',' || *t->fmt == ':' ||
	    *t->fmt == '\t' || *t->fmt == '\n')
		t->fmt++;
}

static inline void
text_put(struct texter *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (buf_reserve(t->b, n) == -1) {
		t->failed = true;
		return;
	}
	memcpy(t->b->data + t->b->len, s, n);
	t->b->len += n;
}

/* One byte: a review writes a few hundred. */
static inline void
text_putc(struct texter *t, char c)
{
	if (t->failed)
		return;
	if (buf_reserve(t->b, 1) == -1) {
		t->failed = true;
		return;
	}
	t->b->data[t->b->len++] = c;
}

static void
text_string(struct texter *t, const char *s)
{
	if (s == NULL)
		t->failed = true;
	else if (!t->failed && jsonwrite_string(t->b, s, strlen(s)) != 0)
		t->failed = true;
}

/* Items or members up to the closing `close` (the opening one written):
 * a comma before each but the first. R splices a list of its own (a
 * text and its length), or nothing when the length is 0. */
static void
text_list(struct texter *t, char close, bool object)
{
	const char *s;
	size_t n;
	bool first = true;

	for (;;) {
		text_skip(t);
		if (*t->fmt == close) {
			t->fmt++;
			text_putc(t, close);
			return;
		}
		if (*t->fmt == 'R') {
			t->fmt++;
			s = va_arg(*t->ap, const char *);
			n = va_arg(*t->ap, size_t);
			if (s == NULL)
				t->failed = true;
			else if (n > 0) {
				if (!first)
					text_putc(t, ',');
				text_put(t, s, n);
				first = false;
			}
			continue;
		}
		if (object && *t->fmt != 's') {
			t->failed = t->bad_format = true;
			return;
		}
		if (!first)
			text_putc(t, ',');
		first = false;
		if (object) {
			t->fmt++;
			text_string(t, va_arg(*t->ap, const char *));
			text_putc(t, ':');
			text_skip(t);
		}
		text_value(t);
		if (t->bad_format)
			return;
	}
}

static void
text_value(struct texter *t)
{
	json_t *v;
	int rc = 0;

	switch (*t->fmt++) {
	case '{':
		text_putc(t, '{');
		text_list(t, '}', true);
		return;
	case '[':
		text_putc(t, '[');
		text_list(t, ']', false);
		return;
	case 's':
		text_string(t, va_arg(*t->ap, const char *));
		return;
	case 'i':
		rc = t->failed ? 0 : jsonwrite_integer(t->b,
		    va_arg(*t->ap, int));
		break;
	case 'I':
		rc = t->failed ? 0 : jsonwrite_integer(t->b,
		    va_arg(*t->ap, json_int_t));
		break;
	case 'b':
		if (va_arg(*t->ap, int))
			text_put(t, "true", 4);
		else
			text_put(t, "false", 5);
		return;
	case 'f':
		rc = t->failed ? 0 : jsonwrite_real(t->b,
		    va_arg(*t->ap, double), 17, &t->point);
		break;
	case 'o':
	case 'O':
		v = va_arg(*t->ap, json_t *);
		if (v == NULL)
			rc = -1;
		else if (!t->failed)
			rc = jsonwrite_append(t->b, v, JSON_COMPACT |
			    JSON_ENCODE_ANY);
		if (t->fmt[-1] == 'o')
			jsonalloc_drop(v);
		break;
	default:
		t->fmt--;
		t->failed = t->bad_format = true;
		return;
	}
	if (rc != 0)
		t->failed = true;
}

int
jsonpack_text(struct buf *b, const char *fmt, ...)
{
	struct texter t;
	va_list ap;
	size_t len = b->len;

	va_start(ap, fmt);
	t.b = b;
	t.fmt = fmt;
	t.ap = &ap;
	t.failed = t.bad_format = false;
	t.point = '\0';
	text_skip(&t);
	text_value(&t);
	text_skip(&t);
	va_end(ap);
	if (t.failed || *t.fmt != '\0') {
		b->len = len;
		if (b->data != NULL)
			b->data[len] = '\0';
		return -1;
	}
	if (b->data != NULL)
		b->data[b->len] = '\0';
	return 0;
}
