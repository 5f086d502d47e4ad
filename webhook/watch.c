/* watch.c - notice changed files behind Kubernetes' `..data` symlink swap:
 * fingerprints through the symlinks, a poll, and inotify to be quick. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "watch.h"

/* After an inotify event, wait for this much quiet before looking: a
 * writer makes several changes (AtomicWriter: new directory, files,
 * symlink, rename). */
#define WATCH_SETTLE_MS		100
#define WATCH_SETTLE_MAX_MS	1000
/* Reads retried when the files changed while a callback read them. */
#define WATCH_RETRIES		3
#define WATCH_INOTIFY_MASK	(IN_CREATE | IN_DELETE | IN_MOVED_TO | \
    IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | \
    IN_MOVE_SELF)

struct watch_group {
	char *paths[WATCH_GROUP_FILES];
	struct watch_print prints[WATCH_GROUP_FILES];
	size_t n;
	watch_fn fn;
	void *arg;
};

struct watch {
	struct watch_group groups[WATCH_MAX_GROUPS];
	size_t n_groups;
	unsigned interval_ms;
	int wake[2];		/* pipe: trigger and stop */
	int inotify;		/* -1 when unavailable */
	atomic_bool forced;
	atomic_bool stop;
	bool started;
	pthread_t thread;
};

void
watch_print_file(const char *path, struct watch_print *out)
{
	struct stat st;

	memset(out, 0, sizeof(*out));
	if (realpath(path, out->real) == NULL) {
		out->err = errno != 0 ? errno : ENOENT;
		out->real[0] = '\0';
		return;
	}
	if (stat(out->real, &st) != 0) {
		out->err = errno != 0 ? errno : ENOENT;
		return;
	}
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	out->size = st.st_size;
	out->mtime = st.st_mtim;
	out->ctime = st.st_ctim;
}

bool
watch_print_equal(const struct watch_print *a, const struct watch_print *b)
{
	return a->err == b->err && strcmp(a->real, b->real) == 0 &&
	    a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

struct watch *
watch_new(unsigned interval_ms)
{
	struct watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->interval_ms = interval_ms > 0 ? interval_ms :
	    WATCH_DEFAULT_INTERVAL_MS;
	w->inotify = -1;
	if (pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

int
watch_add(struct watch *w, const char *const *paths, size_t n, watch_fn fn,
    void *arg)
{
	struct watch_group *g;
	size_t i;

	if (w == NULL || w->started || w->n_groups >= WATCH_MAX_GROUPS ||
	    n == 0 || n > WATCH_GROUP_FILES || fn == NULL)
		return -1;
	g = &w->groups[w->n_groups];
	memset(g, 0, sizeof(*g));
	for (i = 0; i < n; i++) {
		if (strlen(paths[i]) >= WATCH_PATH_MAX ||
		    (g->paths[i] = strdup(paths[i])) == NULL)
			goto fail;
		watch_print_file(g->paths[i], &g->prints[i]);
	}
	g->n = n;
	g->fn = fn;
	g->arg = arg;
	w->n_groups++;
	return 0;
fail:
	for (i = 0; i < n; i++)
		free(g->paths[i]);
	memset(g, 0, sizeof(*g));
	return -1;
}

/* Prints of every file of g into `now`; true when any differs from the
 * group's last ones. */
static bool
watch_group_changed(const struct watch_group *g,
    struct watch_print now[WATCH_GROUP_FILES])
{
	bool changed = false;
	size_t i;

	for (i = 0; i < g->n; i++) {
		watch_print_file(g->paths[i], &now[i]);
		if (!watch_print_equal(&now[i], &g->prints[i]))
			changed = true;
	}
	return changed;
}

static void
watch_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Run g's callback if its files changed (or `forced`). When the callback
 * refuses the files and they changed while it read them (a swap between
 * reading a certificate and its key), read again. Returns 1 when the
 * callback ran. */
static int
watch_group_check(struct watch_group *g, bool forced)
{
	struct watch_print *now;
	int tries, rc;

	if ((now = malloc(sizeof(*now) * WATCH_GROUP_FILES)) == NULL)
		return 0;
	if (!watch_group_changed(g, now) && !forced) {
		free(now);
		return 0;
	}
	for (tries = 0; tries < WATCH_RETRIES; tries++) {
		memcpy(g->prints, now, sizeof(*now) * g->n);
		rc = g->fn(g->arg, forced);
		if (rc == 0 || !watch_group_changed(g, now))
			break;
		watch_sleep_ms(WATCH_SETTLE_MS);
	}
	free(now);
	return 1;
}

unsigned
watch_check(struct watch *w)
{
	unsigned ran = 0;
	bool forced;
	size_t i;

	if (w == NULL)
		return 0;
	forced = atomic_exchange(&w->forced, false);
	for (i = 0; i < w->n_groups; i++)
		ran += (unsigned)watch_group_check(&w->groups[i], forced);
	return ran;
}

/* Directory part of `path` into out ("." for none). */
static void
watch_dirname(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		snprintf(out, len, ".");
		return;
	}
	n = (size_t)(slash - path);
	if (n == 0)
		n = 1;		/* "/x" is in "/" */
	if (n >= len)
		n = len - 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

/* A fresh inotify instance on the directories where a change to any
 * watched file can show: the file's directory, that one's parent (where
 * Kubernetes swaps ..data when the file sits in a subdirectory of the
 * volume, like tls/tls.crt), and the directory the symlinks lead to.
 * Made again after every change, since the symlinks then lead elsewhere. */
static void
watch_arm(struct watch *w)
{
	char dir[WATCH_PATH_MAX], parent[WATCH_PATH_MAX];
	size_t i, j;
	int fd;

	if (w->inotify >= 0)
		close(w->inotify);
	if ((w->inotify = fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		return;
	for (i = 0; i < w->n_groups; i++) {
		struct watch_group *g = &w->groups[i];

		for (j = 0; j < g->n; j++) {
			watch_dirname(g->paths[j], dir, sizeof(dir));
			(void)inotify_add_watch(fd, dir, WATCH_INOTIFY_MASK);
			watch_dirname(dir, parent, sizeof(parent));
			if (strcmp(parent, dir) != 0)
				(void)inotify_add_watch(fd, parent,
				    WATCH_INOTIFY_MASK);
			if (g->prints[j].real[0] != '\0') {
				watch_dirname(g->prints[j].real, dir,
				    sizeof(dir));
				(void)inotify_add_watch(fd, dir,
				    WATCH_INOTIFY_MASK);
			}
		}
	}
}

static void
watch_drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* inotify said something: drain until it has been quiet for a moment. */
static void
watch_settle(struct watch *w)
{
	struct pollfd p = { w->inotify, POLLIN, 0 };
	unsigned waited = 0;

	watch_drain(w->inotify);
	while (waited < WATCH_SETTLE_MAX_MS &&
	    poll(&p, 1, WATCH_SETTLE_MS) > 0) {
		watch_drain(w->inotify);
		waited += WATCH_SETTLE_MS;
		if (atomic_load(&w->stop) || atomic_load(&w->forced))
			break;
	}
}

static void *
watch_main(void *arg)
{
	struct watch *w = arg;
	struct pollfd p[2];
	int n;

	while (!atomic_load(&w->stop)) {
		/* Arm before looking, so that a change from now on is seen
		 * by inotify or by the next look; look before waiting, so
		 * that one made before the thread ran is not left for the
		 * next poll. */
		watch_arm(w);
		(void)watch_check(w);
		p[0].fd = w->wake[0];
		p[0].events = POLLIN;
		p[1].fd = w->inotify;
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		n = poll(p, w->inotify >= 0 ? 2 : 1, (int)w->interval_ms);
		if (n < 0 && errno != EINTR)
			watch_sleep_ms(w->interval_ms);
		if (atomic_load(&w->stop))
			break;
		if (n > 0 && (p[0].revents & POLLIN))
			watch_drain(w->wake[0]);
		if (n > 0 && w->inotify >= 0 && (p[1].revents & POLLIN))
			watch_settle(w);
	}
	return NULL;
}

int
watch_start(struct watch *w)
{
	int rc;

	if (w == NULL || w->started)
		return -1;
	if ((rc = pthread_create(&w->thread, NULL, watch_main, w)) != 0) {
		errno = rc;
		return -1;
	}
	w->started = true;
	return 0;
}

void
watch_trigger(struct watch *w)
{
	char c = 't';

	if (w == NULL)
		return;
	atomic_store(&w->forced, true);
	if (!w->started) {
		(void)watch_check(w);
		return;
	}
	(void)!write(w->wake[1], &c, 1);
}

void
watch_free(struct watch *w)
{
	char c = 's';
	size_t i, j;

	if (w == NULL)
		return;
	if (w->started) {
		atomic_store(&w->stop, true);
		(void)!write(w->wake[1], &c, 1);
		pthread_join(w->thread, NULL);
	}
	if (w->inotify >= 0)
		close(w->inotify);
	close(w->wake[0]);
	close(w->wake[1]);
	for (i = 0; i < w->n_groups; i++)
		for (j = 0; j < w->groups[i].n; j++)
			free(w->groups[i].paths[j]);
	free(w);
}
