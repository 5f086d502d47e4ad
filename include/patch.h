/* patch.h - RFC 6902 JSON Patch built only of `add` operations against the
 * object as received, written as text, and applied to a tree; RFC 6901
 * JSON-pointer escaping. */
#ifndef MESHINJECT_PATCH_H
#define MESHINJECT_PATCH_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* Longest JSON pointer a patch path may have. */
#define PATCH_PATH_MAX 1024

/* Write `parent` + "/" + escaped `token` ("~" as "~0", "/" as "~1") into buf.
 * Returns 0, or -1 when it does not fit. */
int patch_pointer_join(char *buf, size_t buflen, const char *parent,
    const char *token);

/* A patch being written as JSON text, op by op, without a tree: the
 * answer carries it as text (base64), so the ops are text from the start.
 * patch_init it; once patch_end returned 0, text.data holds the whole
 * array, text.len bytes, NUL-terminated; patch_free in any case. */
struct patch {
	struct buf text;
	size_t ops;
};

/* One item to insert: a JSON value as text of len bytes. */
struct patch_item {
	const char *text;
	size_t len;
};

void patch_init(struct patch *p);
void patch_free(struct patch *p);

/* Close the array ("[]" when no op was added). Returns 0, or -1 when any
 * add failed or memory ran out. */
int patch_end(struct patch *p);

/* Append {"op":"add","path":path,"value":<the len bytes of value>}; value
 * is JSON text the caller wrote. Returns 0 or -1. */
int patch_add_text(struct patch *p, const char *path, const char *value,
    size_t len);

/* The same with a tree as the value, written compact. Steals value (also
 * on error). Returns 0, or -1 (value NULL, memory, a string that is not
 * UTF-8). */
int patch_add(struct patch *p, const char *path, json_t *value);

/* Add every member of `members` to the object at `path`, whose value in the
 * received object is `existing` (borrowed, may be NULL): one op per member
 * when it is an object, else one op creating the whole object. Steals
 * `members`. Returns 0 or -1. */
int patch_add_members(struct patch *p, const json_t *existing,
    const char *path, json_t *members);

/* Insert the n items into the array at `path`, whose value in the received
 * object is `existing` (borrowed, may be NULL or null): at index `at`
 * (clamped; PATCH_END appends) when it is an array, else one op creating
 * the array. Returns 0 or -1. */
#define PATCH_END ((size_t)-1)
int patch_insert_items(struct patch *p, const json_t *existing,
    const char *path, size_t at, const struct patch_item *items, size_t n);

/* Apply the `add` operations of the RFC 6902 patch `patch` (borrowed) to
 * `doc` in place: an add to an object member sets it, an add to an array
 * index inserts there ("-" appends); values are copied. Any other op, a
 * missing parent or a bad index fails with a reason in err, leaving doc
 * partly patched (apply to a copy when that matters). The root itself
 * ("" path) cannot be replaced. Returns 0 or -1. */
int patch_apply(json_t *doc, const json_t *patch, char *err, size_t errlen);

#endif
