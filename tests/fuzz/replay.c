/* replay.c - run a libFuzzer target's inputs once each, without libFuzzer.
 *
 * Linked with one tests/fuzz/fuzz_<target>.c and the core, built by the
 * ordinary compiler (gcc), so that every committed seed and regression input
 * is replayed by `make test` and not only where clang is: the target's own
 * contract checks abort on a breach, which ends this process with the input
 * named on stderr just before.
 *
 *   replay_<target> FILE...
 *
 * Prints "replay: <target>: N passed, 0 failed" and exits 0 when every input
 * ran; exits 1 when a file cannot be read (an empty list is an error too: a
 * corpus that went missing must not pass). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current;	/* the input being run */

/* On a crash or a contract abort, name the input, then die as before. */
static void
on_fatal(int sig)
{
	static const char pre[] = "replay: failed on input ";

	if (current != NULL) {
		(void)!write(STDERR_FILENO, pre, sizeof(pre) - 1);
		(void)!write(STDERR_FILENO, current, strlen(current));
		(void)!write(STDERR_FILENO, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The whole file into a malloc'd buffer of exactly its size (as libFuzzer
 * hands inputs: not NUL-terminated, so overreads are caught by ASan). */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f;
	uint8_t *buf = NULL, *grown;
	size_t cap = 0, n = 0, got;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			grown = realloc(buf, cap);
			if (grown == NULL)
				goto fail;
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	fclose(f);
	grown = realloc(buf, n > 0 ? n : 1);
	*len = n;
	return grown != NULL ? grown : buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *target = argc > 0 ? argv[0] : "replay";
	const char *slash = strrchr(target, '/');
	int i, passed = 0;

	if (slash != NULL)
		target = slash + 1;
	if (argc < 2) {
		fprintf(stderr, "%s: no inputs given\n", target);
		return 1;
	}
	signal(SIGABRT, on_fatal);
	signal(SIGSEGV, on_fatal);
	signal(SIGBUS, on_fatal);
	signal(SIGFPE, on_fatal);
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		size_t len = 0;
		uint8_t *data = slurp(argv[i], &len);

		if (data == NULL) {
			fprintf(stderr, "%s: %s: %s\n", target, argv[i],
			    strerror(errno ? errno : EIO));
			return 1;
		}
		current = argv[i];
		LLVMFuzzerTestOneInput(data, len);
		current = NULL;
		free(data);
		passed++;
	}
	printf("replay: %s: %d passed, 0 failed\n", target, passed);
	return 0;
}
