/* certs.h - serving certificates with OpenSSL: a throwaway ECDSA P-256 CA,
 * certificates it signs for given DNS names and IP addresses, PEM files, and
 * the check that a certificate and a key belong together.
 *
 * Errors: functions return 0 / a pointer, or -1 / NULL with a one-line
 * reason in err (errlen bytes, always NUL-terminated). Nothing here logs. */
#ifndef MESHINJECT_CERTS_H
#define MESHINJECT_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Files that certs_write_set() creates in its directory: the names of a
 * Kubernetes TLS Secret plus the CA's key. */
#define CERTS_CA_CERT	"ca.crt"
#define CERTS_CA_KEY	"ca.key"
#define CERTS_TLS_CERT	"tls.crt"
#define CERTS_TLS_KEY	"tls.key"

/* Longest DNS name accepted as a SAN (RFC 1035), plus the NUL. */
#define CERTS_NAME_MAX	254
/* certs_service_names() fills this many names. */
#define CERTS_SERVICE_NAMES 4
/* Largest PEM file certs_load() reads. */
#define CERTS_FILE_MAX	(1024 * 1024)

/* A private key and its certificate. Owns both; opaque. */
struct certs_pair;

/* A new self-signed CA: ECDSA P-256 key, CA:TRUE with pathlen 0, valid from
 * five minutes ago (clock skew) for `days` days (1..36500). */
struct certs_pair *certs_ca_new(const char *common_name, int days,
    char *err, size_t errlen);

/* A new serving certificate signed by `ca` (borrowed): ECDSA P-256, serverAuth,
 * one subjectAltName per entry of `sans` - an IPv4/IPv6 address becomes an IP
 * SAN, anything else must be a DNS name (letters, digits, '-', '.', a leading
 * "*."). 1 <= n_sans <= 64. */
struct certs_pair *certs_issue(const struct certs_pair *ca,
    const char *common_name, const char *const *sans, size_t n_sans,
    int days, char *err, size_t errlen);

/* certs_pair_free(NULL) is a no-op. */
void certs_pair_free(struct certs_pair *pair);

/* Write the certificate (mode 0644) and the unencrypted PKCS#8 key (mode
 * 0600) as PEM. Each file is written to a temporary name and renamed, so a
 * reader never sees half a file. */
int certs_pair_write(const struct certs_pair *pair, const char *cert_path,
    const char *key_path, char *err, size_t errlen);

/* The names a Service's clients use: NAME, NAME.NS, NAME.NS.svc and
 * NAME.NS.svc.cluster.local. Refuses names that are not DNS labels. */
int certs_service_names(const char *service, const char *ns,
    char names[CERTS_SERVICE_NAMES][CERTS_NAME_MAX], char *err, size_t errlen);

/* mkdir -p: make `dir` and its missing parents, each new one with `mode`
 * (0700 for a directory that will hold a private key); existing directories
 * are left as they are. Returns 0, or -1 with err filled. */
int certs_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen);

/* Write `len` bytes to `path` with `mode` through a temporary file in the
 * same directory (created 0600, so a key is never readable by others), then
 * put it in place: replacing an existing file only with `replace` (else
 * atomically refused, errno EEXIST). Returns 0, or -1 with err filled. */
int certs_write_file(const char *path, const char *data, size_t len,
    mode_t mode, bool replace, char *err, size_t errlen);

/* Make `dir` (and missing parents, mode 0700: it holds keys) and write a
 * new CA and a serving certificate for `sans` into it: ca.crt, ca.key,
 * tls.crt, tls.key. What `serve --dev` and `meshinject certs` both do. */
int certs_write_set(const char *dir, const char *common_name,
    const char *const *sans, size_t n_sans, int days, char *err,
    size_t errlen);

/* Does the private key match the certificate? Both are PEM text (the
 * certificate may be followed by its chain; the first one is checked).
 * Returns 0 and the certificate's notAfter in *not_after (may be NULL), or -1
 * with the reason: not PEM, encrypted key, or a key of another certificate. */
int certs_check_pair(const char *cert_pem, size_t cert_len,
    const char *key_pem, size_t key_len, time_t *not_after,
    char *err, size_t errlen);

/* A certificate and key read from files, checked to match. */
struct certs_pem {
	char *cert;		/* NUL-terminated PEM */
	size_t cert_len;
	char *key;		/* NUL-terminated PEM; wiped when cleared */
	size_t key_len;
	time_t not_after;
};

/* Read both files (each at most CERTS_FILE_MAX) and certs_check_pair() them.
 * On success *pem owns two new buffers: release with certs_pem_clear().
 * Errors name the file: "cannot read /x/tls.key: Permission denied". */
int certs_load(const char *cert_path, const char *key_path,
    struct certs_pem *pem, char *err, size_t errlen);

/* Wipe and free the key, free the certificate, zero *pem. NULL is a no-op. */
void certs_pem_clear(struct certs_pem *pem);

/* The certificate and the unencrypted PKCS#8 key of `pair` as PEM text, in
 * the same struct that certs_load() fills (not_after set too): the caller
 * writes or encodes them and releases them with certs_pem_clear(), which
 * wipes the key. Returns 0, or -1 with err filled. */
int certs_pair_pem(const struct certs_pair *pair, struct certs_pem *pem,
    char *err, size_t errlen);

#endif
