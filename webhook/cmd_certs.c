/* cmd_certs.c - `meshinject certs`: a CA and a serving certificate for the
 * webhook's Service, written as the files of a Kubernetes TLS Secret or
 * printed as the Secret itself, with the caBundle the webhook
 * configurations need. The certificates come from certs.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "base64.h"
#include "certs.h"
#include "cli.h"
#include "commands.h"
#include "yamljson.h"

#define CERTS_DEFAULT_DAYS	365
#define CERTS_MAX_CMD_DAYS	3650
#define CERTS_CA_NAME		"meshinject webhook CA"

struct certs_opts {
	const char *service;
	const char *ns;
	const char *out;
	const char *secret_name;	/* --kubernetes; default NAME-tls */
	int days;
	bool force;
	bool kubernetes;
};

enum { O_SERVICE = CLI_LONG, O_OUT, O_FORCE, O_KUBERNETES, O_SECRET_NAME,
    O_DAYS, O_NAMESPACE = 'n' };

static const struct cli_opt certs_opts[] = {
	{ O_SERVICE, "service", "NAME", "the webhook's Service (a DNS label)",
	    false },
	{ O_NAMESPACE, "namespace", "NS", "its namespace (a DNS label)", false },
	{ O_OUT, "out", "DIR", "write DIR/ca.crt, DIR/tls.crt and DIR/tls.key "
	    "(mode\n0600); DIR is created (mode 0700) when missing.\n"
	    "Existing files are never replaced without --force", false },
	{ O_FORCE, "force", NULL, "replace existing files (each atomically)",
	    false },
	{ O_KUBERNETES, "kubernetes", NULL, "write no files: print a Secret of "
	    "type\nkubernetes.io/tls in NS with data tls.crt, tls.key\n"
	    "and ca.crt, then a YAML document of comments only\n"
	    "(kubectl ignores it) holding the caBundle", false },
	{ O_SECRET_NAME, "secret-name", "NAME", "the Secret's name (default: "
	    "NAME-tls)", false },
	{ O_DAYS, "days", "N", "validity of both certificates, 1.."
	    CLI_STR(CERTS_MAX_CMD_DAYS) " (default " CLI_STR(CERTS_DEFAULT_DAYS)
	    ")", false },
	{ 0, NULL, NULL, NULL, false }
};

const struct cli_cmd cmd_certs_cli = {
	.name = "certs",
	.synopsis = "--service NAME --namespace NS --out DIR\n"
	    "[--days N] [--force]\n"
	    "meshinject certs --service NAME --namespace NS --kubernetes\n"
	    "[--secret-name NAME] [--days N]",
	.summary = "make a CA and a serving certificate for the webhook's Service",
	.about =
"Make a new CA and a serving certificate signed by it for the webhook's\n"
"Service (ECDSA P-256, serverAuth), with the DNS names NAME.NS.svc (what\n"
"kube-apiserver calls), NAME.NS.svc.cluster.local, NAME.NS and NAME.\n"
"The CA's private key is not kept: the CA signs this one certificate and\n"
"nothing else can be signed with it. Renew by running the command again\n"
"and updating the Secret and the caBundle together.\n",
	.opts = certs_opts,
	.footer =
"The caBundle of the webhook configurations is the base64 of ca.crt, which\n"
"is also the Secret's data \"ca.crt\". With --kubernetes it is printed on\n"
"standard error too, so that\n"
"  meshinject certs --service meshinject --namespace meshinject-system \\\n"
"      --kubernetes | kubectl apply -f -\n"
"installs the Secret and still shows it; later it can be read back with\n"
"  kubectl -n NS get secret NAME-tls -o jsonpath='{.data.ca\\.crt}'\n"
"\n"
"Exit status: 0 done; 1 a file exists (without --force) or cannot be\n"
"written; 2 bad arguments.\n",
};

/* A Secret name: a DNS subdomain (RFC 1123), at most 253 characters. */
static bool
certs_subdomain_ok(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (alnum)
			continue;
		if ((c != '-' && c != '.') || i == 0 || i == len - 1)
			return false;
		if (c == '.' && (s[i - 1] == '.' || s[i - 1] == '-' ||
		    s[i + 1] == '-'))
			return false;
	}
	return true;
}

/* Parse the arguments into *o. Returns 0, 1 after --help (printed), or 2
 * after a message on stderr. */
static int
certs_parse(int argc, char **argv, struct certs_opts *o)
{
	const struct cli_cmd *cmd = &cmd_certs_cli;
	struct cli_parser p;
	const char *v;
	char *end;
	long d;
	int c;

	memset(o, 0, sizeof(*o));
	o->days = CERTS_DEFAULT_DAYS;
	cli_begin(&p, cmd, argc, argv);
	while ((c = cli_next(&p)) != CLI_END) {
		v = p.value;
		switch (c) {
		case O_FORCE:
			o->force = true;
			continue;
		case O_KUBERNETES:
			o->kubernetes = true;
			continue;
		case O_DAYS:
			errno = 0;
			d = strtol(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || d < 1 ||
			    d > CERTS_MAX_CMD_DAYS)
				return cli_fail(cmd, "--days must be a whole "
				    "number of days from 1 to %d, not \"%s\"",
				    CERTS_MAX_CMD_DAYS, v);
			o->days = (int)d;
			continue;
		case O_SERVICE:
			o->service = v;
			break;
		case O_NAMESPACE:
			o->ns = v;
			break;
		case O_OUT:
			o->out = v;
			break;
		case O_SECRET_NAME:
			o->secret_name = v;
			break;
		case CLI_HELP:
			cli_usage(cmd, stdout);
			return 1;
		default:
			return cli_fail_parse(&p);
		}
		/* The names and the directory: an empty one is none. */
		if (*v == '\0')
			return cli_fail(cmd, "%s needs a value", p.flag);
	}
	if (p.optind < argc)
		return cli_fail_parse(&p);
	if (o->service == NULL || o->ns == NULL)
		return cli_fail(cmd, "--service and --namespace "
		    "are needed");
	if ((o->out == NULL) == !o->kubernetes)
		return cli_fail(cmd, "give either --out DIR (write "
		    "files) or --kubernetes (print a Secret)");
	if (o->force && o->kubernetes)
		return cli_fail(cmd, "--force applies to --out "
		    "only: --kubernetes writes no files");
	if (o->secret_name != NULL && !o->kubernetes)
		return cli_fail(cmd, "--secret-name applies to "
		    "--kubernetes only");
	if (o->secret_name != NULL && !certs_subdomain_ok(o->secret_name))
		return cli_fail(cmd, "--secret-name \"%s\" is not "
		    "a valid Secret name (lower-case letters, digits, '-' and "
		    "'.', at most 253)", o->secret_name);
	return 0;
}

/* mkdir -p with certs_mkdir_p(): the directories created here get mode
 * 0700, as they will hold a private key; an existing directory is left as
 * it is. */
static int
certs_make_dir(const char *dir)
{
	char err[PATH_MAX + 128];

	if (strlen(dir) >= PATH_MAX) {
		fprintf(stderr, "meshinject certs: --out: path too long\n");
		return -1;
	}
	if (certs_mkdir_p(dir, 0700, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshinject certs: %s\n", err);
		return -1;
	}
	return 0;
}

/* certs_write_file(), with what went wrong on stderr. */
static int
certs_write(const char *path, const char *data, size_t len, mode_t mode,
    bool replace)
{
	char err[PATH_MAX + 128];

	if (certs_write_file(path, data, len, mode, replace, err,
	    sizeof(err)) == 0)
		return 0;
	if (errno == EEXIST)
		fprintf(stderr, "meshinject certs: %s (use --force to replace "
		    "it)\n", err);
	else
		fprintf(stderr, "meshinject certs: %s\n", err);
	return -1;
}

/* The Secret, then a comments-only document with the caBundle. */
static int
certs_print_kubernetes(const struct certs_opts *o, const struct certs_pem *ca,
    const struct certs_pem *leaf)
{
	char name[300], err[256], *crt = NULL, *key = NULL, *cab = NULL;
	char *yaml = NULL;
	json_t *docs = NULL;
	int rc = 1;

	if (o->secret_name != NULL)
		snprintf(name, sizeof(name), "%s", o->secret_name);
	else
		snprintf(name, sizeof(name), "%s-tls", o->service);
	if ((crt = base64_encode(leaf->cert, leaf->cert_len, NULL)) == NULL ||
	    (key = base64_encode(leaf->key, leaf->key_len, NULL)) == NULL ||
	    (cab = base64_encode(ca->cert, ca->cert_len, NULL)) == NULL) {
		fprintf(stderr, "meshinject certs: out of memory\n");
		goto done;
	}
	docs = json_pack("[{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:s, "
	    "s:{s:s, s:s, s:s}}]", "apiVersion", "v1", "kind", "Secret",
	    "metadata", "name", name, "namespace", o->ns, "labels",
	    "app.kubernetes.io/name", "meshinject",
	    "app.kubernetes.io/component", "webhook-tls",
	    "type", "kubernetes.io/tls",
	    "data", "tls.crt", crt, "tls.key", key, "ca.crt", cab);
	if (docs == NULL || (yaml = yamljson_dump(docs, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "meshinject certs: cannot write the Secret: "
		    "%s\n", docs == NULL ? "out of memory" : err);
		goto done;
	}
	printf("# Serving certificate of the meshinject webhook, Service %s in "
	    "%s (meshinject certs).\n%s", o->service, o->ns, yaml);
	if (yaml[0] == '\0' || yaml[strlen(yaml) - 1] != '\n')
		putchar('\n');
	printf("---\n"
	    "# caBundle of the webhook configurations (the base64 of ca.crt,\n"
	    "# the same as the Secret's data \"ca.crt\" above):\n"
	    "# caBundle: %s\n", cab);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "meshinject certs: cannot write: %s\n",
		    strerror(errno));
		goto done;
	}
	fprintf(stderr, "meshinject certs: caBundle for the webhook "
	    "configurations (also the Secret's data \"ca.crt\"; read it back "
	    "with: kubectl -n %s get secret %s -o jsonpath='{.data.ca\\.crt}'):"
	    "\n%s\n", o->ns, name, cab);
	rc = 0;
done:
	if (key != NULL)
		explicit_bzero(key, strlen(key));
	free(crt);
	free(key);
	free(cab);
	if (yaml != NULL)
		explicit_bzero(yaml, strlen(yaml));
	free(yaml);
	json_decref(docs);	/* holds a copy of the key: not wiped */
	return rc;
}

static const char *const out_names[3] = { CERTS_TLS_KEY, CERTS_TLS_CERT,
    CERTS_CA_CERT };

/* DIR/tls.key, DIR/tls.crt, DIR/ca.crt. */
static int
certs_out_paths(const struct certs_opts *o, char paths[3][PATH_MAX])
{
	size_t i;

	for (i = 0; i < 3; i++)
		if ((size_t)snprintf(paths[i], PATH_MAX, "%s/%s", o->out,
		    out_names[i]) >= PATH_MAX) {
			fprintf(stderr, "meshinject certs: --out: path too "
			    "long\n");
			return -1;
		}
	return 0;
}

/* Without --force, name every file that is already there, before anything
 * is generated or written, so that a refusal leaves nothing behind.
 * Returns the number of such files. */
static int
certs_existing(char paths[3][PATH_MAX])
{
	struct stat st;
	size_t i;
	int n = 0;

	for (i = 0; i < 3; i++)
		if (lstat(paths[i], &st) == 0) {
			fprintf(stderr, "meshinject certs: %s exists: not "
			    "replaced (use --force to replace it)\n", paths[i]);
			n++;
		}
	return n;
}

/* The three files, the key first (a certificate without its key is the
 * worse half state). */
static int
certs_write_out(const struct certs_opts *o, char paths[3][PATH_MAX],
    const struct certs_pem *ca, const struct certs_pem *leaf)
{
	const char *data[3] = { leaf->key, leaf->cert, ca->cert };
	size_t lens[3] = { leaf->key_len, leaf->cert_len, ca->cert_len };
	const mode_t modes[3] = { 0600, 0644, 0644 };
	size_t i;

	if (certs_make_dir(o->out) != 0)
		return 1;
	for (i = 0; i < 3; i++)
		if (certs_write(paths[i], data[i], lens[i], modes[i],
		    o->force) != 0)
			return 1;
	return 0;
}

int
cmd_certs(int argc, char **argv)
{
	struct certs_opts o;
	char names[CERTS_SERVICE_NAMES][CERTS_NAME_MAX], err[512], cn[80];
	char paths[3][PATH_MAX];
	const char *sans[CERTS_SERVICE_NAMES];
	struct certs_pair *ca = NULL, *leaf = NULL;
	struct certs_pem ca_pem = { 0 }, leaf_pem = { 0 };
	struct tm tm;
	char until[32];
	int rc;

	if ((rc = certs_parse(argc, argv, &o)) != 0)
		return rc == 1 ? 0 : 2;
	if (certs_service_names(o.service, o.ns, names, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "meshinject certs: %s\n", err);
		return 2;
	}
	/* What kube-apiserver asks for first, then the shorter names. */
	sans[0] = names[2];
	sans[1] = names[3];
	sans[2] = names[1];
	sans[3] = names[0];
	/* A common name is at most 64 characters; the SANs are what count. */
	snprintf(cn, sizeof(cn), "%.64s", strlen(names[2]) <= 64 ? names[2] :
	    names[0]);

	/* Refuse before the work; certs_write() refuses again, atomically. */
	if (!o.kubernetes && (certs_out_paths(&o, paths) != 0 ||
	    (!o.force && certs_existing(paths) > 0)))
		return 1;
	rc = 1;
	if ((ca = certs_ca_new(CERTS_CA_NAME, o.days, err, sizeof(err))) ==
	    NULL || (leaf = certs_issue(ca, cn, sans, CERTS_SERVICE_NAMES,
	    o.days, err, sizeof(err))) == NULL ||
	    certs_pair_pem(ca, &ca_pem, err, sizeof(err)) != 0 ||
	    certs_pair_pem(leaf, &leaf_pem, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshinject certs: %s\n", err);
		goto done;
	}
	if (o.kubernetes) {
		rc = certs_print_kubernetes(&o, &ca_pem, &leaf_pem);
		goto done;
	}
	if ((rc = certs_write_out(&o, paths, &ca_pem, &leaf_pem)) != 0)
		goto done;
	gmtime_r(&leaf_pem.not_after, &tm);
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("wrote %s/%s, %s/%s and %s/%s (the key with mode 0600)\n"
	    "certificate for %s, %s, %s and %s, valid until %s\n"
	    "caBundle for the webhook configurations: base64 -w0 %s/%s\n",
	    o.out, CERTS_CA_CERT, o.out, CERTS_TLS_CERT, o.out, CERTS_TLS_KEY,
	    sans[0], sans[1], sans[2], sans[3], until, o.out, CERTS_CA_CERT);
	rc = 0;
done:
	certs_pem_clear(&ca_pem);
	certs_pem_clear(&leaf_pem);
	certs_pair_free(ca);
	certs_pair_free(leaf);
	return rc;
}
