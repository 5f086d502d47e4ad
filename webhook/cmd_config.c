/* cmd_config.c - `meshinject config`: print the embedded default config, or
 * check a config file and list every problem in it. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "vap.h"

static void
config_usage(FILE *f)
{
	fprintf(f,
	    "usage: meshinject config             print the embedded default config\n"
	    "       meshinject config --check FILE  check FILE (merged over the default)\n"
	    "\n"
	    "--check prints \"configuration OK\" and exits 0, or prints every\n"
	    "problem as FILE:LINE: KEY: REASON on stderr and exits 1. A config\n"
	    "whose stages cannot be compiled into ValidatingAdmissionPolicies\n"
	    "(`meshinject policy`) is refused as FILE: KEY: REASON.\n");
}

static int
config_check(const char *path)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	size_t i;
	int n;

	cfg = config_load_file(path, &errs);
	if (cfg == NULL) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		if (errs.count == 0)
			fprintf(stderr, "%s: cannot load the config\n", path);
		config_errors_clear(&errs);
		return 1;
	}
	/* The stages must compile into the ValidatingAdmissionPolicies
	 * (`meshinject policy`, the chart's default enforcement). */
	n = vap_check(cfg, &errs);
	config_free(cfg);
	if (n != 0) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s: %s\n", path, errs.msgs[i]);
		if (n < 0)
			fprintf(stderr, "%s: out of memory\n", path);
		config_errors_clear(&errs);
		return 1;
	}
	printf("configuration OK\n");
	return 0;
}

int
cmd_config(int argc, char **argv)
{
	if (argc <= 1) {
		fputs(config_default_yaml, stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		config_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--check") == 0 && argc == 3)
		return config_check(argv[2]);
	if (strncmp(argv[1], "--check=", 8) == 0 && argv[1][8] != '\0' &&
	    argc == 2)
		return config_check(argv[1] + 8);
	if (strcmp(argv[1], "--check") == 0)
		fprintf(stderr, "meshinject config: --check needs one FILE\n");
	else
		fprintf(stderr, "meshinject config: unknown argument \"%s\"\n",
		    argv[1]);
	config_usage(stderr);
	return 2;
}
