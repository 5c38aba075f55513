/* bench-hash: SHA-256 and MD5 from nettle and from OpenSSL's libcrypto, on the sizes kratixfs
 * hashes (a request of a few hundred bytes, rendered outputs of a few KiB up to a few hundred
 * KiB), and kratixfs's own wrapper (kratixfs/hash.h) for the chosen one. One run:
 * the median of ROUNDS timings of a loop, in nanoseconds per hash, and each one's ratio to the
 * fastest of its row. Usage: bench-hash [ROUNDS] (default 9). */
#include <nettle/md5.h>
#include <nettle/sha2.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kratixfs/hash.h"

enum algo { SHA256, MD5 };
static const char *const algo_name[] = {"SHA-256", "MD5"};
static EVP_MD *evp_md[2];

static void nettle_hash(enum algo a, const uint8_t *p, size_t len, uint8_t *out)
{
	if (a == SHA256) {
		struct sha256_ctx c;
		sha256_init(&c);
		sha256_update(&c, len, p);
		sha256_digest(&c, SHA256_DIGEST_SIZE, out);
	} else {
		struct md5_ctx c;
		md5_init(&c);
		md5_update(&c, len, p);
		md5_digest(&c, MD5_DIGEST_SIZE, out);
	}
}

static void openssl_hash(enum algo a, const uint8_t *p, size_t len, uint8_t *out)
{
	unsigned n;
	if (!EVP_Digest(p, len, out, &n, evp_md[a], NULL))
		abort();
}

/* kratixfs's wrapper: what the store, the journal and the Git layer call. */
static void kfs_hash(enum algo a, const uint8_t *p, size_t len, uint8_t *out)
{
	if (a == SHA256) {
		char d[KFS_DIGEST_LEN];
		kfs_sha256_digest(p, len, d);
		out[0] = (uint8_t)d[7];
	} else {
		char hex[33];
		kfs_md5_hex((const char *)p, hex);
		out[0] = (uint8_t)hex[0];
	}
}

typedef void (*hash_fn)(enum algo, const uint8_t *, size_t, uint8_t *);

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* ns per hash of f, one round: about 20 MB hashed. */
static double time_round(hash_fn f, enum algo a, const uint8_t *p, size_t len)
{
	size_t iters = 20000000 / (len + 64) + 1;
	uint8_t out[64];
	double t0 = now_ns();
	for (size_t i = 0; i < iters; i++)
		f(a, p, len, out);
	return (now_ns() - t0) / (double)iters;
}

/* The three take turns, round after round, so that a busy moment of a shared machine hits all
 * of them alike; out[] gets each one's median. */
static void time_row(enum algo a, const uint8_t *p, size_t len, int rounds, double out[3])
{
	static const hash_fn fns[3] = {nettle_hash, openssl_hash, kfs_hash};
	double t[3][64];
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < 3; k++)
			t[k][r] = time_round(fns[k], a, p, len);
	for (int k = 0; k < 3; k++) {
		qsort(t[k], (size_t)rounds, sizeof(double), cmp_double);
		out[k] = t[k][rounds / 2];
	}
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 9;
	if (rounds < 1 || rounds > 63)
		rounds = 9;
	evp_md[SHA256] = EVP_MD_fetch(NULL, "SHA256", NULL);
	evp_md[MD5] = EVP_MD_fetch(NULL, "MD5", NULL);
	if (!evp_md[SHA256] || !evp_md[MD5]) {
		fprintf(stderr, "bench-hash: libcrypto has no SHA256 or MD5\n");
		return 1;
	}
	static const size_t sizes[] = {300, 4096, 65536, 300 * 1024};
	static const char *const kinds[] = {"a request", "a rendered output", "a large output",
					    "a largest output"};
	uint8_t *data = malloc(300 * 1024 + 1);
	for (size_t i = 0; i < 300 * 1024; i++)
		data[i] = (uint8_t)('a' + (i * 131 + i / 7) % 26);
	data[300 * 1024] = 0;

	printf("| Hash | Size | nettle (ns) | libcrypto (ns) | kratixfs/hash.h (ns) | "
	       "libcrypto / nettle |\n|---|---:|---:|---:|---:|---:|\n");
	for (int a = SHA256; a <= MD5; a++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			/* MD5 names a folder of a Destination: only short strings. */
			if (a == MD5 && s > 0)
				break;
			size_t len = sizes[s];
			char saved = (char)data[len];
			data[len] = 0; /* kfs_md5_hex takes a string */
			double t[3];
			time_row((enum algo)a, data, len, rounds, t);
			data[len] = (uint8_t)saved;
			printf("| %s | %zu B (%s) | %.0f | %.0f | %.0f | %.2f× |\n", algo_name[a],
			       len, kinds[s], t[0], t[1], t[2], t[1] / t[0]);
		}
	}
	for (int a = SHA256; a <= MD5; a++)
		EVP_MD_free(evp_md[a]);
	free(data);
	return 0;
}
