/* cmd_policy.c - `meshinject policy`: print the ValidatingAdmissionPolicies
 * and bindings of the config's stages (vap.c) as YAML, for users who apply
 * plain manifests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "config.h"
#include "vap.h"
#include "yamljson.h"

static void
policy_usage(FILE *f)
{
	fprintf(f,
"usage: meshinject policy [--config FILE] [--name NAME] [--namespace NS]\n"
"                         [--exclude-namespace NS]...\n"
"\n"
"Print, as YAML, one ValidatingAdmissionPolicy and one binding per stage\n"
"that enforces (validationActions [Deny]) or observes ([Warn, Audit]):\n"
"the checks of /validate/<stage>, evaluated inside kube-apiserver. The\n"
"chart renders the same objects (webhooks.enforcement=policy).\n"
"\n"
"  --config FILE          the config (merged over the embedded default)\n"
"  --name NAME            object names are NAME-<stage> (default meshinject)\n"
"  --namespace NS         the webhook's namespace, which no binding selects\n"
"                         (default meshinject-system)\n"
"  --exclude-namespace NS another namespace no binding selects (repeatable;\n"
"                         kube-system, kube-public, kube-node-lease and the\n"
"                         config's ignoredNamespaces always are)\n");
}

/* The value of --opt VALUE or --opt=VALUE at argv[*i], or NULL. */
static const char *
opt_value(int argc, char **argv, int *i, const char *opt, int *bad)
{
	size_t n = strlen(opt);

	if (strcmp(argv[*i], opt) == 0) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "meshinject policy: %s needs a value\n",
			    opt);
			*bad = 1;
			return NULL;
		}
		return argv[++*i];
	}
	if (strncmp(argv[*i], opt, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	return NULL;
}

int
cmd_policy(int argc, char **argv)
{
	struct vap_opts opts = { .name = "meshinject",
	    .release_namespace = "meshinject-system" };
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;
	const char *path = NULL, *v;
	json_t *objs = NULL;
	char err[512], *yaml = NULL;
	int i, bad = 0, rc = 1;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			policy_usage(stdout);
			return 0;
		}
		if ((v = opt_value(argc, argv, &i, "--config", &bad)) != NULL)
			path = v;
		else if ((v = opt_value(argc, argv, &i, "--name", &bad)) != NULL)
			opts.name = v;
		else if ((v = opt_value(argc, argv, &i, "--namespace",
		    &bad)) != NULL)
			opts.release_namespace = v;
		else if ((v = opt_value(argc, argv, &i, "--exclude-namespace",
		    &bad)) != NULL) {
			if (opts.n_excluded >= VAP_MAX_EXCLUDED) {
				fprintf(stderr, "meshinject policy: more than "
				    "%d --exclude-namespace\n", VAP_MAX_EXCLUDED);
				return 2;
			}
			opts.excluded[opts.n_excluded++] = v;
		} else if (!bad) {
			fprintf(stderr, "meshinject policy: unknown argument "
			    "\"%s\"\n", argv[i]);
			bad = 1;
		}
		if (bad) {
			policy_usage(stderr);
			return 2;
		}
	}
	if (*opts.name == '\0' || *opts.release_namespace == '\0') {
		fprintf(stderr, "meshinject policy: --name and --namespace "
		    "must not be empty\n");
		return 2;
	}
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
