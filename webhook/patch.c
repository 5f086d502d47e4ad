/* patch.c - RFC 6902 `add` operations and RFC 6901 pointer escaping. */
#include <stdio.h>
#include <string.h>

#include "patch.h"

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

int
patch_add(json_t *patch, const char *path, json_t *value)
{
	json_t *op;

	if (value == NULL)
		return -1;
	op = json_pack("{s:s, s:s, s:o}", "op", "add", "path", path,
	    "value", value);
	if (op == NULL)
		return -1;
	return json_array_append_new(patch, op);
}

int
patch_add_members(json_t *patch, const json_t *existing, const char *path,
    json_t *members)
{
	char p[PATCH_PATH_MAX];
	const char *key;
	json_t *value;

	if (members == NULL)
		return -1;
	if (!json_is_object(existing))
		return patch_add(patch, path, members);
	json_object_foreach(members, key, value) {
		if (patch_pointer_join(p, sizeof(p), path, key) == -1 ||
		    patch_add(patch, p, json_incref(value)) == -1)
			goto fail;
	}
	json_decref(members);
	return 0;
fail:
	json_decref(members);
	return -1;
}

int
patch_insert_items(json_t *patch, const json_t *existing, const char *path,
    size_t at, json_t *items)
{
	char p[PATCH_PATH_MAX];
	size_t i, len;
	json_t *item;

	if (items == NULL)
		return -1;
	if (!json_is_array(existing))
		return patch_add(patch, path, items);
	len = json_array_size(existing);
	if (at > len)
		at = len;
	json_array_foreach(items, i, item) {
		int n;

		/* Appending uses "-" so that the ops do not depend on the
		 * length; inserting counts up as each add shifts the rest. */
		if (at == len)
			n = snprintf(p, sizeof(p), "%s/-", path);
		else
			n = snprintf(p, sizeof(p), "%s/%zu", path, at + i);
		if (n < 0 || (size_t)n >= sizeof(p) ||
		    patch_add(patch, p, json_incref(item)) == -1)
			goto fail;
	}
	json_decref(items);
	return 0;
fail:
	json_decref(items);
	return -1;
}
