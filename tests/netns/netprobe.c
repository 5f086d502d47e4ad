/* netprobe.c - the stand-in proxy, app and peer of tests/netns/run.sh.
 *
 *   netprobe serve LABEL PORT...   listen on 0.0.0.0 and [::] on each PORT;
 *                                  answer every connection with one line,
 *                                  "LABEL port=P orig=A:P", where orig is
 *                                  the destination the client asked for
 *                                  (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST)
 *   netprobe connect ADDR PORT     connect (3 s at most), print the line
 *                                  the server answers (3 s at most)
 *
 * Exit status of connect: 0 when a line came back, 1 otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

#define MAXFDS 64
#define TIMEOUT_MS 3000

static int
parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

static void
format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, (unsigned)ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a,
		    (unsigned)ntohs(s6->sin6_port));
	} else
		snprintf(buf, len, "-");
}

static int
listen_on(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (void *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (void *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	}
	if ((fd = socket(family, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "netprobe: listen %s port %d: %s\n",
		    family == AF_INET ? "v4" : "v6", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
serve(const char *label, int nports, char **ports)
{
	struct pollfd pfd[MAXFDS];
	struct sockaddr_storage local, orig;
	char line[256], lbuf[80], obuf[80];
	socklen_t len;
	int n = 0, i, k, port, cfd, fam, r;

	for (i = 0; i < nports; i++) {
		if ((port = parse_port(ports[i])) < 0 || n + 2 > MAXFDS) {
			fprintf(stderr, "netprobe: bad port %s\n", ports[i]);
			return 2;
		}
		for (k = 0; k < 2; k++) {
			fam = k == 0 ? AF_INET : AF_INET6;
			if ((pfd[n].fd = listen_on(fam, port)) < 0)
				return 1;
			pfd[n++].events = POLLIN;
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if ((cfd = accept(pfd[i].fd, NULL, NULL)) < 0)
				continue;
			len = sizeof(local);
			memset(&local, 0, sizeof(local));
			getsockname(cfd, (struct sockaddr *)&local, &len);
			len = sizeof(orig);
			memset(&orig, 0, sizeof(orig));
			if (local.ss_family == AF_INET)
				r = getsockopt(cfd, SOL_IP, SO_ORIGINAL_DST,
				    &orig, &len);
			else
				r = getsockopt(cfd, SOL_IPV6,
				    IP6T_SO_ORIGINAL_DST, &orig, &len);
			if (r < 0)
				orig.ss_family = AF_UNSPEC;
			format_addr(&local, lbuf, sizeof(lbuf));
			format_addr(&orig, obuf, sizeof(obuf));
			snprintf(line, sizeof(line), "%s local=%s orig=%s\n",
			    label, lbuf, obuf);
			if (write(cfd, line, strlen(line)) < 0)
				perror("netprobe: write");
			close(cfd);
		}
	}
}

static int
do_connect(const char *addr, const char *portstr)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t len;
	char buf[256];
	int fd, port, err = 0;
	size_t got = 0;
	ssize_t r;

	memset(&ss, 0, sizeof(ss));
	if ((port = parse_port(portstr)) < 0)
		return 2;
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, addr,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port =
		    htons((uint16_t)port);
		len = sizeof(struct sockaddr_in6);
	} else {
		fprintf(stderr, "netprobe: bad address %s\n", addr);
		return 2;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		return 1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno != EINPROGRESS) {
			printf("ERROR connect: %s\n", strerror(errno));
			return 1;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, TIMEOUT_MS) <= 0) {
			printf("ERROR connect: timed out\n");
			return 1;
		}
		len = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			printf("ERROR connect: %s\n", strerror(err));
			return 1;
		}
	}
	while (got < sizeof(buf) - 1) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, TIMEOUT_MS) <= 0) {
			printf("ERROR read: timed out\n");
			return 1;
		}
		r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(buf, '\n', got) != NULL)
			break;
	}
	buf[got] = '\0';
	close(fd);
	if (got == 0) {
		printf("ERROR read: nothing\n");
		return 1;
	}
	fputs(buf, stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argc - 3, argv + 3);
	if (argc == 4 && strcmp(argv[1], "connect") == 0)
		return do_connect(argv[2], argv[3]);
	fprintf(stderr, "usage: netprobe serve LABEL PORT... | "
	    "netprobe connect ADDR PORT\n");
	return 2;
}
