/* patch.c - RFC 6902 `add` operations and RFC 6901 pointer escaping. */
#include <stdio.h>
#include <string.h>

#include "jsonalloc.h"
#include "jsonwrite.h"
#include "patch.h"

#define PATCH_FIRST	8192

int
patch_pointer_join(char *buf, size_t buflen, const char *parent,
    const char *token)
{
	size_t n, i;

	n = strlen(parent);
	if (n + 1 >= buflen)
		return -1;
	if (buf != parent)
		memmove(buf, parent, n);
	buf[n++] = '/';
	for (i = 0; token[i] != '\0'; i++) {
		const char *esc = NULL;

		if (token[i] == '~')
			esc = "~0";
		else if (token[i] == '/')
			esc = "~1";
		if (esc != NULL) {
			if (n + 2 >= buflen)
				return -1;
			buf[n++] = esc[0];
			buf[n++] = esc[1];
		} else {
			if (n + 1 >= buflen)
				return -1;
			buf[n++] = token[i];
		}
	}
	buf[n] = '\0';
	return 0;
}

void
patch_init(struct patch *p)
{
	buf_init(&p->text, BUF_MAX);
	p->ops = 0;
}

void
patch_free(struct patch *p)
{
	buf_free(&p->text);
	p->ops = 0;
}

int
patch_end(struct patch *p)
{
	if (p->ops == 0)
		buf_addc(&p->text, '[');
	buf_addc(&p->text, ']');
	return p->text.failed ? -1 : 0;
}

/* "[" or ",", then {"op":"add","path":<path>,"value": */
static int
op_begin(struct patch *p, const char *path)
{
	static const char op[] = "{\"op\":\"add\",\"path\":";
	static const char value[] = ",\"value\":";

	/* A pod's patch is some 5 KB: room for it at the first op. */
	if (p->ops == 0 && buf_reserve(&p->text, PATCH_FIRST) == -1)
		return -1;
	if (buf_addc(&p->text, p->ops == 0 ? '[' : ',') == -1 ||
	    buf_add(&p->text, op, sizeof(op) - 1) == -1)
		return -1;
	p->ops++;
	if (jsonwrite_string(&p->text, path, strlen(path)) != 0) {
		buf_fail(&p->text);
		return -1;
	}
	return buf_add(&p->text, value, sizeof(value) - 1);
}

int
patch_add_text(struct patch *p, const char *path, const char *value,
    size_t len)
{
	if (value == NULL) {
		buf_fail(&p->text);
		return -1;
	}
	if (op_begin(p, path) == -1 || buf_add(&p->text, value, len) == -1 ||
	    buf_addc(&p->text, '}') == -1)
		return -1;
	return 0;
}

int
patch_add(struct patch *p, const char *path, json_t *value)
{
	int rc;

	if (value == NULL) {
		buf_fail(&p->text);
		return -1;
	}
	rc = op_begin(p, path);
	if (rc == 0 && jsonwrite_append(&p->text, value, JSON_COMPACT |
	    JSON_ENCODE_ANY) == -1) {
		buf_fail(&p->text);
		rc = -1;
	}
	if (rc == 0)
		rc = buf_addc(&p->text, '}');
	jsonalloc_drop(value);
	return rc;
}

int
patch_add_members(struct patch *p, const json_t *existing, const char *path,
    json_t *members)
{
	char at[PATCH_PATH_MAX];
	const char *key;
	json_t *value;

	if (members == NULL) {
		buf_fail(&p->text);
		return -1;
	}
	if (!json_is_object(existing))
		return patch_add(p, path, members);
	json_object_foreach(members, key, value) {
		if (patch_pointer_join(at, sizeof(at), path, key) == -1 ||
		    patch_add(p, at, json_incref(value)) == -1)
			goto fail;
	}
	jsonalloc_drop(members);
	return 0;
fail:
	buf_fail(&p->text);
	jsonalloc_drop(members);
	return -1;
}

int
patch_insert_items(struct patch *p, const json_t *existing, const char *path,
    size_t at, const struct patch_item *items, size_t n)
{
	char to[PATCH_PATH_MAX];
	size_t i, len;

	for (i = 0; i < n; i++)
		if (items[i].text == NULL) {
			buf_fail(&p->text);
			return -1;
		}
	if (!json_is_array(existing)) {
		if (op_begin(p, path) == -1 || buf_addc(&p->text, '[') == -1)
			return -1;
		for (i = 0; i < n; i++)
			if ((i > 0 && buf_addc(&p->text, ',') == -1) ||
			    buf_add(&p->text, items[i].text, items[i].len) ==
			    -1)
				return -1;
		return buf_add(&p->text, "]}", 2);
	}
	len = json_array_size(existing);
	if (at > len)
		at = len;
	for (i = 0; i < n; i++) {
		int rc;

		/* Appending uses "-" so that the ops do not depend on the
		 * length; inserting counts up as each add shifts the rest. */
		if (at == len)
			rc = patch_pointer_join(to, sizeof(to), path, "-");
		else {
			rc = snprintf(to, sizeof(to), "%s/%zu", path, at + i);
			rc = rc < 0 || (size_t)rc >= sizeof(to) ? -1 : 0;
		}
		if (rc == -1) {
			buf_fail(&p->text);
			return -1;
		}
		if (patch_add_text(p, to, items[i].text, items[i].len) == -1)
			return -1;
	}
	return 0;
}

/* Unescape one pointer token ("~1" to "/", "~0" to "~") into buf. Returns
 * its length, or -1 on a bad escape or when it does not fit. */
static int
pointer_token(const char *s, size_t n, char *buf, size_t buflen)
{
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '~') {
			if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))
				return -1;
			c = s[++i] == '0' ? '~' : '/';
		}
		if (m + 1 >= buflen)
			return -1;
		buf[m++] = c;
	}
	buf[m] = '\0';
	return (int)m;
}

/* An RFC 6901 array index: "0", or digits without a leading zero. */
static int
pointer_index(const char *tok, size_t *out)
{
	size_t v = 0;
	const char *p;

	if (*tok == '\0' || (tok[0] == '0' && tok[1] != '\0'))
		return -1;
	for (p = tok; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > ((size_t)-1 - 9) / 10)
			return -1;
		v = v * 10 + (size_t)(*p - '0');
	}
	*out = v;
	return 0;
}

static int
apply_add(json_t *doc, const char *path, const json_t *value, char *err,
    size_t errlen)
{
	char tok[PATCH_PATH_MAX];
	const char *p = path, *slash;
	json_t *cur = doc, *copy;
	size_t idx;
	int n;

	if (*path != '/') {
		snprintf(err, errlen, "path \"%s\": %s", path, *path == '\0' ?
		    "cannot replace the whole document" : "must start with /");
		return -1;
	}
	for (;;) {
		p++;
		slash = strchr(p, '/');
		n = pointer_token(p, slash != NULL ? (size_t)(slash - p) :
		    strlen(p), tok, sizeof(tok));
		if (n == -1) {
			snprintf(err, errlen, "path \"%s\": bad token", path);
			return -1;
		}
		if (slash == NULL)
			break;
		if (json_is_object(cur)) {
			cur = json_object_getn(cur, tok, (size_t)n);
		} else if (json_is_array(cur) && pointer_index(tok, &idx) == 0) {
			cur = json_array_get(cur, idx);
		} else {
			cur = NULL;
		}
		if (cur == NULL) {
			snprintf(err, errlen, "path \"%s\": parent does not "
			    "exist", path);
			return -1;
		}
		p = slash;
	}
	copy = json_deep_copy(value);
	if (copy == NULL) {
		snprintf(err, errlen, "path \"%s\": out of memory", path);
		return -1;
	}
	if (json_is_object(cur)) {
		if (json_object_setn_new(cur, tok, (size_t)n, copy) == -1)
			goto oom;
		return 0;
	}
	if (!json_is_array(cur)) {
		json_decref(copy);
		snprintf(err, errlen, "path \"%s\": parent is not an object or "
		    "an array", path);
		return -1;
	}
	if (strcmp(tok, "-") == 0) {
		if (json_array_append_new(cur, copy) == -1)
			goto oom;
		return 0;
	}
	if (pointer_index(tok, &idx) == -1 || idx > json_array_size(cur)) {
		json_decref(copy);
		snprintf(err, errlen, "path \"%s\": index out of range", path);
		return -1;
	}
	if (json_array_insert_new(cur, idx, copy) == -1)
		goto oom;
	return 0;
oom:
	snprintf(err, errlen, "path \"%s\": out of memory", path);
	return -1;
}

int
patch_apply(json_t *doc, const json_t *patch, char *err, size_t errlen)
{
	const json_t *op;
	const char *name, *path;
	const json_t *value;
	size_t i;

	if (!json_is_array(patch)) {
		snprintf(err, errlen, "patch is not an array");
		return -1;
	}
	json_array_foreach(patch, i, op) {
		name = json_string_value(json_object_get(op, "op"));
		path = json_string_value(json_object_get(op, "path"));
		value = json_object_get(op, "value");
		if (name == NULL || strcmp(name, "add") != 0) {
			snprintf(err, errlen, "op %zu: \"%s\" is not supported "
			    "(only add)", i, name != NULL ? name : "(none)");
			return -1;
		}
		if (path == NULL || value == NULL) {
			snprintf(err, errlen, "op %zu: add needs a path and a "
			    "value", i);
			return -1;
		}
		if (apply_add(doc, path, value, err, errlen) == -1)
			return -1;
	}
	return 0;
}
