/* watch.h - notice that files changed, the way Kubernetes changes them: a
 * ConfigMap or Secret volume swaps a `..data` symlink in the volume's top
 * directory, so the file's own directory, and inotify on it, may never see
 * a change. Each file is fingerprinted through its symlinks (realpath plus
 * device, inode, size and mtime) and compared on every poll (at most every
 * interval) and whenever inotify reports something in one of the
 * directories on its way (its directory, that one's parent, its real
 * directory). inotify only makes it quicker; the poll alone is enough. */
#ifndef MESHINJECT_WATCH_H
#define MESHINJECT_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define WATCH_PATH_MAX		4096
/* Files in one group (a certificate and its key are one group). */
#define WATCH_GROUP_FILES	4
#define WATCH_MAX_GROUPS	8
/* Default poll interval; the contract is "at most 10 s". */
#define WATCH_DEFAULT_INTERVAL_MS	2000u

/* What a file is now. Two prints compare equal when nothing that a reader
 * would see has changed. */
struct watch_print {
	int err;			/* 0, or errno of realpath/stat */
	char real[WATCH_PATH_MAX];	/* resolved path, "" on error */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
};

/* Fingerprint `path` (following every symlink). Never fails: an error is
 * part of the print (a missing file is a state too). */
void watch_print_file(const char *path, struct watch_print *out);
bool watch_print_equal(const struct watch_print *a,
    const struct watch_print *b);

/* Called in the watcher's thread when a file of the group changed, or for
 * every group on watch_trigger(). `forced` says which. Returns 0 when the
 * new files were taken, -1 when they were refused (the callback logs why);
 * after a refusal the files are read again only once they change again,
 * unless they were changing while the callback read them. */
typedef int (*watch_fn)(void *arg, bool forced);

struct watch;

/* A watcher polling every interval_ms (0: the default). NULL when memory
 * runs out. */
struct watch *watch_new(unsigned interval_ms);

/* Watch the n files of `paths` (copied) as one group: `fn(arg)` runs once
 * per change of any of them. Their prints are taken now: changes before
 * this call are not reported. Call before watch_start(). Returns 0, or -1
 * when the group is full or a path too long. */
int watch_add(struct watch *w, const char *const *paths, size_t n,
    watch_fn fn, void *arg);

/* Start the watcher's thread. Returns 0 or -1 (errno). Signals should be
 * blocked in the caller already, so that the thread inherits the mask. */
int watch_start(struct watch *w);

/* Check every group now, as a poll would (for tests and callers without a
 * thread). Returns the number of callbacks run. */
unsigned watch_check(struct watch *w);

/* Run every group's callback at once (SIGHUP), changed or not. Returns at
 * once; the callbacks run in the watcher's thread (or, when none was
 * started, in the caller's before returning). */
void watch_trigger(struct watch *w);

/* Stop the thread (waiting for a callback under way) and free everything.
 * watch_free(NULL) is a no-op. */
void watch_free(struct watch *w);

#endif
