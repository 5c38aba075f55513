/* SHA-256 and MD5 through nettle (include/kratixfs/hash.h). */
#include "kratixfs/hash.h"

#include <nettle/md5.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <string.h>

static void hex_of(const uint8_t *sum, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[sum[i] >> 4];
		out[2 * i + 1] = hex[sum[i] & 15];
	}
	out[2 * n] = '\0';
}

void kfs_sha256_digest(const void *data, size_t len, char out[KFS_DIGEST_LEN])
{
	struct sha256_ctx c;
	uint8_t sum[SHA256_DIGEST_SIZE];
	sha256_init(&c);
	sha256_update(&c, len, data);
	sha256_digest(&c, sizeof(sum), sum);
	memcpy(out, "sha256:", 7);
	hex_of(sum, sizeof(sum), out + 7);
}

void kfs_md5_hex(const char *s, char out[33])
{
	struct md5_ctx c;
	uint8_t sum[MD5_DIGEST_SIZE];
	md5_init(&c);
	md5_update(&c, strlen(s), (const uint8_t *)s);
	md5_digest(&c, sizeof(sum), sum);
	hex_of(sum, sizeof(sum), out);
}
