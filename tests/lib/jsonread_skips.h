/* jsonread_skips.h - the skips that check_jsonread.c and fuzz_jsonread.c
 * hold jsonread_loadb to: the webhook's request.object.metadata.managedFields
 * as one path, and several keys a level with a nested one (a.b, a.c, a.d.e
 * and x), short enough for the fuzzer to reach. Static tables, included by
 * each. */
#ifndef MESHINJECT_JSONREAD_SKIPS_H
#define MESHINJECT_JSONREAD_SKIPS_H

#include "jsonread.h"

static const struct jsonread_skip mf_metadata[] = {
	{ "managedFields", NULL }, { NULL, NULL }
};
static const struct jsonread_skip mf_object[] = {
	{ "metadata", mf_metadata }, { NULL, NULL }
};
static const struct jsonread_skip mf_request[] = {
	{ "object", mf_object }, { NULL, NULL }
};
static const struct jsonread_skip mf_path[] = {
	{ "request", mf_request }, { NULL, NULL }
};
static const struct jsonread_skip many_d[] = {
	{ "e", NULL }, { NULL, NULL }
};
static const struct jsonread_skip many_a[] = {
	{ "b", NULL }, { "c", NULL }, { "d", many_d }, { NULL, NULL }
};
static const struct jsonread_skip many_path[] = {
	{ "a", many_a }, { "x", NULL }, { NULL, NULL }
};

#endif
