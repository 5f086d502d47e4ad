/* jsonread.h - a fast reader for the JSON that jansson 2.14's json_loadb
 * accepts, building the same tree, or declining so that jansson decides. */
#ifndef MESHINJECT_JSONREAD_H
#define MESHINJECT_JSONREAD_H

#include <stddef.h>

#include <jansson.h>

/* Parse text as json_loadb(text, len, JSON_REJECT_DUPLICATES, ...) does,
 * faster. skip: NULL, or a NULL-terminated list of object keys naming one
 * path from the root (e.g. {"request", "object", "metadata",
 * "managedFields", NULL}) whose value is checked for syntax but left out of
 * the tree (the key is absent from its parent object).
 * Returns a new reference the caller json_decref()s, or NULL when the text
 * is not valid JSON *or* when the fast parser is not sure (a NUL byte,
 * nesting deeper than 512, a real in a locale whose decimal point is not
 * '.', a skipped object whose keys hash badly, memory running out); callers
 * then call json_loadb for the authoritative answer and its error message.
 * Contract: never returns a tree for a text json_loadb rejects; when it
 * returns a tree, json_equal() holds with json_loadb's tree (after deleting
 * the skipped key from it). text and skip are borrowed. */
json_t *jsonread_loadb(const char *text, size_t len, const char *const *skip);

#endif
