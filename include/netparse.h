/* netparse.h - strict parsing of the port and CIDR lists that pod
 * annotations and `meshinject redirect` flags carry. */
#ifndef MESHINJECT_NETPARSE_H
#define MESHINJECT_NETPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETPARSE_MAX_ITEMS 256

/* "80,443" or "*" (all). An empty string is an empty list. */
struct port_list {
	bool all;
	size_t n;
	uint16_t ports[NETPARSE_MAX_ITEMS];
};

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network address, host bits cleared */
	int prefix;		/* 0..32 or 0..128 */
};

/* "10.0.0.0/8,fd00::/8" or "*" (all). A bare address is a /32 or /128.
 * An empty string is an empty list. */
struct cidr_list {
	bool all;
	size_t n;
	struct cidr cidrs[NETPARSE_MAX_ITEMS];
};

/* Parse `s` (spaces around items allowed). Return 0, or -1 with a short
 * reason in err that quotes the bad item, e.g. "\"abc\" is not a port". */
int netparse_ports(const char *s, bool allow_all, struct port_list *out,
    char *err, size_t errlen);
int netparse_cidrs(const char *s, bool allow_all, struct cidr_list *out,
    char *err, size_t errlen);

/* Whether `port` is in the list (always, when it is "*"). */
bool netparse_port_in(const struct port_list *pl, uint16_t port);

/* Whether addr (4 bytes for AF_INET, 16 for AF_INET6) is inside one of the
 * list's CIDRs of that family (always, when it is "*"). */
bool netparse_cidr_in(const struct cidr_list *cl, int family,
    const uint8_t *addr);

/* Canonical text of one CIDR ("10.0.0.0/8"); buf needs 50 bytes. */
void netparse_cidr_format(const struct cidr *c, char *buf, size_t buflen);

#endif
