/* main.c - the meshinject binary: dispatch to a subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "install.h"
#include "jsonalloc.h"
#include "version.h"

struct command {
	int (*run)(int argc, char **argv);
	const struct cli_cmd *cli;	/* its name, summary and flags */
};

static const struct command commands[] = {
	{ cmd_serve, &cmd_serve_cli },
	{ cmd_inject, &cmd_inject_cli },
	{ cmd_check, &cmd_check_cli },
	{ cmd_explain, &cmd_explain_cli },
	{ cmd_report, &cmd_report_cli },
	{ cmd_certs, &cmd_certs_cli },
	{ cmd_install, &cmd_install_cli },
	{ cmd_policy, &cmd_policy_cli },
	{ cmd_config, &cmd_config_cli },
	{ cmd_redirect, &cmd_redirect_cli },
	{ cmd_version, &cmd_version_cli },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: meshinject <command> [options] [args]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].cli->name,
		    commands[i].cli->summary);
	fprintf(f, "\nRun 'meshinject <command> --help' for a command's "
	    "options.\nExit status: 0 done; 1 failed (a check found problems, "
	    "a file\ncannot be read); 2 bad arguments.\n");
}

static const struct cli_opt version_opts[] = {
	{ 0, NULL, NULL, NULL, false }
};

const struct cli_cmd cmd_version_cli = {
	.name = "version",
	.synopsis = "",
	.summary = "print the version",
	.opts = version_opts,
};

int
cmd_version(int argc, char **argv)
{
	struct cli_parser p;
	int c;

	cli_begin(&p, &cmd_version_cli, argc, argv);
	while ((c = cli_next(&p)) != CLI_END) {
		if (c == CLI_HELP) {
			cli_usage(&cmd_version_cli, stdout);
			return 0;
		}
		return cli_fail_parse(&p);
	}
	if (p.optind < argc)
		return cli_fail_parse(&p);
	printf("meshinject %s\n", MESHINJECT_VERSION);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *arena = getenv("MESHINJECT_JSON_ARENA");
	size_t i;

	/* MESHINJECT_JSON_ARENA=0: jansson's values each their own malloc,
	 * so that valgrind sees them (the library reads no environment). */
	if (arena != NULL && strcmp(arena, "0") == 0)
		jsonalloc_set_arena(false);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].cli->name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "meshinject: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
