/* check_base64.c - Check suite for base64 (base64.c): RFC 4648's test
 * vectors (section 10) both ways, every byte value through a round trip,
 * the encoder (and base64_append) against OpenSSL's (an independent one)
 * with SSSE3 and without, and the texts the strict decoder refuses. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"
#include "buf.h"

/* RFC 4648, section 10. */
static const struct {
	const char *plain;
	const char *b64;
} vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

START_TEST(test_encode_vectors)
{
	size_t len = 99;
	char *s = base64_encode(vectors[_i].plain, strlen(vectors[_i].plain),
	    &len);

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, vectors[_i].b64);
	ck_assert_uint_eq(len, strlen(vectors[_i].b64));
	free(s);
}
END_TEST

START_TEST(test_decode_vectors)
{
	unsigned char *out = NULL;
	size_t len = 99;

	ck_assert_int_eq(base64_decode(vectors[_i].b64,
	    strlen(vectors[_i].b64), &out, &len), 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(len, strlen(vectors[_i].plain));
	ck_assert_mem_eq(out, vectors[_i].plain, len);
	ck_assert_int_eq(out[len], '\0');
	free(out);
}
END_TEST

/* The two digits past the alphabet's letters and numbers, and bytes that
 * are not text. */
START_TEST(test_binary)
{
	static const unsigned char fb[] = { 0xfb, 0xff, 0xbf };
	static const unsigned char nul[] = { 0x00, 0x00, 0x00, 0x00 };
	unsigned char all[256], *out;
	size_t i, len;
	char *s;

	s = base64_encode(fb, sizeof(fb), NULL);
	ck_assert_str_eq(s, "+/+/");
	free(s);
	s = base64_encode(nul, sizeof(nul), NULL);
	ck_assert_str_eq(s, "AAAAAA==");
	free(s);
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	/* Every length from 0 to 256, so each tail (0, 1, 2 bytes) and every
	 * byte value in each position of a group. */
	for (i = 0; i <= 256; i++) {
		s = base64_encode(all + (256 - i), i, &len);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_eq(len, (i + 2) / 3 * 4);
		ck_assert_uint_eq(strlen(s), len);
		ck_assert_int_eq(base64_decode(s, len, &out, &len), 0);
		ck_assert_uint_eq(len, i);
		ck_assert_mem_eq(out, all + (256 - i), i);
		free(out);
		free(s);
	}
}
END_TEST

/* Every length 0..1100 at four alignments, of bytes from a fixed-seed
 * generator, encoded as EVP_EncodeBlock encodes them, by each loop up to
 * _i (enum base64_simd: the portable loops alone; SSSE3, sixteen digits a
 * step, then the tails; AVX2, 32 a step, then SSSE3's, then the tails)
 * where the CPU has it, and the one in use said in a failure. */
START_TEST(test_openssl)
{
	enum { MAXLEN = 1100 };
	static unsigned char in[MAXLEN + 3];
	static unsigned char want[(MAXLEN + 2) / 3 * 4 + 1];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	enum base64_simd in_use = base64_use_simd((enum base64_simd)_i);
	size_t i, len, off, got;
	unsigned char *data;
	struct buf b;
	char *s;

	ck_assert_int_le(in_use, _i);
	for (i = 0; i < sizeof(in); i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		in[i] = (unsigned char)(x >> 56);
	}
	for (off = 0; off < 4; off++)
		for (len = 0; len + off <= sizeof(in) && len <= MAXLEN; len++) {
			int n = EVP_EncodeBlock(want, in + off, (int)len);

			/* the bytes alone in an allocation of their own, so
			 * that a loop reading past them is AddressSanitizer's
			 * error (make check-asan) */
			data = malloc(off + len + (len == 0));
			ck_assert_ptr_nonnull(data);
			memcpy(data + off, in + off, len);
			s = base64_encode(data + off, len, &got);
			ck_assert_ptr_nonnull(s);
			ck_assert_msg(got == (size_t)n &&
			    memcmp(s, want, got) == 0 && s[got] == '\0',
			    "length %zu at offset %zu (simd %d): \"%.40s\" "
			    "against OpenSSL's \"%.40s\"", len, off, (int)in_use,
			    s, (const char *)want);
			free(s);
			/* base64_append: the same digits after what the
			 * buffer holds */
			buf_init(&b, BUF_MAX);
			ck_assert_int_eq(buf_add(&b, "x", 1), 0);
			ck_assert_int_eq(base64_append(&b, data + off, len), 0);
			ck_assert_msg(b.len == got + 1 && b.data[0] == 'x' &&
			    memcmp(b.data + 1, want, got) == 0 &&
			    b.data[b.len] == '\0', "base64_append: length %zu "
			    "at offset %zu (simd %d)", len, off, (int)in_use);
			buf_free(&b);
			free(data);
		}
	base64_use_simd(BASE64_AVX2);
}
END_TEST

/* What the strict decoder refuses: -1 and nothing to free. */
static const char *const refused[] = {
	"Z",		/* not a multiple of four */
	"Zg",
	"Zg=",
	"Zm9vY",
	"Z===",		/* three padding characters */
	"====",
	"=m9v",		/* padding before the end */
	"Zm=v",
	"Zg==Zg==",
	"Zh==",		/* unused bits not zero: one spelling each */
	"Zm9=",
	"Zm 9",		/* white space */
	"Zm9v\n",
	" Zm9v",
	"Zm-_",		/* the URL-safe alphabet */
	"Zm9\xff",	/* not ASCII */
	"Zm9.",
};

START_TEST(test_refused)
{
	unsigned char *out = (unsigned char *)"not touched";
	size_t len = 0;

	ck_assert_msg(base64_decode(refused[_i], strlen(refused[_i]), &out,
	    &len) == -1, "\"%s\" accepted", refused[_i]);
	ck_assert_ptr_null(out);
}
END_TEST

/* A NUL inside the text is not a digit; len, not the NUL, ends it. */
START_TEST(test_len)
{
	unsigned char *out;
	size_t len;

	ck_assert_int_eq(base64_decode("Zm\0v", 4, &out, &len), -1);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(base64_decode("Zm9vYmFy", 4, &out, &len), 0);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(out, "foo", 3);
	free(out);
	/* Past BASE64_MAX: refused as too large, not read. */
	ck_assert_ptr_null(base64_encode("", BASE64_MAX + 1, NULL));
	ck_assert_int_eq(base64_decode("", BASE64_MAX + 4, &out, &len), -2);
	ck_assert_ptr_null(out);
}
END_TEST

static Suite *
base64_suite(void)
{
	Suite *s = suite_create("base64");
	TCase *tc = tcase_create("core");
	int nv = (int)(sizeof(vectors) / sizeof(vectors[0]));

	tcase_add_loop_test(tc, test_encode_vectors, 0, nv);
	tcase_add_loop_test(tc, test_decode_vectors, 0, nv);
	tcase_add_test(tc, test_binary);
	tcase_add_loop_test(tc, test_openssl, BASE64_PORTABLE, BASE64_AVX2 + 1);
	tcase_add_loop_test(tc, test_refused, 0,
	    (int)(sizeof(refused) / sizeof(refused[0])));
	tcase_add_test(tc, test_len);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(base64_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
