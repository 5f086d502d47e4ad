/* check_redirect.c - Check suite for `meshinject redirect`'s flags and rule
 * builder. The rules of each case in tests/redirect/ (NAME.args: one argument
 * a line; NAME.saved-v4 / NAME.saved-v6, if present: the current
 * `iptables-save -t nat`) are compared with NAME.rules, which is exactly what
 * `meshinject redirect --dry-run` prints for them (when nothing is saved).
 *
 * Regenerate the golden files only on purpose, after reading the diff:
 *   MESHINJECT_UPDATE_GOLDEN=1 build/tests/check_redirect */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "redirect.h"
#include "lib/testutil.h"

#define MAX_CASES 64
#define MAX_ARGS 64

static const char *datadir = "tests/redirect";
static char *cases[MAX_CASES];
static int ncases;

static struct redirect_opts o;
static char err[256];

static int
parse(int argc, char **argv)
{
	redirect_opts_init(&o);
	return redirect_opts_parse(&o, argc, argv, err, sizeof(err));
}

#define PARSE(...) do {							\
	char *a_[] = { "redirect", __VA_ARGS__ };			\
	ck_assert_msg(parse((int)(sizeof(a_) / sizeof(a_[0])), a_) == 0,\
	    "parse failed: %s", err);					\
} while (0)

#define PARSE_FAILS(msg, ...) do {					\
	char *a_[] = { "redirect", __VA_ARGS__ };			\
	ck_assert_int_eq(parse((int)(sizeof(a_) / sizeof(a_[0])), a_), -1); \
	ck_assert_str_eq(err, msg);					\
} while (0)

START_TEST(opts_defaults)
{
	char *argv[] = { "redirect" };

	ck_assert_int_eq(parse(1, argv), 0);
	ck_assert_uint_eq(o.proxy_uid, 1337);
	ck_assert_uint_eq(o.proxy_gid, 1337);
	ck_assert_uint_eq(o.outbound_port, 15001);
	ck_assert_uint_eq(o.inbound_port, 15006);
	ck_assert_uint_eq(o.proxy_ports.n, 3);
	ck_assert_uint_eq(o.proxy_ports.ports[0], 15000);
	ck_assert_uint_eq(o.proxy_ports.ports[1], 15021);
	ck_assert_uint_eq(o.proxy_ports.ports[2], 15090);
	ck_assert(o.include_inbound.all);
	ck_assert(o.include_cidrs.all);
	ck_assert_uint_eq(o.exclude_inbound.n, 0);
	ck_assert_uint_eq(o.exclude_outbound.n, 0);
	ck_assert_uint_eq(o.exclude_cidrs.n, 0);
	ck_assert(!o.dry_run && !o.check && !o.help);
}
END_TEST

START_TEST(opts_forms)
{
	PARSE("--proxy-uid", "2000", "--outbound-port=16001", "--dry-run",
	    "--exclude-outbound-ports", "", "--include-inbound-ports=",
	    "--check");
	ck_assert_uint_eq(o.proxy_uid, 2000);
	ck_assert_uint_eq(o.proxy_gid, 2000);	/* follows the uid */
	ck_assert_uint_eq(o.outbound_port, 16001);
	ck_assert(o.dry_run && o.check);
	ck_assert(!o.include_inbound.all);
	ck_assert_uint_eq(o.include_inbound.n, 0);

	PARSE("--proxy-gid=0", "--proxy-uid=7");
	ck_assert_uint_eq(o.proxy_uid, 7);
	ck_assert_uint_eq(o.proxy_gid, 0);

	PARSE("--proxy-uid", "0", "--proxy-uid", "4294967294");
	ck_assert_uint_eq(o.proxy_uid, 4294967294UL);

	/* The last of a repeated flag wins, as with most tools. */
	PARSE("--include-outbound-cidrs", "10.0.0.0/8",
	    "--include-outbound-cidrs=*", "--help");
	ck_assert(o.include_cidrs.all);
	ck_assert(o.help);
}
END_TEST

START_TEST(opts_errors)
{
	PARSE_FAILS("unknown option \"--proxy-port\"", "--proxy-port", "1");
	PARSE_FAILS("--dry-run takes no value", "--dry-run=yes");
	PARSE_FAILS("--check takes no value", "--check=");
	PARSE_FAILS("unexpected argument \"extra\"", "extra");
	PARSE_FAILS("unexpected argument \"-x\"", "-x");
	PARSE_FAILS("--outbound-port needs a value", "--outbound-port");
	PARSE_FAILS("--outbound-port \"0\": \"0\" is not a port",
	    "--outbound-port", "0");
	PARSE_FAILS("--inbound-port \"15006x\": \"15006x\" is not a port",
	    "--inbound-port=15006x");
	PARSE_FAILS("--inbound-port \"\": one port (1-65535) expected",
	    "--inbound-port=");
	PARSE_FAILS("--outbound-port \"1,2\": one port (1-65535) expected",
	    "--outbound-port", "1,2");
	PARSE_FAILS("--outbound-port \"*\": \"*\" is not allowed here "
	    "(list the ports)", "--outbound-port", "*");
	PARSE_FAILS("--proxy-uid \"-1\": not a user id (0-4294967294)",
	    "--proxy-uid", "-1");
	PARSE_FAILS("--proxy-uid \"4294967295\": not a user id "
	    "(0-4294967294)", "--proxy-uid=4294967295");
	PARSE_FAILS("--proxy-gid \"\": not a group id (0-4294967294)",
	    "--proxy-gid=");
	PARSE_FAILS("--proxy-uid \"13 37\": not a user id (0-4294967294)",
	    "--proxy-uid", "13 37");
	PARSE_FAILS("--include-inbound-ports \"80,abc\": \"abc\" is not a "
	    "port", "--include-inbound-ports", "80,abc");
	PARSE_FAILS("--exclude-inbound-ports \"*\": \"*\" is not allowed "
	    "here (list the ports)", "--exclude-inbound-ports=*");
	PARSE_FAILS("--exclude-outbound-ports \"65536\": \"65536\" is not a "
	    "port", "--exclude-outbound-ports", "65536");
	PARSE_FAILS("--proxy-ports \"15000,\": \"\" is not a port",
	    "--proxy-ports", "15000,");
	PARSE_FAILS("--exclude-outbound-cidrs \"10.0.0.0/33\": "
	    "\"10.0.0.0/33\" is not a CIDR",
	    "--exclude-outbound-cidrs", "10.0.0.0/33");
	PARSE_FAILS("--exclude-outbound-cidrs \"*\": \"*\" is not allowed "
	    "here (list the CIDRs)", "--exclude-outbound-cidrs", "*");
	PARSE_FAILS("--include-outbound-cidrs \"fd00::/8,*\": \"*\" cannot "
	    "be combined with other CIDRs",
	    "--include-outbound-cidrs=fd00::/8,*");
}
END_TEST

static bool
captures(const char *addr, uint16_t port)
{
	uint8_t a[16];
	int fam = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;

	ck_assert_int_eq(inet_pton(fam, addr, a), 1);
	return redirect_captures(&o, fam, a, port);
}

START_TEST(captures_table)
{
	PARSE("--include-outbound-cidrs", "10.0.0.0/8,fd00::/8,192.168.1.128/25",
	    "--exclude-outbound-cidrs", "10.96.0.0/12,fd00:96::/32",
	    "--exclude-outbound-ports", "3306");
	ck_assert(captures("10.1.2.3", 80));
	ck_assert(!captures("10.1.2.3", 3306));
	ck_assert(!captures("10.96.0.1", 80));
	ck_assert(!captures("10.111.255.255", 80));
	ck_assert(captures("10.112.0.0", 80));
	ck_assert(!captures("11.0.0.1", 80));
	ck_assert(captures("192.168.1.200", 80));
	ck_assert(!captures("192.168.1.127", 80));
	ck_assert(captures("fd12::1", 443));
	ck_assert(!captures("fd00:96::1", 443));
	ck_assert(!captures("fe80::1", 443));
	ck_assert(!captures("127.0.0.1", 80));

	PARSE();
	ck_assert(captures("192.0.2.1", 80));
	ck_assert(captures("2001:db8::1", 80));
	ck_assert(!captures("127.1.2.3", 80));
	ck_assert(!captures("::1", 80));

	PARSE("--include-outbound-cidrs=");
	ck_assert(!captures("192.0.2.1", 80));
	ck_assert(!captures("2001:db8::1", 80));

	PARSE("--include-outbound-cidrs=0.0.0.0/0");
	ck_assert(captures("192.0.2.1", 80));
	ck_assert(!captures("2001:db8::1", 80));
}
END_TEST

/* Rules of both families, as --dry-run prints them. */
static char *
both_rules(const char *saved4, const char *saved6)
{
	char *r4, *r6, *all;
	size_t n4, n6;

	r4 = redirect_rules(&o, AF_INET, saved4);
	r6 = redirect_rules(&o, AF_INET6, saved6);
	ck_assert_ptr_nonnull(r4);
	ck_assert_ptr_nonnull(r6);
	n4 = strlen(r4);
	n6 = strlen(r6);
	all = malloc(n4 + n6 + 1);
	ck_assert_ptr_nonnull(all);
	memcpy(all, r4, n4);
	memcpy(all + n4, r6, n6 + 1);
	free(r4);
	free(r6);
	return all;
}

static char *
case_path(const char *name, const char *suffix)
{
	size_t n = strlen(datadir) + strlen(name) + strlen(suffix) + 3;
	char *p = malloc(n);

	ck_assert_ptr_nonnull(p);
	snprintf(p, n, "%s/%s.%s", datadir, name, suffix);
	return p;
}

START_TEST(golden)
{
	const char *name = cases[_i];
	char *argv[MAX_ARGS + 1];
	char *args, *line, *next, *saved4, *saved6, *got, *want, *path;
	int argc = 0;
	FILE *f;

	path = case_path(name, "args");
	args = tu_read_file_opt(path, NULL);
	ck_assert_msg(args != NULL, "cannot read %s", path);
	free(path);
	argv[argc++] = "redirect";
	for (line = args; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		ck_assert_msg(next != NULL, "%s.args: last line has no newline",
		    name);
		*next++ = '\0';
		ck_assert_int_lt(argc, MAX_ARGS);
		argv[argc++] = line;
	}
	ck_assert_msg(parse(argc, argv) == 0, "%s: %s", name, err);

	path = case_path(name, "saved-v4");
	saved4 = tu_read_file_opt(path, NULL);
	free(path);
	path = case_path(name, "saved-v6");
	saved6 = tu_read_file_opt(path, NULL);
	free(path);
	got = both_rules(saved4, saved6);

	path = case_path(name, "rules");
	if (getenv("MESHINJECT_UPDATE_GOLDEN") != NULL) {
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fputs(got, f);
		ck_assert_int_eq(fclose(f), 0);
	}
	want = tu_read_file_opt(path, NULL);
	ck_assert_msg(want != NULL, "%s missing: run with "
	    "MESHINJECT_UPDATE_GOLDEN=1 to create it, then read it", path);
	ck_assert_msg(strcmp(got, want) == 0, "%s differs from the rules "
	    "built now:\n%s", path, got);

	/* Building twice from the same input gives the same text. */
	free(got);
	got = both_rules(saved4, saved6);
	ck_assert_str_eq(got, want);

	free(path);
	free(want);
	free(got);
	free(saved4);
	free(saved6);
	free(args);
}
END_TEST

/* A golden case without saved rules is exactly what --dry-run shows; its
 * jump lines are the only ones in the hooks. */
START_TEST(fresh_rules_shape)
{
	char *r;

	PARSE();
	r = redirect_rules(&o, AF_INET, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(strstr(r, "\n*nat\n:MESH_INBOUND - [0:0]\n"));
	ck_assert_ptr_null(strstr(r, "\n-D "));
	ck_assert_ptr_nonnull(strstr(r, "\n-A PREROUTING -p tcp -j MESH_INBOUND\n"
	    "-A OUTPUT -p tcp -j MESH_OUTPUT\nCOMMIT\n"));
	ck_assert_ptr_null(strstr(r, "::"));
	free(r);
	r = redirect_rules(&o, AF_INET6, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(strstr(r, "127.0.0."));
	free(r);
}
END_TEST

START_TEST(old_jumps_deleted)
{
	const char *saved =
	    "*nat\n"
	    "-A OUTPUT -p tcp -j MESH_OUTPUT\n"
	    "-A OUTPUT -j MESH_REDIRECT\n"
	    "-A OUTPUT -p tcp -j MESH_OUTPUT_OTHER\n"
	    "-A OUTPUT -p tcp -m comment --comment \"-j MESH_OUTPUT\" -j ACCEPT\n"
	    "-A PREROUTING -p tcp -j MESH_INBOUND\n"
	    "-A MESH_OUTPUT -j MESH_REDIRECT\n"
	    "COMMIT\n"
	    "*mangle\n"
	    "-A PREROUTING -p tcp -j MESH_INBOUND\n"
	    "COMMIT\n"
	    "*nat\n"
	    "-A PREROUTING -p tcp -j MESH_INBOUND";	/* no newline */
	char *r;

	PARSE();
	r = redirect_rules(&o, AF_INET, saved);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(strstr(r,
	    "-D OUTPUT -p tcp -j MESH_OUTPUT\n"
	    "-D OUTPUT -j MESH_REDIRECT\n"
	    "-D PREROUTING -p tcp -j MESH_INBOUND\n"
	    "-D PREROUTING -p tcp -j MESH_INBOUND\n"
	    "-A PREROUTING -p tcp -j MESH_INBOUND\n"));
	ck_assert_ptr_null(strstr(r, "MESH_OUTPUT_OTHER"));
	ck_assert_ptr_null(strstr(r, "-D OUTPUT -p tcp -m comment"));
	ck_assert_ptr_null(strstr(r, "-D MESH_OUTPUT"));
	free(r);

	/* Empty or unrelated input deletes nothing. */
	r = redirect_rules(&o, AF_INET, "");
	ck_assert_ptr_null(strstr(r, "-D "));
	free(r);
	r = redirect_rules(&o, AF_INET, "*filter\n-A OUTPUT -j MESH_OUTPUT\n"
	    "COMMIT\n");
	ck_assert_ptr_null(strstr(r, "-D "));
	free(r);
}
END_TEST

START_TEST(families_kept_apart)
{
	char *r;

	PARSE("--include-outbound-cidrs", "fd00::/8",
	    "--exclude-outbound-cidrs", "10.96.0.0/12,fd00:96::/32");
	r = redirect_rules(&o, AF_INET, NULL);
	ck_assert_ptr_null(strstr(r, "fd00"));
	ck_assert_ptr_nonnull(strstr(r, "-A MESH_OUTPUT -d 10.96.0.0/12 -j RETURN\n"));
	/* Nothing of v4 is included: no v4 capture at all. */
	ck_assert_ptr_null(strstr(r, "-j MESH_REDIRECT\n-A PREROUTING"));
	ck_assert_ptr_null(strstr(r, "-A MESH_OUTPUT -j MESH_REDIRECT"));
	free(r);
	r = redirect_rules(&o, AF_INET6, NULL);
	ck_assert_ptr_null(strstr(r, "10.96"));
	ck_assert_ptr_nonnull(strstr(r, "-A MESH_OUTPUT -d fd00:96::/32 -j RETURN\n"
	    "-A MESH_OUTPUT -d fd00::/8 -j MESH_REDIRECT\n"));
	free(r);
}
END_TEST

static void
find_cases(void)
{
	struct dirent *de;
	DIR *d;
	size_t len;
	char *name;

	if ((d = opendir(datadir)) == NULL) {
		fprintf(stderr, "check_redirect: cannot open %s (run from the "
		    "repository's top directory)\n", datadir);
		exit(EXIT_FAILURE);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".args") != 0)
			continue;
		if (ncases == MAX_CASES)
			break;
		name = strndup(de->d_name, len - 5);
		if (name == NULL)
			exit(EXIT_FAILURE);
		cases[ncases++] = name;
	}
	closedir(d);
	/* A stable order, for readable output. */
	for (int i = 1; i < ncases; i++)
		for (int j = i; j > 0 && strcmp(cases[j - 1], cases[j]) > 0;
		    j--) {
			name = cases[j];
			cases[j] = cases[j - 1];
			cases[j - 1] = name;
		}
}

static Suite *
redirect_suite(void)
{
	Suite *s = suite_create("redirect");
	TCase *tc = tcase_create("opts");

	tcase_add_test(tc, opts_defaults);
	tcase_add_test(tc, opts_forms);
	tcase_add_test(tc, opts_errors);
	tcase_add_test(tc, captures_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_test(tc, fresh_rules_shape);
	tcase_add_test(tc, old_jumps_deleted);
	tcase_add_test(tc, families_kept_apart);
	tcase_add_loop_test(tc, golden, 0, ncases);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed, i;

	if (getenv("MESHINJECT_TESTDATA") != NULL)
		datadir = getenv("MESHINJECT_TESTDATA");
	find_cases();
	if (ncases == 0) {
		fprintf(stderr, "check_redirect: no cases in %s\n", datadir);
		return EXIT_FAILURE;
	}
	sr = srunner_create(redirect_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (i = 0; i < ncases; i++)
		free(cases[i]);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
