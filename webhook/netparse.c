/* netparse.c - strict parsing of port and CIDR lists (pod annotations and
 * `meshinject redirect` flags). Nothing here allocates or logs: a bad item
 * comes back as a short reason that quotes it. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "netparse.h"

/* Longest item we look at; anything longer is not a port or a CIDR. */
#define ITEM_MAX 64

/* One comma-separated item, spaces around it trimmed. */
struct item {
	const char *p;
	size_t len;
};

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Split off the next item of `*s` (advancing it past the comma). Returns 0
 * when the list is exhausted. */
static int
next_item(const char **s, struct item *it)
{
	const char *p = *s, *end;

	if (p == NULL)
		return 0;
	end = strchr(p, ',');
	*s = end != NULL ? end + 1 : NULL;
	if (end == NULL)
		end = p + strlen(p);
	while (p < end && is_space(*p))
		p++;
	while (end > p && is_space(end[-1]))
		end--;
	it->p = p;
	it->len = (size_t)(end - p);
	return 1;
}

/* An empty or all-blank string is an empty list. */
static int
is_blank(const char *s)
{
	while (is_space(*s))
		s++;
	return *s == '\0';
}

static void
quote_err(char *err, size_t errlen, const struct item *it, const char *why)
{
	int n = it->len > ITEM_MAX ? ITEM_MAX : (int)it->len;

	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "\"%.*s%s\" %s", n, it->p,
		    it->len > ITEM_MAX ? "..." : "", why);
}

/* Digits only (no sign, no blanks), at most `maxdigits` of them, value in
 * [lo, hi]. Returns the value or -1. */
static long
parse_uint(const char *p, size_t len, size_t maxdigits, long lo, long hi)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > maxdigits)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v < lo || v > hi ? -1 : v;
}

/* "*" alone means all; with other items, or where not allowed, it is an
 * error. Returns 1 if `it` is the wildcard and was accepted, 0 if `it` is not
 * the wildcard, -1 on error. */
static int
check_wildcard(const struct item *it, bool allow_all, bool alone,
    const char *what, char *err, size_t errlen)
{
	char why[64];

	if (it->len != 1 || it->p[0] != '*')
		return 0;
	if (!allow_all) {
		snprintf(why, sizeof(why), "is not allowed here (list the %s)",
		    what);
		quote_err(err, errlen, it, why);
		return -1;
	}
	if (!alone) {
		snprintf(why, sizeof(why), "cannot be combined with other %s",
		    what);
		quote_err(err, errlen, it, why);
		return -1;
	}
	return 1;
}

int
netparse_ports(const char *s, bool allow_all, struct port_list *out,
    char *err, size_t errlen)
{
	struct item it;
	const char *cur = s;
	long v;
	size_t i, k = 0;
	int w;

	memset(out, 0, sizeof(*out));
	if (s == NULL || is_blank(s))
		return 0;
	while (next_item(&cur, &it)) {
		w = check_wildcard(&it, allow_all, k++ == 0 && cur == NULL,
		    "ports", err, errlen);
		if (w < 0)
			goto fail;
		if (w > 0) {
			out->all = true;
			continue;
		}
		v = parse_uint(it.p, it.len, 5, 1, 65535);
		if (v < 0) {
			quote_err(err, errlen, &it, "is not a port");
			goto fail;
		}
		for (i = 0; i < out->n; i++)
			if (out->ports[i] == (uint16_t)v)
				break;
		if (i < out->n)
			continue;	/* a repeat changes nothing */
		if (out->n == NETPARSE_MAX_ITEMS) {
			snprintf(err, errlen, "too many ports (at most %d)",
			    NETPARSE_MAX_ITEMS);
			goto fail;
		}
		out->ports[out->n++] = (uint16_t)v;
	}
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

/* Parse one "addr[/prefix]" item into `c`. Returns 0 or -1. */
static int
parse_cidr(const struct item *it, struct cidr *c)
{
	char addr[ITEM_MAX + 1];
	const char *slash;
	size_t alen, nbytes, i;
	long prefix;
	int maxprefix;

	if (it->len == 0 || it->len > ITEM_MAX)
		return -1;
	slash = memchr(it->p, '/', it->len);
	alen = slash != NULL ? (size_t)(slash - it->p) : it->len;
	memcpy(addr, it->p, alen);
	addr[alen] = '\0';

	memset(c, 0, sizeof(*c));
	c->family = memchr(addr, ':', alen) != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(c->family, addr, c->addr) != 1)
		return -1;
	maxprefix = c->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		prefix = parse_uint(slash + 1, it->len - alen - 1, 3, 0,
		    maxprefix);
		if (prefix < 0)
			return -1;
	} else
		prefix = maxprefix;
	c->prefix = (int)prefix;

	/* Clear the host bits so that equal networks compare equal and the
	 * rules show the network that is actually matched. */
	nbytes = (size_t)maxprefix / 8;
	for (i = 0; i < nbytes; i++) {
		int keep = c->prefix - (int)i * 8;

		if (keep <= 0)
			c->addr[i] = 0;
		else if (keep < 8)
			c->addr[i] &= (uint8_t)(0xff00u >> keep);
	}
	return 0;
}

int
netparse_cidrs(const char *s, bool allow_all, struct cidr_list *out,
    char *err, size_t errlen)
{
	struct item it;
	struct cidr c;
	const char *cur = s;
	size_t i, k = 0;
	int w;

	memset(out, 0, sizeof(*out));
	if (s == NULL || is_blank(s))
		return 0;
	while (next_item(&cur, &it)) {
		w = check_wildcard(&it, allow_all, k++ == 0 && cur == NULL,
		    "CIDRs", err, errlen);
		if (w < 0)
			goto fail;
		if (w > 0) {
			out->all = true;
			continue;
		}
		if (parse_cidr(&it, &c) < 0) {
			quote_err(err, errlen, &it, "is not a CIDR");
			goto fail;
		}
		for (i = 0; i < out->n; i++)
			if (out->cidrs[i].family == c.family &&
			    out->cidrs[i].prefix == c.prefix &&
			    memcmp(out->cidrs[i].addr, c.addr, 16) == 0)
				break;
		if (i < out->n)
			continue;
		if (out->n == NETPARSE_MAX_ITEMS) {
			snprintf(err, errlen, "too many CIDRs (at most %d)",
			    NETPARSE_MAX_ITEMS);
			goto fail;
		}
		out->cidrs[out->n++] = c;
	}
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

void
netparse_cidr_format(const struct cidr *c, char *buf, size_t buflen)
{
	char addr[INET6_ADDRSTRLEN];

	if (buflen == 0)
		return;
	if (inet_ntop(c->family, c->addr, addr, sizeof(addr)) == NULL) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, buflen, "%s/%d", addr, c->prefix);
}

bool
netparse_port_in(const struct port_list *pl, uint16_t port)
{
	size_t i;

	if (pl->all)
		return true;
	for (i = 0; i < pl->n; i++)
		if (pl->ports[i] == port)
			return true;
	return false;
}

bool
netparse_cidr_in(const struct cidr_list *cl, int family, const uint8_t *addr)
{
	const struct cidr *c;
	size_t i;
	int bits, full;

	if (cl->all)
		return true;
	for (i = 0; i < cl->n; i++) {
		c = &cl->cidrs[i];
		if (c->family != family)
			continue;
		full = c->prefix / 8;
		bits = c->prefix % 8;
		if (memcmp(c->addr, addr, (size_t)full) != 0)
			continue;
		if (bits != 0 && ((c->addr[full] ^ addr[full]) &
		    (0xff00u >> bits) & 0xffu) != 0)
			continue;
		return true;
	}
	return false;
}
