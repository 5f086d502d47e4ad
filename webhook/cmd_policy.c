/* cmd_policy.c - `meshinject policy`: print the ValidatingAdmissionPolicies
 * and bindings of the config's stages (vap.c) as YAML, for users who apply
 * plain manifests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"
#include "config.h"
#include "vap.h"
#include "yamljson.h"

enum { O_CONFIG = CLI_LONG, O_NAME, O_NAMESPACE, O_EXCLUDE };

static const struct cli_opt policy_opts[] = {
	{ O_CONFIG, "config", "FILE", "the config (merged over the embedded "
	    "default;\ndefault: the embedded one)", false },
	{ O_NAME, "name", "NAME", "object names are NAME-<stage> (default "
	    "meshinject)", false },
	{ O_NAMESPACE, "namespace", "NS", "the webhook's namespace, which no "
	    "binding selects\n(default meshinject-system)", false },
	{ O_EXCLUDE, "exclude-namespace", "NS", "another namespace no binding "
	    "selects (repeatable;\nkube-system, kube-public, kube-node-lease "
	    "and the\nconfig's ignoredNamespaces always are)", false },
	{ 0, NULL, NULL, NULL, false }
};

const struct cli_cmd cmd_policy_cli = {
	.name = "policy",
	.synopsis = "[--config FILE] [--name NAME] [--namespace NS]\n"
	    "[--exclude-namespace NS]...",
	.summary = "print the ValidatingAdmissionPolicies and bindings of the "
	    "config's stages",
	.about =
"Print, as YAML, one ValidatingAdmissionPolicy and one binding per stage\n"
"that enforces (validationActions [Deny]) or observes ([Warn, Audit]):\n"
"the checks of /validate/<stage>, evaluated inside kube-apiserver. The\n"
"chart renders the same objects (webhooks.enforcement=policy).\n",
	.opts = policy_opts,
	.footer =
"Exit status: 0 printed; 1 the config has errors or cannot be compiled;\n"
"2 bad arguments.\n",
};

int
cmd_policy(int argc, char **argv)
{
	struct vap_opts opts = { .name = "meshinject",
	    .release_namespace = "meshinject-system" };
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;
	const struct cli_cmd *cmd = &cmd_policy_cli;
	struct cli_parser p;
	const char *path = NULL;
	json_t *objs = NULL;
	char err[512], *yaml = NULL;
	int c, rc = 1;
	size_t k;

	cli_begin(&p, cmd, argc, argv);
	while ((c = cli_next(&p)) != CLI_END) {
		switch (c) {
		case O_CONFIG:
			path = p.value;
			break;
		case O_NAME:
			opts.name = p.value;
			break;
		case O_NAMESPACE:
			opts.release_namespace = p.value;
			break;
		case O_EXCLUDE:
			if (opts.n_excluded >= VAP_MAX_EXCLUDED)
				return cli_fail(cmd, "more than %d "
				    "--exclude-namespace", VAP_MAX_EXCLUDED);
			opts.excluded[opts.n_excluded++] = p.value;
			break;
		case CLI_HELP:
			cli_usage(cmd, stdout);
			return 0;
		default:
			return cli_fail_parse(&p);
		}
	}
	if (p.optind < argc)
		return cli_fail_parse(&p);
	if (*opts.name == '\0' || *opts.release_namespace == '\0')
		return cli_fail(cmd, "--name and --namespace must not be "
		    "empty");
	cfg = path != NULL ? config_load_file(path, &errs) :
	    config_load_default(&errs);
	if (cfg == NULL) {
		for (k = 0; k < errs.count; k++)
			fprintf(stderr, "%s\n", errs.msgs[k]);
		if (errs.count == 0)
			fprintf(stderr, "meshinject policy: cannot load the "
			    "config\n");
		goto done;
	}
	objs = vap_objects(cfg, &opts, err, sizeof(err));
	if (objs == NULL) {
		fprintf(stderr, "meshinject policy: %s%s%s\n", path ? path : "",
		    path ? ": " : "", err);
		goto done;
	}
	yaml = yamljson_dump(objs, err, sizeof(err));
	if (yaml == NULL) {
		fprintf(stderr, "meshinject policy: %s\n", err);
		goto done;
	}
	if (fputs(yaml, stdout) == EOF || fflush(stdout) != 0) {
		perror("meshinject policy: stdout");
		goto done;
	}
	rc = 0;
done:
	free(yaml);
	json_decref(objs);
	config_free(cfg);
	config_errors_clear(&errs);
	return rc;
}
