/* fuzz_jsonread.c - libFuzzer target holding jsonread_loadb to its contract
 * against jansson's json_loadb on arbitrary bytes, with no skip, with the
 * webhook's request.object.metadata.managedFields, and with a.b, a.c, a.d.e
 * and x (several keys a level, short enough for the fuzzer to reach):
 *   - a tree only for a text json_loadb(JSON_REJECT_DUPLICATES) accepts;
 *   - that tree json_equal to jansson's with the skipped keys deleted.
 * A breach prints jansson's verdict and both trees and aborts.
 * JSONREAD_FUZZ_STRICT=1 also aborts when jsonread declines a text jansson
 * accepts that has no NUL byte and nests no deeper than 500: not a breach,
 * but a fast path lost, worth a look.
 *
 * clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined \
 *     -Iinclude -o fuzz_jsonread tests/fuzz/fuzz_jsonread.c \
 *     webhook/jsonread.c -ljansson
 * ./fuzz_jsonread -dict=tests/fuzz/jsonread.dict NEWDIR \
 *     tests/fuzz/corpus/jsonread */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonread.h"
#include "../lib/jsonread_skips.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int strict;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *s = getenv("JSONREAD_FUZZ_STRICT");

	(void)argc;
	(void)argv;
	strict = s != NULL && strcmp(s, "1") == 0;
	return 0;
}

static void
skip_delete(json_t *j, const struct jsonread_skip *skip)
{
	size_t i;

	if (!json_is_object(j))
		return;
	for (i = 0; skip[i].key != NULL; i++)
		if (skip[i].under != NULL)
			skip_delete(json_object_get(j, skip[i].key),
			    skip[i].under);
		else
			json_object_del(j, skip[i].key);
}

static size_t
tree_depth(const json_t *j)
{
	const char *k;
	json_t *v;
	size_t i, d, max = 0;

	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v)
			if ((d = tree_depth(v)) > max)
				max = d;
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if ((d = tree_depth(v)) > max)
				max = d;
	} else
		return 0;
	return max + 1;
}

static void
dump(const char *what, const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	fprintf(stderr, "  %s: %.2000s\n", what, s != NULL ? s : "(null)");
	free(s);
}

static void
check(const char *text, size_t len, const json_t *want,
    const json_error_t *err, const struct jsonread_skip *skip, const char *name)
{
	json_t *got, *cut;

	got = jsonread_loadb(text, len, skip);
	if (got == NULL) {
		if (strict && want != NULL && memchr(text, '\0', len) == NULL &&
		    tree_depth(want) <= 500) {
			fprintf(stderr, "fuzz_jsonread: skip %s: jsonread "
			    "declined an ordinary text jansson accepts\n",
			    name);
			dump("jansson", want);
			abort();
		}
		return;
	}
	if (want == NULL) {
		fprintf(stderr, "fuzz_jsonread: skip %s: jsonread returned a "
		    "tree for a text jansson rejects: %s (line %d, column "
		    "%d)\n", name, err->text, err->line, err->column);
		dump("jsonread", got);
		abort();
	}
	if ((cut = json_deep_copy(want)) == NULL)
		abort();
	if (skip != NULL)
		skip_delete(cut, skip);
	if (!json_equal(cut, got)) {
		fprintf(stderr, "fuzz_jsonread: skip %s: the trees differ\n",
		    name);
		dump("jansson", cut);
		dump("jsonread", got);
		abort();
	}
	json_decref(cut);
	json_decref(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	json_error_t err;
	json_t *want;

	want = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
	check(text, size, want, &err, NULL, "none");
	check(text, size, want, &err, mf_path, "managedFields");
	check(text, size, want, &err, many_path, "a.b, a.c, a.d.e, x");
	json_decref(want);
	return 0;
}
