/* SHA-1, streaming: the checksums that end a Git pack and its index (gitpacks.c). Git names
 * objects by SHA-1 too, but libgit2 computes those. */
#ifndef KRATIXFS_SHA1_H
#define KRATIXFS_SHA1_H

#include <stddef.h>
#include <stdint.h>

struct kfs_sha1 {
	uint32_t h[5];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

void kfs_sha1_init(struct kfs_sha1 *s);
void kfs_sha1_add(struct kfs_sha1 *s, const void *data, size_t len);
void kfs_sha1_done(struct kfs_sha1 *s, uint8_t out[20]);

#endif
