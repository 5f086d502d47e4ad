/* check_netparse.c - Check suite for the port and CIDR list parsers. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netparse.h"

static struct port_list pl;
static struct cidr_list cl;
static char err[256];

START_TEST(ports_good)
{
	ck_assert_int_eq(netparse_ports("80,443", false, &pl, err, sizeof(err)), 0);
	ck_assert(!pl.all);
	ck_assert_uint_eq(pl.n, 2);
	ck_assert_uint_eq(pl.ports[0], 80);
	ck_assert_uint_eq(pl.ports[1], 443);

	ck_assert_int_eq(netparse_ports(" 1 , 65535 ", false, &pl, err, sizeof(err)), 0);
	ck_assert_uint_eq(pl.n, 2);
	ck_assert_uint_eq(pl.ports[0], 1);
	ck_assert_uint_eq(pl.ports[1], 65535);

	/* A repeat is harmless and kept once. */
	ck_assert_int_eq(netparse_ports("80,80,81", false, &pl, err, sizeof(err)), 0);
	ck_assert_uint_eq(pl.n, 2);
}
END_TEST

START_TEST(ports_empty)
{
	ck_assert_int_eq(netparse_ports("", false, &pl, err, sizeof(err)), 0);
	ck_assert(!pl.all);
	ck_assert_uint_eq(pl.n, 0);
	ck_assert_int_eq(netparse_ports("  ", true, &pl, err, sizeof(err)), 0);
	ck_assert_uint_eq(pl.n, 0);
	ck_assert_int_eq(netparse_ports(NULL, true, &pl, err, sizeof(err)), 0);
	ck_assert_uint_eq(pl.n, 0);
}
END_TEST

START_TEST(ports_wildcard)
{
	ck_assert_int_eq(netparse_ports("*", true, &pl, err, sizeof(err)), 0);
	ck_assert(pl.all);
	ck_assert_uint_eq(pl.n, 0);
	ck_assert_int_eq(netparse_ports(" * ", true, &pl, err, sizeof(err)), 0);
	ck_assert(pl.all);

	ck_assert_int_eq(netparse_ports("*", false, &pl, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"*\" is not allowed here (list the ports)");
	ck_assert(!pl.all);
	ck_assert_int_eq(netparse_ports("*,80", true, &pl, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"*\" cannot be combined with other ports");
	ck_assert_int_eq(netparse_ports("80,*", true, &pl, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"*\" cannot be combined with other ports");
	ck_assert_int_eq(netparse_ports("**", true, &pl, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"**\" is not a port");
}
END_TEST

static const struct {
	const char *in;
	const char *err;
} bad_ports[] = {
	{ "abc", "\"abc\" is not a port" },
	{ "80x", "\"80x\" is not a port" },
	{ "0", "\"0\" is not a port" },
	{ "-1", "\"-1\" is not a port" },
	{ "+80", "\"+80\" is not a port" },
	{ "65536", "\"65536\" is not a port" },
	{ "100000", "\"100000\" is not a port" },
	{ "99999999999999999999", "\"99999999999999999999\" is not a port" },
	{ "80,", "\"\" is not a port" },
	{ ",80", "\"\" is not a port" },
	{ "80,,443", "\"\" is not a port" },
	{ "8 0", "\"8 0\" is not a port" },
	{ "80;443", "\"80;443\" is not a port" },
	{ "0x50", "\"0x50\" is not a port" },
	{ "80-90", "\"80-90\" is not a port" },
};

START_TEST(ports_bad)
{
	ck_assert_int_eq(netparse_ports(bad_ports[_i].in, true, &pl, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, bad_ports[_i].err);
	ck_assert_uint_eq(pl.n, 0);
	ck_assert(!pl.all);
}
END_TEST

START_TEST(ports_too_many)
{
	char buf[NETPARSE_MAX_ITEMS * 7 + 16];
	size_t off = 0;
	int i;

	for (i = 1; i <= NETPARSE_MAX_ITEMS; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%d",
		    i > 1 ? "," : "", i);
	ck_assert_int_eq(netparse_ports(buf, false, &pl, err, sizeof(err)), 0);
	ck_assert_uint_eq(pl.n, NETPARSE_MAX_ITEMS);
	snprintf(buf + off, sizeof(buf) - off, ",%d", NETPARSE_MAX_ITEMS + 1);
	ck_assert_int_eq(netparse_ports(buf, false, &pl, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "too many ports (at most 256)");
}
END_TEST

START_TEST(ports_long_item_is_cut)
{
	char buf[200];

	memset(buf, '9', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	ck_assert_int_eq(netparse_ports(buf, false, &pl, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "...\" is not a port"));
	ck_assert_uint_lt(strlen(err), 100);
	/* A tiny error buffer is not overrun. */
	ck_assert_int_eq(netparse_ports("abc", false, &pl, err, 4), -1);
	ck_assert_str_eq(err, "\"ab");
}
END_TEST

static void
fmt(size_t i, char *buf)
{
	netparse_cidr_format(&cl.cidrs[i], buf, 50);
}

START_TEST(cidrs_good)
{
	char buf[50];

	ck_assert_int_eq(netparse_cidrs("10.0.0.0/8, fd00::/8 ,192.168.1.7",
	    false, &cl, err, sizeof(err)), 0);
	ck_assert(!cl.all);
	ck_assert_uint_eq(cl.n, 3);
	ck_assert_int_eq(cl.cidrs[0].family, AF_INET);
	ck_assert_int_eq(cl.cidrs[0].prefix, 8);
	fmt(0, buf);
	ck_assert_str_eq(buf, "10.0.0.0/8");
	ck_assert_int_eq(cl.cidrs[1].family, AF_INET6);
	fmt(1, buf);
	ck_assert_str_eq(buf, "fd00::/8");
	fmt(2, buf);
	ck_assert_str_eq(buf, "192.168.1.7/32");

	ck_assert_int_eq(netparse_cidrs("::1,0.0.0.0/0,::/0", false, &cl, err,
	    sizeof(err)), 0);
	fmt(0, buf);
	ck_assert_str_eq(buf, "::1/128");
	fmt(1, buf);
	ck_assert_str_eq(buf, "0.0.0.0/0");
	fmt(2, buf);
	ck_assert_str_eq(buf, "::/0");
}
END_TEST

START_TEST(cidrs_host_bits_cleared)
{
	char buf[50];

	ck_assert_int_eq(netparse_cidrs("10.1.2.3/8,10.1.2.255/25,"
	    "2001:db8:ffff:ffff::1/33,fd00::ff/127,192.168.1.1/0", false, &cl,
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(cl.n, 5);
	fmt(0, buf);
	ck_assert_str_eq(buf, "10.0.0.0/8");
	fmt(1, buf);
	ck_assert_str_eq(buf, "10.1.2.128/25");
	fmt(2, buf);
	ck_assert_str_eq(buf, "2001:db8:8000::/33");
	fmt(3, buf);
	ck_assert_str_eq(buf, "fd00::fe/127");
	fmt(4, buf);
	ck_assert_str_eq(buf, "0.0.0.0/0");

	/* The same network written twice is kept once. */
	ck_assert_int_eq(netparse_cidrs("10.1.0.0/16,10.1.2.3/16", false, &cl,
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(cl.n, 1);
}
END_TEST

START_TEST(cidrs_wildcard_and_empty)
{
	ck_assert_int_eq(netparse_cidrs("*", true, &cl, err, sizeof(err)), 0);
	ck_assert(cl.all);
	ck_assert_int_eq(netparse_cidrs("", true, &cl, err, sizeof(err)), 0);
	ck_assert(!cl.all);
	ck_assert_uint_eq(cl.n, 0);
	ck_assert_int_eq(netparse_cidrs("*", false, &cl, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "\"*\" is not allowed here (list the CIDRs)");
	ck_assert_int_eq(netparse_cidrs("10.0.0.0/8,*", true, &cl, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "\"*\" cannot be combined with other CIDRs");
}
END_TEST

static const struct {
	const char *in;
	const char *err;
} bad_cidrs[] = {
	{ "10.0.0.0/33", "\"10.0.0.0/33\" is not a CIDR" },
	{ "fd00::/129", "\"fd00::/129\" is not a CIDR" },
	{ "10.0.0.0/", "\"10.0.0.0/\" is not a CIDR" },
	{ "10.0.0.0/-1", "\"10.0.0.0/-1\" is not a CIDR" },
	{ "10.0.0.0/+8", "\"10.0.0.0/+8\" is not a CIDR" },
	{ "10.0.0.0/8x", "\"10.0.0.0/8x\" is not a CIDR" },
	{ "10.0.0.0/8/8", "\"10.0.0.0/8/8\" is not a CIDR" },
	{ "10.0.0/8", "\"10.0.0/8\" is not a CIDR" },
	{ "10.0.0.256", "\"10.0.0.256\" is not a CIDR" },
	{ "010.0.0.1", "\"010.0.0.1\" is not a CIDR" },
	{ "abc", "\"abc\" is not a CIDR" },
	{ "/8", "\"/8\" is not a CIDR" },
	{ "fe80::1%eth0", "\"fe80::1%eth0\" is not a CIDR" },
	{ "fd00:::1", "\"fd00:::1\" is not a CIDR" },
	{ "10.0.0.0 /8", "\"10.0.0.0 /8\" is not a CIDR" },
	{ "10.0.0.0/8,", "\"\" is not a CIDR" },
	{ "10.0.0.0/8,,fd00::/8", "\"\" is not a CIDR" },
	{ "localhost", "\"localhost\" is not a CIDR" },
};

START_TEST(cidrs_bad)
{
	ck_assert_int_eq(netparse_cidrs(bad_cidrs[_i].in, true, &cl, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, bad_cidrs[_i].err);
	ck_assert_uint_eq(cl.n, 0);
}
END_TEST

START_TEST(cidr_format_small_buffer)
{
	char buf[8];

	ck_assert_int_eq(netparse_cidrs("192.168.100.0/24", false, &cl, err,
	    sizeof(err)), 0);
	netparse_cidr_format(&cl.cidrs[0], buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.168");
}
END_TEST

START_TEST(port_membership)
{
	ck_assert_int_eq(netparse_ports("80, 8080,15021", false, &pl, err,
	    sizeof(err)), 0);
	ck_assert(netparse_port_in(&pl, 80));
	ck_assert(netparse_port_in(&pl, 8080));
	ck_assert(netparse_port_in(&pl, 15021));
	ck_assert(!netparse_port_in(&pl, 81));
	ck_assert(!netparse_port_in(&pl, 0));
	ck_assert_int_eq(netparse_ports("", false, &pl, err, sizeof(err)), 0);
	ck_assert(!netparse_port_in(&pl, 80));
	ck_assert_int_eq(netparse_ports("*", true, &pl, err, sizeof(err)), 0);
	ck_assert(netparse_port_in(&pl, 1));
	ck_assert(netparse_port_in(&pl, 65535));
}
END_TEST

/* Membership at prefixes that end inside a byte (/20, /127) and on one
 * (/8, /0), for both families; an address of the other family never
 * matches. The addresses are written out, not derived from the parser. */
START_TEST(cidr_membership)
{
	uint8_t a4[4], a6[16];

	ck_assert_int_eq(netparse_cidrs("10.0.0.0/8,172.16.16.0/20,"
	    "fd00::/127", false, &cl, err, sizeof(err)), 0);
	inet_pton(AF_INET, "10.255.1.2", a4);
	ck_assert(netparse_cidr_in(&cl, AF_INET, a4));
	inet_pton(AF_INET, "11.0.0.0", a4);
	ck_assert(!netparse_cidr_in(&cl, AF_INET, a4));
	inet_pton(AF_INET, "172.16.31.255", a4);	/* last of the /20 */
	ck_assert(netparse_cidr_in(&cl, AF_INET, a4));
	inet_pton(AF_INET, "172.16.32.0", a4);		/* first past it */
	ck_assert(!netparse_cidr_in(&cl, AF_INET, a4));
	inet_pton(AF_INET, "172.16.15.255", a4);	/* last before it */
	ck_assert(!netparse_cidr_in(&cl, AF_INET, a4));
	inet_pton(AF_INET6, "fd00::1", a6);
	ck_assert(netparse_cidr_in(&cl, AF_INET6, a6));
	inet_pton(AF_INET6, "fd00::2", a6);
	ck_assert(!netparse_cidr_in(&cl, AF_INET6, a6));
	memset(a6, 0, sizeof(a6));
	memcpy(a6, "\x0a\x01\x02\x03", 4);	/* 10.1.2.3's bytes, as v6 */
	ck_assert(!netparse_cidr_in(&cl, AF_INET6, a6));

	ck_assert_int_eq(netparse_cidrs("0.0.0.0/0", false, &cl, err,
	    sizeof(err)), 0);
	inet_pton(AF_INET, "203.0.113.9", a4);
	ck_assert(netparse_cidr_in(&cl, AF_INET, a4));
	inet_pton(AF_INET6, "2001:db8::1", a6);
	ck_assert(!netparse_cidr_in(&cl, AF_INET6, a6));
	ck_assert_int_eq(netparse_cidrs("*", true, &cl, err, sizeof(err)), 0);
	ck_assert(netparse_cidr_in(&cl, AF_INET6, a6));
}
END_TEST

static Suite *
netparse_suite(void)
{
	Suite *s = suite_create("netparse");
	TCase *tc = tcase_create("ports");

	tcase_add_test(tc, ports_good);
	tcase_add_test(tc, ports_empty);
	tcase_add_test(tc, ports_wildcard);
	tcase_add_loop_test(tc, ports_bad, 0,
	    (int)(sizeof(bad_ports) / sizeof(bad_ports[0])));
	tcase_add_test(tc, ports_too_many);
	tcase_add_test(tc, ports_long_item_is_cut);
	tcase_add_test(tc, port_membership);
	suite_add_tcase(s, tc);

	tc = tcase_create("cidrs");
	tcase_add_test(tc, cidrs_good);
	tcase_add_test(tc, cidrs_host_bits_cleared);
	tcase_add_test(tc, cidrs_wildcard_and_empty);
	tcase_add_loop_test(tc, cidrs_bad, 0,
	    (int)(sizeof(bad_cidrs) / sizeof(bad_cidrs[0])));
	tcase_add_test(tc, cidr_format_small_buffer);
	tcase_add_test(tc, cidr_membership);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(netparse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
