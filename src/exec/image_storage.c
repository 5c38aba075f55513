/* The local container storage podman and buildah share (containers-storage). An image is
 * found by reading the storage's image list, <driver>-images/images.json (id, names, manifest
 * digests): no process is started for an image already unpacked. It is unpacked by copying it
 * out as an OCI layout with `skopeo copy containers-storage:<id> oci:DIR`, which takes the
 * storage's lock and works for every storage driver; the OCI path then checks its digests and
 * applies its layers as for any other layout. */
#include "image_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kratixfs/files.h"

/* The graphroot = "..." line of a storage.conf, or NULL. */
static char *conf_graphroot(const char *conf)
{
	FILE *f = fopen(conf, "re");
	if (!f)
		return NULL;
	char line[4096];
	char *root = NULL;
	while (!root && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		if (strncmp(p, "graphroot", 9) != 0)
			continue;
		char *q1 = strchr(p, '"');
		char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
		if (q2 && q2 > q1 + 1)
			root = kfs_xstrndup(q1 + 1, (size_t)(q2 - q1 - 1));
	}
	fclose(f);
	return root;
}

char *img_storage_root(void)
{
	const char *env = getenv("CONTAINERS_STORAGE_CONF");
	char *root = env ? conf_graphroot(env) : NULL;
	if (!root && geteuid() == 0) {
		root = conf_graphroot("/etc/containers/storage.conf");
		if (!root)
			root = conf_graphroot("/usr/share/containers/storage.conf");
		return root ? root : kfs_xstrdup("/var/lib/containers/storage");
	}
	if (root)
		return root;
	const char *data = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	struct kfs_buf b = {0};
	if (data && *data)
		kfs_buf_printf(&b, "%s/containers/storage", data);
	else
		kfs_buf_printf(&b, "%s/.local/share/containers/storage", home ? home : "/");
	return kfs_buf_steal(&b);
}

/* Whether one images.json entry is want: by a name, or by digest (its manifest digest or its
 * ID, which is the config's digest). */
static bool storage_entry_matches(const struct kfs_node *img, const struct img_ref *want)
{
	const char *id = img_json_str(img, "id");
	if (want->digest) {
		if (id && strcmp(want->digest + 7, id) == 0)
			return true;
		const char *d = img_json_str(img, "digest");
		if (d && strcmp(d, want->digest) == 0)
			return true;
		struct kfs_node *ds = kfs_map_get(img, "digests");
		for (size_t i = 0; ds && ds->type == KFS_SEQ && i < ds->len; i++)
			if (ds->items[i]->type == KFS_STR && strcmp(ds->items[i]->text, want->digest) == 0)
				return true;
		return false;
	}
	struct kfs_node *names = kfs_map_get(img, "names");
	for (size_t i = 0; names && names->type == KFS_SEQ && i < names->len; i++)
		if (names->items[i]->type == KFS_STR && img_ref_matches(want, names->items[i]->text))
			return true;
	return false;
}

static int find_in_list(const char *file, const struct img_ref *want, char id[KFS_DIGEST_LEN],
			struct kfs_error *err)
{
	struct kfs_buf text = {0};
	struct kfs_error ignored = {0};
	if (kfs_read_file(file, &text, &ignored) < 0) {
		kfs_buf_free(&text);
		return 0;
	}
	struct kfs_node *list = NULL;
	int rc = img_json_parse(&text, file, &list, err);
	kfs_buf_free(&text);
	if (rc < 0)
		return rc;
	int found = 0;
	for (size_t i = 0; list->type == KFS_SEQ && i < list->len && !found; i++) {
		const char *hex = img_json_str(list->items[i], "id");
		if (!hex || strlen(hex) != 64 || !storage_entry_matches(list->items[i], want))
			continue;
		snprintf(id, KFS_DIGEST_LEN, "sha256:%s", hex);
		found = img_is_digest(id);
	}
	kfs_node_free(list);
	return found;
}

int img_storage_find(const char *root, const struct img_ref *want, char id[KFS_DIGEST_LEN],
		     struct kfs_error *err)
{
	static const char *const drivers[] = {"overlay", "vfs", "btrfs", "zfs"};
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		struct kfs_buf file = {0};
		kfs_buf_printf(&file, "%s/%s-images/images.json", root, drivers[i]);
		int rc = find_in_list(file.data, want, id, err);
		kfs_buf_free(&file);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Runs argv with its output (both streams) to out_file and no input; the exit status, or
 * -errno when it cannot start. posix_spawn: the daemon has threads, so nothing but exec may
 * run between fork and exec. */
static int run_quiet(char *const argv[], const char *out_file)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	pid_t pid;
	extern char **environ;
	int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0)
		return e == ENOENT ? 127 : -e;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int img_storage_export(const char *root, const char *id, const char *dir, struct kfs_error *err)
{
	struct kfs_buf src = {0}, dst = {0}, log = {0}, msg = {0};
	kfs_buf_printf(&src, "containers-storage:[%s]%s", root, id + 7);
	kfs_buf_printf(&dst, "oci:%s", dir);
	kfs_buf_printf(&log, "%s.log", dir);
	char *argv[] = {"skopeo", "copy", "--quiet", src.data, dst.data, NULL};
	int rc = run_quiet(argv, log.data);
	if (rc != 0) {
		struct kfs_error ignored = {0};
		kfs_read_file(log.data, &msg, &ignored);
		while (msg.len && msg.data[msg.len - 1] == '\n')
			msg.data[--msg.len] = '\0';
		rc = kfs_error_set(err, -EIO,
				   "container storage %s: `skopeo copy %s %s` %s%s%s", root,
				   src.data, dst.data,
				   rc == 127 ? "did not start: install skopeo (make deps)"
					     : "failed",
				   msg.len ? ": " : "", msg.len ? msg.data : "");
	}
	unlink(log.data);
	kfs_buf_free(&src);
	kfs_buf_free(&dst);
	kfs_buf_free(&log);
	kfs_buf_free(&msg);
	return rc;
}
