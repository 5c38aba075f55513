/* The runner kfs_render calls for image and folder containers: for each call, a private
 * /kratix under the cache, the container's root (its image, or its folder's Dockerfile applied
 * on the FROM image), a run under bwrap, and what it left read back (docs/exec.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kratixfs/files.h"
#include "run_internal.h"

/* Lines of stderr an error message ends with. */
#define ERROR_LINES 5

void sandbox_free(struct sandbox *sb)
{
	free(sb->root);
	strv_free(&sb->binds);
	strv_free(&sb->argv);
	strv_free(&sb->env);
	free(sb->workdir);
	if (sb->kratix)
		kfs_remove_tree(sb->kratix, NULL);
	free(sb->kratix);
	memset(sb, 0, sizeof(*sb));
}

/* Logs the recipe's skipped RUN lines once per pipeline and version of the Dockerfile (its
 * path, time and size): the pipeline's first render after a load or an edit says so, the
 * others do not repeat it. */
static void note_skipped(struct runner *r, const struct kfs_exec_call *call, const char *folder,
			 const struct kfs_recipe *rc, struct kfs_buf *log)
{
	if (!rc->skipped || !rc->skipped[0])
		return;
	struct kfs_buf key = {0}, path = {0};
	kfs_buf_printf(&path, "%s/Dockerfile", folder);
	struct stat st;
	if (stat(path.data, &st) != 0)
		memset(&st, 0, sizeof(st));
	kfs_buf_printf(&key, "%s\n%lld.%09ld\n%lld\n%s/%s", path.data, (long long)st.st_mtim.tv_sec,
		       st.st_mtim.tv_nsec, (long long)st.st_size, kfs_wtype_names[call->type],
		       call->pipeline->name);
	bool seen = false;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->nnoted && !seen; i++)
		seen = strcmp(r->noted[i], key.data) == 0;
	if (!seen) {
		r->noted = kfs_xrealloc(r->noted, (r->nnoted + 1) * sizeof(*r->noted));
		r->noted[r->nnoted++] = kfs_buf_steal(&key);
	}
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; !seen && rc->skipped[i]; i++)
		kfs_buf_printf(log,
			       "RUN skipped: %s/%s (kratixfs runs no RUN line: the FROM image must "
			       "already hold what it installs)\n",
			       folder, rc->skipped[i]);
	kfs_buf_free(&key);
	kfs_buf_free(&path);
}

/* FROM scratch: an image with nothing in it. */
static struct kfs_image *scratch_image(void)
{
	struct kfs_image *img = kfs_xcalloc(1, sizeof(*img));
	img->ref = kfs_xstrdup("scratch");
	img->digest = kfs_xstrdup("scratch");
	return img;
}

/* The call's image (for a folder, its FROM image with the recipe's config applied: *base
 * keeps the FROM image itself), the recipe, and the root. */
static int prepare_root(struct runner *r, const struct kfs_exec_call *call,
			struct kfs_image **img, struct kfs_image **base, struct kfs_recipe **rc,
			struct sandbox *sb, struct kfs_buf *log, struct kfs_error *err)
{
	const struct kfs_container *c = call->container;
	const char *ref = c->image;
	int ret = 0;
	if (c->dir) {
		if ((ret = kfs_recipe_load(c->dir, rc, err)) < 0)
			return ret;
		note_skipped(r, call, c->dir, *rc, log);
		ref = (*rc)->from;
	}
	if (strcmp(ref, "scratch") == 0) {
		*base = scratch_image();
	} else if ((ret = kfs_image_get(&r->opts.images, ref, base, err)) < 0) {
		kfs_error_prefix(err, "container %s", c->name);
		return ret == -ENOENT ? -EINVAL : ret;
	}
	if (!*rc) {
		*img = *base;
		*base = NULL;
	} else if ((ret = kfs_recipe_apply(*rc, *base, img, err)) < 0) {
		return ret;
	}
	return root_get(r, *img, c->dir, &sb->root, err);
}

static int prepare(struct runner *r, const struct kfs_exec_call *call, struct kfs_image **img,
		   struct kfs_image **base, struct kfs_recipe **rc, struct sandbox *sb,
		   struct kfs_buf *log, struct kfs_error *err)
{
	const struct kfs_container *c = call->container;
	int ret = prepare_root(r, call, img, base, rc, sb, log, err);
	if (ret < 0)
		return ret;
	const char *wd = (*img)->workdir;
	sb->workdir = kfs_xstrdup(wd && *wd ? wd : "/");
	if ((ret = user_resolve(sb->root, (*img)->user, &sb->uid, &sb->gid, err)) < 0 ||
	    (ret = root_ensure_dir(r, sb->root, sb->workdir, err)) < 0 ||
	    (*rc && (ret = root_add_copies(r, sb, *rc, *base, c->dir, err)) < 0) ||
	    (ret = env_build(sb, call, *img, err)) < 0 ||
	    (ret = argv_build(sb, call, *img, err)) < 0) {
		kfs_error_prefix(err, "container %s", c->name);
		return ret < 0 ? ret : -EINVAL;
	}
	struct kfs_buf dir = {0};
	kfs_buf_printf(&dir, "%s/XXXXXX", r->runs_dir);
	if (!mkdtemp(dir.data) && errno == ENOENT && kfs_mkdir_p(r->runs_dir, NULL) == 0) {
		kfs_buf_reset(&dir);
		kfs_buf_printf(&dir, "%s/XXXXXX", r->runs_dir);
		mkdtemp(dir.data);
	}
	if (access(dir.data, F_OK) != 0) {
		ret = kfs_error_set(err, -errno, "exec: %s: %s", dir.data, strerror(errno));
		kfs_buf_free(&dir);
		return ret;
	}
	sb->kratix = kfs_buf_steal(&dir);
	struct kfs_buf tmp_in = {0}, tmp_out = {0};
	kfs_buf_printf(&tmp_in, "%s/tmp", sb->root);
	kfs_buf_printf(&tmp_out, "%s/tmp", sb->kratix);
	ret = kratix_layout(sb->kratix, call, err);
	if (ret == 0)
		ret = root_copy_tree(tmp_in.data, tmp_out.data, err);
	kfs_buf_free(&tmp_in);
	kfs_buf_free(&tmp_out);
	return ret;
}

/* The last n lines of text (len bytes), without the final newline, in a new string. */
static char *last_lines(const char *text, size_t len, int n)
{
	while (len > 0 && text[len - 1] == '\n')
		len--;
	size_t at = len;
	while (at > 0 && n > 0)
		if (text[--at] == '\n')
			n--;
	size_t start = at > 0 || (len > 0 && text[0] == '\n') ? at + 1 : 0;
	return kfs_xstrndup(text + start, len > start ? len - start : 0);
}

/* What the process printed goes to the reply's log: stderr, then stdout. */
static void log_output(struct kfs_buf *log, const struct spawn_result *res)
{
	if (res->errs_cut)
		kfs_buf_printf(log, "(%zu bytes of stderr cut)\n", res->errs_cut);
	kfs_buf_add(log, res->errs.data ? res->errs.data : "", res->errs.len);
	if (res->errs.len && res->errs.data[res->errs.len - 1] != '\n')
		kfs_buf_addc(log, '\n');
	if (res->out_cut)
		kfs_buf_printf(log, "(%zu bytes of stdout cut)\n", res->out_cut);
	kfs_buf_add(log, res->out.data ? res->out.data : "", res->out.len);
	if (res->out.len && res->out.data[res->out.len - 1] != '\n')
		kfs_buf_addc(log, '\n');
}

static int judge(const struct runner *r, const struct kfs_exec_call *call,
		 const struct spawn_result *res, struct kfs_error *err)
{
	const char *name = call->container->name;
	char *tail = last_lines(res->errs.data ? res->errs.data : "", res->errs.len, ERROR_LINES);
	const char *sep = *tail ? "; its stderr ends: " : "";
	int rc = 0;
	if (res->timed_out)
		rc = kfs_error_set(err, -EIO, "container %s: killed after %g s (-o exec_timeout)%s%s",
				   name, r->opts.timeout, sep, tail);
	else if (WIFSIGNALED(res->status))
		rc = kfs_error_set(err, -EIO, "container %s: killed by signal %d%s%s", name,
				   WTERMSIG(res->status), sep, tail);
	else if (WEXITSTATUS(res->status) != 0)
		rc = kfs_error_set(err, -EIO, "container %s: exited with status %d%s%s", name,
				   WEXITSTATUS(res->status), sep, tail);
	free(tail);
	return rc;
}

static int run(void *ctx, const struct kfs_exec_call *call, struct kfs_exec_reply *reply,
	       struct kfs_error *err)
{
	struct runner *r = ctx;
	memset(reply, 0, sizeof(*reply));
	struct kfs_image *img = NULL, *base = NULL;
	struct kfs_recipe *rc = NULL;
	struct sandbox sb = {0};
	struct spawn_result res = {0};
	int ret = prepare(r, call, &img, &base, &rc, &sb, &reply->log, err);
	if (ret == 0)
		ret = sandbox_run(r, &sb, &res, err);
	if (ret == 0) {
		log_output(&reply->log, &res);
		ret = judge(r, call, &res, err);
	}
	/* Read back either way: a failed container's outputs are not used, but what it wrote
	 * says how far it got. */
	if (ret == 0 || (ret == -EIO && sb.kratix)) {
		struct kfs_error rerr = {0};
		int rb = kratix_read_back(sb.kratix, reply, ret == 0 ? err : &rerr);
		if (ret == 0 && rb < 0) {
			kfs_error_prefix(err, "container %s", call->container->name);
			ret = rb;
		}
		kfs_error_clear(&rerr);
	}
	kfs_buf_free(&res.out);
	kfs_buf_free(&res.errs);
	sandbox_free(&sb);
	kfs_recipe_free(rc);
	kfs_image_free(img);
	kfs_image_free(base);
	return ret;
}

struct kfs_exec *kfs_exec_new(const struct kfs_exec_opts *opts)
{
	struct runner *r = kfs_xcalloc(1, sizeof(*r));
	r->iface.run = run;
	r->iface.ctx = r;
	r->opts = *opts;
	const char *cache = opts->images.cache_dir ? opts->images.cache_dir : "/tmp/kratixfs-cache";
	r->opts.images.cache_dir = kfs_xstrdup(cache);
	char **archives = kfs_xcalloc(opts->images.narchives + 1, sizeof(*archives));
	for (size_t i = 0; i < opts->images.narchives; i++)
		archives[i] = kfs_xstrdup(opts->images.archives[i]);
	r->opts.images.archives = (const char *const *)archives;
	r->opts.bwrap = opts->bwrap ? kfs_xstrdup(opts->bwrap) : NULL;
	if (r->opts.timeout <= 0)
		r->opts.timeout = 60;
	if (r->opts.memory_limit == 0)
		r->opts.memory_limit = (size_t)4 << 30;
	if (r->opts.max_procs == 0)
		r->opts.max_procs = 256;
	/* Made when a container first runs: a command that renders templates only leaves no
	 * cache behind. */
	r->roots_dir = kfs_path_join(cache, "roots");
	r->runs_dir = kfs_path_join(cache, "runs");
	pthread_mutex_init(&r->lock, NULL);
	return &r->iface;
}

void kfs_exec_free(struct kfs_exec *e)
{
	if (!e)
		return;
	struct runner *r = (struct runner *)e;
	free((char *)r->opts.images.cache_dir);
	for (size_t i = 0; i < r->opts.images.narchives; i++)
		free((char *)r->opts.images.archives[i]);
	free((void *)r->opts.images.archives);
	free((char *)r->opts.bwrap);
	free(r->roots_dir);
	free(r->runs_dir);
	for (size_t i = 0; i < r->nnoted; i++)
		free(r->noted[i]);
	free(r->noted);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
