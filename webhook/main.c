/* main.c - the meshinject binary: dispatch to a subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "install.h"
#include "jsonalloc.h"
#include "version.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "serve", cmd_serve, "serve admission reviews over HTTPS" },
	{ "inject", cmd_inject, "print manifests with their pod templates injected, as the webhook would" },
	{ "check", cmd_check, "report which pod templates of manifests would be refused, and why" },
	{ "explain", cmd_explain, "say which stage and features each pod template gets, and why" },
	{ "report", cmd_report, "show how far a rollout has come per namespace, and what to restart" },
	{ "certs", cmd_certs, "make a CA and a serving certificate for the webhook's Service" },
	{ "install", cmd_install, "print every object of a plain install, with fresh certificates (| kubectl apply -f -)" },
	{ "policy", cmd_policy, "print the ValidatingAdmissionPolicies and bindings of the config's stages" },
	{ "config", cmd_config, "print the embedded default config, or check one (--check FILE)" },
	{ "redirect", cmd_redirect, "write the pod's iptables redirect to the proxy (what mesh-init runs)" },
	{ "version", cmd_version, "print the version" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: meshinject <command> [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nRun 'meshinject <command> --help' for a command's options.\n");
}

int
cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
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
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "meshinject: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
