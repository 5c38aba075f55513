/* The Git layer as a sink: a render goes in, an outcome comes out; owners are typed keys. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/gitstore.h"
#include "git_writer.h"

struct kfs_git_key kfs_git_key_of(const struct kfs_git_render *r)
{
	if (!r->request)
		return (struct kfs_git_key){.kind = KFS_GIT_PROMISE, .name = r->promise};
	return (struct kfs_git_key){
	    .kind = KFS_GIT_REQUEST, .ns = r->ns ? r->ns : "default", .name = r->request};
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool kfs_git_key_equal(const struct kfs_git_key *a, const struct kfs_git_key *b)
{
	return a->kind == b->kind && same_str(a->ns, b->ns) && same_str(a->name, b->name);
}

void kfs_git_key_copy(struct kfs_git_key *dst, const struct kfs_git_key *src)
{
	dst->kind = src->kind;
	dst->ns = src->ns ? kfs_xstrdup(src->ns) : NULL;
	dst->name = src->name ? kfs_xstrdup(src->name) : NULL;
}

void kfs_git_key_free(struct kfs_git_key *k)
{
	free((char *)k->ns);
	free((char *)k->name);
	k->ns = k->name = NULL;
}

void kfs_git_outcome_free(struct kfs_git_outcome *o)
{
	free(o->unscheduled);
	o->unscheduled = NULL;
}

int kfs_git_prepare(struct kfs_git *g, const struct kfs_git_render *r, unsigned long long serial,
		    struct kfs_git_work *work, struct kfs_git_outcome *out)
{
	memset(out, 0, sizeof(*out));
	if (!g->opts.destinations)
		return kfs_error_set(&out->err, -EINVAL, "git %s: no destinations to place renders on",
				     g->path);
	int rc = kfs_git_work_build(g->opts.destinations, r, work, &out->unscheduled, &out->err);
	if (rc < 0) {
		/* Nothing to commit: an older render's failed work must not land by a retry. */
		out->kind = KFS_GIT_INVALID;
		struct kfs_git_key key = kfs_git_key_of(r);
		kfs_git_forget(g, &key);
		return rc;
	}
	work->serial = serial;
	out->placed = !out->unscheduled || work->nfiles || work->nfrags;
	return 0;
}

void kfs_git_commit_outcome(struct kfs_git *g, const struct kfs_git_work *works, size_t n,
			    struct kfs_git_outcome *out)
{
	struct kfs_git_result res = {0};
	memset(&out->err, 0, sizeof(out->err));
	if (kfs_git_commit(g, works, n, &res, &out->err) < 0) {
		out->kind = KFS_GIT_FAILED;
		out->commit[0] = '\0';
		return;
	}
	out->kind = res.changed ? KFS_GIT_COMMITTED : KFS_GIT_UNCHANGED;
	memcpy(out->commit, res.commit, sizeof(out->commit));
}

void kfs_git_sink(struct kfs_git *g, const struct kfs_git_render *r, unsigned long long serial,
		  struct kfs_git_outcome *out)
{
	struct kfs_git_work work;
	if (kfs_git_prepare(g, r, serial, &work, out) < 0)
		return;
	kfs_git_commit_outcome(g, &work, 1, out);
	kfs_git_work_free(&work);
}
