/* libgit2's last error as a kfs_error. Private to src/git. */
#ifndef KRATIXFS_GIT_ERROR_H
#define KRATIXFS_GIT_ERROR_H

#include <errno.h>
#include <git2.h>

#include "kratixfs/error.h"

/* -EIO with "git <path>: <what>: <libgit2's message>". */
static inline int git_fail(struct kfs_error *err, const char *what, const char *path)
{
	const git_error *e = git_error_last();
	return kfs_error_set(err, -EIO, "git %s: %s: %s", path, what,
			     e && e->message ? e->message : "unknown error");
}

#endif
