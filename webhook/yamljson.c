/* yamljson.c - YAML streams to jansson values and back, with Kubernetes'
 * (sigs.k8s.io/yaml, YAML 1.1) scalar rules; see yamljson.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "buf.h"
#include "yamljson.h"

#define TAG_PREFIX	"tag:yaml.org,2002:"
/* The YAML text yamljson_dump writes, at most: bytes. */
#define YAMLJSON_MAX_OUTPUT	(((size_t)1 << 30) - 1)

/* ---- reading ------------------------------------------------------------ */

struct anchor {
	char *name;
	json_t *value;
	size_t nodes;		/* nodes in value, counting its own aliases */
	int depth;		/* nesting depth of value */
};

struct loader {
	yaml_parser_t parser;
	const char *buf;
	size_t len;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t nodes;		/* nodes copied by aliases in the stream */
	int depth;
	struct yamljson_error *err;
};

static void
fail_at(struct loader *ld, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail_at(struct loader *ld, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	if (ld->err->text[0] != '\0')
		return;		/* keep the first, innermost error */
	ld->err->line = m != NULL ? (int)m->line + 1 : 0;
	ld->err->column = m != NULL ? (int)m->column + 1 : 0;
	va_start(ap, fmt);
	vsnprintf(ld->err->text, sizeof(ld->err->text), fmt, ap);
	va_end(ap);
}

/* Line and column of a byte offset, for reader errors (bad UTF-8), which
 * libyaml reports by offset only. */
static void
offset_mark(const struct loader *ld, size_t off, yaml_mark_t *m)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < off && i < ld->len; i++) {
		if (ld->buf[i] == '\n') {
			m->line++;
			m->column = 0;
		} else {
			m->column++;
		}
	}
}

static int
next_event(struct loader *ld, yaml_event_t *ev)
{
	yaml_parser_t *p = &ld->parser;
	yaml_mark_t m;

	if (yaml_parser_parse(p, ev))
		return 0;
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		fail_at(ld, NULL, "out of memory");
		break;
	case YAML_READER_ERROR:
		offset_mark(ld, p->problem_offset, &m);
		fail_at(ld, &m, "%s", p->problem != NULL ? p->problem :
		    "cannot read the input");
		break;
	default:
		if (p->context != NULL)
			fail_at(ld, &p->problem_mark, "%s %s", p->problem,
			    p->context);
		else
			fail_at(ld, &p->problem_mark, "%s", p->problem != NULL ?
			    p->problem : "YAML syntax error");
		break;
	}
	return -1;
}

/*
 * Resolution of plain scalars, after yaml.v2's resolve(): a table of exact
 * words, then, for text starting with a digit or sign, Go's
 * strconv.ParseInt(text without "_", base 0) (so 0x, 0o, 0b and a leading 0
 * for octal), then the YAML 1.1 float pattern.
 */
enum kind {
	K_STRING,
	K_NULL,
	K_TRUE,
	K_FALSE,
	K_INT,
	K_FLOAT,
	K_NONFINITE,		/* .inf or .nan: no JSON for them */
	K_BIGINT		/* an integer past int64 (yaml.v2: uint64) */
};

struct resolved {
	enum kind kind;
	long long i;
	double f;
};

static const struct {
	const char *word;
	enum kind kind;
} words[] = {
	{ "y", K_TRUE }, { "Y", K_TRUE }, { "yes", K_TRUE }, { "Yes", K_TRUE },
	{ "YES", K_TRUE }, { "true", K_TRUE }, { "True", K_TRUE },
	{ "TRUE", K_TRUE }, { "on", K_TRUE }, { "On", K_TRUE },
	{ "ON", K_TRUE },
	{ "n", K_FALSE }, { "N", K_FALSE }, { "no", K_FALSE },
	{ "No", K_FALSE }, { "NO", K_FALSE }, { "false", K_FALSE },
	{ "False", K_FALSE }, { "FALSE", K_FALSE }, { "off", K_FALSE },
	{ "Off", K_FALSE }, { "OFF", K_FALSE },
	{ "~", K_NULL }, { "null", K_NULL }, { "Null", K_NULL },
	{ "NULL", K_NULL },
	{ ".nan", K_NONFINITE }, { ".NaN", K_NONFINITE },
	{ ".NAN", K_NONFINITE }, { ".inf", K_NONFINITE },
	{ ".Inf", K_NONFINITE }, { ".INF", K_NONFINITE },
	{ "+.inf", K_NONFINITE }, { "+.Inf", K_NONFINITE },
	{ "+.INF", K_NONFINITE }, { "-.inf", K_NONFINITE },
	{ "-.Inf", K_NONFINITE }, { "-.INF", K_NONFINITE },
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool
float_syntax(const char *s, size_t n)
{
	size_t i = 0, d;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i < n && s[i] == '.') {
		i++;
		for (d = 0; i < n && is_digit(s[i]); i++, d++)
			;
		if (d == 0)
			return false;
	} else {
		for (d = 0; i < n && is_digit(s[i]); i++, d++)
			;
		if (d == 0)
			return false;
		if (i < n && s[i] == '.')
			for (i++; i < n && is_digit(s[i]); i++)
				;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = 0; i < n && is_digit(s[i]); i++, d++)
			;
		if (d == 0)
			return false;
	}
	return i == n;
}

static int
digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* Go's strconv.ParseInt(s, 0, 64), then ParseUint for the sign-less range
 * past it. Returns K_INT, K_BIGINT or K_STRING (not an integer). */
static enum kind
go_parse_int(const char *s, size_t n, long long *out)
{
	size_t i = 0, start;
	int base = 10;
	bool neg = false;
	uint64_t v = 0, limit;
	bool overflow = false;

	if (i < n && (s[i] == '+' || s[i] == '-')) {
		neg = s[i] == '-';
		i++;
	}
	if (i + 1 < n && s[i] == '0') {
		char p = s[i + 1];

		if (p == 'x' || p == 'X') {
			base = 16;
			i += 2;
		} else if (p == 'o' || p == 'O') {
			base = 8;
			i += 2;
		} else if (p == 'b' || p == 'B') {
			base = 2;
			i += 2;
		} else {
			base = 8;
			i += 1;
		}
	}
	start = i;
	for (; i < n; i++) {
		int d = digit_value(s[i]);

		if (d >= base)
			return K_STRING;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			overflow = true;
		else
			v = v * (uint64_t)base + (uint64_t)d;
	}
	if (i == start)
		return K_STRING;
	if (overflow)
		return K_STRING;	/* Go: range error in both; maybe a float */
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (v > limit)
		return neg ? K_STRING : K_BIGINT;
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(long long)v;
	else
		*out = (long long)v;
	return K_INT;
}

/* strtod on a bounded copy; K_STRING when Go's ParseFloat would fail
 * (overflow to infinity). */
static enum kind
parse_float(const char *s, size_t n, double *out)
{
	char tmp[128];
	char *end;

	if (n >= sizeof(tmp))
		return K_STRING;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	*out = strtod(tmp, &end);
	if (*end != '\0' || isinf(*out) || isnan(*out))
		return K_STRING;
	return K_FLOAT;
}

static void
resolve_plain(const char *s, size_t n, struct resolved *r)
{
	char tmp[128];
	size_t i, m;

	memset(r, 0, sizeof(*r));
	r->kind = K_STRING;
	if (n == 0) {
		r->kind = K_NULL;
		return;
	}
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].word) == n &&
		    memcmp(words[i].word, s, n) == 0) {
			r->kind = words[i].kind;
			return;
		}
	}
	if (s[0] == '.') {
		if (float_syntax(s, n))
			r->kind = parse_float(s, n, &r->f);
		return;
	}
	if (!is_digit(s[0]) && s[0] != '+' && s[0] != '-')
		return;
	if (n >= sizeof(tmp))
		return;		/* too long for any number: a string */
	for (i = 0, m = 0; i < n; i++)
		if (s[i] != '_')
			tmp[m++] = s[i];
	r->kind = go_parse_int(tmp, m, &r->i);
	if (r->kind != K_STRING)
		return;
	if (float_syntax(tmp, m))
		r->kind = parse_float(tmp, m, &r->f);
}

int
yamljson_plain_is_string(const char *text, size_t len)
{
	struct resolved r;

	resolve_plain(text, len, &r);
	return r.kind == K_STRING;
}

static json_t *
resolved_value(const struct resolved *r)
{
	switch (r->kind) {
	case K_NULL:
		return json_null();
	case K_TRUE:
		return json_true();
	case K_FALSE:
		return json_false();
	case K_INT:
		return json_integer(r->i);
	case K_FLOAT:
		return json_real(r->f);
	default:
		return NULL;
	}
}

/* A scalar event's value, or NULL with the error set. */
static json_t *
load_scalar(struct loader *ld, const yaml_event_t *ev)
{
	const char *text = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *short_tag;
	struct resolved r;
	json_t *v;

	if (tag == NULL) {
		if (!ev->data.scalar.plain_implicit)
			return json_stringn(text, len);
		resolve_plain(text, len, &r);
	} else if (strcmp(tag, "!") == 0) {
		return json_stringn(text, len);	/* "! 12": non-specific */
	} else if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
		short_tag = tag + strlen(TAG_PREFIX);
		if (strcmp(short_tag, "str") == 0 ||
		    strcmp(short_tag, "timestamp") == 0)
			return json_stringn(text, len);
		if (strcmp(short_tag, "binary") == 0) {
			fail_at(ld, &ev->start_mark, "!!binary values are not "
			    "supported: write the base64 text as a string");
			return NULL;
		}
		resolve_plain(text, len, &r);
		if (strcmp(short_tag, "float") == 0 && r.kind == K_INT) {
			r.kind = K_FLOAT;
			r.f = (double)r.i;
		}
		if (!((strcmp(short_tag, "int") == 0 && r.kind == K_INT) ||
		    (strcmp(short_tag, "float") == 0 && (r.kind == K_FLOAT ||
		    r.kind == K_NONFINITE)) ||
		    (strcmp(short_tag, "bool") == 0 && (r.kind == K_TRUE ||
		    r.kind == K_FALSE)) ||
		    (strcmp(short_tag, "null") == 0 && r.kind == K_NULL))) {
			if (strcmp(short_tag, "int") == 0 ||
			    strcmp(short_tag, "float") == 0 ||
			    strcmp(short_tag, "bool") == 0 ||
			    strcmp(short_tag, "null") == 0) {
				fail_at(ld, &ev->start_mark, "cannot read "
				    "\"%.60s\" as !!%s", text, short_tag);
				return NULL;
			}
			return json_stringn(text, len);	/* other tags */
		}
	} else {
		/* Local tags (!foo): yaml.v2 keeps the text. */
		return json_stringn(text, len);
	}
	if (r.kind == K_STRING)
		return json_stringn(text, len);
	if (r.kind == K_NONFINITE) {
		fail_at(ld, &ev->start_mark, "\"%.60s\" is not a finite number "
		    "and cannot be represented in JSON", text);
		return NULL;
	}
	if (r.kind == K_BIGINT) {
		fail_at(ld, &ev->start_mark, "integer %.60s is out of range "
		    "(more than 64 bits signed)", text);
		return NULL;
	}
	v = resolved_value(&r);
	if (v == NULL)
		fail_at(ld, &ev->start_mark, "out of memory");
	return v;
}

static const struct anchor *
find_anchor(const struct loader *ld, const char *name)
{
	size_t i;

	for (i = ld->n_anchors; i > 0; i--)
		if (strcmp(ld->anchors[i - 1].name, name) == 0)
			return &ld->anchors[i - 1];
	return NULL;
}

static int
add_anchor(struct loader *ld, const char *name, json_t *value, size_t nodes,
    int depth)
{
	struct anchor *a;

	if (ld->n_anchors == ld->cap_anchors) {
		size_t cap = ld->cap_anchors != 0 ? ld->cap_anchors * 2 : 16;

		a = realloc(ld->anchors, cap * sizeof(*a));
		if (a == NULL)
			return -1;
		ld->anchors = a;
		ld->cap_anchors = cap;
	}
	a = &ld->anchors[ld->n_anchors];
	a->name = strdup(name);
	if (a->name == NULL)
		return -1;
	a->value = json_incref(value);
	a->nodes = nodes;
	a->depth = depth;
	ld->n_anchors++;
	return 0;
}

static void
clear_anchors(struct loader *ld)
{
	size_t i;

	for (i = 0; i < ld->n_anchors; i++) {
		free(ld->anchors[i].name);
		json_decref(ld->anchors[i].value);
	}
	ld->n_anchors = 0;
}

static int count_node(struct loader *ld, const yaml_mark_t *m, size_t n);
static json_t *load_node(struct loader *ld, yaml_event_t *ev, size_t *nodes,
    int *depth);

static int
count_node(struct loader *ld, const yaml_mark_t *m, size_t n)
{
	if (n > YAMLJSON_MAX_ALIAS_NODES ||
	    ld->nodes > YAMLJSON_MAX_ALIAS_NODES - n) {
		fail_at(ld, m, "aliases expand to more than %d nodes (an alias "
		    "bomb?)", YAMLJSON_MAX_ALIAS_NODES);
		return -1;
	}
	ld->nodes += n;
	return 0;
}

/* Merge `src` (a mapping, or a sequence of mappings, from a "<<" key) into
 * obj under the keys it does not have: explicit keys win, and so do earlier
 * mappings of a sequence. */
static int
merge_into(struct loader *ld, json_t *obj, const json_t *src,
    const yaml_mark_t *m)
{
	const char *key;
	size_t i, klen;
	json_t *v;
	const json_t *item;

	if (json_is_array(src)) {
		json_array_foreach(src, i, item)
			if (!json_is_object(item) || merge_into(ld, obj, item,
			    m) == -1) {
				fail_at(ld, m, "a << merge takes a mapping or a "
				    "sequence of mappings");
				return -1;
			}
		return 0;
	}
	if (!json_is_object(src)) {
		fail_at(ld, m, "a << merge takes a mapping or a sequence of "
		    "mappings");
		return -1;
	}
	json_object_keylen_foreach((json_t *)src, key, klen, v) {
		if (json_object_getn(obj, key, klen) != NULL)
			continue;
		if (json_object_setn_new(obj, key, klen, json_deep_copy(v)) ==
		    -1) {
			fail_at(ld, m, "out of memory");
			return -1;
		}
	}
	return 0;
}

static json_t *
load_sequence(struct loader *ld, size_t *nodes, int *depth)
{
	json_t *arr = json_array(), *item;
	yaml_event_t ev;
	size_t n;
	int d;

	if (arr == NULL) {
		fail_at(ld, NULL, "out of memory");
		return NULL;
	}
	for (;;) {
		if (next_event(ld, &ev) == -1)
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return arr;
		}
		item = load_node(ld, &ev, &n, &d);
		yaml_event_delete(&ev);
		if (item == NULL)
			goto fail;
		*nodes += n;
		if (d + 1 > *depth)
			*depth = d + 1;
		if (json_array_append_new(arr, item) == -1) {
			fail_at(ld, NULL, "out of memory");
			goto fail;
		}
	}
fail:
	json_decref(arr);
	return NULL;
}

static json_t *
load_mapping(struct loader *ld, size_t *nodes, int *depth)
{
	json_t *obj = json_object(), *merges = json_array(), *value, *src;
	yaml_event_t kev, vev;
	yaml_mark_t merge_mark = { 0, 0, 0 };
	const char *key;
	size_t klen, n, i;
	int d;
	bool is_merge;

	if (obj == NULL || merges == NULL) {
		fail_at(ld, NULL, "out of memory");
		goto fail;
	}
	for (;;) {
		if (next_event(ld, &kev) == -1)
			goto fail;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		if (kev.type != YAML_SCALAR_EVENT) {
			fail_at(ld, &kev.start_mark, "%s", kev.type ==
			    YAML_ALIAS_EVENT ? "an alias cannot be a mapping key"
			    : "mapping keys must be scalars (complex keys are "
			    "not supported)");
			yaml_event_delete(&kev);
			goto fail;
		}
		key = (const char *)kev.data.scalar.value;
		klen = kev.data.scalar.length;
		is_merge = klen == 2 && memcmp(key, "<<", 2) == 0 &&
		    (kev.data.scalar.plain_implicit ||
		    (kev.data.scalar.tag != NULL && strcmp((const char *)
		    kev.data.scalar.tag, TAG_PREFIX "merge") == 0));
		if (!is_merge && json_object_getn(obj, key, klen) != NULL) {
			fail_at(ld, &kev.start_mark, "duplicate key \"%.*s\"",
			    (int)(klen > 80 ? 80 : klen), key);
			yaml_event_delete(&kev);
			goto fail;
		}
		if (next_event(ld, &vev) == -1) {
			yaml_event_delete(&kev);
			goto fail;
		}
		value = load_node(ld, &vev, &n, &d);
		yaml_event_delete(&vev);
		if (value == NULL) {
			yaml_event_delete(&kev);
			goto fail;
		}
		*nodes += n + 1;
		if (d + 1 > *depth)
			*depth = d + 1;
		if (is_merge) {
			merge_mark = kev.start_mark;
			if (json_array_append_new(merges, value) == -1)
				value = NULL;
		} else if (json_object_setn_new(obj, key, klen, value) == -1) {
			value = NULL;
		}
		yaml_event_delete(&kev);
		if (value == NULL) {
			fail_at(ld, NULL, "out of memory");
			goto fail;
		}
	}
	json_array_foreach(merges, i, src)
		if (merge_into(ld, obj, src, &merge_mark) == -1)
			goto fail;
	json_decref(merges);
	return obj;
fail:
	json_decref(merges);
	json_decref(obj);
	return NULL;
}

/*
 * The value of the node that starts with event *ev (borrowed; the caller
 * deletes it). *nodes gets the number of nodes in the value, *depth its
 * nesting depth (0 for a scalar). Returns a new value, or NULL with the
 * error set.
 */
static json_t *
load_node(struct loader *ld, yaml_event_t *ev, size_t *nodes, int *depth)
{
	const yaml_char_t *anchor = NULL;
	const struct anchor *a;
	json_t *v = NULL;

	*nodes = 1;
	*depth = 0;
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		a = find_anchor(ld, (const char *)ev->data.alias.anchor);
		if (a == NULL) {
			fail_at(ld, &ev->start_mark, "unknown anchor \"%s\"",
			    (const char *)ev->data.alias.anchor);
			return NULL;
		}
		if (count_node(ld, &ev->start_mark, a->nodes) == -1)
			return NULL;
		if (ld->depth + a->depth > YAMLJSON_MAX_DEPTH) {
			fail_at(ld, &ev->start_mark, "alias *%s nests deeper "
			    "than %d levels", (const char *)
			    ev->data.alias.anchor, YAMLJSON_MAX_DEPTH);
			return NULL;
		}
		/* A copy: a value patched later must not change in the other
		 * places that alias it. */
		v = json_deep_copy(a->value);
		if (v == NULL)
			fail_at(ld, &ev->start_mark, "out of memory");
		*nodes = a->nodes;
		*depth = a->depth;
		return v;
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		v = load_scalar(ld, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (ev->type == YAML_SEQUENCE_START_EVENT)
			anchor = ev->data.sequence_start.anchor;
		else
			anchor = ev->data.mapping_start.anchor;
		if (++ld->depth > YAMLJSON_MAX_DEPTH) {
			fail_at(ld, &ev->start_mark, "nesting deeper than %d "
			    "levels", YAMLJSON_MAX_DEPTH);
			ld->depth--;
			return NULL;
		}
		if (ev->type == YAML_SEQUENCE_START_EVENT)
			v = load_sequence(ld, nodes, depth);
		else
			v = load_mapping(ld, nodes, depth);
		ld->depth--;
		(*depth)++;
		break;
	default:
		fail_at(ld, &ev->start_mark, "unexpected YAML event");
		return NULL;
	}
	if (v != NULL && anchor != NULL &&
	    add_anchor(ld, (const char *)anchor, v, *nodes, *depth) == -1) {
		fail_at(ld, NULL, "out of memory");
		json_decref(v);
		return NULL;
	}
	return v;
}

json_t *
yamljson_load(const char *buf, size_t len, struct yamljson_error *err)
{
	struct loader ld;
	yaml_event_t ev;
	json_t *docs = NULL, *v;
	size_t n;
	int d;
	bool done = false;

	memset(err, 0, sizeof(*err));
	memset(&ld, 0, sizeof(ld));
	ld.buf = buf;
	ld.len = len;
	ld.err = err;
	if (len > YAMLJSON_MAX_INPUT) {
		fail_at(&ld, NULL, "input is larger than %zu bytes",
		    YAMLJSON_MAX_INPUT);
		return NULL;
	}
	if (!yaml_parser_initialize(&ld.parser)) {
		fail_at(&ld, NULL, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&ld.parser, (const unsigned char *)buf,
	    len);
	docs = json_array();
	if (docs == NULL) {
		fail_at(&ld, NULL, "out of memory");
		goto fail;
	}
	while (!done) {
		if (next_event(&ld, &ev) == -1)
			goto fail;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			clear_anchors(&ld);	/* anchors are per document */
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			break;
		default:
			v = load_node(&ld, &ev, &n, &d);
			if (v == NULL || json_array_append_new(docs, v) == -1) {
				fail_at(&ld, NULL, "out of memory");
				yaml_event_delete(&ev);
				goto fail;
			}
			break;
		}
		yaml_event_delete(&ev);
	}
	clear_anchors(&ld);
	free(ld.anchors);
	yaml_parser_delete(&ld.parser);
	return docs;
fail:
	clear_anchors(&ld);
	free(ld.anchors);
	yaml_parser_delete(&ld.parser);
	json_decref(docs);
	return NULL;
}

/* ---- writing ------------------------------------------------------------ */

/* libyaml's output handler: appends to a struct buf (YAMLJSON_MAX_OUTPUT at
 * most); 0 stops the emitter. */
static int
write_out(void *data, unsigned char *buf, size_t size)
{
	return buf_add(data, buf, size) == 0;
}

/* Does s look like a YAML 1.1 timestamp or a sexagesimal number, which some
 * readers (PyYAML) would turn into a date or an integer? Then quote it. */
static bool
looks_numeric_1_1(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i >= n || !is_digit(s[i]))
		return false;
	for (; i < n; i++)
		if (!is_digit(s[i]) && strchr("_:.-+eEtTzZ ", s[i]) == NULL)
			return false;
	return true;
}

/* Must the string be quoted to read back as this string? */
static bool
needs_quotes(const char *s, size_t n)
{
	char tmp[128];
	size_t i, m;

	if (n == 0 || !yamljson_plain_is_string(s, n))
		return true;
	if ((n == 2 && memcmp(s, "<<", 2) == 0) || (n == 1 && s[0] == '='))
		return true;
	if (looks_numeric_1_1(s, n))
		return true;
	/* "1e999" stays a string for yaml.v2 (overflow) but not for YAML 1.2
	 * readers; and "1_0.5" is a float there, "1_0" an integer in 1.1. */
	if (n < sizeof(tmp)) {
		for (i = 0, m = 0; i < n; i++)
			if (s[i] != '_')
				tmp[m++] = s[i];
		if (float_syntax(s, n) || float_syntax(tmp, m))
			return true;
	}
	return false;
}

/* The shortest text that reads back as the same double, with a "." or an
 * exponent so that it stays a float. */
static void
format_real(double v, char *buf, size_t len)
{
	int prec;

	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, len, "%.1f", v);
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (strpbrk(buf, ".eE") == NULL && strlen(buf) + 3 <= len)
		memcpy(buf + strlen(buf), ".0", 3);
}

static int
emit_scalar(yaml_emitter_t *e, const char *text, size_t len,
    yaml_scalar_style_t style, bool plain)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
	    (yaml_char_t *)(uintptr_t)text, (int)len, plain, 1, style))
		return -1;
	return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int
emit_string(yaml_emitter_t *e, const char *s, size_t n)
{
	if (n > INT32_MAX)
		return -1;
	if (memchr(s, '\n', n) != NULL)
		return emit_scalar(e, s, n, YAML_LITERAL_SCALAR_STYLE, false);
	if (needs_quotes(s, n))
		return emit_scalar(e, s, n, YAML_DOUBLE_QUOTED_SCALAR_STYLE,
		    false);
	return emit_scalar(e, s, n, YAML_ANY_SCALAR_STYLE, true);
}

static int
emit_value(yaml_emitter_t *e, const json_t *v)
{
	yaml_event_t ev;
	char num[64];
	const char *key;
	size_t klen, i;
	json_t *item;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
		    json_object_size(v) == 0 ? YAML_FLOW_MAPPING_STYLE :
		    YAML_BLOCK_MAPPING_STYLE) || !yaml_emitter_emit(e, &ev))
			return -1;
		json_object_keylen_foreach((json_t *)v, key, klen, item) {
			if (emit_string(e, key, klen) == -1 ||
			    emit_value(e, item) == -1)
				return -1;
		}
		if (!yaml_mapping_end_event_initialize(&ev) ||
		    !yaml_emitter_emit(e, &ev))
			return -1;
		return 0;
	case JSON_ARRAY:
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		    json_array_size(v) == 0 ? YAML_FLOW_SEQUENCE_STYLE :
		    YAML_BLOCK_SEQUENCE_STYLE) || !yaml_emitter_emit(e, &ev))
			return -1;
		json_array_foreach(v, i, item)
			if (emit_value(e, item) == -1)
				return -1;
		if (!yaml_sequence_end_event_initialize(&ev) ||
		    !yaml_emitter_emit(e, &ev))
			return -1;
		return 0;
	case JSON_STRING:
		return emit_string(e, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return emit_scalar(e, num, strlen(num), YAML_PLAIN_SCALAR_STYLE,
		    true);
	case JSON_REAL:
		format_real(json_real_value(v), num, sizeof(num));
		return emit_scalar(e, num, strlen(num), YAML_PLAIN_SCALAR_STYLE,
		    true);
	case JSON_TRUE:
		return emit_scalar(e, "true", 4, YAML_PLAIN_SCALAR_STYLE, true);
	case JSON_FALSE:
		return emit_scalar(e, "false", 5, YAML_PLAIN_SCALAR_STYLE, true);
	case JSON_NULL:
		return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE, true);
	}
	return -1;
}

char *
yamljson_dump(const json_t *docs, char *err, size_t errlen)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	struct buf out;
	char *text;
	const json_t *doc;
	size_t i;

	if (!json_is_array(docs)) {
		snprintf(err, errlen, "not an array of documents");
		return NULL;
	}
	if (!yaml_emitter_initialize(&e)) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	buf_init(&out, YAMLJSON_MAX_OUTPUT);
	yaml_emitter_set_output(&e, write_out, &out);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);
	yaml_emitter_set_indent(&e, 2);
	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
	    !yaml_emitter_emit(&e, &ev))
		goto fail;
	for (i = 0; i < json_array_size(docs); i++) {
		doc = json_array_get(docs, i);
		if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL,
		    i == 0) || !yaml_emitter_emit(&e, &ev) ||
		    emit_value(&e, doc) == -1 ||
		    !yaml_document_end_event_initialize(&ev, 1) ||
		    !yaml_emitter_emit(&e, &ev))
			goto fail;
	}
	if (!yaml_stream_end_event_initialize(&ev) ||
	    !yaml_emitter_emit(&e, &ev) || !yaml_emitter_flush(&e))
		goto fail;
	yaml_emitter_delete(&e);
	if ((text = buf_take(&out, NULL)) == NULL)
		snprintf(err, errlen, "out of memory");
	return text;
fail:
	snprintf(err, errlen, "%s", out.failed ? "out of memory" :
	    e.problem != NULL ? e.problem : "cannot write YAML");
	yaml_emitter_delete(&e);
	buf_free(&out);
	return NULL;
}
