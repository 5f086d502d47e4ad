/* check_log.c - Check suite for the log lines (log.c): the lines written
 * out by hand, in JSON and in logfmt; each JSON line read back with
 * jansson and compared with what json_dumps makes of the same fields (an
 * implementation log.c does not use); the level filter. stderr is a pipe
 * here, read after each line. */
#include <check.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"

/* stderr into a pipe for the test's lines; the old stderr back after. */
static int saved_stderr = -1;
static int pipe_rd = -1;

static void
capture_start(void)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_ge(dup2(p[1], STDERR_FILENO), 0);
	close(p[1]);
	pipe_rd = p[0];
}

/* Everything written since capture_start (a few lines: under PIPE_BUF). */
static char *
capture_end(void)
{
	static char text[4096];
	ssize_t n;
	size_t len = 0;

	ck_assert_int_ge(dup2(saved_stderr, STDERR_FILENO), 0);
	close(saved_stderr);
	while ((n = read(pipe_rd, text + len, sizeof(text) - 1 - len)) > 0)
		len += (size_t)n;
	close(pipe_rd);
	text[len] = '\0';
	return text;
}

/* The lines with each one's time replaced by T, after checking the
 * time's form (RFC 3339, UTC, milliseconds) at offset off of each. */
static char *
untimed(const char *text, size_t off)
{
	static char out[4096];
	const char *line, *nl;
	regex_t re;
	size_t len = 0;
	int ok;

	ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z", REG_EXTENDED), 0);
	ck_assert_uint_lt(strlen(text), sizeof(out));
	for (line = text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		ck_assert_msg(nl != NULL, "a line without its newline: %s", line);
		ck_assert_uint_gt((size_t)(nl - line), off + 24);
		ok = regexec(&re, line + off, 0, NULL, 0) == 0;
		ck_assert_msg(ok, "no time at %zu in %s", off, line);
		memcpy(out + len, line, off);
		len += off;
		out[len++] = 'T';
		memcpy(out + len, line + off + 24, (size_t)(nl + 1 -
		    (line + off + 24)));
		len += (size_t)(nl + 1 - (line + off + 24));
	}
	regfree(&re);
	out[len] = '\0';
	return out;
}

/* The fields every test writes: escapes, a control byte, UTF-8 kept, bad
 * UTF-8 turned into '?', null, a reserved key skipped, numbers. */
static void
write_fields(enum log_level level)
{
	struct log_field f[] = {
		LOG_STR("path", "/mutate/traffic"),
		LOG_STR("quoted", "a \"b\" c\\d\n\t\x01"),
		LOG_STR("utf8", "caf\xC3\xA9"),
		LOG_STR("bad", "x\xFFy\xC3"),
		LOG_STR("none", NULL),
		LOG_STR("empty", ""),
		LOG_STR("msg", "not this one"),
		LOG_INT("status", 200),
		LOG_INT("neg", -9007199254740993LL),
		LOG_REAL("ms", 0.1234567),
		LOG_REAL("whole", 3.0),
		LOG_REAL("tiny", 1e-7),
		LOG_REAL("nan", NAN),
	};

	log_fields(level, "review \"x\"", f, sizeof(f) / sizeof(f[0]));
}

static const char json_line[] =
    "{\"time\":\"T\",\"level\":\"warn\",\"msg\":\"review \\\"x\\\"\","
    "\"path\":\"/mutate/traffic\","
    "\"quoted\":\"a \\\"b\\\" c\\\\d\\n\\t\\u0001\","
    "\"utf8\":\"caf\xC3\xA9\",\"bad\":\"x?y?\",\"none\":null,\"empty\":\"\","
    "\"status\":200,\"neg\":-9007199254740993,\"ms\":0.123457,"
    "\"whole\":3.0,\"tiny\":1e-7,\"nan\":null}\n";

/* The time of a line in ms since the epoch, read back with timegm. */
static long long
line_time_ms(const char *line)
{
	struct tm tm;
	const char *t = strstr(line, "\"time\":\"");
	char *rest;

	ck_assert_ptr_nonnull(t);
	memset(&tm, 0, sizeof(tm));
	rest = strptime(t + 8, "%Y-%m-%dT%H:%M:%S", &tm);
	ck_assert_ptr_nonnull(rest);
	ck_assert_msg(rest[0] == '.' && rest[4] == 'Z', "%s", line);
	return (long long)timegm(&tm) * 1000 + strtol(rest + 1, NULL, 10);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Each line's time is the clock's when it was written, also after the
 * second turns (the seconds are formatted once per second per thread). */
START_TEST(test_time_is_now)
{
	long long before, after, t;
	int i;

	log_set_format(LOG_FORMAT_JSON);
	log_set_level(LOG_LEVEL_INFO);
	for (i = 0; i < 3; i++) {
		before = now_ms();
		capture_start();
		log_fields(LOG_LEVEL_INFO, "tick", NULL, 0);
		t = line_time_ms(capture_end());
		after = now_ms();
		ck_assert_msg(t >= before && t <= after, "line %d at %lld, "
		    "written between %lld and %lld", i, t, before, after);
		usleep(600 * 1000);
	}
}
END_TEST

START_TEST(test_json_written_out)
{
	char *text;

	log_set_format(LOG_FORMAT_JSON);
	log_set_level(LOG_LEVEL_INFO);
	capture_start();
	write_fields(LOG_LEVEL_WARN);
	text = capture_end();
	ck_assert_str_eq(untimed(text, 9), json_line);
}
END_TEST

/* The same fields through jansson: json_loads reads the line, and
 * json_dumps of an object built from the fields gives the same bytes. */
START_TEST(test_json_as_jansson)
{
	json_t *read, *built;
	json_error_t err;
	char *text, *dumped, *line;
	size_t len;

	log_set_format(LOG_FORMAT_JSON);
	log_set_level(LOG_LEVEL_DEBUG);
	capture_start();
	write_fields(LOG_LEVEL_DEBUG);
	text = capture_end();
	len = strlen(text);
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(text[len - 1], '\n');
	read = json_loadb(text, len - 1, 0, &err);
	ck_assert_msg(read != NULL, "not JSON: %s: %s", err.text, text);
	ck_assert_str_eq(json_string_value(json_object_get(read, "level")),
	    "debug");
	ck_assert_str_eq(json_string_value(json_object_get(read, "msg")),
	    "review \"x\"");
	built = json_pack("{s:O s:s s:s s:s s:s s:s s:s s:n s:s s:i s:I s:f "
	    "s:f s:f s:n}",
	    "time", json_object_get(read, "time"), "level", "debug",
	    "msg", "review \"x\"", "path", "/mutate/traffic",
	    "quoted", "a \"b\" c\\d\n\t\x01", "utf8", "caf\xC3\xA9",
	    "bad", "x?y?", "none", "empty", "", "status", 200,
	    "neg", (json_int_t)-9007199254740993LL, "ms", 0.1234567,
	    "whole", 3.0, "tiny", 1e-7, "nan");
	ck_assert_ptr_nonnull(built);
	dumped = json_dumps(built, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(6));
	ck_assert_ptr_nonnull(dumped);
	line = strndup(text, len - 1);
	ck_assert_str_eq(line, dumped);
	/* what was written, six digits of it */
	json_object_set_new(built, "ms", json_real(0.123457));
	ck_assert_msg(json_equal(read, built), "read back: %s", text);
	free(line);
	free(dumped);
	json_decref(built);
	json_decref(read);
}
END_TEST

START_TEST(test_text_written_out)
{
	char *text;

	log_set_format(LOG_FORMAT_TEXT);
	log_set_level(LOG_LEVEL_INFO);
	capture_start();
	write_fields(LOG_LEVEL_ERROR);
	log_msg(LOG_LEVEL_INFO, "listening", "https", "127.0.0.1:8443",
	    "self_namespace", NULL, "level", "skipped", "eq", "a=b", NULL);
	text = capture_end();
	log_set_format(LOG_FORMAT_JSON);
	ck_assert_str_eq(untimed(text, 5),
	    "time=T level=error msg=\"review \\\"x\\\"\" path=/mutate/traffic "
	    "quoted=\"a \\\"b\\\" c\\\\d\\n\\t\\u0001\" utf8=caf\xC3\xA9 "
	    "bad=x?y? none=null empty=\"\" status=200 "
	    "neg=-9007199254740993 ms=0.123457 whole=3.0 tiny=1e-7 "
	    "nan=null\n"
	    "time=T level=info msg=listening https=127.0.0.1:8443 "
	    "self_namespace=null eq=\"a=b\"\n");
}
END_TEST

START_TEST(test_level_filter)
{
	char *text;

	log_set_format(LOG_FORMAT_JSON);
	log_set_level(LOG_LEVEL_WARN);
	capture_start();
	write_fields(LOG_LEVEL_INFO);
	log_msg(LOG_LEVEL_DEBUG, "dropped", NULL);
	log_msg(LOG_LEVEL_ERROR, "kept", "k", "v", NULL);
	text = capture_end();
	log_set_level(LOG_LEVEL_INFO);
	ck_assert_str_eq(untimed(text, 9),
	    "{\"time\":\"T\",\"level\":\"error\",\"msg\":\"kept\",\"k\":\"v\"}\n");
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("lines");

	tcase_add_test(tc, test_json_written_out);
	tcase_add_test(tc, test_time_is_now);
	tcase_add_test(tc, test_json_as_jansson);
	tcase_add_test(tc, test_text_written_out);
	tcase_add_test(tc, test_level_filter);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
