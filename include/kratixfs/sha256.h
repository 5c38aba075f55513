/* SHA-256 (FIPS 180-4), for the digests in status.yaml (inputDigest, outputs[].digest). */
#ifndef KRATIXFS_SHA256_H
#define KRATIXFS_SHA256_H

#include <stddef.h>

/* Writes "sha256:" and 64 lower-case hex digits, NUL-terminated, to out. */
#define KFS_DIGEST_LEN (7 + 64 + 1)
void kfs_sha256_digest(const void *data, size_t len, char out[KFS_DIGEST_LEN]);

#endif
