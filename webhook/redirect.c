/* redirect.c - `meshinject redirect`: what the injected mesh-init container
 * runs to send the pod's TCP traffic through the proxy.
 *
 * The shell around redirect_rules.c (the pure rule builder, in the core):
 * the flags, reading the current rules with iptables-save, applying ours
 * with iptables-restore / ip6tables-restore, and --check. It is proven on
 * real packets by tests/netns/run.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "commands.h"
#include "redirect.h"

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>,
 * whose includes clash with glibc's <netinet/in.h>. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

#define MAX_ID 4294967294UL	/* (uid_t)-1 means "no change" to setuid */

/* ---- flags ------------------------------------------------------------ */

/* A user or group id: digits only, 0..MAX_ID. */
static int
parse_id(const char *s, unsigned long *out)
{
	unsigned long v = 0;
	size_t i, len = strlen(s);

	if (len == 0 || len > 10)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > MAX_ID)
		return -1;
	*out = v;
	return 0;
}

enum { R_DRY_RUN = CLI_LONG, R_CHECK, R_PROXY_UID, R_PROXY_GID,
    R_OUTBOUND_PORT, R_INBOUND_PORT, R_PROXY_PORTS, R_INCLUDE_INBOUND,
    R_EXCLUDE_INBOUND, R_EXCLUDE_OUTBOUND, R_INCLUDE_CIDRS, R_EXCLUDE_CIDRS,
    R_END };

static const struct cli_opt redirect_cli_opts[] = {
	{ R_DRY_RUN, "dry-run", NULL, "print the rules, apply nothing", false },
	{ R_CHECK, "check", NULL, "verify that outbound traffic reaches the\n"
	    "outbound port (cni mode); apply nothing", false },
	{ R_PROXY_UID, "proxy-uid", "N", "the proxy's user, never redirected "
	    "(default 1337)", false },
	{ R_PROXY_GID, "proxy-gid", "N", "its group (default: the proxy UID)",
	    false },
	{ R_OUTBOUND_PORT, "outbound-port", "P", "the proxy's outbound listener "
	    "(default 15001)", false },
	{ R_INBOUND_PORT, "inbound-port", "P", "the proxy's inbound listener "
	    "(default 15006)", false },
	{ R_PROXY_PORTS, "proxy-ports", "LIST", "never redirected inbound "
	    "(default 15000,15021,15090)", false },
	{ R_INCLUDE_INBOUND, "include-inbound-ports", "LIST|*", "inbound ports redirected to the proxy\n"
	    "(default *: all)", false },
	{ R_EXCLUDE_INBOUND, "exclude-inbound-ports", "LIST", "inbound ports "
	    "never redirected (default none)", false },
	{ R_EXCLUDE_OUTBOUND, "exclude-outbound-ports", "LIST",
	    "destination ports never redirected (default none)", false },
	{ R_INCLUDE_CIDRS, "include-outbound-cidrs", "LIST|*", "destination "
	    "CIDRs redirected to the proxy\n(default *: all)", false },
	{ R_EXCLUDE_CIDRS, "exclude-outbound-cidrs", "LIST", "destination "
	    "CIDRs never redirected (default none)", false },
	{ 0, NULL, NULL, NULL, false }
};

const struct cli_cmd cmd_redirect_cli = {
	.name = "redirect",
	.synopsis = "[--dry-run] [--check] [options]",
	.summary = "write the pod's iptables redirect to the proxy (what "
	    "mesh-init runs)",
	.about = "Redirect the pod's TCP traffic to the proxy (nat table, chains "
	    "MESH_*),\nwith iptables-restore and ip6tables-restore.\n",
	.opts = redirect_cli_opts,
	.footer = "Every option also takes --option=value; an empty value is an "
	    "empty list.\n"
	    "\n"
	    "Exit status: 0 applied (or printed, or verified); 1 it failed;\n"
	    "2 bad arguments.\n",
};

enum flag_kind { F_UID, F_GID, F_PORT, F_PORTS, F_PORTS_ALL, F_CIDRS,
    F_CIDRS_ALL };

/* What each option with a value sets, by its key. */
struct flag {
	enum flag_kind kind;
	size_t off;		/* of the field in struct redirect_opts */
};

static const struct flag flags[R_END - R_PROXY_UID] = {
#define FLAG(key, kind, field) \
	[key - R_PROXY_UID] = { kind, offsetof(struct redirect_opts, field) }
	FLAG(R_PROXY_UID, F_UID, proxy_uid),
	FLAG(R_PROXY_GID, F_GID, proxy_gid),
	FLAG(R_OUTBOUND_PORT, F_PORT, outbound_port),
	FLAG(R_INBOUND_PORT, F_PORT, inbound_port),
	FLAG(R_PROXY_PORTS, F_PORTS, proxy_ports),
	FLAG(R_INCLUDE_INBOUND, F_PORTS_ALL, include_inbound),
	FLAG(R_EXCLUDE_INBOUND, F_PORTS, exclude_inbound),
	FLAG(R_EXCLUDE_OUTBOUND, F_PORTS, exclude_outbound),
	FLAG(R_INCLUDE_CIDRS, F_CIDRS_ALL, include_cidrs),
	FLAG(R_EXCLUDE_CIDRS, F_CIDRS, exclude_cidrs),
#undef FLAG
};

/* Set one flag's field from `val`. Returns 0, or -1 with err set. */
static int
flag_set(struct redirect_opts *o, const char *name, const struct flag *f,
    const char *val, char *err, size_t errlen)
{
	char why[160];
	void *field = (char *)o + f->off;
	struct port_list one;

	why[0] = '\0';
	switch (f->kind) {
	case F_UID:
	case F_GID:
		if (parse_id(val, field) < 0) {
			snprintf(why, sizeof(why), "not a %s id (0-%lu)",
			    f->kind == F_UID ? "user" : "group", MAX_ID);
			break;
		}
		if (f->kind == F_GID)
			o->gid_set = true;
		return 0;
	case F_PORT:
		if (netparse_ports(val, false, &one, why, sizeof(why)) < 0)
			break;
		if (one.n != 1) {
			snprintf(why, sizeof(why), "one port (1-65535) expected");
			break;
		}
		*(uint16_t *)field = one.ports[0];
		return 0;
	case F_PORTS:
	case F_PORTS_ALL:
		if (netparse_ports(val, f->kind == F_PORTS_ALL, field, why,
		    sizeof(why)) < 0)
			break;
		return 0;
	case F_CIDRS:
	case F_CIDRS_ALL:
		if (netparse_cidrs(val, f->kind == F_CIDRS_ALL, field, why,
		    sizeof(why)) < 0)
			break;
		return 0;
	}
	snprintf(err, errlen, "%s \"%.100s\": %s", name, val, why);
	return -1;
}

int
redirect_opts_parse(struct redirect_opts *o, int argc, char **argv,
    char *err, size_t errlen)
{
	struct cli_parser p;
	int c;

	cli_begin(&p, &cmd_redirect_cli, argc, argv);
	while ((c = cli_next(&p)) != CLI_END) {
		switch (c) {
		case R_DRY_RUN:
			o->dry_run = true;
			break;
		case R_CHECK:
			o->check = true;
			break;
		case CLI_HELP:
			/* Go on: a bad flag after --help is still an error. */
			o->help = true;
			break;
		case CLI_ERROR:
			/* The words of this command's messages predate the
			 * shared ones (check_redirect pins them): an unknown
			 * "--flag" is an option, anything else an argument. */
			if (p.error != CLI_ERR_UNKNOWN)
				snprintf(err, errlen, "%s", p.err);
			else if (strncmp(p.arg, "--", 2) == 0)
				snprintf(err, errlen, "unknown option \"%s\"",
				    p.flag);
			else
				snprintf(err, errlen, "unexpected argument "
				    "\"%.100s\"", p.arg);
			return -1;
		default:
			if (c < R_PROXY_UID || c >= R_END) {
				snprintf(err, errlen, "%s: no such flag", p.flag);
				return -1;
			}
			if (flag_set(o, p.flag, &flags[c - R_PROXY_UID],
			    p.value, err, errlen) < 0)
				return -1;
			break;
		}
	}
	if (p.optind < argc) {
		snprintf(err, errlen, "unexpected argument \"%.100s\"",
		    argv[p.optind]);
		return -1;
	}
	if (!o->gid_set)
		o->proxy_gid = o->proxy_uid;
	return 0;
}

/* ---- the shell: running iptables ------------------------------------- */

/* Run argv (found in PATH). With `input`, feed it to the child's stdin; with
 * `out`, collect the child's stdout (at most REDIRECT_RULES_MAX) into a new
 * string.
 * The child's stderr is ours, so iptables' own messages reach the user.
 * Returns the exit status, or -1 when it could not be run or was killed. */
static int
run_cmd(char *const argv[], const char *input, char **out)
{
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, status, ret = -1;
	struct buf b;
	char buf[4096];
	size_t left, off;
	ssize_t n;
	pid_t pid;

	buf_init(&b, REDIRECT_RULES_MAX - 1);
	if (out != NULL)
		*out = NULL;
	if ((input != NULL && pipe2(in, O_CLOEXEC) < 0) ||
	    (out != NULL && pipe2(outp, O_CLOEXEC) < 0)) {
		fprintf(stderr, "meshinject redirect: pipe: %s\n",
		    strerror(errno));
		goto done;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		fprintf(stderr, "meshinject redirect: fork: %s\n",
		    strerror(errno));
		goto done;
	}
	if (pid == 0) {
		if ((input != NULL && dup2(in[0], 0) < 0) ||
		    (out != NULL && dup2(outp[1], 1) < 0))
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "meshinject redirect: cannot run %s: %s\n",
		    argv[0], strerror(errno));
		_exit(127);
	}
	if (input != NULL) {
		close(in[0]);
		in[0] = -1;
		left = strlen(input);
		off = 0;
		while (left > 0) {
			n = write(in[1], input + off, left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;	/* it exited early: its status says why */
			off += (size_t)n;
			left -= (size_t)n;
		}
		close(in[1]);
		in[1] = -1;
	}
	if (out != NULL) {
		close(outp[1]);
		outp[1] = -1;
		for (;;) {
			n = read(outp[0], buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			buf_add(&b, buf, (size_t)n);
		}
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			goto done;
	if (WIFEXITED(status))
		ret = WEXITSTATUS(status);
	if (out != NULL && ret == 0)
		*out = buf_take(&b, NULL);
done:
	buf_free(&b);
	if (in[0] >= 0)
		close(in[0]);
	if (in[1] >= 0)
		close(in[1]);
	if (outp[0] >= 0)
		close(outp[0]);
	if (outp[1] >= 0)
		close(outp[1]);
	return ret;
}

/* A kernel booted with ipv6.disable=1 has no IPv6 at all (and no
 * /proc/net/if_inet6): then there is no v6 traffic to capture, and
 * ip6tables-restore would only fail. Where IPv6 exists, even switched off
 * by sysctl, its rules are written, so that switching it on later does not
 * open a way around the proxy. */
static bool
ipv6_enabled(void)
{
	return access("/proc/net/if_inet6", F_OK) == 0;
}

/* Capabilities 12 and 13 of <linux/capability.h>. */
#define CAP_BIT_NET_ADMIN 12
#define CAP_BIT_NET_RAW 13

/* Writing rules needs NET_ADMIN and NET_RAW, not only UID 0: a container
 * started as root without them gets "Permission denied (you must be root)"
 * from iptables, which misleads. Returns 0 when both are in the effective
 * set (or the set cannot be read: then iptables speaks for itself), -1
 * after saying which are missing. */
static int
redirect_caps(void)
{
	char line[256];
	unsigned long long eff = 0;
	bool found = false, admin, raw;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = sscanf(line, "CapEff: %llx", &eff) == 1;
	fclose(f);
	if (!found)
		return 0;
	admin = (eff >> CAP_BIT_NET_ADMIN) & 1;
	raw = (eff >> CAP_BIT_NET_RAW) & 1;
	if (admin && raw)
		return 0;
	fprintf(stderr, "meshinject redirect: missing the capabilit%s %s%s%s "
	    "(effective set %llx): writing the redirect needs NET_ADMIN and "
	    "NET_RAW, which mesh-init's securityContext adds; nothing was "
	    "applied\n", !admin && !raw ? "ies" : "y", admin ? "" : "NET_ADMIN",
	    !admin && !raw ? " and " : "", raw ? "" : "NET_RAW", eff);
	return -1;
}

/* Read the current nat table, build our rules over it, print them, apply
 * them. Returns 0 or -1 (iptables has already said why on stderr). */
static int
apply_family(const struct redirect_opts *o, int family)
{
	bool v6 = family == AF_INET6;
	char *save_argv[] = { v6 ? "ip6tables-save" : "iptables-save", "-t",
	    "nat", NULL };
	char *restore_argv[] = { v6 ? "ip6tables-restore" :
	    "iptables-restore", "--noflush", NULL };
	char *saved = NULL, *rules = NULL;
	int st, ret = -1;

	/* Without the current rules we cannot delete old jumps; a fresh pod
	 * has none, and if iptables is missing the restore below fails. */
	if (run_cmd(save_argv, NULL, &saved) != 0)
		saved = NULL;
	if ((rules = redirect_rules(o, family, saved)) == NULL) {
		fprintf(stderr, "meshinject redirect: out of memory\n");
		goto done;
	}
	fputs(rules, stdout);
	fflush(stdout);
	st = run_cmd(restore_argv, rules, NULL);
	if (st != 0) {
		fprintf(stderr, "meshinject redirect: %s failed (%s %d); "
		    "the %s redirect is not in place\n", restore_argv[0],
		    st < 0 ? "status" : "exit", st, v6 ? "IPv6" : "IPv4");
		goto done;
	}
	ret = 0;
done:
	free(saved);
	free(rules);
	return ret;
}

/* ---- the shell: --check ----------------------------------------------- */

static long
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A destination that these settings capture: a documentation address when
 * everything is included, else an address in the first included network of
 * this family. Returns 0, or -1 when nothing of this family is captured. */
static int
check_target(const struct redirect_opts *o, int family, uint8_t *addr,
    uint16_t *port)
{
	static const char *const docs4[] = { "192.0.2.1", "198.51.100.1",
	    "203.0.113.1" };
	static const char *const docs6[] = { "2001:db8::1", "2001:db8:1::1" };
	size_t i, n, alen = family == AF_INET ? 4 : 16;
	unsigned p;
	uint8_t cand[16];

	for (p = 80; p < 80 + 65535; p++) {
		*port = (uint16_t)((p - 1) % 65535 + 1);
		if (!netparse_port_in(&o->exclude_outbound, *port) &&
		    *port != o->outbound_port && *port != o->inbound_port)
			break;
	}
	if (o->include_cidrs.all) {
		n = family == AF_INET ? 3 : 2;
		for (i = 0; i < n; i++) {
			inet_pton(family, family == AF_INET ? docs4[i] :
			    docs6[i], cand);
			if (redirect_captures(o, family, cand, *port)) {
				memcpy(addr, cand, alen);
				return 0;
			}
		}
		return -1;
	}
	for (i = 0; i < o->include_cidrs.n; i++) {
		if (o->include_cidrs.cidrs[i].family != family)
			continue;
		memcpy(cand, o->include_cidrs.cidrs[i].addr, alen);
		if (o->include_cidrs.cidrs[i].prefix < (int)alen * 8)
			cand[alen - 1] |= 1;	/* not the network address */
		if (redirect_captures(o, family, cand, *port)) {
			memcpy(addr, cand, alen);
			return 0;
		}
	}
	return -1;
}

/* How check_client's child exits: its exit status, read by check_family. */
enum client_exit {
	CLIENT_CONNECTED = 0,	/* connected, held until the parent closes */
	CLIENT_FAILED = 1,	/* could not drop privileges, socket, connect */
	CLIENT_NO_ROUTE = 3,	/* no route: nothing to check through */
	CLIENT_IS_PROXY = 4,	/* still the proxy's UID or GID: never
				 * redirected, so the check cannot run */
};

/* In a child: become an ordinary app (not the proxy), connect, and hold the
 * connection until the parent closes it. Exits with an enum client_exit. */
static void __attribute__((noreturn))
check_client(const struct redirect_opts *o, const struct sockaddr *sa,
    socklen_t salen)
{
	uid_t uid = o->proxy_uid == 65534 ? 65533 : 65534;
	gid_t gid = o->proxy_gid == 65534 ? 65533 : 65534;
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, soerr = 0;

	if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(gid) < 0 ||
	    setuid(uid) < 0))
		_exit(CLIENT_FAILED);
	if ((unsigned long)geteuid() == o->proxy_uid ||
	    (unsigned long)getegid() == o->proxy_gid)
		_exit(CLIENT_IS_PROXY);
	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		_exit(CLIENT_FAILED);
	if (connect(fd, sa, salen) < 0) {
		if (errno == ENETUNREACH || errno == EHOSTUNREACH ||
		    errno == EADDRNOTAVAIL)
			_exit(CLIENT_NO_ROUTE);
		if (errno != EINPROGRESS)
			_exit(CLIENT_FAILED);
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 3000) <= 0)
			_exit(CLIENT_FAILED);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 ||
		    soerr != 0)
			_exit(soerr == ENETUNREACH || soerr == EHOSTUNREACH ?
			    CLIENT_NO_ROUTE : CLIENT_FAILED);
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	poll(&pfd, 1, 5000);
	_exit(CLIENT_CONNECTED);
}

/* What checking one family found (redirect_check combines the two). */
enum check_result {
	CHECK_OK,		/* a connection arrived redirected */
	CHECK_FAILED,		/* it did not, or the check could not run */
	CHECK_NOTHING,		/* the settings capture nothing to check */
	CHECK_NO_ROUTE,		/* no route to a captured destination */
};

/* Connect from a non-proxy UID to a captured destination and see that the
 * connection arrives on the outbound port of a listener of our own, with
 * the destination recovered by SO_ORIGINAL_DST. */
static enum check_result
check_family(const struct redirect_opts *o, int family)
{
	const char *fam = family == AF_INET ? "IPv4" : "IPv6";
	struct sockaddr_storage dst, got, lsa;
	struct sockaddr_in *d4 = (struct sockaddr_in *)&dst;
	struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&dst;
	enum check_result res = CHECK_FAILED;
	uint8_t addr[16];
	uint16_t port;
	char astr[INET6_ADDRSTRLEN], gstr[INET6_ADDRSTRLEN];
	struct pollfd pfd;
	struct timespec t0;
	socklen_t slen;
	int lfd = -1, cfd = -1, one = 1, status = 0, st;
	bool exited = false, same;
	pid_t pid = -1;

	if (check_target(o, family, addr, &port) < 0) {
		printf("%s: nothing is captured by these settings: not "
		    "checked\n", fam);
		return CHECK_NOTHING;
	}
	memset(&dst, 0, sizeof(dst));
	memset(&lsa, 0, sizeof(lsa));
	if (family == AF_INET) {
		d4->sin_family = AF_INET;
		d4->sin_port = htons(port);
		memcpy(&d4->sin_addr, addr, 4);
		((struct sockaddr_in *)&lsa)->sin_family = AF_INET;
		((struct sockaddr_in *)&lsa)->sin_port = htons(o->outbound_port);
		slen = sizeof(struct sockaddr_in);
	} else {
		d6->sin6_family = AF_INET6;
		d6->sin6_port = htons(port);
		memcpy(&d6->sin6_addr, addr, 16);
		((struct sockaddr_in6 *)&lsa)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&lsa)->sin6_port =
		    htons(o->outbound_port);
		slen = sizeof(struct sockaddr_in6);
	}
	inet_ntop(family, addr, astr, sizeof(astr));

	if ((lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (family == AF_INET6 && setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY,
	    &one, sizeof(one)) < 0) ||
	    bind(lfd, (struct sockaddr *)&lsa, slen) < 0 ||
	    listen(lfd, 8) < 0) {
		fprintf(stderr, "meshinject redirect: --check: cannot listen "
		    "on %s port %u: %s\n", fam, (unsigned)o->outbound_port,
		    strerror(errno));
		goto done;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		fprintf(stderr, "meshinject redirect: fork: %s\n",
		    strerror(errno));
		goto done;
	}
	if (pid == 0) {
		close(lfd);
		check_client(o, (struct sockaddr *)&dst, slen);
	}

	/* Wait (at most 4 s) for the connection, or for the client to give
	 * up. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pfd.fd = lfd;
	pfd.events = POLLIN;
	while (ms_since(&t0) < 4000) {
		if (poll(&pfd, 1, 100) > 0)
			break;
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			/* A last look: the connection may have raced. */
			if (poll(&pfd, 1, 50) <= 0)
				break;
		}
	}
	slen = sizeof(lsa);
	cfd = accept(lfd, (struct sockaddr *)&lsa, &slen);
	if (cfd < 0) {
		if (!exited) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			exited = true;
		}
		st = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (st == CLIENT_NO_ROUTE) {
			printf("%s: no route to %s: not checked\n", fam, astr);
			res = CHECK_NO_ROUTE;
		} else if (st == CLIENT_IS_PROXY)
			fprintf(stderr, "meshinject redirect: --check must run "
			    "as root or as a UID and GID other than the "
			    "proxy's\n");
		else
			fprintf(stderr, "meshinject redirect: %s: a connection "
			    "to %s port %u did not arrive on the outbound port "
			    "%u: the redirect is not in place\n", fam, astr,
			    (unsigned)port, (unsigned)o->outbound_port);
		goto done;
	}
	slen = sizeof(got);
	memset(&got, 0, sizeof(got));
	if (getsockopt(cfd, family == AF_INET ? SOL_IP : SOL_IPV6,
	    family == AF_INET ? SO_ORIGINAL_DST : IP6T_SO_ORIGINAL_DST, &got,
	    &slen) < 0) {
		fprintf(stderr, "meshinject redirect: %s: a connection arrived "
		    "on port %u but its original destination is unknown (%s): "
		    "it was not redirected\n", fam, (unsigned)o->outbound_port,
		    strerror(errno));
		goto done;
	}
	if (family == AF_INET) {
		struct sockaddr_in *g = (struct sockaddr_in *)&got;
		same = g->sin_port == htons(port) &&
		    memcmp(&g->sin_addr, addr, 4) == 0;
		inet_ntop(AF_INET, &g->sin_addr, gstr, sizeof(gstr));
	} else {
		struct sockaddr_in6 *g = (struct sockaddr_in6 *)&got;
		same = g->sin6_port == htons(port) &&
		    memcmp(&g->sin6_addr, addr, 16) == 0;
		inet_ntop(AF_INET6, &g->sin6_addr, gstr, sizeof(gstr));
	}
	if (!same) {
		fprintf(stderr, "meshinject redirect: %s: a connection to %s "
		    "arrived on port %u with original destination %s: not "
		    "ours\n", fam, astr, (unsigned)o->outbound_port, gstr);
		goto done;
	}
	printf("%s: a connection to %s port %u from a non-proxy UID arrived on "
	    "the outbound port %u: redirect in place\n", fam, astr,
	    (unsigned)port, (unsigned)o->outbound_port);
	res = CHECK_OK;
done:
	if (cfd >= 0)
		close(cfd);
	if (lfd >= 0)
		close(lfd);
	if (pid > 0 && !exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	return res;
}

/* Both families must pass where there is something to check; at least one
 * must have been checked, unless the settings capture nothing at all. */
static int
redirect_check(const struct redirect_opts *o)
{
	enum check_result r4, r6 = CHECK_NOTHING;

	/* Root becomes an ordinary app for the test; anyone else is tested
	 * as they are, and the proxy itself is never redirected. */
	if (geteuid() != 0 && ((unsigned long)geteuid() == o->proxy_uid ||
	    (unsigned long)getegid() == o->proxy_gid)) {
		fprintf(stderr, "meshinject redirect: --check must run as root "
		    "or as a UID and GID other than the proxy's (%lu:%lu)\n",
		    o->proxy_uid, o->proxy_gid);
		return 1;
	}
	r4 = check_family(o, AF_INET);
	if (ipv6_enabled())
		r6 = check_family(o, AF_INET6);
	if (r4 == CHECK_FAILED || r6 == CHECK_FAILED)
		return 1;
	if (r4 == CHECK_OK || r6 == CHECK_OK)
		return 0;
	if (r4 == CHECK_NOTHING && r6 == CHECK_NOTHING) {
		printf("outbound capture is off in these settings: nothing to "
		    "check\n");
		return 0;
	}
	fprintf(stderr, "meshinject redirect: --check: no route to check "
	    "through: the redirect could not be verified\n");
	return 1;
}

int
cmd_redirect(int argc, char **argv)
{
	static struct redirect_opts o;
	char err[256];
	char *rules;
	int fam;

	redirect_opts_init(&o);
	if (redirect_opts_parse(&o, argc, argv, err, sizeof(err)) < 0)
		return cli_fail(&cmd_redirect_cli, "%s", err);
	if (o.help) {
		cli_usage(&cmd_redirect_cli, stdout);
		return 0;
	}
	if (o.check)
		return redirect_check(&o) == 0 ? 0 : 1;
	if (o.dry_run) {
		for (fam = 0; fam < 2; fam++) {
			rules = redirect_rules(&o, fam == 0 ? AF_INET :
			    AF_INET6, NULL);
			if (rules == NULL) {
				fprintf(stderr, "meshinject redirect: out of "
				    "memory\n");
				return 1;
			}
			fputs(rules, stdout);
			free(rules);
		}
		return 0;
	}
	if (redirect_caps() < 0)
		return 1;
	/* iptables-restore may exit before reading all we write. */
	signal(SIGPIPE, SIG_IGN);
	if (apply_family(&o, AF_INET) < 0)
		return 1;
	if (!ipv6_enabled()) {
		printf("# IPv6 is off in this network namespace: no "
		    "ip6tables rules\n");
		return 0;
	}
	if (apply_family(&o, AF_INET6) < 0)
		return 1;
	return 0;
}
