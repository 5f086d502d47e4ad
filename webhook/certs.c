/* certs.c - ECDSA P-256 CA and serving certificates with OpenSSL, PEM files,
 * and the certificate/key match check. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs.h"

#define CERTS_MAX_SANS		64
#define CERTS_MAX_DAYS		36500
/* Certificates start a little in the past so that a node whose clock is
 * slightly behind still accepts them. */
#define CERTS_BACKDATE_SECS	300

struct certs_pair {
	EVP_PKEY *key;
	X509 *cert;
};

static void certs_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill err with fmt, plus OpenSSL's innermost reason when it has one. */
static void
certs_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	size_t n;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	e = ERR_peek_last_error();
	n = strlen(err);
	if (e != 0 && ERR_reason_error_string(e) != NULL && n + 3 < errlen)
		snprintf(err + n, errlen - n, " (%s)", ERR_reason_error_string(e));
	ERR_clear_error();
}

void
certs_pair_free(struct certs_pair *pair)
{
	if (pair == NULL)
		return;
	EVP_PKEY_free(pair->key);
	X509_free(pair->cert);
	free(pair);
}

/* Letters, digits and '-' in labels of 1..63, dots between, an optional
 * leading "*." wildcard; 1..253 characters. */
static bool
certs_dns_name_ok(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > CERTS_NAME_MAX - 1)
		return false;
	if (strncmp(s, "*.", 2) == 0)
		s += 2;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[i - 1] != '-';
}

/* A positive random serial of up to 127 bits (RFC 5280: at most 20 octets). */
static int
certs_set_serial(X509 *x)
{
	BIGNUM *bn;
	int rc = -1;

	if ((bn = BN_new()) == NULL)
		return -1;
	if (BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
	    !BN_is_zero(bn) &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
		rc = 0;
	BN_free(bn);
	return rc;
}

static int
certs_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* The subjectAltName extension, built from GENERAL_NAMEs rather than from
 * "DNS:a,IP:b" text so that no input can add names of its own. */
static int
certs_add_sans(X509 *x, const char *const *sans, size_t n, char *err,
    size_t errlen)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gen = NULL;
	size_t i;
	int rc = -1;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL) {
		certs_err(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char addr[16];
		int addrlen = 0;

		if (inet_pton(AF_INET, sans[i], addr) == 1)
			addrlen = 4;
		else if (inet_pton(AF_INET6, sans[i], addr) == 1)
			addrlen = 16;
		else if (!certs_dns_name_ok(sans[i])) {
			certs_err(err, errlen, "\"%s\" is neither an IP address "
			    "nor a DNS name", sans[i]);
			goto fail;
		}
		if ((gen = GENERAL_NAME_new()) == NULL)
			goto oom;
		if (addrlen > 0) {
			ASN1_OCTET_STRING *ip = ASN1_OCTET_STRING_new();

			if (ip == NULL || !ASN1_OCTET_STRING_set(ip, addr,
			    addrlen)) {
				ASN1_OCTET_STRING_free(ip);
				goto oom;
			}
			GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
		} else {
			ASN1_IA5STRING *dns = ASN1_IA5STRING_new();

			if (dns == NULL || !ASN1_STRING_set(dns, sans[i], -1)) {
				ASN1_IA5STRING_free(dns);
				goto oom;
			}
			GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
		}
		if (!sk_GENERAL_NAME_push(gens, gen))
			goto oom;
		gen = NULL;
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) != 1) {
		certs_err(err, errlen, "cannot add subjectAltName");
		goto fail;
	}
	rc = 0;
	goto done;
oom:
	certs_err(err, errlen, "out of memory");
fail:
	GENERAL_NAME_free(gen);
done:
	GENERAL_NAMES_free(gens);
	return rc;
}

/* A new key and an unsigned certificate with the fields every one of ours
 * has: v3, random serial, subject CN, validity. */
static struct certs_pair *
certs_pair_start(const char *common_name, int days, char *err, size_t errlen)
{
	struct certs_pair *p;
	X509_NAME *name;
	time_t now = time(NULL);

	if (days < 1 || days > CERTS_MAX_DAYS) {
		certs_err(err, errlen, "validity of %d days is out of range "
		    "1..%d", days, CERTS_MAX_DAYS);
		return NULL;
	}
	if (common_name == NULL || *common_name == '\0' ||
	    strlen(common_name) > 64) {
		certs_err(err, errlen, "common name must be 1..64 characters");
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		certs_err(err, errlen, "out of memory");
		return NULL;
	}
	if ((p->key = EVP_EC_gen("P-256")) == NULL) {
		certs_err(err, errlen, "cannot generate an ECDSA P-256 key");
		goto fail;
	}
	if ((p->cert = X509_new()) == NULL ||
	    X509_set_version(p->cert, X509_VERSION_3) != 1 ||
	    certs_set_serial(p->cert) != 0 ||
	    X509_time_adj_ex(X509_getm_notBefore(p->cert), 0,
	    -CERTS_BACKDATE_SECS, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(p->cert), days, 0,
	    &now) == NULL ||
	    X509_set_pubkey(p->cert, p->key) != 1 ||
	    (name = X509_get_subject_name(p->cert)) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)common_name, -1, -1, 0) != 1) {
		certs_err(err, errlen, "cannot build the certificate");
		goto fail;
	}
	return p;
fail:
	certs_pair_free(p);
	return NULL;
}

struct certs_pair *
certs_ca_new(const char *common_name, int days, char *err, size_t errlen)
{
	struct certs_pair *p;

	if ((p = certs_pair_start(common_name, days, err, errlen)) == NULL)
		return NULL;
	if (X509_set_issuer_name(p->cert, X509_get_subject_name(p->cert)) != 1 ||
	    certs_add_ext(p->cert, p->cert, NID_basic_constraints,
	    "critical,CA:TRUE,pathlen:0") != 0 ||
	    certs_add_ext(p->cert, p->cert, NID_key_usage,
	    "critical,keyCertSign,cRLSign,digitalSignature") != 0 ||
	    certs_add_ext(p->cert, p->cert, NID_subject_key_identifier,
	    "hash") != 0 ||
	    certs_add_ext(p->cert, p->cert, NID_authority_key_identifier,
	    "keyid:always") != 0 ||
	    X509_sign(p->cert, p->key, EVP_sha256()) <= 0) {
		certs_err(err, errlen, "cannot build the CA certificate");
		certs_pair_free(p);
		return NULL;
	}
	return p;
}

struct certs_pair *
certs_issue(const struct certs_pair *ca, const char *common_name,
    const char *const *sans, size_t n_sans, int days, char *err,
    size_t errlen)
{
	struct certs_pair *p;

	if (ca == NULL || n_sans == 0 || n_sans > CERTS_MAX_SANS) {
		certs_err(err, errlen, "a serving certificate needs a CA and "
		    "1..%d names", CERTS_MAX_SANS);
		return NULL;
	}
	if ((p = certs_pair_start(common_name, days, err, errlen)) == NULL)
		return NULL;
	if (certs_add_sans(p->cert, sans, n_sans, err, errlen) != 0)
		goto fail;
	if (X509_set_issuer_name(p->cert,
	    X509_get_subject_name(ca->cert)) != 1 ||
	    certs_add_ext(p->cert, ca->cert, NID_basic_constraints,
	    "critical,CA:FALSE") != 0 ||
	    certs_add_ext(p->cert, ca->cert, NID_key_usage,
	    "critical,digitalSignature") != 0 ||
	    certs_add_ext(p->cert, ca->cert, NID_ext_key_usage,
	    "serverAuth") != 0 ||
	    certs_add_ext(p->cert, ca->cert, NID_subject_key_identifier,
	    "hash") != 0 ||
	    certs_add_ext(p->cert, ca->cert, NID_authority_key_identifier,
	    "keyid:always") != 0 ||
	    X509_sign(p->cert, ca->key, EVP_sha256()) <= 0) {
		certs_err(err, errlen, "cannot build the serving certificate");
		goto fail;
	}
	return p;
fail:
	certs_pair_free(p);
	return NULL;
}

/* Put the finished temporary file `tmp` at `path`: replacing what is there
 * with `replace`, else only if nothing is (no window in which another
 * writer's file could be lost). */
static int
certs_place(const char *tmp, const char *path, bool replace)
{
	if (replace)
		return rename(tmp, path);
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without RENAME_NOREPLACE: link(2) never replaces. */
	if (link(tmp, path) != 0)
		return -1;
	unlink(tmp);
	return 0;
}

int
certs_write_file(const char *path, const char *data, size_t len, mode_t mode,
    bool replace, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	int fd, saved;
	size_t off = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		certs_err(err, errlen, "path too long: %s", path);
		return -1;
	}
	/* mkstemp creates the file 0600: the key is never readable by others,
	 * not even for a moment. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		certs_err(err, errlen, "cannot create a file in the directory "
		    "of %s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (certs_place(tmp, path, replace) != 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	if (saved == EEXIST)
		certs_err(err, errlen, "%s appeared while writing: not replaced",
		    path);
	else
		certs_err(err, errlen, "cannot write %s: %s", path,
		    strerror(saved));
	errno = saved;
	return -1;
}

/* PEM_write_bio_* into memory, then certs_write_file(). */
static int
certs_write_pem(BIO *bio, const char *path, mode_t mode, char *err,
    size_t errlen)
{
	char *data;
	long len;
	int rc;

	len = BIO_get_mem_data(bio, &data);
	if (len <= 0) {
		certs_err(err, errlen, "cannot encode %s", path);
		return -1;
	}
	rc = certs_write_file(path, data, (size_t)len, mode, true, err,
	    errlen);
	return rc;
}

int
certs_pair_write(const struct certs_pair *pair, const char *cert_path,
    const char *key_path, char *err, size_t errlen)
{
	BIO *cbio = NULL, *kbio = NULL;
	int rc = -1;

	if ((cbio = BIO_new(BIO_s_mem())) == NULL ||
	    (kbio = BIO_new(BIO_s_secmem())) == NULL) {
		certs_err(err, errlen, "out of memory");
		goto done;
	}
	if (PEM_write_bio_X509(cbio, pair->cert) != 1 ||
	    PEM_write_bio_PrivateKey(kbio, pair->key, NULL, NULL, 0, NULL,
	    NULL) != 1) {
		certs_err(err, errlen, "cannot encode the certificate or key");
		goto done;
	}
	/* The key first: a certificate without its key is the worse state. */
	if (certs_write_pem(kbio, key_path, 0600, err, errlen) != 0 ||
	    certs_write_pem(cbio, cert_path, 0644, err, errlen) != 0)
		goto done;
	rc = 0;
done:
	BIO_free(cbio);
	BIO_free(kbio);	/* a secmem BIO wipes its buffer */
	return rc;
}

static bool
certs_label_ok(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

int
certs_service_names(const char *service, const char *ns,
    char names[CERTS_SERVICE_NAMES][CERTS_NAME_MAX], char *err, size_t errlen)
{
	if (service == NULL || !certs_label_ok(service)) {
		certs_err(err, errlen, "service name \"%s\" is not a DNS label "
		    "(a-z, 0-9, '-', at most 63)", service ? service : "");
		return -1;
	}
	if (ns == NULL || !certs_label_ok(ns)) {
		certs_err(err, errlen, "namespace \"%s\" is not a DNS label "
		    "(a-z, 0-9, '-', at most 63)", ns ? ns : "");
		return -1;
	}
	/* Two labels of at most 63 plus ".svc.cluster.local" fit easily. */
	snprintf(names[0], CERTS_NAME_MAX, "%s", service);
	snprintf(names[1], CERTS_NAME_MAX, "%s.%s", service, ns);
	snprintf(names[2], CERTS_NAME_MAX, "%s.%s.svc", service, ns);
	snprintf(names[3], CERTS_NAME_MAX, "%s.%s.svc.cluster.local", service,
	    ns);
	return 0;
}

int
certs_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t len = strlen(dir), i;
	struct stat st;

	if (len == 0 || len >= sizeof(path)) {
		certs_err(err, errlen, "bad directory \"%s\"", dir);
		return -1;
	}
	memcpy(path, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, mode) != 0 && errno != EEXIST) {
			certs_err(err, errlen, "cannot create %s: %s", path,
			    strerror(errno));
			return -1;
		}
		if (i < len)
			path[i] = '/';
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		certs_err(err, errlen, "%s is not a directory", dir);
		return -1;
	}
	return 0;
}

int
certs_write_set(const char *dir, const char *common_name,
    const char *const *sans, size_t n_sans, int days, char *err,
    size_t errlen)
{
	struct certs_pair *ca = NULL, *leaf = NULL;
	char cn[80], p1[PATH_MAX], p2[PATH_MAX];
	int rc = -1;

	if (certs_mkdir_p(dir, 0700, err, errlen) != 0)
		return -1;
	snprintf(cn, sizeof(cn), "%.60s CA", common_name);
	if ((ca = certs_ca_new(cn, days, err, errlen)) == NULL ||
	    (leaf = certs_issue(ca, common_name, sans, n_sans, days, err,
	    errlen)) == NULL)
		goto done;
	if ((size_t)snprintf(p1, sizeof(p1), "%s/%s", dir, CERTS_CA_CERT) >=
	    sizeof(p1) ||
	    (size_t)snprintf(p2, sizeof(p2), "%s/%s", dir, CERTS_CA_KEY) >=
	    sizeof(p2)) {
		certs_err(err, errlen, "directory name too long");
		goto done;
	}
	if (certs_pair_write(ca, p1, p2, err, errlen) != 0)
		goto done;
	snprintf(p1, sizeof(p1), "%s/%s", dir, CERTS_TLS_CERT);
	snprintf(p2, sizeof(p2), "%s/%s", dir, CERTS_TLS_KEY);
	if (certs_pair_write(leaf, p1, p2, err, errlen) != 0)
		goto done;
	rc = 0;
done:
	certs_pair_free(ca);
	certs_pair_free(leaf);
	return rc;
}

/* Never prompt on a terminal for a passphrase: note that one was wanted. */
static int
certs_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(bool *)u = true;
	return -1;
}

int
certs_check_pair(const char *cert_pem, size_t cert_len, const char *key_pem,
    size_t key_len, time_t *not_after, char *err, size_t errlen)
{
	BIO *bio = NULL;
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	struct tm tm;
	bool wanted_passphrase = false;
	int rc = -1;

	ERR_clear_error();
	if (cert_len > INT_MAX || key_len > INT_MAX) {
		certs_err(err, errlen, "PEM text too large");
		return -1;
	}
	if ((bio = BIO_new_mem_buf(cert_pem, (int)cert_len)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		certs_err(err, errlen, "the certificate is not a PEM "
		    "certificate");
		goto done;
	}
	BIO_free(bio);
	if ((bio = BIO_new_mem_buf(key_pem, (int)key_len)) == NULL ||
	    (key = PEM_read_bio_PrivateKey(bio, NULL, certs_no_passphrase,
	    &wanted_passphrase)) == NULL) {
		if (wanted_passphrase)
			certs_err(err, errlen, "the private key is encrypted; "
			    "meshinject needs an unencrypted key");
		else
			certs_err(err, errlen, "the key is not a PEM private "
			    "key");
		goto done;
	}
	if (X509_check_private_key(x, key) != 1) {
		ERR_clear_error();
		certs_err(err, errlen, "the private key does not match the "
		    "certificate: they are not a pair");
		goto done;
	}
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
		certs_err(err, errlen, "the certificate's notAfter is "
		    "unreadable");
		goto done;
	}
	if (not_after != NULL)
		*not_after = timegm(&tm);
	rc = 0;
done:
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

/* Read a regular file of at most CERTS_FILE_MAX bytes, NUL-terminated. */
static int
certs_read_file(const char *path, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		certs_err(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		certs_err(err, errlen, "cannot read %s: not a regular file",
		    path);
		goto fail;
	}
	if (st.st_size > CERTS_FILE_MAX) {
		certs_err(err, errlen, "cannot read %s: larger than %d bytes",
		    path, CERTS_FILE_MAX);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		certs_err(err, errlen, "out of memory");
		goto fail;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			certs_err(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == 0) {
		certs_err(err, errlen, "cannot read %s: empty file", path);
		goto fail;
	}
	buf[len] = '\0';
	close(fd);
	*out = buf;
	*outlen = len;
	return 0;
fail:
	if (buf != NULL)
		explicit_bzero(buf, (size_t)st.st_size + 1);
	free(buf);
	close(fd);
	return -1;
}

int
certs_load(const char *cert_path, const char *key_path,
    struct certs_pem *pem, char *err, size_t errlen)
{
	char why[256];

	memset(pem, 0, sizeof(*pem));
	if (certs_read_file(cert_path, &pem->cert, &pem->cert_len, err,
	    errlen) != 0 ||
	    certs_read_file(key_path, &pem->key, &pem->key_len, err,
	    errlen) != 0)
		goto fail;
	if (certs_check_pair(pem->cert, pem->cert_len, pem->key, pem->key_len,
	    &pem->not_after, why, sizeof(why)) != 0) {
		certs_err(err, errlen, "%s and %s: %s", cert_path, key_path,
		    why);
		goto fail;
	}
	return 0;
fail:
	certs_pem_clear(pem);
	return -1;
}

void
certs_pem_clear(struct certs_pem *pem)
{
	if (pem == NULL)
		return;
	free(pem->cert);
	if (pem->key != NULL)
		explicit_bzero(pem->key, pem->key_len + 1);
	free(pem->key);
	memset(pem, 0, sizeof(*pem));
}

/* Copy a memory BIO's contents into a new NUL-terminated buffer. */
static char *
certs_bio_text(BIO *bio, size_t *len)
{
	char *data, *out;
	long n = BIO_get_mem_data(bio, &data);

	if (n <= 0 || (out = malloc((size_t)n + 1)) == NULL)
		return NULL;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	return out;
}

int
certs_pair_pem(const struct certs_pair *pair, struct certs_pem *pem,
    char *err, size_t errlen)
{
	BIO *cbio = NULL, *kbio = NULL;
	struct tm tm;
	int rc = -1;

	memset(pem, 0, sizeof(*pem));
	if ((cbio = BIO_new(BIO_s_mem())) == NULL ||
	    (kbio = BIO_new(BIO_s_secmem())) == NULL) {
		certs_err(err, errlen, "out of memory");
		goto done;
	}
	if (PEM_write_bio_X509(cbio, pair->cert) != 1 ||
	    PEM_write_bio_PrivateKey(kbio, pair->key, NULL, NULL, 0, NULL,
	    NULL) != 1 ||
	    ASN1_TIME_to_tm(X509_get0_notAfter(pair->cert), &tm) != 1) {
		certs_err(err, errlen, "cannot encode the certificate or key");
		goto done;
	}
	if ((pem->cert = certs_bio_text(cbio, &pem->cert_len)) == NULL ||
	    (pem->key = certs_bio_text(kbio, &pem->key_len)) == NULL) {
		certs_err(err, errlen, "out of memory");
		certs_pem_clear(pem);
		goto done;
	}
	pem->not_after = timegm(&tm);
	rc = 0;
done:
	BIO_free(cbio);
	BIO_free(kbio);	/* a secmem BIO wipes its buffer */
	return rc;
}
