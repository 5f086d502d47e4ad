/* jsonread.h - a fast reader for the JSON that jansson 2.14's json_loadb
 * accepts, building the same tree, or declining so that jansson decides. */
#ifndef MESHINJECT_JSONREAD_H
#define MESHINJECT_JSONREAD_H

#include <stddef.h>

#include <jansson.h>

/* What jsonread_loadb leaves out of the tree, one level of it: some keys
 * of an object, each either skipped (under NULL: its value is checked for
 * syntax and duplicate keys, as jansson checks it, but left out, the key
 * absent from its object) or followed (under: the keys to leave out of its
 * value, where that is an object). A level ends with a NULL key; only its
 * first 32 keys can be skipped ones. E.g. the webhook's: request.object.metadata.managedFields
 * and the parts of request that it never reads. */
struct jsonread_skip {
	const char *key;
	const struct jsonread_skip *under;
};

/* Parse text as json_loadb(text, len, JSON_REJECT_DUPLICATES, ...) does,
 * faster. skip: NULL, or the keys to leave out from the root down.
 * Returns a new reference the caller json_decref()s, or NULL when the text
 * is not valid JSON *or* when the fast parser is not sure (a NUL byte,
 * nesting deeper than 512, a real in a locale whose decimal point is not
 * '.', a skipped object whose keys hash badly, a key skipped past the
 * 32nd of its level, memory running out); callers then call json_loadb for the
 * authoritative answer and its error message.
 * Contract: never returns a tree for a text json_loadb rejects; when it
 * returns a tree, json_equal() holds with json_loadb's tree after deleting
 * the skipped keys from it. text and skip are borrowed. */
json_t *jsonread_loadb(const char *text, size_t len,
    const struct jsonread_skip *skip);

#endif
