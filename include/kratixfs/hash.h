/* The hashes kratixfs computes, from nettle (bench/hash measured it against OpenSSL's libcrypto
 * on these sizes; docs/performance.md): SHA-256 for the digests in status.yaml and the journal,
 * MD5 for Kratix's ids of a Destination's folder. Git names objects by SHA-1, but libgit2
 * computes those. */
#ifndef KRATIXFS_HASH_H
#define KRATIXFS_HASH_H

#include <stddef.h>

/* Writes "sha256:" and 64 lower-case hex digits, NUL-terminated, to out. */
#define KFS_DIGEST_LEN (7 + 64 + 1)
void kfs_sha256_digest(const void *data, size_t len, char out[KFS_DIGEST_LEN]);

/* MD5 of the string s as 32 lower-case hex digits, NUL-terminated: Kratix's ids, not security. */
void kfs_md5_hex(const char *s, char out[33]);

#endif
