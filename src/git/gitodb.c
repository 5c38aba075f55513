/* The Git store's object database setup (gitodb.h). */
#include "gitodb.h"

#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"

#include "git_error.h"

struct kfs_gitodb {
	git_repository *repo;
	git_odb_backend *mempack; /* KFS_GIT_OBJECTS=mempack: owned by the repository's odb */
};

static int attach_mempack(struct kfs_gitodb *o, struct kfs_error *err)
{
	git_odb *odb = NULL;
	int rc = git_repository_odb(&odb, o->repo);
	if (rc == 0)
		rc = git_mempack_new(&o->mempack);
	if (rc == 0 && git_odb_add_backend(odb, o->mempack, 999)) {
		o->mempack->free(o->mempack);
		o->mempack = NULL;
		rc = -1;
	}
	git_odb_free(odb);
	return rc ? git_fail(err, "setting up the object database", git_repository_path(o->repo))
		  : 0;
}

int kfs_gitodb_attach(git_repository *repo, struct kfs_gitodb **out, struct kfs_error *err)
{
	/* Process-wide libgit2 settings, for a repository only kratixfs writes:
	 * - each commit reads the trees on its path, and a promise's tree lists all its requests
	 *   (tens of KiB): keep parsed trees of any size cached, in a bounded cache;
	 * - objects read back are not hashed again, nor do new trees look up every entry first:
	 *   kratixfs made them all from ids libgit2 computed. */
	git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)4 << 20);
	git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)32 << 20);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	struct kfs_gitodb *o = kfs_xcalloc(1, sizeof(*o));
	o->repo = repo;
	const char *mode = getenv("KFS_GIT_OBJECTS");
	if (mode && strcmp(mode, "mempack") == 0) {
		int rc = attach_mempack(o, err);
		if (rc) {
			free(o);
			return rc;
		}
	}
	*out = o;
	return 0;
}

int kfs_gitodb_flush(struct kfs_gitodb *o, struct kfs_error *err)
{
	if (!o->mempack)
		return 0; /* loose objects are on disk once written */
	git_buf pack = {0};
	git_odb *odb = NULL;
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats = {0};
	int rc = git_mempack_dump(&pack, o->repo, o->mempack);
	if (rc == 0)
		rc = git_repository_odb(&odb, o->repo);
	if (rc == 0)
		rc = git_odb_write_pack(&wp, odb, NULL, NULL);
	if (rc == 0)
		rc = wp->append(wp, pack.ptr, pack.size, &stats);
	if (rc == 0)
		rc = wp->commit(wp, &stats);
	if (wp)
		wp->free(wp);
	git_odb_free(odb);
	git_buf_dispose(&pack);
	if (rc == 0)
		rc = git_mempack_reset(o->mempack);
	return rc ? git_fail(err, "writing a pack", git_repository_path(o->repo)) : 0;
}

int kfs_gitodb_refresh(struct kfs_gitodb *o, struct kfs_error *err)
{
	git_odb *odb = NULL;
	int rc = git_repository_odb(&odb, o->repo);
	if (rc == 0)
		rc = git_odb_refresh(odb);
	git_odb_free(odb);
	return rc ? git_fail(err, "reading the packs", git_repository_path(o->repo)) : 0;
}

void kfs_gitodb_free(struct kfs_gitodb *o)
{
	free(o);
}
