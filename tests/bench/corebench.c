/* corebench.c - the pure core alone, for make bench: review_handle of one
 * review file at /mutate/<stage> ITERATIONS times (after a tenth as many
 * to warm up), with the embedded default config; prints the median, p99
 * and max per review in milliseconds. Exits 1 unless every answer is 200
 * with a patch.
 *
 * usage: corebench REVIEW.json STAGE ITERATIONS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "review.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct config_errors errs = { NULL, 0 };
	struct review_opts opts = { ROUTE_MUTATE, NULL, NULL };
	struct config *cfg;
	double *t, total = 0;
	char *body, *resp;
	long len, n, i, warm;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: corebench REVIEW.json STAGE "
		    "ITERATIONS\n");
		return 2;
	}
	opts.stage = argv[2];
	n = atol(argv[3]);
	if ((f = fopen(argv[1], "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
	    (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (body = malloc((size_t)len)) == NULL ||
	    fread(body, 1, (size_t)len, f) != (size_t)len) {
		perror(argv[1]);
		return 2;
	}
	fclose(f);
	if ((cfg = config_load_default(&errs)) == NULL || n < 1 ||
	    (t = malloc((size_t)n * sizeof(*t))) == NULL)
		return 2;
	warm = n / 10 + 1;
	for (i = -warm; i < n; i++) {
		double t0 = now_ms();
		int status = review_handle(cfg, &opts, body, (size_t)len,
		    &resp, NULL);
		double dt = now_ms() - t0;

		if (status != 200 || strstr(resp, "\"patch\":") == NULL) {
			fprintf(stderr, "corebench: %s: status %d: %.300s\n",
			    argv[1], status, resp != NULL ? resp : "");
			return 1;
		}
		free(resp);
		if (i >= 0) {
			t[i] = dt;
			total += dt;
		}
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("review=%s bytes=%ld iterations=%ld median=%.3f p99=%.3f "
	    "max=%.3f mean=%.3f\n", argv[1], len, n, t[n / 2],
	    t[(size_t)((double)(n - 1) * 0.99 + 0.5)], t[n - 1], total /
	    (double)n);
	config_free(cfg);
	free(t);
	free(body);
	return 0;
}
