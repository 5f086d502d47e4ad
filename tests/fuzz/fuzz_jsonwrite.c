/* fuzz_jsonwrite.c - libFuzzer target: jsonwrite_dumps must write what
 * jansson's json_dumps writes, byte for byte, for every value json_loadb
 * reads (JSON_DECODE_ANY) under every combination of JSON_COMPACT,
 * JSON_SORT_KEYS and JSON_ENCODE_ANY, and NULL exactly when it does. The
 * parsed value is also written inside an object under a key made of the
 * input's first bytes, and those bytes as a string (both unchecked), so
 * that bad UTF-8, which json_loadb never lets through, is compared too.
 * Any difference prints both texts and aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonwrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t flag_sets[] = {
	JSON_COMPACT,
	JSON_COMPACT | JSON_SORT_KEYS,
	JSON_COMPACT | JSON_ENCODE_ANY,
	JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY,
	0,
	JSON_SORT_KEYS,
	JSON_ENCODE_ANY,
	JSON_SORT_KEYS | JSON_ENCODE_ANY,
};

static void
compare(const json_t *v, const char *what)
{
	char *want, *got;
	size_t i, len;

	for (i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		want = json_dumps(v, flag_sets[i]);
		got = jsonwrite_dumps(v, flag_sets[i], &len);
		if (want == NULL && got == NULL)
			continue;
		if (want == NULL || got == NULL || len != strlen(want) ||
		    memcmp(want, got, len + 1) != 0) {
			fprintf(stderr, "fuzz_jsonwrite: %s, flags %#zx:\n"
			    "  json_dumps %s\n  jsonwrite  %s\n", what,
			    flag_sets[i], want != NULL ? want : "(NULL)",
			    got != NULL ? got : "(NULL)");
			abort();
		}
		free(want);
		free(got);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v, *o, *s;
	size_t k;

	v = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (v != NULL)
		compare(v, "parsed");
	if (size == 0) {
		json_decref(v);
		return 0;
	}
	/* The first 1 to 16 bytes as a key, in the middle of an object. */
	k = 1 + data[0] % 16;
	if (k > size)
		k = size;
	if ((o = json_object()) == NULL)
		abort();
	json_object_setn_new_nocheck(o, "a", 1, json_true());
	json_object_setn_new_nocheck(o, (const char *)data, k,
	    v != NULL ? v : json_null());
	json_object_setn_new_nocheck(o, "z\t", 2, json_false());
	compare(o, "raw key");
	json_decref(o);
	/* The first 256 bytes as a string. */
	s = json_stringn_nocheck((const char *)data, size < 256 ? size : 256);
	if (s == NULL)
		abort();
	compare(s, "raw string");
	json_decref(s);
	return 0;
}
