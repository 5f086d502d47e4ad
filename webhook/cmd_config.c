/* cmd_config.c - `meshinject config`: print the embedded default config, or
 * check a config file and list every problem in it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "config.h"
#include "vap.h"

enum { O_CHECK = CLI_LONG };

static const struct cli_opt config_opts[] = {
	{ O_CHECK, "check", "FILE", "check FILE (merged over the default) "
	    "instead of printing\nthe default", false },
	{ 0, NULL, NULL, NULL, false }
};

const struct cli_cmd cmd_config_cli = {
	.name = "config",
	.synopsis = "[--check FILE]",
	.summary = "print the embedded default config, or check one "
	    "(--check FILE)",
	.about =
	    "Without options, print the embedded default config. --check prints\n"
	    "\"configuration OK\" and exits 0, or prints every problem as\n"
	    "FILE:LINE: KEY: REASON on stderr and exits 1. A config whose stages\n"
	    "cannot be compiled into ValidatingAdmissionPolicies (`meshinject\n"
	    "policy`) is refused as FILE: KEY: REASON.\n",
	.opts = config_opts,
	.footer =
	    "Exit status: 0 printed or OK; 1 the config has errors; 2 bad "
	    "arguments.\n",
};

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
	const struct cli_cmd *cmd = &cmd_config_cli;
	struct cli_parser p;
	const char *check = NULL;
	int c;

	cli_begin(&p, cmd, argc, argv);
	while ((c = cli_next(&p)) != CLI_END) {
		switch (c) {
		case O_CHECK:
			if (*p.value == '\0')
				return cli_fail(cmd, "--check needs one FILE");
			check = p.value;
			break;
		case CLI_HELP:
			cli_usage(cmd, stdout);
			return 0;
		default:
			if (p.error == CLI_ERR_MISSING)
				return cli_fail(cmd, "--check needs one FILE");
			return cli_fail_parse(&p);
		}
	}
	if (p.optind < argc)
		return cli_fail_parse(&p);
	if (check != NULL)
		return config_check(check);
	fputs(config_default_yaml, stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
