/* redirect_rules.c - the pure half of `meshinject redirect`: its settings
 * and the current `iptables-save -t nat` text in, the iptables-restore input
 * out, and which connections those rules send to the proxy. No I/O: the
 * command that runs iptables is redirect.c. Unit tested against golden
 * files in tests/redirect/ (tests/check_redirect.c). */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "redirect.h"

/* ---- the settings ---------------------------------------------------- */

void
redirect_opts_init(struct redirect_opts *o)
{
	char err[8];

	memset(o, 0, sizeof(*o));
	o->proxy_uid = 1337;
	o->proxy_gid = 1337;
	o->outbound_port = 15001;
	o->inbound_port = 15006;
	netparse_ports("15000,15021,15090", false, &o->proxy_ports, err,
	    sizeof(err));
	o->include_inbound.all = true;
	o->include_cidrs.all = true;
}

/* ---- the rules (pure) ------------------------------------------------- */

static bool
is_our_chain(const char *name, size_t len)
{
	static const char *const ours[] = { REDIRECT_CHAIN_INBOUND,
	    REDIRECT_CHAIN_IN_REDIRECT, REDIRECT_CHAIN_OUTPUT,
	    REDIRECT_CHAIN_REDIRECT };
	size_t i;

	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strlen(ours[i]) == len && memcmp(ours[i], name, len) == 0)
			return true;
	return false;
}

/* For every rule in the nat table's PREROUTING or OUTPUT of `saved` that
 * jumps to one of our chains, add a "-D" of it. iptables-restore applies
 * the whole file in one transaction, so deleting the old jump and adding
 * the new one is atomic, and any number of stacked copies (from an older
 * tool, or a run killed half way) is cleaned up. */
static void
delete_old_jumps(struct buf *b, const char *saved)
{
	const char *line = saved, *end, *j;
	bool in_nat = false;
	size_t len;

	while (line != NULL && *line != '\0') {
		end = strchr(line, '\n');
		len = end != NULL ? (size_t)(end - line) : strlen(line);
		if (len > 0 && line[0] == '*')
			in_nat = len == 4 && memcmp(line, "*nat", 4) == 0;
		else if (in_nat && (strncmp(line, "-A PREROUTING ", 14) == 0 ||
		    strncmp(line, "-A OUTPUT ", 10) == 0)) {
			/* The target is the last "-j NAME" of the line. */
			for (j = line + len - 1; j > line + 3; j--)
				if (memcmp(j - 4, " -j ", 4) == 0)
					break;
			if (j > line + 3 && is_our_chain(j, (size_t)(line +
			    len - j))) {
				buf_printf(b, "-D");
				buf_add(b, line + 2, len - 2);
				buf_add(b, "\n", 1);
			}
		}
		line = end != NULL ? end + 1 : NULL;
	}
}

static void
port_rules(struct buf *b, const char *chain, const struct port_list *pl,
    const char *target)
{
	size_t i;

	for (i = 0; i < pl->n; i++)
		buf_printf(b, "-A %s -p tcp --dport %u -j %s\n", chain,
		    (unsigned)pl->ports[i], target);
}

static void
cidr_rules(struct buf *b, const char *chain, const struct cidr_list *cl,
    int family, const char *target)
{
	char buf[50];
	size_t i;

	for (i = 0; i < cl->n; i++) {
		if (cl->cidrs[i].family != family)
			continue;
		netparse_cidr_format(&cl->cidrs[i], buf, sizeof(buf));
		buf_printf(b, "-A %s -d %s -j %s\n", chain, buf, target);
	}
}

char *
redirect_rules(const struct redirect_opts *o, int family, const char *saved)
{
	struct buf b;
	bool v6 = family == AF_INET6;
	/* Istio's inbound passthrough binds its connections to the app to
	 * 127.0.0.6 (::6), so that they leave through lo to the pod IP. */
	const char *passthrough = v6 ? "::6/128" : "127.0.0.6/32";
	const char *localhost = v6 ? "::1/128" : "127.0.0.1/32";
	const char *ids[2] = { "uid", "gid" };
	unsigned long idv[2] = { o->proxy_uid, o->proxy_gid };
	int k;

	buf_init(&b, REDIRECT_RULES_MAX - 1);
	buf_printf(&b, "# meshinject redirect: %s rules for %s --noflush\n",
	    v6 ? "IPv6" : "IPv4", v6 ? "ip6tables-restore" : "iptables-restore");
	buf_printf(&b, "*nat\n");
	/* Declaring a chain in iptables-restore empties it (or creates it):
	 * a re-run replaces our rules instead of adding to them. */
	buf_printf(&b, ":%s - [0:0]\n:%s - [0:0]\n:%s - [0:0]\n:%s - [0:0]\n",
	    REDIRECT_CHAIN_INBOUND, REDIRECT_CHAIN_IN_REDIRECT,
	    REDIRECT_CHAIN_OUTPUT, REDIRECT_CHAIN_REDIRECT);

	buf_printf(&b, "-A %s -p tcp -j REDIRECT --to-ports %u\n",
	    REDIRECT_CHAIN_REDIRECT, (unsigned)o->outbound_port);
	buf_printf(&b, "-A %s -p tcp -j REDIRECT --to-ports %u\n",
	    REDIRECT_CHAIN_IN_REDIRECT, (unsigned)o->inbound_port);

	/* Inbound (PREROUTING sees only packets that arrive from outside the
	 * pod). The proxy's own ports (admin, status, metrics) and the
	 * excluded ports return first, so that they win over an include. */
	port_rules(&b, REDIRECT_CHAIN_INBOUND, &o->proxy_ports, "RETURN");
	port_rules(&b, REDIRECT_CHAIN_INBOUND, &o->exclude_inbound, "RETURN");
	if (o->include_inbound.all)
		buf_printf(&b, "-A %s -p tcp -j %s\n", REDIRECT_CHAIN_INBOUND,
		    REDIRECT_CHAIN_IN_REDIRECT);
	else
		port_rules(&b, REDIRECT_CHAIN_INBOUND, &o->include_inbound,
		    REDIRECT_CHAIN_IN_REDIRECT);

	/* Outbound (OUTPUT sees every locally generated packet, including
	 * those to the pod itself, which leave through lo). In order:
	 *
	 * 1. Excluded ports go straight out, whoever sends them.
	 * 2. The inbound passthrough's connections from 127.0.0.6 to the app
	 *    are the proxy delivering inbound traffic: not again to it.
	 * 3. The proxy (its UID, then its GID) sending over lo to anything but
	 *    localhost is the proxy's outbound side calling this very pod (the
	 *    app called its own Service and the proxy picked this pod's IP):
	 *    send it to the inbound port, so that it gets the same inbound
	 *    treatment (policy, mTLS) as a call from another pod -- like
	 *    app -> proxy (outbound) -> proxy (inbound) -> app.
	 * 4. Anyone else over lo returns: the app calling itself, on localhost
	 *    or its pod IP, reaches itself directly; capturing it would send
	 *    it to the outbound port with the pod's own address, a loop in
	 *    the making.
	 * 5. Everything else the proxy sends returns: its upstream
	 *    connections, and its connections to the app on localhost (which
	 *    3 left alone because they go to localhost) -- this is what
	 *    keeps the proxy from capturing its own traffic.
	 * 6. Localhost returns (apps that talk to the proxy or a sidecar on
	 *    localhost explicitly), then excluded CIDRs, and what is left is
	 *    captured if it is in the included CIDRs (all for "*").
	 *
	 * 3-5 are the rules of Istio's istio-iptables (ISTIO_OUTPUT), whose
	 * behaviour users and proxies expect. */
	port_rules(&b, REDIRECT_CHAIN_OUTPUT, &o->exclude_outbound, "RETURN");
	buf_printf(&b, "-A %s -s %s -o lo -j RETURN\n", REDIRECT_CHAIN_OUTPUT,
	    passthrough);
	for (k = 0; k < 2; k++) {
		buf_printf(&b, "-A %s ! -d %s -o lo -m owner --%s-owner %lu "
		    "-j %s\n", REDIRECT_CHAIN_OUTPUT, localhost, ids[k],
		    idv[k], REDIRECT_CHAIN_IN_REDIRECT);
		buf_printf(&b, "-A %s -o lo -m owner ! --%s-owner %lu "
		    "-j RETURN\n", REDIRECT_CHAIN_OUTPUT, ids[k], idv[k]);
		buf_printf(&b, "-A %s -m owner --%s-owner %lu -j RETURN\n",
		    REDIRECT_CHAIN_OUTPUT, ids[k], idv[k]);
	}
	buf_printf(&b, "-A %s -d %s -j RETURN\n", REDIRECT_CHAIN_OUTPUT,
	    localhost);
	cidr_rules(&b, REDIRECT_CHAIN_OUTPUT, &o->exclude_cidrs, family,
	    "RETURN");
	if (o->include_cidrs.all)
		buf_printf(&b, "-A %s -j %s\n", REDIRECT_CHAIN_OUTPUT,
		    REDIRECT_CHAIN_REDIRECT);
	else
		cidr_rules(&b, REDIRECT_CHAIN_OUTPUT, &o->include_cidrs,
		    family, REDIRECT_CHAIN_REDIRECT);

	/* The hooks: one jump each, whatever was there before. */
	delete_old_jumps(&b, saved);
	buf_printf(&b, "-A PREROUTING -p tcp -j %s\n", REDIRECT_CHAIN_INBOUND);
	buf_printf(&b, "-A OUTPUT -p tcp -j %s\n", REDIRECT_CHAIN_OUTPUT);
	buf_printf(&b, "COMMIT\n");
	return buf_take(&b, NULL);
}

bool
redirect_captures(const struct redirect_opts *o, int family,
    const uint8_t *addr, uint16_t port)
{
	static const uint8_t v6_localhost[16] = { [15] = 1 };

	if (family == AF_INET ? addr[0] == 127 :
	    memcmp(addr, v6_localhost, 16) == 0)
		return false;
	if (netparse_port_in(&o->exclude_outbound, port))
		return false;
	if (netparse_cidr_in(&o->exclude_cidrs, family, addr))
		return false;
	return netparse_cidr_in(&o->include_cidrs, family, addr);
}
