/* coreutil.h - small helpers the core modules share (policy, review,
 * inject, envoyvalues; the shells' report and offline too): messages that
 * quote user input, and borrowed reads of a pod's string fields. */
#ifndef MESHINJECT_COREUTIL_H
#define MESHINJECT_COREUTIL_H

#include <stddef.h>

#include <jansson.h>

#include "utf8.h"	/* utf8_clean, which the messages' users call too */

#define POLICY_MSG_MAX	32
#define POLICY_MSG_LEN	256

struct msg_list {
	size_t n;
	char items[POLICY_MSG_MAX][POLICY_MSG_LEN];
};

/* Append a formatted message (cut at POLICY_MSG_LEN, dropped past
 * POLICY_MSG_MAX). */
void msg_add(struct msg_list *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


/* The string at root.a.b.c (a NULL step is skipped), or NULL
 * when a step is missing or the value is not a string. All three return
 * values borrowed from the tree. Inline: the review path calls them
 * dozens of times per pod (callgrind counts them). */
static inline const char *
jpath_string(const json_t *root, const char *a, const char *b, const char *c)
{
	const json_t *v = root;

	if (a != NULL)
		v = json_object_get(v, a);
	if (b != NULL)
		v = json_object_get(v, b);
	if (c != NULL)
		v = json_object_get(v, c);
	return json_string_value(v);
}

/* The pod's metadata.annotations (borrowed, NULL when absent), and one
 * of them: a function that reads several finds the object once, each
 * step a hashed lookup. */
static inline const json_t *
pod_annotations(const json_t *pod)
{
	return json_object_get(json_object_get(pod, "metadata"),
	    "annotations");
}

static inline const char *
annotation_in(const json_t *annotations, const char *key)
{
	return json_string_value(json_object_get(annotations, key));
}

static inline const char *
pod_annotation(const json_t *pod, const char *key)
{
	return annotation_in(pod_annotations(pod), key);
}

static inline const char *
pod_label(const json_t *pod, const char *key)
{
	return jpath_string(pod, "metadata", "labels", key);
}

#endif
