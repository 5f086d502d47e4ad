/* check_server.c - Check suite for what the server decides before any
 * socket exists: listen addresses, routes, Content-Type, path unescaping. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static struct server_addr addr;
static char err[256];

static const struct {
	const char *in;
	const char *text;
	int family;
	unsigned port;
} good_addrs[] = {
	{ "0.0.0.0:8443", "0.0.0.0:8443", AF_INET, 8443 },
	{ "127.0.0.1:1", "127.0.0.1:1", AF_INET, 1 },
	{ "10.1.2.3:65535", "10.1.2.3:65535", AF_INET, 65535 },
	{ ":9090", "0.0.0.0:9090", AF_INET, 9090 },
	{ "localhost:8443", "127.0.0.1:8443", AF_INET, 8443 },
	{ "[::1]:8443", "[::1]:8443", AF_INET6, 8443 },
	{ "[::]:9090", "[::]:9090", AF_INET6, 9090 },
	{ "[fd00:0:0::10]:443", "[fd00::10]:443", AF_INET6, 443 },
	{ "[::ffff:127.0.0.1]:80", "[::ffff:127.0.0.1]:80", AF_INET6, 80 },
};

START_TEST(addr_good)
{
	unsigned port;

	ck_assert_msg(server_parse_addr(good_addrs[_i].in, &addr, err,
	    sizeof(err)) == 0, "%s: %s", good_addrs[_i].in, err);
	ck_assert_str_eq(addr.text, good_addrs[_i].text);
	ck_assert_int_eq(addr.ss.ss_family, good_addrs[_i].family);
	if (good_addrs[_i].family == AF_INET) {
		ck_assert_uint_eq(addr.len, sizeof(struct sockaddr_in));
		port = ntohs(((struct sockaddr_in *)&addr.ss)->sin_port);
	} else {
		ck_assert_uint_eq(addr.len, sizeof(struct sockaddr_in6));
		port = ntohs(((struct sockaddr_in6 *)&addr.ss)->sin6_port);
	}
	ck_assert_uint_eq(port, good_addrs[_i].port);
}
END_TEST

static const struct {
	const char *in;
	const char *why;	/* a part of the message */
} bad_addrs[] = {
	{ "", "empty" },
	{ "127.0.0.1", "missing :PORT" },
	{ "127.0.0.1:", "port" },
	{ "127.0.0.1:0", "port" },
	{ "127.0.0.1:65536", "port" },
	{ "127.0.0.1:99999999999999999999", "port" },
	{ "127.0.0.1:-1", "port" },
	{ "127.0.0.1:+80", "port" },
	{ "127.0.0.1:80x", "port" },
	{ "127.0.0.1: 80", "port" },
	{ "::1:8443", "brackets" },
	{ "[::1]", "[IPv6]:PORT" },
	{ "[::1:8443", "[IPv6]:PORT" },
	{ "[]:8443", "bad IPv6" },
	{ "[127.0.0.1]:8443", "not an IPv6" },
	{ "[::1]:", "port" },
	{ "example.com:8443", "not an IPv4" },
	{ "256.0.0.1:8443", "not an IPv4" },
	{ "1.2.3:8443", "not an IPv4" },
	{ "[::1]x:8443", "[IPv6]:PORT" },
};

START_TEST(addr_bad)
{
	err[0] = '\0';
	ck_assert_msg(server_parse_addr(bad_addrs[_i].in, &addr, err,
	    sizeof(err)) == -1, "\"%s\" was accepted", bad_addrs[_i].in);
	ck_assert_msg(strstr(err, bad_addrs[_i].why) != NULL,
	    "\"%s\": \"%s\" does not say \"%s\"", bad_addrs[_i].in, err,
	    bad_addrs[_i].why);
}
END_TEST

START_TEST(addr_null)
{
	ck_assert_int_eq(server_parse_addr(NULL, &addr, err, sizeof(err)), -1);
}
END_TEST

START_TEST(routes_good)
{
	enum review_route route;
	char stage[SERVER_STAGE_MAX];

	ck_assert_int_eq(server_route_parse("/mutate", &route, stage,
	    sizeof(stage)), 0);
	ck_assert_int_eq(route, ROUTE_MUTATE);
	ck_assert_str_eq(stage, "");
	ck_assert_int_eq(server_route_parse("/validate", &route, stage,
	    sizeof(stage)), 0);
	ck_assert_int_eq(route, ROUTE_VALIDATE);
	ck_assert_str_eq(stage, "");
	ck_assert_int_eq(server_route_parse("/mutate/traffic", &route, stage,
	    sizeof(stage)), 0);
	ck_assert_int_eq(route, ROUTE_MUTATE);
	ck_assert_str_eq(stage, "traffic");
	ck_assert_int_eq(server_route_parse("/validate/traffic-native", &route,
	    stage, sizeof(stage)), 0);
	ck_assert_int_eq(route, ROUTE_VALIDATE);
	ck_assert_str_eq(stage, "traffic-native");
}
END_TEST

static const char *const bad_routes[] = {
	"", "/", "/mutate/", "/validate/", "/mutatex", "/mutate-traffic",
	"/mutate/traffic/", "/mutate/traffic/extra", "/mutate//traffic",
	"/mutate/a b", "/mutate/tab\there", "/mutate/caf\xc3\xa9",
	"/MUTATE", "mutate", "/metrics", "/healthz", "/validatex/traffic",
	"/mutate/0123456789012345678901234567890123456789012345678901234567890123",
};

START_TEST(routes_bad)
{
	enum review_route route;
	char stage[SERVER_STAGE_MAX];

	ck_assert_msg(server_route_parse(bad_routes[_i], &route, stage,
	    sizeof(stage)) == -1, "\"%s\" was routed", bad_routes[_i]);
}
END_TEST

START_TEST(routes_longest_stage)
{
	enum review_route route;
	char stage[SERVER_STAGE_MAX], path[128];

	/* 63 characters fit; 64 do not (checked in routes_bad). */
	snprintf(path, sizeof(path), "/mutate/%s",
	    "012345678901234567890123456789012345678901234567890123456789012");
	ck_assert_int_eq(server_route_parse(path, &route, stage, sizeof(stage)),
	    0);
	ck_assert_uint_eq(strlen(stage), 63);
	ck_assert_int_eq(server_route_parse(path, &route, stage, 10), -1);
	ck_assert_int_eq(server_route_parse(NULL, &route, stage, 10), -1);
}
END_TEST

START_TEST(content_types)
{
	ck_assert(server_content_type_is_json("application/json"));
	ck_assert(server_content_type_is_json("Application/JSON"));
	ck_assert(server_content_type_is_json("application/json; charset=utf-8"));
	ck_assert(server_content_type_is_json("application/json;charset=UTF-8"));
	ck_assert(server_content_type_is_json(" application/json "));
	ck_assert(server_content_type_is_json("application/json ; x=y"));
	ck_assert(!server_content_type_is_json(NULL));
	ck_assert(!server_content_type_is_json(""));
	ck_assert(!server_content_type_is_json("application/jsonx"));
	ck_assert(!server_content_type_is_json("application/json-patch+json"));
	ck_assert(!server_content_type_is_json("application/yaml"));
	ck_assert(!server_content_type_is_json("text/json"));
	ck_assert(!server_content_type_is_json("text/plain; application/json"));
	ck_assert(!server_content_type_is_json("application/json, text/plain"));
}
END_TEST

START_TEST(unescape)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/mutate/traffic", "/mutate/traffic" },
		{ "/mutate/tr%61ffic", "/mutate/traffic" },
		{ "/mutate/..%2ftraffic", "/mutate/../traffic" },
		{ "/mutate/traffic%00", "/mutate/traffic%00" },
		{ "/mutate/traffic%0a", "/mutate/traffic%0a" },
		{ "/mutate/traffic%7F", "/mutate/traffic%7F" },
		{ "/a%20b", "/a b" },
		{ "/%", "/%" },
		{ "/%4", "/%4" },
		{ "/%zz", "/%zz" },
		{ "/%c3%a9", "/\xc3\xa9" },
		{ "", "" },
	};
	char buf[64];
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		n = server_url_unescape(buf);
		ck_assert_str_eq(buf, cases[i].out);
		ck_assert_uint_eq(n, strlen(cases[i].out));
	}
}
END_TEST

static Suite *
server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("addresses");

	tcase_add_loop_test(tc, addr_good, 0,
	    (int)(sizeof(good_addrs) / sizeof(good_addrs[0])));
	tcase_add_loop_test(tc, addr_bad, 0,
	    (int)(sizeof(bad_addrs) / sizeof(bad_addrs[0])));
	tcase_add_test(tc, addr_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_add_test(tc, routes_good);
	tcase_add_loop_test(tc, routes_bad, 0,
	    (int)(sizeof(bad_routes) / sizeof(bad_routes[0])));
	tcase_add_test(tc, routes_longest_stage);
	tcase_add_test(tc, content_types);
	tcase_add_test(tc, unescape);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(server_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
