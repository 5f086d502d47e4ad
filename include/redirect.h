/* redirect.h - `meshinject redirect`: the pod's NAT rules that send its TCP
 * traffic through the proxy. The rule builder (redirect_rules.c, in the
 * core) is pure: settings and the current `iptables-save -t nat` text in,
 * iptables-restore input out. The command around it (redirect.c, a shell)
 * parses the flags and runs iptables-restore and ip6tables-restore. */
#ifndef MESHINJECT_REDIRECT_H
#define MESHINJECT_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netparse.h"

/* Our chains, in the nat table. */
#define REDIRECT_CHAIN_INBOUND		"MESH_INBOUND"
#define REDIRECT_CHAIN_IN_REDIRECT	"MESH_IN_REDIRECT"
#define REDIRECT_CHAIN_OUTPUT		"MESH_OUTPUT"
#define REDIRECT_CHAIN_REDIRECT		"MESH_REDIRECT"

/* The most bytes of generated rules, or of iptables-save output, with the
 * terminating NUL. */
#define REDIRECT_RULES_MAX	(4u << 20)

struct redirect_opts {
	unsigned long proxy_uid;	/* its traffic is never redirected */
	unsigned long proxy_gid;	/* defaults to proxy_uid */
	bool gid_set;
	uint16_t outbound_port;		/* the proxy's outbound listener */
	uint16_t inbound_port;		/* the proxy's inbound listener */
	struct port_list proxy_ports;	/* admin, status, metrics: never
					 * redirected inbound */
	struct port_list include_inbound;	/* "*" allowed */
	struct port_list exclude_inbound;
	struct port_list exclude_outbound;
	struct cidr_list include_cidrs;		/* "*" allowed */
	struct cidr_list exclude_cidrs;
	bool dry_run;
	bool check;
	bool help;
};

/* Fill `o` with the defaults (uid 1337, ports 15001/15006, proxy ports
 * 15000,15021,15090, everything captured, nothing excluded). */
void redirect_opts_init(struct redirect_opts *o);

/* Parse the command's arguments (argv[0] is the subcommand's name) over the
 * values already in `o`; this one is the shell's (redirect.c). Flags take "--flag value" or "--flag=value".
 * Returns 0, or -1 with a reason in err that names the flag and the value. */
int redirect_opts_parse(struct redirect_opts *o, int argc, char **argv,
    char *err, size_t errlen);

/* The iptables-restore input (to be applied with --noflush) for `family`
 * (AF_INET or AF_INET6): our chains declared (which empties them), filled,
 * and one jump each from PREROUTING and OUTPUT. `saved` is the current
 * `iptables-save -t nat` of that family, or NULL: every jump to our chains
 * found there is deleted first, so a re-run leaves one copy. Returns a new
 * string that the caller frees, or NULL when out of memory. */
char *redirect_rules(const struct redirect_opts *o, int family,
    const char *saved);

/* Would an outbound TCP connection from an app (not the proxy, not over
 * loopback) to addr:port be sent to the proxy? addr holds 4 or 16 bytes. */
bool redirect_captures(const struct redirect_opts *o, int family,
    const uint8_t *addr, uint16_t port);

#endif
