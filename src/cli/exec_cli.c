/* The commands' runner for image and folder containers (docs/exec.md). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct kfs_exec *cli_exec_new(void)
{
	struct kfs_buf cache = {0};
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	if (xdg && xdg[0] == '/')
		kfs_buf_printf(&cache, "%s/kratixfs", xdg);
	else if (home && *home)
		kfs_buf_printf(&cache, "%s/.cache/kratixfs", home);
	else
		kfs_buf_adds(&cache, "/tmp/kratixfs-cache");
	/* KRATIXFS_IMAGES: OCI layout folders and save archives, as -o images= for the mount. */
	char *list = kfs_xstrdup(getenv("KRATIXFS_IMAGES") ? getenv("KRATIXFS_IMAGES") : "");
	const char *archives[64];
	size_t n = 0;
	for (char *save, *p = strtok_r(list, ":", &save); p && n < 64;
	     p = strtok_r(NULL, ":", &save))
		archives[n++] = p;
	const char *t = getenv("KRATIXFS_EXEC_TIMEOUT");
	struct kfs_exec_opts o = {
		.images = {.cache_dir = cache.data, .archives = archives, .narchives = n,
			   .use_storage = true},
		.timeout = t ? strtod(t, NULL) : 60,
	};
	struct kfs_exec *e = kfs_exec_new(&o);
	free(list);
	kfs_buf_free(&cache);
	return e;
}
