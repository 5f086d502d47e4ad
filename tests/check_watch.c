/* check_watch.c - Check suite for watch.c: a file behind a Kubernetes
 * `..data` symlink swap is seen to change (its own directory is not what
 * changes), an unchanged one is not, a refused change is not retried until
 * the files change again, SIGHUP-style triggers, and the thread notices a
 * swap quickly (inotify) or within its poll. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "watch.h"

static char root[PATH_MAX];
static int gen;

struct counter {
	atomic_int calls;
	atomic_int forced;
	int result;
};

static int
count_cb(void *arg, bool forced)
{
	struct counter *c = arg;

	atomic_fetch_add(&c->calls, 1);
	if (forced)
		atomic_fetch_add(&c->forced, 1);
	return c->result;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* What kubelet's AtomicWriter does: a new ..<gen> directory with
 * config.yaml and tls/tls.crt, ..data_tmp -> it, renamed over ..data. */
static void
volume_update(const char *cfg, const char *crt)
{
	char dir[PATH_MAX + 32], p[PATH_MAX + 64], name[32], tmp[PATH_MAX + 16],
	    data[PATH_MAX + 16];

	snprintf(name, sizeof(name), "..gen%d", ++gen);
	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/tls", dir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/config.yaml", dir);
	write_file(p, cfg);
	snprintf(p, sizeof(p), "%s/tls/tls.crt", dir);
	write_file(p, crt);
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", root);
	snprintf(data, sizeof(data), "%s/..data", root);
	ck_assert_int_eq(symlink(name, tmp), 0);
	ck_assert_int_eq(rename(tmp, data), 0);
}

static void
setup(void)
{
	char link[PATH_MAX + 16];

	snprintf(root, sizeof(root), "/tmp/check_watch.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	gen = 0;
	volume_update("a: 1\n", "cert 1\n");
	snprintf(link, sizeof(link), "%s/config.yaml", root);
	ck_assert_int_eq(symlink("..data/config.yaml", link), 0);
	snprintf(link, sizeof(link), "%s/tls", root);
	ck_assert_int_eq(symlink("..data/tls", link), 0);
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	ck_assert_int_eq(system(cmd), 0);
}

static void
path_of(char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", root, rel);
}

START_TEST(print_follows_symlinks)
{
	struct watch_print a, b;
	char p[PATH_MAX + 32];

	path_of(p, sizeof(p), "tls/tls.crt");
	watch_print_file(p, &a);
	ck_assert_int_eq(a.err, 0);
	ck_assert_ptr_nonnull(strstr(a.real, "/..gen1/tls/tls.crt"));
	watch_print_file(p, &b);
	ck_assert(watch_print_equal(&a, &b));
	/* Same content, new directory: a change (a new inode, a new path). */
	volume_update("a: 1\n", "cert 1\n");
	watch_print_file(p, &b);
	ck_assert(!watch_print_equal(&a, &b));
	ck_assert_ptr_nonnull(strstr(b.real, "/..gen2/tls/tls.crt"));
	/* A missing file is a state, and an equal one. */
	path_of(p, sizeof(p), "nope.yaml");
	watch_print_file(p, &a);
	watch_print_file(p, &b);
	ck_assert_int_eq(a.err, ENOENT);
	ck_assert(watch_print_equal(&a, &b));
}
END_TEST

START_TEST(swap_seen_by_check)
{
	struct counter cfg = { 0 }, crt = { 0 };
	struct watch *w = watch_new(0);
	char p1[PATH_MAX + 32], p2[PATH_MAX + 32];
	const char *one[1], *two[2];

	path_of(p1, sizeof(p1), "config.yaml");
	path_of(p2, sizeof(p2), "tls/tls.crt");
	one[0] = p1;
	two[0] = p2;
	two[1] = p2;
	ck_assert_int_eq(watch_add(w, one, 1, count_cb, &cfg), 0);
	ck_assert_int_eq(watch_add(w, two, 2, count_cb, &crt), 0);
	ck_assert_uint_eq(watch_check(w), 0);		/* nothing changed */
	volume_update("a: 2\n", "cert 2\n");
	ck_assert_uint_eq(watch_check(w), 2);
	ck_assert_int_eq(cfg.calls, 1);
	ck_assert_int_eq(crt.calls, 1);			/* once per group */
	ck_assert_uint_eq(watch_check(w), 0);		/* seen once */
	/* Refused: not offered again until the files change again. */
	cfg.result = -1;
	volume_update("a: broken\n", "cert 2\n");
	ck_assert_uint_eq(watch_check(w), 2);
	ck_assert_int_eq(cfg.calls, 2);
	ck_assert_uint_eq(watch_check(w), 0);
	ck_assert_int_eq(cfg.calls, 2);
	/* A trigger (SIGHUP) runs every group, changed or not, forced. */
	watch_trigger(w);
	ck_assert_int_eq(cfg.calls, 3);
	ck_assert_int_eq(crt.calls, 3);
	ck_assert_int_eq(cfg.forced, 1);
	ck_assert_int_eq(crt.forced, 1);
	watch_free(w);
}
END_TEST

START_TEST(add_limits)
{
	struct counter c = { 0 };
	struct watch *w = watch_new(0);
	const char *five[5] = { "a", "b", "c", "d", "e" };
	const char *one[1] = { "a" };
	int i;

	ck_assert_int_eq(watch_add(w, five, 5, count_cb, &c), -1);
	ck_assert_int_eq(watch_add(w, one, 0, count_cb, &c), -1);
	ck_assert_int_eq(watch_add(w, one, 1, NULL, &c), -1);
	for (i = 0; i < WATCH_MAX_GROUPS; i++)
		ck_assert_int_eq(watch_add(w, one, 1, count_cb, &c), 0);
	ck_assert_int_eq(watch_add(w, one, 1, count_cb, &c), -1);
	watch_free(w);
	watch_free(NULL);
}
END_TEST

static int
wait_calls(struct counter *c, int want, int ms)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int waited;

	for (waited = 0; waited < ms; waited += 10) {
		if (atomic_load(&c->calls) >= want)
			return waited;
		nanosleep(&tick, NULL);
	}
	return -1;
}

/* The thread, with a poll far longer than the test: a swap in the
 * volume's top directory is seen through inotify, quickly. */
START_TEST(thread_sees_swap_quickly)
{
	struct counter c = { 0 };
	struct watch *w = watch_new(10000);
	char p[PATH_MAX + 32];
	const char *one[1];
	struct timespec settle = { 0, 300 * 1000 * 1000 };
	int took;

	path_of(p, sizeof(p), "tls/tls.crt");
	one[0] = p;
	ck_assert_int_eq(watch_add(w, one, 1, count_cb, &c), 0);
	ck_assert_int_eq(watch_start(w), 0);
	/* Let the thread arm and take its first look: what follows must
	 * come through inotify, the poll being 10 s away. */
	nanosleep(&settle, NULL);
	volume_update("a: 3\n", "cert 3\n");
	took = wait_calls(&c, 1, 3000);
	ck_assert_msg(took >= 0, "the swap was not seen within 3 s");
	ck_assert_int_eq(c.forced, 0);
	/* A trigger reaches the thread at once. */
	watch_trigger(w);
	ck_assert_msg(wait_calls(&c, 2, 2000) >= 0, "trigger not run");
	ck_assert_int_eq(c.forced, 1);
	watch_free(w);
	ck_assert_int_eq(c.calls, 2);
}
END_TEST

/* A file rewritten in place, with no swap (someone edited it, or a
 * hostPath), is seen too. */
START_TEST(thread_in_place)
{
	struct counter c = { 0 };
	struct watch *w = watch_new(300);
	char p[PATH_MAX + 32], real[PATH_MAX];
	const char *one[1];
	struct timespec later = { 0, 20 * 1000 * 1000 };

	path_of(p, sizeof(p), "config.yaml");
	one[0] = p;
	ck_assert_int_eq(watch_add(w, one, 1, count_cb, &c), 0);
	ck_assert_int_eq(watch_start(w), 0);
	ck_assert_ptr_nonnull(realpath(p, real));
	nanosleep(&later, NULL);
	write_file(real, "a: rewritten in place, longer\n");
	ck_assert_msg(wait_calls(&c, 1, 3000) >= 0, "not seen within 3 s");
	watch_free(w);
}
END_TEST

static Suite *
watch_suite(void)
{
	Suite *s = suite_create("watch");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, print_follows_symlinks);
	tcase_add_test(tc, swap_seen_by_check);
	tcase_add_test(tc, add_limits);
	tcase_add_test(tc, thread_sees_swap_quickly);
	tcase_add_test(tc, thread_in_place);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(watch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
