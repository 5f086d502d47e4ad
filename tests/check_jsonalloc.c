/* check_jsonalloc.c - the per-thread arena jansson allocates a review in:
 * on when it can be, off when it must be, nothing kept past its end but
 * one block, and reviews with and without it answer the same. */
#include <check.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "jsonalloc.h"
#include "review.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif
#if SANITIZED
#include <sanitizer/asan_interface.h>
#endif

static size_t
in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* A tree of n objects with a string each. */
static json_t *
tree(size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:i}", "name",
		    "a string long enough to need its own allocation", "i",
		    (int)i));
	return a;
}

START_TEST(test_arena_on_and_off)
{
	json_t *t;
	size_t used;

	jsonalloc_failures();		/* installs the allocator */
	/* On in every build, AddressSanitizer's too. */
	ck_assert(jsonalloc_arena_begin());
	/* Not nestable. */
	ck_assert(!jsonalloc_arena_begin());
	t = tree(100);
	ck_assert_ptr_nonnull(t);
	used = jsonalloc_arena_used();
	ck_assert_uint_gt(used, 100 * 64);
	/* Frees in the arena are no-ops, a drop skips the walk. */
	json_decref(json_array_get(t, 0));
	jsonalloc_drop(t);
	ck_assert_uint_eq(jsonalloc_arena_used(), used);
#if SANITIZED
	{
		/* Under ASan, the bytes the arena has not handed out are
		 * poisoned: past a value's end, and all of a kept block
		 * once its arena ended. */
		json_t *s = json_string("x");
		const char *v = json_string_value(s);

		ck_assert(!__asan_address_is_poisoned(v));
		ck_assert(__asan_address_is_poisoned(v + 2));
		jsonalloc_arena_end();
		ck_assert(__asan_address_is_poisoned(v));
	}
#else
	jsonalloc_arena_end();
#endif
	ck_assert_uint_eq(jsonalloc_arena_used(), 0);
	/* After the end, jansson allocates with malloc again. */
	t = tree(10);
	json_decref(t);
}
END_TEST

/* A tree much larger than the first block: more blocks, all freed but
 * one of at most 1 MiB; a thousand arenas later, nothing has grown. */
START_TEST(test_arena_frees)
{
	size_t before, after, i;

	jsonalloc_failures();
	if (SANITIZED)
		return;
	/* Warm up: the kept block and malloc's own state. */
	for (i = 0; i < 3; i++) {
		ck_assert(jsonalloc_arena_begin());
		ck_assert_ptr_nonnull(tree(20000));
		jsonalloc_arena_end();
	}
	before = in_use();
	for (i = 0; i < 1000; i++) {
		ck_assert(jsonalloc_arena_begin());
		ck_assert_ptr_nonnull(tree(i % 7 == 0 ? 20000 : 50));
		jsonalloc_arena_end();
	}
	after = in_use();
	ck_assert_msg(after <= before + 64 * 1024, "in use %zu bytes before,"
	    " %zu after a thousand arenas", before, after);
	jsonalloc_arena_release();
	ck_assert_uint_lt(in_use(), after);
}
END_TEST

/* Over another allocator (the allocation-failure tests') it stays off. */
static void *
other_malloc(size_t n)
{
	return malloc(n);
}

START_TEST(test_arena_off_over_other_allocator)
{
	json_malloc_t m;
	json_free_t f;

	jsonalloc_failures();
	json_get_alloc_funcs(&m, &f);
	json_set_alloc_funcs(other_malloc, free);
	ck_assert(!jsonalloc_arena_begin());
	json_set_alloc_funcs(m, f);
}
END_TEST

/* jsonalloc_set_arena(false), the shell's MESHINJECT_JSON_ARENA=0, turns
 * it off (each Check test runs in its own process, so the allocator is
 * installed here for the first time). */
START_TEST(test_arena_env_off)
{
	jsonalloc_set_arena(false);
	jsonalloc_failures();
	ck_assert(!jsonalloc_arena_begin());
	jsonalloc_set_arena(true);
}
END_TEST

/* Reviews on several threads at once, each in its own arena, answer as
 * one review alone does. */
struct worker {
	const struct config *cfg;
	const char *body;
	size_t len;
	const char *want;
	int bad;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct review_opts opts = { ROUTE_MUTATE, "traffic", NULL };
	char *resp;
	int i;

	for (i = 0; i < 300; i++) {
		if (review_handle(w->cfg, &opts, w->body, w->len, &resp,
		    NULL) != 200 || strcmp(resp, w->want) != 0)
			w->bad++;
		free(resp);
	}
	return NULL;
}

START_TEST(test_reviews_in_threads)
{
	struct config_errors errs = { NULL, 0 };
	struct review_opts opts = { ROUTE_MUTATE, "traffic", NULL };
	struct worker w[4];
	pthread_t th[4];
	struct config *cfg;
	char *body, *want;
	json_malloc_t m;
	json_free_t fr;
	long len;
	FILE *f;
	int i;

	f = fopen("tests/fixtures/review-replicaset-pod.json", "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	rewind(f);
	body = malloc((size_t)len);
	ck_assert_uint_eq(fread(body, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	cfg = config_load_default(&errs);
	ck_assert_ptr_nonnull(cfg);
	/* The answer without the arena (off over another allocator): the
	 * reference. */
	jsonalloc_failures();
	json_get_alloc_funcs(&m, &fr);
	json_set_alloc_funcs(other_malloc, free);
	ck_assert(!jsonalloc_arena_begin());
	ck_assert_int_eq(review_handle(cfg, &opts, body, (size_t)len, &want,
	    NULL), 200);
	json_set_alloc_funcs(m, fr);
	ck_assert(strstr(want, "\"patch\":\"") != NULL);
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ cfg, body, (size_t)len, want, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].bad, 0);
	}
	free(want);
	free(body);
	config_free(cfg);
}
END_TEST

static Suite *
jsonalloc_suite(void)
{
	Suite *s = suite_create("jsonalloc");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_arena_on_and_off);
	tcase_add_test(tc, test_arena_frees);
	tcase_add_test(tc, test_arena_off_over_other_allocator);
	tcase_add_test(tc, test_arena_env_off);
	tcase_add_test(tc, test_reviews_in_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(jsonalloc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
