/* check_certs.c - Check suite for certificate generation, PEM files and the
 * certificate/key match check. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "lib/testutil.h"

static char dir[PATH_MAX];
static char err[1024];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_certs.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	err[0] = '\0';
}

static void
teardown(void)
{
	static const char *const names[] = { CERTS_CA_CERT, CERTS_CA_KEY,
	    CERTS_TLS_CERT, CERTS_TLS_KEY, "other.crt", "other.key" };
	char p[PATH_MAX + 32];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/sub/%s", dir, names[i]);
		unlink(p);
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/sub", dir);
	rmdir(p);
	rmdir(dir);
}

/* dir/name; four buffers in turn, so that one call may take two paths. */
static const char *
path(const char *name)
{
	static char p[4][PATH_MAX + 32];
	static unsigned next;
	char *out = p[next++ % 4];

	snprintf(out, sizeof(p[0]), "%s/%s", dir, name);
	return out;
}

static X509 *
read_cert(const char *file)
{
	FILE *f = fopen(file, "r");
	X509 *x;

	ck_assert_ptr_nonnull(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	return x;
}

static const char *const local_sans[] = { "localhost", "127.0.0.1", "::1" };

START_TEST(write_set_files_and_modes)
{
	struct stat st;
	char sub[PATH_MAX + 8];

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	ck_assert_int_eq(certs_write_set(sub, "localhost", local_sans, 3, 30,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path("sub/" CERTS_TLS_KEY), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(path("sub/" CERTS_CA_KEY), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(path("sub/" CERTS_TLS_CERT), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644);
	ck_assert_int_eq(stat(path("sub/" CERTS_CA_CERT), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644);
	/* Writing again over existing files works (a restart with --dev). */
	ck_assert_int_eq(certs_write_set(sub, "localhost", local_sans, 3, 30,
	    err, sizeof(err)), 0);
}
END_TEST

START_TEST(serving_cert_is_signed_by_ca_with_sans)
{
	X509 *ca, *leaf;
	X509_STORE *store;
	X509_STORE_CTX *ctx;
	EVP_PKEY *pub;
	char sub[PATH_MAX + 8];

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	ck_assert_int_eq(certs_write_set(sub, "localhost", local_sans, 3, 30,
	    err, sizeof(err)), 0);
	ca = read_cert(path("sub/" CERTS_CA_CERT));
	leaf = read_cert(path("sub/" CERTS_TLS_CERT));

	/* The chain verifies for serverAuth. */
	store = X509_STORE_new();
	ck_assert_int_eq(X509_STORE_add_cert(store, ca), 1);
	ctx = X509_STORE_CTX_new();
	ck_assert_int_eq(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	ck_assert_msg(X509_verify_cert(ctx) == 1, "verify: %s",
	    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);

	/* Names and addresses. */
	ck_assert_int_eq(X509_check_host(leaf, "localhost", 0, 0, NULL), 1);
	ck_assert_int_eq(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
	ck_assert_int_eq(X509_check_ip_asc(leaf, "::1", 0), 1);
	ck_assert_int_ne(X509_check_host(leaf, "example.com", 0, 0, NULL), 1);
	ck_assert_int_ne(X509_check_ip_asc(leaf, "10.0.0.1", 0), 1);

	/* ECDSA P-256; the CA is a CA and the leaf is not. */
	pub = X509_get0_pubkey(leaf);
	ck_assert_int_eq(EVP_PKEY_get_id(pub), EVP_PKEY_EC);
	ck_assert_int_eq(EVP_PKEY_get_bits(pub), 256);
	ck_assert_int_eq(X509_check_ca(ca), 1);
	ck_assert_int_eq(X509_check_ca(leaf), 0);
	X509_free(ca);
	X509_free(leaf);
}
END_TEST

START_TEST(validity_days)
{
	struct certs_pair *ca;
	time_t not_after, now = time(NULL);
	size_t clen, klen;
	char *cert, *key;

	ca = certs_ca_new("test CA", 10, err, sizeof(err));
	ck_assert_msg(ca != NULL, "%s", err);
	ck_assert_int_eq(certs_pair_write(ca, path("other.crt"),
	    path("other.key"), err, sizeof(err)), 0);
	certs_pair_free(ca);
	cert = tu_read_file(path("other.crt"), &clen);
	key = tu_read_file(path("other.key"), &klen);
	ck_assert_msg(certs_check_pair(cert, clen, key, klen, &not_after, err,
	    sizeof(err)) == 0, "%s", err);
	free(cert);
	free(key);
	ck_assert_int_ge(not_after, now + 10 * 86400 - 5);
	ck_assert_int_le(not_after, now + 10 * 86400 + 5);
}
END_TEST

START_TEST(load_matching_pair)
{
	struct certs_pem pem;
	char sub[PATH_MAX + 8];

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	ck_assert_int_eq(certs_write_set(sub, "localhost", local_sans, 3, 7,
	    err, sizeof(err)), 0);
	ck_assert_msg(certs_load(path("sub/" CERTS_TLS_CERT),
	    path("sub/" CERTS_TLS_KEY), &pem, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_ptr_nonnull(strstr(pem.cert, "BEGIN CERTIFICATE"));
	ck_assert_ptr_nonnull(strstr(pem.key, "PRIVATE KEY"));
	ck_assert_uint_eq(strlen(pem.cert), pem.cert_len);
	ck_assert_int_gt(pem.not_after, time(NULL) + 6 * 86400);
	certs_pem_clear(&pem);
	ck_assert_ptr_null(pem.cert);
	ck_assert_ptr_null(pem.key);
	certs_pem_clear(NULL);
}
END_TEST

START_TEST(load_refuses_other_key)
{
	struct certs_pem pem;
	char sub[PATH_MAX + 8];

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	ck_assert_int_eq(certs_write_set(sub, "localhost", local_sans, 3, 7,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(certs_load(path("sub/" CERTS_TLS_CERT),
	    path("sub/" CERTS_CA_KEY), &pem, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "does not match") != NULL, "%s", err);
	ck_assert_ptr_null(pem.cert);
	ck_assert_ptr_null(pem.key);
}
END_TEST

START_TEST(load_refuses_unreadable_and_garbage)
{
	struct certs_pem pem;
	FILE *f;

	ck_assert_int_eq(certs_load(path("missing.crt"), path("missing.key"),
	    &pem, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "missing.crt") != NULL &&
	    strstr(err, "No such file") != NULL, "%s", err);

	ck_assert_int_eq(certs_load(dir, dir, &pem, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);

	f = fopen(path("other.crt"), "w");
	ck_assert_ptr_nonnull(f);
	fputs("hello\n", f);
	fclose(f);
	f = fopen(path("other.key"), "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(certs_load(path("other.crt"), path("other.key"),
	    &pem, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "empty") != NULL, "%s", err);
	f = fopen(path("other.key"), "w");
	fputs("hello\n", f);
	fclose(f);
	ck_assert_int_eq(certs_load(path("other.crt"), path("other.key"),
	    &pem, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a PEM certificate") != NULL, "%s", err);
}
END_TEST

START_TEST(check_pair_refuses_encrypted_key)
{
	struct certs_pair *ca;
	EVP_PKEY *key;
	BIO *bio;
	FILE *f;
	char *kpem, *cert;
	long klen;
	size_t clen;

	ca = certs_ca_new("test CA", 1, err, sizeof(err));
	ck_assert_ptr_nonnull(ca);
	ck_assert_int_eq(certs_pair_write(ca, path("other.crt"),
	    path("other.key"), err, sizeof(err)), 0);
	certs_pair_free(ca);
	f = fopen(path("other.key"), "r");
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(key);
	bio = BIO_new(BIO_s_mem());
	ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, key, EVP_aes_256_cbc(),
	    NULL, 0, NULL, (void *)"secret"), 1);
	klen = BIO_get_mem_data(bio, &kpem);
	cert = tu_read_file(path("other.crt"), &clen);
	ck_assert_int_eq(certs_check_pair(cert, clen, kpem, (size_t)klen,
	    NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "encrypted") != NULL, "%s", err);
	free(cert);
	BIO_free(bio);
	EVP_PKEY_free(key);
}
END_TEST

START_TEST(issue_refuses_bad_input)
{
	struct certs_pair *ca, *leaf;
	const char *bad[] = { "exa mple.com" };
	const char *comma[] = { "a.example,IP:1.2.3.4" };
	const char *dash[] = { "-a.example" };
	const char *wild[] = { "*.svc.example", "fe80::1" };

	ca = certs_ca_new("test CA", 1, err, sizeof(err));
	ck_assert_ptr_nonnull(ca);
	ck_assert_ptr_null(certs_issue(ca, "x", bad, 1, 1, err, sizeof(err)));
	ck_assert_msg(strstr(err, "exa mple.com") != NULL, "%s", err);
	ck_assert_ptr_null(certs_issue(ca, "x", comma, 1, 1, err,
	    sizeof(err)));
	ck_assert_ptr_null(certs_issue(ca, "x", dash, 1, 1, err, sizeof(err)));
	ck_assert_ptr_null(certs_issue(ca, "x", wild, 0, 1, err, sizeof(err)));
	ck_assert_ptr_null(certs_issue(ca, "x", wild, 2, 0, err, sizeof(err)));
	ck_assert_ptr_null(certs_issue(NULL, "x", wild, 2, 1, err,
	    sizeof(err)));
	leaf = certs_issue(ca, "x", wild, 2, 1, err, sizeof(err));
	ck_assert_msg(leaf != NULL, "%s", err);
	certs_pair_free(leaf);
	certs_pair_free(ca);
	certs_pair_free(NULL);
	ck_assert_ptr_null(certs_ca_new("", 1, err, sizeof(err)));
	ck_assert_ptr_null(certs_ca_new("x", 40000, err, sizeof(err)));
}
END_TEST

START_TEST(service_names)
{
	char names[CERTS_SERVICE_NAMES][CERTS_NAME_MAX];

	ck_assert_int_eq(certs_service_names("meshinject", "meshinject-system",
	    names, err, sizeof(err)), 0);
	ck_assert_str_eq(names[0], "meshinject");
	ck_assert_str_eq(names[1], "meshinject.meshinject-system");
	ck_assert_str_eq(names[2], "meshinject.meshinject-system.svc");
	ck_assert_str_eq(names[3],
	    "meshinject.meshinject-system.svc.cluster.local");
	ck_assert_int_eq(certs_service_names("Mesh", "ns", names, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(certs_service_names("a.b", "ns", names, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(certs_service_names("svc", "", names, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(certs_service_names("svc", "ns-", names, err,
	    sizeof(err)), -1);
}
END_TEST

static Suite *
certs_suite(void)
{
	Suite *s = suite_create("certs");
	TCase *tc = tcase_create("generate");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, write_set_files_and_modes);
	tcase_add_test(tc, serving_cert_is_signed_by_ca_with_sans);
	tcase_add_test(tc, validity_days);
	tcase_add_test(tc, issue_refuses_bad_input);
	tcase_add_test(tc, service_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, load_matching_pair);
	tcase_add_test(tc, load_refuses_other_key);
	tcase_add_test(tc, load_refuses_unreadable_and_garbage);
	tcase_add_test(tc, check_pair_refuses_encrypted_key);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(certs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
