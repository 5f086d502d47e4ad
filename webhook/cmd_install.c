/* cmd_install.c - `meshinject install`: every object a plain-manifest user
 * applies (`meshinject install | kubectl apply -f -`). The objects are the
 * chart's rendering for plain installs, manifests/meshinject.yaml (compiled
 * in by make), with
 *   - a new CA and serving certificate (certs.c) for the webhook's Service,
 *     in the kubernetes.io/tls Secret the Deployment mounts, right after
 *     the Namespace;
 *   - that CA as the caBundle of every webhook entry;
 *   - the webhook entries and admission policies made from the config as
 *     the chart makes them from .Values.config: one mutating entry per stage
 *     except "off" (sorted by name), the pod-label entry, the config's
 *     ignoredNamespaces excluded, and per --enforcement a
 *     ValidatingAdmissionPolicy and binding per stage that enforces or
 *     observes and/or a validating entry per enforced stage;
 *   - with --config FILE, that file (validated first) as the ConfigMap's
 *     config.yaml, and the Deployment's checksum/config annotation of it.
 * --enforcement is the chart's webhooks.enforcement; the policies are vap.c's
 * (what `meshinject policy` prints). What the chart's other values would
 * change (names, namespace, per-stage failure policies) is the chart's
 * business: use helm for that. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base64.h"
#include "certs.h"
#include "commands.h"
#include "config.h"
#include "install.h"
#include "vap.h"
#include "version.h"
#include "yamljson.h"

#define INSTALL_DEFAULT_DAYS	365
#define INSTALL_MAX_DAYS	3650
#define INSTALL_CA_NAME		"meshinject webhook CA"
#define INSTALL_CONFIG_MAX	(1024 * 1024)	/* as config.c refuses */
#define INSTALL_STAGE_LABEL	"meshinject.io/stage"
#define INSTALL_NS_LABEL	"kubernetes.io/metadata.name"
#define INSTALL_WEBHOOK_API	"admissionregistration.k8s.io/v1"
/* The chart's webhooks.enforceFailurePolicy default. */
#define INSTALL_ENFORCE_POLICY	"Fail"

struct install_opts {
	const char *config;	/* NULL: the embedded default */
	const char *trust_ca;	/* more CAs for the caBundles, or NULL */
	bool policies;		/* --enforcement policy or both */
	bool validating;	/* --enforcement webhook or both */
	int days;
};

/* What the objects say about themselves, found in the embedded rendering;
 * copied, as the objects change afterwards. */
struct install_target {
	char service[CERTS_NAME_MAX];	/* the webhook entries' Service */
	char ns[CERTS_NAME_MAX];	/* its namespace */
	char secret[CERTS_NAME_MAX];	/* the TLS Secret the Deployment mounts */
	json_t *labels;		/* the Service's labels, for the Secret (new
				 * reference: json_decref) */
};

enum { O_CONFIG = CLI_LONG, O_DAYS, O_TRUST_CA, O_ENFORCEMENT };

static const struct cli_opt install_opts_table[] = {
	{ O_CONFIG, "config", "FILE", "the server's config (default: the "
	    "embedded one;\n"
	    "the keys of `meshinject config`, only those it changes\n"
	    "are needed), checked first: on any error nothing is\n"
	    "printed and every error is listed. It becomes the\n"
	    "ConfigMap's config.yaml, and its stages and\n"
	    "ignoredNamespaces decide the webhook entries and\n"
	    "policies as the chart's config: values do (a mutating\n"
	    "entry per stage except \"off\"; see --enforcement)", false },
	{ O_ENFORCEMENT, "enforcement", "policy|webhook|both",
	    "what checks the final pod of a stage that enforces or\n"
	    "observes, as the chart's webhooks.enforcement: policy (the\n"
	    "default) a ValidatingAdmissionPolicy and binding per\n"
	    "such stage ([Deny] for enforce: true, [Warn, Audit] for\n"
	    "observe), evaluated in the apiserver; webhook a\n"
	    "validating entry /validate/<stage> per enforced stage\n"
	    "(failurePolicy Fail); both", false },
	{ O_DAYS, "cert-days", "N", "validity of the CA and the certificate, 1.."
	    CLI_STR(INSTALL_MAX_DAYS) " days\n(default "
	    CLI_STR(INSTALL_DEFAULT_DAYS) ")", false },
	{ O_TRUST_CA, "trust-ca", "FILE", "the caBundles trust the PEM CA "
	    "certificates in FILE too,\n"
	    "after the new CA: renew without a moment in which the\n"
	    "apiserver cannot verify the pods still serving the old\n"
	    "certificate (FILE = the old Secret's ca.crt; its key was\n"
	    "never kept, so nothing new can be signed with it)", false },
	{ 0, NULL, NULL, NULL, false }
};

const struct cli_cmd cmd_install_cli = {
	.name = "install",
	.synopsis = "[--config FILE] [--cert-days N] [--trust-ca FILE]\n"
	    "[--enforcement policy|webhook|both]",
	.summary = "print every object of a plain install, with fresh "
	    "certificates (| kubectl apply -f -)",
	.about =
"Print every object of a plain (Helm-less) install as one YAML stream:\n"
"  meshinject install | kubectl apply -f -\n"
"\n"
"The objects are manifests/meshinject.yaml (the chart rendered with\n"
"certificates.source=secret: Namespace meshinject-system, ServiceAccount,\n"
"ConfigMap, Deployment, PodDisruptionBudget, Service and the webhook\n"
"configurations), built into this binary, with a new CA and a serving\n"
"certificate for meshinject.meshinject-system.svc in the kubernetes.io/tls\n"
"Secret meshinject-tls (tls.crt, tls.key, ca.crt) and that CA as every\n"
"webhook entry's caBundle. Each run makes new certificates: applying the\n"
"output again replaces the Secret and the caBundles together (the server\n"
"picks the new certificate up without a restart; see manifests/README.md).\n"
"The output holds a private key: pipe it, do not keep it.\n",
	.opts = install_opts_table,
	.footer =
"Exit status: 0 printed; 1 the config has errors or nothing could be made;\n"
"2 bad arguments.\n",
};

/* Returns 0, 1 after --help (printed), or 2 after a message on stderr. */
static int
install_parse(int argc, char **argv, struct install_opts *o)
{
	const struct cli_cmd *cmd = &cmd_install_cli;
	struct cli_parser p;
	const char *v;
	char *end;
	long d;
	int c;

	memset(o, 0, sizeof(*o));
	o->days = INSTALL_DEFAULT_DAYS;
	o->policies = true;	/* the chart's default: policy */
	cli_begin(&p, cmd, argc, argv);
	while ((c = cli_next(&p)) != CLI_END) {
		v = p.value;
		switch (c) {
		case O_CONFIG:
			if (v[0] == '\0')
				return cli_fail(cmd, "--config needs a FILE");
			o->config = v;
			break;
		case O_ENFORCEMENT:
			o->policies = strcmp(v, "policy") == 0 ||
			    strcmp(v, "both") == 0;
			o->validating = strcmp(v, "webhook") == 0 ||
			    strcmp(v, "both") == 0;
			if (!o->policies && !o->validating)
				return cli_fail(cmd, "--enforcement must be "
				    "policy, webhook or both, not \"%s\"", v);
			break;
		case O_TRUST_CA:
			if (v[0] == '\0')
				return cli_fail(cmd, "--trust-ca needs a FILE");
			o->trust_ca = v;
			break;
		case O_DAYS:
			errno = 0;
			d = strtol(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' ||
			    d < 1 || d > INSTALL_MAX_DAYS)
				return cli_fail(cmd, "--cert-days must be a "
				    "whole number of days from 1 to %d, not "
				    "\"%s\"", INSTALL_MAX_DAYS, v);
			o->days = (int)d;
			break;
		case CLI_HELP:
			cli_usage(cmd, stdout);
			return 1;
		default:
			return cli_fail_parse(&p);
		}
	}
	if (p.optind < argc)
		return cli_fail_parse(&p);
	return 0;
}

/* ---- the config ---------------------------------------------------------- */

/* Read at most INSTALL_CONFIG_MAX bytes of `path` into a new NUL-terminated
 * buffer (*len without the NUL). Returns NULL after a message on stderr. */
static char *
install_read(const char *flag, const char *path, size_t *len)
{
	struct stat sb;
	char *buf = NULL;
	ssize_t r;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "meshinject install: %s %s: cannot "
		    "open: %s\n", flag, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "meshinject install: %s %s: cannot "
		    "read: %s\n", flag, path, strerror(EISDIR));
		goto fail;
	}
	if ((buf = malloc(INSTALL_CONFIG_MAX + 2)) == NULL) {
		fprintf(stderr, "meshinject install: out of memory\n");
		goto fail;
	}
	while (*len <= INSTALL_CONFIG_MAX) {
		r = read(fd, buf + *len, INSTALL_CONFIG_MAX + 1 - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "meshinject install: %s %s: "
			    "cannot read: %s\n", flag, path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		*len += (size_t)r;
	}
	if (*len > INSTALL_CONFIG_MAX) {
		fprintf(stderr, "meshinject install: %s %s: larger than "
		    "%d bytes\n", flag, path, INSTALL_CONFIG_MAX);
		goto fail;
	}
	buf[*len] = '\0';
	close(fd);
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

/* The config the webhook entries follow: the file (whose text goes to
 * *text, a new buffer) or the embedded default (*text NULL). Returns NULL
 * after listing every error on stderr. */
static struct config *
install_config(const struct install_opts *o, char **text)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	size_t len, i;

	*text = NULL;
	if (o->config == NULL) {
		cfg = config_load_default(&errs);
	} else {
		if ((*text = install_read("--config", o->config, &len)) == NULL)
			return NULL;
		/* Validate the very bytes that go into the ConfigMap. */
		cfg = config_load_buffer(o->config, *text, len, &errs);
	}
	if (cfg != NULL)
		return cfg;
	fprintf(stderr, "meshinject install: %s is not a valid config; nothing "
	    "printed:\n", o->config != NULL ? o->config : "the default config");
	for (i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	if (errs.count == 0)
		fprintf(stderr, "%s: cannot load the config\n",
		    o->config != NULL ? o->config : "<default>");
	config_errors_clear(&errs);
	free(*text);
	*text = NULL;
	return NULL;
}

/* The caBundle's PEM: the new CA, then every certificate of --trust-ca
 * (each parsed, written back as PEM; another kind of PEM block, a key
 * say, refuses the file; text between blocks is ignored, as openssl does). Returns a new string, or NULL after a message on stderr. */
static char *
install_bundle(const struct install_opts *o, const char *ca, size_t ca_len)
{
	BIO *in = NULL, *out = NULL;
	X509 *x;
	char *text = NULL, *pem = NULL, *mem;
	const char *bad = NULL;
	size_t len = 0;
	long n;
	int count = 0;

	if (o->trust_ca == NULL)
		return strndup(ca, ca_len);
	if ((text = install_read("--trust-ca", o->trust_ca, &len)) == NULL)
		return NULL;
	if ((in = BIO_new_mem_buf(text, (int)len)) == NULL ||
	    (out = BIO_new(BIO_s_mem())) == NULL ||
	    BIO_write(out, ca, (int)ca_len) != (int)ca_len)
		goto oom;
	for (;;) {
		char *name = NULL, *header = NULL;
		unsigned char *data = NULL;
		const unsigned char *p;
		long dlen = 0;

		ERR_clear_error();
		if (PEM_read_bio(in, &name, &header, &data, &dlen) != 1) {
			/* The end of the input, or a broken block. */
			if (ERR_GET_REASON(ERR_peek_last_error()) !=
			    PEM_R_NO_START_LINE)
				bad = "a PEM block does not read";
			break;
		}
		p = data;
		x = strcmp(name, "CERTIFICATE") == 0 ?
		    d2i_X509(NULL, &p, dlen) : NULL;
		if (x == NULL && bad == NULL)
			bad = strcmp(name, "CERTIFICATE") == 0 ?
			    "a certificate does not parse" :
			    "it holds more than certificates (a key?)";
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		if (x == NULL)
			break;
		count++;
		if (PEM_write_bio_X509(out, x) != 1) {
			X509_free(x);
			goto oom;
		}
		X509_free(x);
	}
	if (bad != NULL || count == 0) {
		fprintf(stderr, "meshinject install: --trust-ca %s: %s\n",
		    o->trust_ca, bad != NULL ? bad : "no PEM certificate in it");
		goto done;
	}
	ERR_clear_error();
	if ((n = BIO_get_mem_data(out, &mem)) <= 0 ||
	    (pem = strndup(mem, (size_t)n)) == NULL)
		goto oom;
	goto done;
oom:
	fprintf(stderr, "meshinject install: out of memory\n");
done:
	BIO_free(in);
	BIO_free(out);
	free(text);
	return pem;
}

/* ---- small helpers -------------------------------------------------------- */

/* Lower-case hex SHA-256 of `len` bytes into hex (65 bytes). */
static int
install_sha256(const char *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -1;
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static const char *
install_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static bool
install_is(const json_t *doc, const char *kind)
{
	const char *k = install_str(doc, "kind");

	return k != NULL && strcmp(k, kind) == 0;
}

/* The first document of `kind` (borrowed), or NULL. */
static json_t *
install_find(const json_t *docs, const char *kind)
{
	json_t *doc;
	size_t i;

	json_array_foreach(docs, i, doc)
		if (install_is(doc, kind))
			return doc;
	return NULL;
}

/* The name of the first Secret a pod spec's volumes mount (a projected
 * source or a secret volume), or NULL. */
static const char *
install_pod_secret(const json_t *pod)
{
	const json_t *vol, *src;
	const char *name;
	size_t i, j;

	json_array_foreach(json_object_get(pod, "volumes"), i, vol) {
		name = install_str(json_object_get(vol, "secret"),
		    "secretName");
		if (name != NULL)
			return name;
		json_array_foreach(json_object_get(json_object_get(vol,
		    "projected"), "sources"), j, src) {
			name = install_str(json_object_get(src, "secret"),
			    "name");
			if (name != NULL)
				return name;
		}
	}
	return NULL;
}

/* The webhook entry's clientConfig.service.path, or "". */
static const char *
install_entry_path(const json_t *w)
{
	const char *p = install_str(json_object_get(json_object_get(w,
	    "clientConfig"), "service"), "path");

	return p != NULL ? p : "";
}

/* Set the values of every matchExpression on `key` in the entry's
 * namespaceSelector to `values` (borrowed; copied). Returns the number of
 * expressions changed, or -1 when out of memory. */
static int
install_set_expr(json_t *w, const char *key, json_t *values)
{
	json_t *e;
	size_t i;
	int n = 0;

	json_array_foreach(json_object_get(json_object_get(w,
	    "namespaceSelector"), "matchExpressions"), i, e) {
		const char *k = install_str(e, "key");

		if (k == NULL || strcmp(k, key) != 0 ||
		    json_object_get(e, "values") == NULL)
			continue;
		if (json_object_set_new(e, "values",
		    json_deep_copy(values)) != 0)
			return -1;
		n++;
	}
	return n;
}

/* ---- the objects ----------------------------------------------------------- */

/* Read the Service, namespace and Secret name from the embedded objects,
 * checking that they are the shape this command relies on. */
static int
install_target(const json_t *docs, struct install_target *t, char *err,
    size_t errlen)
{
	const json_t *mwc, *dep, *svc, *doc, *w;
	const json_t *ref;
	const char *service, *ns_name, *secret;
	size_t i;

	memset(t, 0, sizeof(*t));
	if (!install_is(json_array_get(docs, 0), "Namespace")) {
		snprintf(err, errlen, "the first object is not the Namespace");
		return -1;
	}
	if ((mwc = install_find(docs, "MutatingWebhookConfiguration")) ==
	    NULL || (w = json_array_get(json_object_get(mwc, "webhooks"),
	    0)) == NULL) {
		snprintf(err, errlen, "no MutatingWebhookConfiguration with "
		    "entries");
		return -1;
	}
	ref = json_object_get(json_object_get(w, "clientConfig"), "service");
	service = install_str(ref, "name");
	ns_name = install_str(ref, "namespace");
	if (service == NULL || ns_name == NULL ||
	    strlen(service) >= sizeof(t->service) ||
	    strlen(ns_name) >= sizeof(t->ns)) {
		snprintf(err, errlen, "the webhook entries name no Service");
		return -1;
	}
	snprintf(t->service, sizeof(t->service), "%s", service);
	snprintf(t->ns, sizeof(t->ns), "%s", ns_name);
	svc = NULL;
	json_array_foreach(docs, i, doc) {
		const json_t *meta = json_object_get(doc, "metadata");
		const char *name = install_str(meta, "name");
		const char *ns = install_str(meta, "namespace");

		if (install_is(doc, "Service") && name != NULL && ns != NULL &&
		    strcmp(name, t->service) == 0 && strcmp(ns, t->ns) == 0)
			svc = doc;
	}
	if (svc == NULL) {
		snprintf(err, errlen, "no Service %.64s/%.64s, which the "
		    "webhook entries call", t->ns, t->service);
		return -1;
	}
	if ((dep = install_find(docs, "Deployment")) == NULL ||
	    (secret = install_pod_secret(json_object_get(json_object_get(
	    json_object_get(dep, "spec"), "template"), "spec"))) == NULL ||
	    strlen(secret) >= sizeof(t->secret)) {
		snprintf(err, errlen, "no Deployment mounting a Secret");
		return -1;
	}
	snprintf(t->secret, sizeof(t->secret), "%s", secret);
	t->labels = json_deep_copy(json_object_get(json_object_get(svc,
	    "metadata"), "labels"));
	return 0;
}

/* The namespaces no entry is called for, as the chart lists them: the
 * control plane's, the config's ignoredNamespaces, the webhook's own. */
static json_t *
install_excluded(const struct config *cfg, const char *ns)
{
	static const char *const fixed[] = { "kube-system", "kube-public",
	    "kube-node-lease" };
	json_t *out = json_array(), *v;
	const char *add;
	size_t i, j, n = sizeof(fixed) / sizeof(fixed[0]);
	bool dup;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n + cfg->n_ignored_namespaces + 1; i++) {
		if (i < n)
			add = fixed[i];
		else if (i < n + cfg->n_ignored_namespaces)
			add = cfg->ignored_namespaces[i - n];
		else
			add = ns;
		dup = false;
		json_array_foreach(out, j, v)
			if (strcmp(json_string_value(v), add) == 0)
				dup = true;
		if (!dup && json_array_append_new(out,
		    json_string(add)) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static int
install_cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One entry for `stage`, made from `tmpl` (a /mutate/<stage> entry of the
 * embedded rendering). `validating`: /validate/<stage>, failing closed.
 * Returns a new entry or NULL. */
static json_t *
install_entry(const json_t *tmpl, const char *stage, bool validating,
    json_t *excluded, const char *cab)
{
	char name[128], path[128];
	json_t *w, *svc, *one;

	snprintf(name, sizeof(name), "%s.%smeshinject.io", stage,
	    validating ? "enforce." : "");
	snprintf(path, sizeof(path), "/%s/%s", validating ? "validate" :
	    "mutate", stage);
	if ((w = json_deep_copy(tmpl)) == NULL)
		return NULL;
	svc = json_object_get(json_object_get(w, "clientConfig"), "service");
	one = json_pack("[s]", stage);
	if (svc == NULL || one == NULL ||
	    json_object_set_new(w, "name", json_string(name)) != 0 ||
	    json_object_set_new(svc, "path", json_string(path)) != 0 ||
	    json_object_set_new(json_object_get(w, "clientConfig"),
	    "caBundle", json_string(cab)) != 0 ||
	    install_set_expr(w, INSTALL_STAGE_LABEL, one) != 1 ||
	    install_set_expr(w, INSTALL_NS_LABEL, excluded) != 1)
		goto fail;
	if (validating && (json_object_del(w, "reinvocationPolicy") != 0 ||
	    json_object_set_new(w, "failurePolicy",
	    json_string(INSTALL_ENFORCE_POLICY)) != 0))
		goto fail;
	json_decref(one);
	return w;
fail:
	json_decref(one);
	json_decref(w);
	return NULL;
}

/* Replace the webhook configurations' entries by those of cfg's stages,
 * every caBundle by `cab`. The embedded ValidatingWebhookConfiguration (if
 * any) is dropped and made again (`validating`) when a stage is enforced,
 * right after the mutating one. */
static int
install_webhooks(json_t *docs, const struct config *cfg, const char *ns,
    const char *cab, bool validating, char *err, size_t errlen)
{
	json_t *mwc, *vwc = NULL, *old, *tmpl = NULL, *hooks = NULL;
	json_t *vhooks = NULL, *excluded = NULL, *w, *e;
	const char **names = NULL;
	size_t i, n = 0, at = 0;
	int rc = -1;

	/* The embedded validating entries are the default config's: none. */
	for (i = 0; i < json_array_size(docs); )
		if (install_is(json_array_get(docs, i),
		    "ValidatingWebhookConfiguration"))
			json_array_remove(docs, i);
		else
			i++;
	mwc = install_find(docs, "MutatingWebhookConfiguration");
	old = json_object_get(mwc, "webhooks");
	json_array_foreach(old, i, w)
		if (strncmp(install_entry_path(w), "/mutate/", 8) == 0) {
			tmpl = w;
			break;
		}
	if (tmpl == NULL) {
		snprintf(err, errlen, "no /mutate/<stage> webhook entry to "
		    "make the stages' entries from");
		return -1;
	}
	if ((excluded = install_excluded(cfg, ns)) == NULL ||
	    (hooks = json_array()) == NULL || (vhooks = json_array()) ==
	    NULL || (names = calloc(cfg->n_stages + 1, sizeof(*names))) ==
	    NULL)
		goto oom;
	for (i = 0; i < cfg->n_stages; i++)
		if (strcmp(cfg->stages[i].name, "off") != 0)
			names[n++] = cfg->stages[i].name;
	qsort(names, n, sizeof(*names), install_cmp_names);
	for (i = 0; i < n; i++) {
		const struct stage *st = config_stage(cfg, names[i]);

		if ((e = install_entry(tmpl, names[i], false, excluded,
		    cab)) == NULL || json_array_append_new(hooks, e) != 0)
			goto oom;
		if (validating && st != NULL && st->enforce &&
		    ((e = install_entry(tmpl,
		    names[i], true, excluded, cab)) == NULL ||
		    json_array_append_new(vhooks, e) != 0))
			goto oom;
	}
	/* The other entries (the pod-label one, /mutate) keep their shape. */
	json_array_foreach(old, i, w) {
		if (strncmp(install_entry_path(w), "/mutate/", 8) == 0)
			continue;
		if ((e = json_deep_copy(w)) == NULL ||
		    json_array_append_new(hooks, e) != 0 ||
		    json_object_set_new(json_object_get(e, "clientConfig"),
		    "caBundle", json_string(cab)) != 0 ||
		    install_set_expr(e, INSTALL_NS_LABEL, excluded) < 0)
			goto oom;
	}
	if (json_object_set(mwc, "webhooks", hooks) != 0)
		goto oom;
	if (json_array_size(vhooks) > 0) {
		vwc = json_pack("{s:s, s:s, s:O, s:O}", "apiVersion",
		    INSTALL_WEBHOOK_API, "kind", "ValidatingWebhookConfiguration",
		    "metadata", json_object_get(mwc, "metadata"), "webhooks",
		    vhooks);
		json_array_foreach(docs, i, w)
			if (w == mwc)
				at = i + 1;
		if (vwc == NULL || json_array_insert_new(docs, at, vwc) != 0)
			goto oom;
		/* The metadata is shared with the mutating one: copy it. */
		if (json_object_set_new(vwc, "metadata", json_deep_copy(
		    json_object_get(mwc, "metadata"))) != 0)
			goto oom;
	}
	rc = 0;
	goto done;
oom:
	snprintf(err, errlen, "out of memory");
done:
	free(names);
	json_decref(excluded);
	json_decref(hooks);
	json_decref(vhooks);
	return rc;
}

/* Replace the embedded admission policies and bindings (those of the
 * default config) by the config's, from vap.c, labelled as the chart labels
 * them: its common labels (the mutating configuration's) and the stage.
 * Appended, where helm puts kinds it does not order. */
static int
install_policies(json_t *docs, const struct config *cfg,
    const struct install_opts *o, const char *ns, char *err, size_t errlen)
{
	struct vap_opts vo = { .release_namespace = ns };
	json_t *mwc, *objs = NULL, *obj, *labels, *meta;
	const char *kind;
	size_t i;
	int rc = -1;

	for (i = 0; i < json_array_size(docs); ) {
		kind = install_str(json_array_get(docs, i), "kind");
		if (kind != NULL && (strcmp(kind,
		    "ValidatingAdmissionPolicy") == 0 || strcmp(kind,
		    "ValidatingAdmissionPolicyBinding") == 0))
			json_array_remove(docs, i);
		else
			i++;
	}
	if (!o->policies)
		return 0;
	mwc = install_find(docs, "MutatingWebhookConfiguration");
	meta = json_object_get(mwc, "metadata");
	if ((vo.name = install_str(meta, "name")) == NULL) {
		snprintf(err, errlen, "the MutatingWebhookConfiguration has no "
		    "name");
		return -1;
	}
	if ((objs = vap_objects(cfg, &vo, err, errlen)) == NULL)
		return -1;	/* err says which rule the CEL cannot hold */
	json_array_foreach(objs, i, obj) {
		const char *stage = install_str(json_object_get(json_object_get(
		    obj, "metadata"), "labels"), INSTALL_STAGE_LABEL);

		if (stage == NULL) {
			snprintf(err, errlen, "a policy without a stage label");
			goto done;
		}
		if ((labels = json_deep_copy(json_object_get(meta,
		    "labels"))) == NULL)
			labels = json_object();
		if (labels == NULL ||
		    json_object_set_new(labels, INSTALL_STAGE_LABEL,
		    json_string(stage)) != 0 ||
		    json_object_set_new(json_object_get(obj, "metadata"),
		    "labels", labels) != 0 || json_array_append(docs, obj) != 0) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
	}
	rc = 0;
done:
	json_decref(objs);
	return rc;
}

/* With --config: the file as the ConfigMap's config.yaml, and the pods'
 * checksum/config annotation of it, so that a changed config rolls them as
 * the chart's does (the server also reloads the file). */
static int
install_configmap(json_t *docs, const char *path, const char *text,
    char *err, size_t errlen)
{
	json_t *cm = install_find(docs, "ConfigMap");
	json_t *dep = install_find(docs, "Deployment");
	json_t *ann;
	const char *base = strrchr(path, '/');
	char *data = NULL, hex[65];
	size_t len, tlen = strlen(text);
	int n, rc = -1;

	if (cm == NULL || json_object_get(json_object_get(cm, "data"),
	    "config.yaml") == NULL) {
		snprintf(err, errlen, "no ConfigMap with config.yaml");
		return -1;
	}
	base = base != NULL ? base + 1 : path;
	len = strlen(base) + tlen + 160;
	if ((data = malloc(len)) == NULL)
		goto oom;
	n = snprintf(data, len, "# %s, given to `meshinject install --config`; "
	    "merged by the server\n# over its embedded default (`meshinject "
	    "config`).\n%s%s", base, text,
	    tlen > 0 && text[tlen - 1] != '\n' ? "\n" : "");
	if (n < 0 || (size_t)n >= len)
		goto oom;
	if (json_object_set_new(json_object_get(cm, "data"), "config.yaml",
	    json_string(data)) != 0) {
		/* Not UTF-8: the config loader read it, YAML needs it. */
		snprintf(err, errlen, "%s is not UTF-8 text", path);
		goto done;
	}
	ann = json_object_get(json_object_get(json_object_get(json_object_get(
	    dep, "spec"), "template"), "metadata"), "annotations");
	if (json_object_get(ann, "checksum/config") != NULL) {
		if (install_sha256(data, strlen(data), hex) != 0 ||
		    json_object_set_new(ann, "checksum/config",
		    json_string(hex)) != 0)
			goto oom;
	}
	rc = 0;
	goto done;
oom:
	snprintf(err, errlen, "out of memory");
done:
	free(data);
	return rc;
}

/* The kubernetes.io/tls Secret, inserted after the Namespace. The base64
 * strings are borrowed. */
static int
install_secret(json_t *docs, const struct install_target *t,
    const char *crt, const char *key, const char *cab)
{
	json_t *secret;

	secret = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}}",
	    "apiVersion", "v1", "kind", "Secret", "type", "kubernetes.io/tls",
	    "metadata", "name", t->secret, "namespace", t->ns,
	    "data", "tls.crt", crt, "tls.key", key, "ca.crt", cab);
	if (secret == NULL)
		return -1;
	if (json_is_object(t->labels) && json_object_set(json_object_get(
	    secret, "metadata"), "labels", t->labels) != 0) {
		json_decref(secret);
		return -1;
	}
	return json_array_insert_new(docs, 1, secret);
}

/* ---- the command -------------------------------------------------------------- */

int
cmd_install(int argc, char **argv)
{
	struct install_opts o;
	struct install_target t = { .labels = NULL };
	struct config *cfg = NULL;
	struct certs_pair *ca = NULL, *leaf = NULL;
	struct certs_pem ca_pem = { 0 }, leaf_pem = { 0 };
	struct yamljson_error yerr = { 0 };
	char names[CERTS_SERVICE_NAMES][CERTS_NAME_MAX], err[512], cn[80];
	char *text = NULL, *crt = NULL, *key = NULL, *cab = NULL, *yaml = NULL;
	char *bundle = NULL, *bundle64 = NULL;
	const char *sans[CERTS_SERVICE_NAMES];
	json_t *docs = NULL, *all = NULL, *doc;
	struct tm tm;
	char until[32];
	size_t i;
	int rc;

	if ((rc = install_parse(argc, argv, &o)) != 0)
		return rc == 1 ? 0 : 2;
	rc = 1;
	if ((cfg = install_config(&o, &text)) == NULL)
		goto done;

	/* The embedded rendering, without its empty documents. */
	all = yamljson_load(install_manifests_yaml,
	    strlen(install_manifests_yaml), &yerr);
	if (all == NULL || (docs = json_array()) == NULL) {
		fprintf(stderr, "meshinject install: the embedded manifests do "
		    "not load (line %d: %s)\n", yerr.line, yerr.text);
		goto done;
	}
	json_array_foreach(all, i, doc)
		if (json_is_object(doc) && json_array_append(docs, doc) != 0)
			goto oom;
	if (install_target(docs, &t, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshinject install: the embedded manifests: "
		    "%s\n", err);
		goto done;
	}

	/* Certificates as `meshinject certs` makes them. */
	if (certs_service_names(t.service, t.ns, names, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "meshinject install: %s\n", err);
		goto done;
	}
	sans[0] = names[2];
	sans[1] = names[3];
	sans[2] = names[1];
	sans[3] = names[0];
	snprintf(cn, sizeof(cn), "%.64s", strlen(names[2]) <= 64 ? names[2] :
	    names[0]);
	if ((ca = certs_ca_new(INSTALL_CA_NAME, o.days, err, sizeof(err))) ==
	    NULL || (leaf = certs_issue(ca, cn, sans, CERTS_SERVICE_NAMES,
	    o.days, err, sizeof(err))) == NULL ||
	    certs_pair_pem(ca, &ca_pem, err, sizeof(err)) != 0 ||
	    certs_pair_pem(leaf, &leaf_pem, err, sizeof(err)) != 0) {
		fprintf(stderr, "meshinject install: %s\n", err);
		goto done;
	}
	if ((crt = base64_encode(leaf_pem.cert, leaf_pem.cert_len, NULL)) ==
	    NULL ||
	    (key = base64_encode(leaf_pem.key, leaf_pem.key_len, NULL)) ==
	    NULL ||
	    (cab = base64_encode(ca_pem.cert, ca_pem.cert_len, NULL)) == NULL)
		goto oom;
	if ((bundle = install_bundle(&o, ca_pem.cert, ca_pem.cert_len)) == NULL)
		goto done;
	if ((bundle64 = base64_encode(bundle, strlen(bundle), NULL)) == NULL)
		goto oom;

	if (install_webhooks(docs, cfg, t.ns, bundle64, o.validating, err,
	    sizeof(err)) != 0 ||
	    install_policies(docs, cfg, &o, t.ns, err, sizeof(err)) != 0 ||
	    (text != NULL && install_configmap(docs, o.config, text, err,
	    sizeof(err)) != 0)) {
		fprintf(stderr, "meshinject install: %s\n", err);
		goto done;
	}
	if (install_secret(docs, &t, crt, key, cab) != 0)
		goto oom;
	if ((yaml = yamljson_dump(docs, err, sizeof(err))) == NULL) {
		fprintf(stderr, "meshinject install: cannot write the objects: "
		    "%s\n", err);
		goto done;
	}
	gmtime_r(&leaf_pem.not_after, &tm);
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("# meshinject %s: every object of a plain install, for\n"
	    "#   meshinject install | kubectl apply -f -\n"
	    "# The chart rendered for kubectl (manifests/meshinject.yaml) with "
	    "a new CA and\n# serving certificate for %s, valid until %s, in "
	    "the Secret %s.\n# It holds the private key: pipe it, do not keep "
	    "it.\n%s", MESHINJECT_VERSION, sans[0], until, t.secret, yaml);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "meshinject install: cannot write: %s\n",
		    strerror(errno));
		goto done;
	}
	rc = 0;
	goto done;
oom:
	fprintf(stderr, "meshinject install: out of memory\n");
done:
	if (key != NULL)
		explicit_bzero(key, strlen(key));
	if (yaml != NULL)
		explicit_bzero(yaml, strlen(yaml));
	free(crt);
	free(key);
	free(cab);
	free(bundle);
	free(bundle64);
	free(yaml);
	free(text);
	json_decref(docs);	/* holds a copy of the key: not wiped */
	json_decref(all);
	json_decref(t.labels);
	certs_pem_clear(&ca_pem);
	certs_pem_clear(&leaf_pem);
	certs_pair_free(ca);
	certs_pair_free(leaf);
	config_free(cfg);
	return rc;
}
