/* testutil.h - what the Check suites share: reading a file, loading a config
 * from a string, building an AdmissionReview and calling the core with it,
 * decoding and applying the patch it answers. Every function fails the
 * running Check test (ck_assert) instead of returning an error, so a suite's
 * test reads as what it checks. Link with tests/lib/testutil.c (the
 * Makefile's check_% rule does). */
#ifndef MESHINJECT_TESTUTIL_H
#define MESHINJECT_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "review.h"

/* 1 in an AddressSanitizer build (gcc's or clang's), else 0: some tests
 * measure what ASan changes by design (its quarantine, its allocator). */
#if defined(__SANITIZE_ADDRESS__)
#define TU_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_UNDER_ASAN 1
#endif
#endif
#ifndef TU_UNDER_ASAN
#define TU_UNDER_ASAN 0
#endif

/* The whole file as a new NUL-terminated buffer the caller frees; its length
 * (without the NUL) in *len when len is not NULL. Fails the test when the
 * file cannot be read (tests run from the repository's root). */
char *tu_read_file(const char *path, size_t *len);

/* As tu_read_file, but NULL (nothing to free) when the file does not exist. */
char *tu_read_file_opt(const char *path, size_t *len);

/* Load `yaml` merged over the embedded default as config_load_buffer does;
 * fails the test with every error printed when it does not load. NULL yaml
 * is the embedded default. The caller frees with config_free. */
struct config *tu_config(const char *yaml);

/* A new AdmissionReview (admission.k8s.io/v1, kind Pod, uid "tu-uid") as
 * compact JSON text the caller frees: `operation` on `pod_json` (JSON text
 * of the pod) in `namespace` (NULL: no request.namespace). */
char *tu_review(const char *operation, const char *namespace,
    const char *pod_json);

/* review_handle on `body` for /mutate/<stage> (stage NULL: bare /mutate,
 * validate true: /validate...). Returns the parsed response (caller
 * decrefs); the HTTP status in *status when status is not NULL. */
json_t *tu_call(const struct config *cfg, const char *stage, int validate,
    const char *body, int *status);

/* The response's decoded base64 patch as a new JSON array, or NULL when the
 * response carries none. */
json_t *tu_patch(const json_t *resp);

/* A new copy of the pod `pod_json` with `patch` (borrowed, may be NULL)
 * applied by the core's patch_apply; fails the test when it does not apply
 * or holds an op other than add. */
json_t *tu_patched(const char *pod_json, const json_t *patch);

/* Is this a CI run (CI set to anything but "", "0" or "false")? */
bool tu_ci(void);

/* A test that cannot run where it is: under CI it fails with `why`; else it
 * prints "SKIPPED: <test>: <why>" on stderr and the caller returns. */
void tu_cannot_run(const char *test, const char *why);

/* The item called `name` in the JSON array `list` (borrowed), or NULL. */
json_t *tu_named(const json_t *list, const char *name);

#endif
