/* SHA-256 (FIPS 180-4), for the digests in status.yaml (inputDigest, outputs[].digest). */
#ifndef KRATIXFS_SHA256_H
#define KRATIXFS_SHA256_H

#include <stdbool.h>
#include <stddef.h>

/* Writes "sha256:" and 64 lower-case hex digits, NUL-terminated, to out. */
#define KFS_DIGEST_LEN (7 + 64 + 1)
void kfs_sha256_digest(const void *data, size_t len, char out[KFS_DIGEST_LEN]);

/* Whether SHA-256 and SHA-1 use the CPU's SHA extensions (x86 SHA-NI): decided once; the
 * environment variable KFS_SHA_PORTABLE=1 makes both use the portable rounds (tests). */
bool kfs_sha_extensions(void);

#endif
