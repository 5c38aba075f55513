/* The hashes kratixfs computes, from nettle (bench/hash measured it against OpenSSL's libcrypto
 * on these sizes; docs/performance.md): SHA-256 for the digests in status.yaml and the journal,
 * SHA-1 for the checksums that end a Git pack and its index, MD5 for Kratix's ids of a
 * Destination's folder. Git names objects by SHA-1 too, but libgit2 computes those. */
#ifndef KRATIXFS_HASH_H
#define KRATIXFS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Writes "sha256:" and 64 lower-case hex digits, NUL-terminated, to out. */
#define KFS_DIGEST_LEN (7 + 64 + 1)
void kfs_sha256_digest(const void *data, size_t len, char out[KFS_DIGEST_LEN]);

/* The 20 bytes of SHA-1 of data. */
void kfs_sha1(const void *data, size_t len, uint8_t out[20]);

/* MD5 of the string s as 32 lower-case hex digits, NUL-terminated: Kratix's ids, not security. */
void kfs_md5_hex(const char *s, char out[33]);

#endif
