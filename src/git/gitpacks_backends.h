/* The two object-database backends behind gitpacks.c: new objects in memory until the next
 * flush, and libgit2's pack backend behind a wrapper that rescans the pack folder only when it
 * changed. Private to the git layer. */
#ifndef KRATIXFS_GITPACKS_BACKENDS_H
#define KRATIXFS_GITPACKS_BACKENDS_H

#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct memobj {
	git_oid id;
	git_object_t type;
	size_t len;
	unsigned char *data;
};

struct membackend {
	git_odb_backend parent;
	struct memobj *objs;
	size_t n, cap;
	uint32_t *slots; /* open addressing on the id's first bytes: index + 1, 0 is empty */
	size_t nslots;	 /* a power of two, at least twice n */
};

struct membackend *mem_new(void);
/* Forgets every object (after they reached a pack). */
void mem_clear(struct membackend *m);
void mem_free(git_odb_backend *b);

struct packproxy {
	git_odb_backend parent;
	git_odb_backend *inner;
	char *dir;
	struct stat seen;
	bool have_seen;
};

/* Wraps inner, libgit2's pack backend of the folder dir. */
struct packproxy *px_new(git_odb_backend *inner, const char *dir);
/* Rescans the pack folder now, changed or not. */
int px_refresh_now(struct packproxy *px);
void px_free(git_odb_backend *b);

#endif
