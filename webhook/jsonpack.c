/* jsonpack.c - json_pack for the patch builders, without its checks of
 * strings the core has already checked.
 *
 * json_pack was a fifth of a review: it reads its format token by token
 * and checks every key and string for UTF-8, though every string the
 * builders give it was checked already (jsonpack.h says where). */
#include <stdarg.h>
#include <stdbool.h>

#include "jsonpack.h"

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
