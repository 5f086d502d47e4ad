/* patch.h - RFC 6902 JSON Patch built only of `add` operations against the
 * object as received, and RFC 6901 JSON-pointer escaping. */
#ifndef MESHINJECT_PATCH_H
#define MESHINJECT_PATCH_H

#include <stddef.h>

#include <jansson.h>

/* Longest JSON pointer a patch path may have. */
#define PATCH_PATH_MAX 1024

/* Write `parent` + "/" + escaped `token` ("~" as "~0", "/" as "~1") into buf.
 * Returns 0, or -1 when it does not fit. */
int patch_pointer_join(char *buf, size_t buflen, const char *parent,
    const char *token);

/* Append {"op":"add","path":path,"value":value} to the array `patch`.
 * Steals `value` (also on error). Returns 0, or -1 on allocation failure. */
int patch_add(json_t *patch, const char *path, json_t *value);

/* Add every member of `members` to the object at `path`, whose value in the
 * received object is `existing` (borrowed, may be NULL): one op per member
 * when it is an object, else one op creating the whole object. Steals
 * `members`. Returns 0 or -1. */
int patch_add_members(json_t *patch, const json_t *existing,
    const char *path, json_t *members);

/* Insert the items of the array `items` into the array at `path`, whose
 * value in the received object is `existing` (borrowed, may be NULL or
 * null): at index `at` (clamped; PATCH_END appends) when it is an array,
 * else one op creating the array. Steals `items`. Returns 0 or -1. */
#define PATCH_END ((size_t)-1)
int patch_insert_items(json_t *patch, const json_t *existing,
    const char *path, size_t at, json_t *items);

/* Apply the `add` operations of the RFC 6902 patch `patch` (borrowed) to
 * `doc` in place: an add to an object member sets it, an add to an array
 * index inserts there ("-" appends); values are copied. Any other op, a
 * missing parent or a bad index fails with a reason in err, leaving doc
 * partly patched (apply to a copy when that matters). The root itself
 * ("" path) cannot be replaced. Returns 0 or -1. */
int patch_apply(json_t *doc, const json_t *patch, char *err, size_t errlen);

#endif
