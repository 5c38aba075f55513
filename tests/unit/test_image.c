/* Images (src/exec/image*.c, oci*.c): OCI layouts, docker and OCI archives built here from tiny
 * layers, whiteouts, hostile layers, digests, the cache, reference matching. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "image_internal.h"
#include "imgtest.h"

static const struct it_ent base_layer[] = {
	{'d', "bin", NULL, 0755, 0},
	{'f', "bin/tool", "#!/bin/sh\necho tool\n", 04755, 0},
	{'l', "bin/sh", "tool", 0, 0},
	{'d', "etc", NULL, 0755, 0},
	{'f', "etc/os-release", "NAME=tiny\n", 0644, 0},
	{'h', "etc/os-release-link", "etc/os-release", 0644, 0},
	{'f', "work/input.txt", "hello\n", 0600, 0},
};

/* An image from an OCI layout: files, links, modes and the config. */
static void test_oci_layout(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layer = {0};
	assert_true(it_tar(&layer, base_layer, 7, IT_GZIP));
	char cfg[KFS_DIGEST_LEN];
	it_layout(f.layout, "docker.io/library/tiny:1", &layer, 1, cfg, NULL);
	struct kfs_image *img = get_ok(&f.o, "tiny:1");
	assert_string_equal(img->digest, cfg);
	assert_string_equal(img->ref, "tiny:1");
	char *want_root = NULL;
	assert_true(asprintf(&want_root, "%s/sha256-%s/rootfs", f.cache, cfg + 7) > 0);
	assert_string_equal(img->rootfs, want_root);
	char *t = read_in(img, "bin/tool");
	assert_string_equal(t, "#!/bin/sh\necho tool\n");
	char *p = in_root(img, "bin/tool"), *h = in_root(img, "etc/os-release-link");
	char *o = in_root(img, "etc/os-release"), link[64] = "";
	struct stat st, sh, so;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755); /* set-user-ID dropped */
	assert_int_equal(st.st_mtime, 1700000000);
	assert_int_equal(stat(h, &sh), 0);
	assert_int_equal(stat(o, &so), 0);
	assert_int_equal(sh.st_ino, so.st_ino); /* a hard link */
	char *s = in_root(img, "bin/sh");
	assert_true(readlink(s, link, sizeof(link) - 1) > 0);
	assert_string_equal(link, "tool");
	assert_string_equal(img->entrypoint[0], "/bin/tool");
	assert_string_equal(img->entrypoint[1], "--flag");
	assert_null(img->entrypoint[2]);
	assert_string_equal(img->cmd[0], "run");
	assert_string_equal(img->env[1], "MODE=test");
	assert_string_equal(img->workdir, "/work");
	assert_string_equal(img->user, "1000:1000");
	char *cfgfile = NULL;
	assert_true(asprintf(&cfgfile, "%s/sha256-%s/config.json", f.cache, cfg + 7) > 0);
	assert_true(kfs_is_file(cfgfile));
	free(cfgfile);
	free(s);
	free(p);
	free(h);
	free(o);
	free(t);
	free(want_root);
	kfs_image_free(img);
	kfs_buf_free(&layer);
	fx_free(&f);
}

/* Layers applied in order: whiteouts remove what layers below made, an opaque folder is
 * emptied of them, and neither touches the files of its own layer. zstd and plain tars too. */
static void test_whiteouts(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	const struct it_ent l1[] = {
		{'f', "a/keep", "k", 0, 0},      {'f', "a/gone", "g", 0, 0},
		{'f', "d/old1", "1", 0, 0},      {'d', "d/sub", NULL, 0, 0},
		{'f', "d/sub/old2", "2", 0, 0},  {'f', "e/replaced", "file", 0, 0},
		{'f', "gone-dir/x", "x", 0, 0},
	};
	const struct it_ent l2[] = {
		{'f', "d/new", "n", 0, 0}, /* before the opaque marker: it stays */
		{'f', "d/.wh..wh..opq", "", 0, 0},
		{'f', "a/.wh.gone", "", 0, 0},
		{'f', ".wh.gone-dir", "", 0, 0},
		{'d', "e/replaced", NULL, 0, 0},
		{'f', "e/replaced/inside", "now a folder", 0, 0},
	};
	const struct it_ent l3[] = {{'f', "a/gone", "back", 0, 0}};
	struct kfs_buf layers[3] = {{0}};
	assert_true(it_tar(&layers[0], l1, 7, IT_GZIP));
	if (!it_tar(&layers[1], l2, 6, IT_ZSTD))
		assert_true(it_tar(&layers[1], l2, 6, IT_GZIP));
	assert_true(it_tar(&layers[2], l3, 1, IT_PLAIN));
	it_layout(f.layout, "localhost/wh:1", layers, 3, NULL, NULL);
	struct kfs_image *img = get_ok(&f.o, "localhost/wh:1");
	assert_true(exists_in(img, "a/keep"));
	char *back = read_in(img, "a/gone");
	assert_string_equal(back, "back");
	assert_false(exists_in(img, "d/old1"));
	assert_false(exists_in(img, "d/sub"));
	assert_true(exists_in(img, "d/new"));
	assert_false(exists_in(img, "gone-dir"));
	assert_false(exists_in(img, "d/.wh..wh..opq"));
	assert_false(exists_in(img, "a/.wh.gone"));
	char *inside = read_in(img, "e/replaced/inside");
	assert_string_equal(inside, "now a folder");
	free(back);
	free(inside);
	kfs_image_free(img);
	for (int i = 0; i < 3; i++)
		kfs_buf_free(&layers[i]);
	fx_free(&f);
}

/* Fails to get ref, with a message holding want; returns the message's copy. */
static void get_fails(const struct kfs_image_opts *o, const char *ref, int code, const char *want)
{
	struct kfs_image *img = NULL;
	struct kfs_error err = {0};
	assert_int_equal(kfs_image_get(o, ref, &img, &err), code);
	assert_null(img);
	assert_contains(err.msg, want);
}

/* No folder of a failed unpack is left in the cache: neither a root nor a temporary one (the
 * remembered lookups in refs/ aside). */
static void assert_cache_empty(const char *cache)
{
	char *out = tu_sh("ls -A '%s' 2>/dev/null | grep -vx refs | wc -l", cache);
	assert_string_equal(out, "0\n");
	free(out);
}

/* A layer that names "..", or writes through a symbolic link it made, or links to a host
 * file: refused, or kept inside the image's root; nothing outside it is made or changed. */
static void test_hostile_layers(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf dotdot = {0};
	const struct it_ent e1[] = {{'f', "ok", "x", 0, 0}, {'f', "../../escaped", "pwned", 0, 0}};
	assert_true(it_tar(&dotdot, e1, 2, IT_PLAIN));
	it_layout(f.layout, "localhost/evil:1", &dotdot, 1, NULL, NULL);
	get_fails(&f.o, "localhost/evil:1", -EPERM, "'..'");
	char *esc = kfs_path_join(f.dir, "escaped");
	assert_false(kfs_is_file(esc));
	assert_cache_empty(f.cache);

	/* symbolic links to the host's root, then writes through them */
	char *host = kfs_path_join(f.dir, "host");
	assert_int_equal(mkdir(host, 0755), 0);
	char *abs_link = kfs_path_join(host, "");
	char through[64], landed[64];
	snprintf(through, sizeof(through), "up/kfs-hostile-%d", (int)getpid());
	snprintf(landed, sizeof(landed), "/kfs-hostile-%d", (int)getpid());
	const struct it_ent e2[] = {
		{'l', "up", "../../../../../../../..", 0, 0},
		{'l', "hostdir", abs_link, 0, 0},
		{'f', through, "through up", 0, 0},
	};
	struct kfs_buf sym = {0};
	assert_true(it_tar(&sym, e2, 3, IT_PLAIN));
	kfs_remove_tree(f.layout, &(struct kfs_error){0});
	it_layout(f.layout, "localhost/evil:2", &sym, 1, NULL, NULL);
	struct kfs_image *img = get_ok(&f.o, "localhost/evil:2");
	assert_true(exists_in(img, landed + 1)); /* "up" resolves to the image's root */
	if (kfs_is_file(landed)) {
		unlink(landed);
		fail_msg("%s was written on the host", landed);
	}
	kfs_image_free(img);

	const struct it_ent e3[] = {
		{'l', "hostdir", abs_link, 0, 0},
		{'f', "hostdir/planted", "through an absolute link", 0, 0},
	};
	struct kfs_buf sym2 = {0};
	assert_true(it_tar(&sym2, e3, 2, IT_PLAIN));
	kfs_remove_tree(f.layout, &(struct kfs_error){0});
	it_layout(f.layout, "localhost/evil:3", &sym2, 1, NULL, NULL);
	img = NULL;
	struct kfs_error err = {0};
	int rc = kfs_image_get(&f.o, "localhost/evil:3", &img, &err);
	char *planted = kfs_path_join(host, "planted");
	assert_false(kfs_is_file(planted)); /* the host folder the link names is untouched */
	if (rc == 0) /* contained: made inside the root, where the link leads in the container */
		assert_true(exists_in(img, "hostdir/planted"));
	kfs_image_free(img);

	const struct it_ent e4[] = {{'f', "/absolute", "abs", 0, 0},
				    {'h', "hard", "/etc/hostname", 0, 0}};
	struct kfs_buf abs = {0};
	assert_true(it_tar(&abs, e4, 2, IT_PLAIN));
	kfs_remove_tree(f.layout, &(struct kfs_error){0});
	it_layout(f.layout, "localhost/evil:4", &abs, 1, NULL, NULL);
	/* a hard link to a host file: its name is taken inside the root, where it is missing */
	get_fails(&f.o, "localhost/evil:4", -EINVAL, "'hard'");

	free(planted);
	free(abs_link);
	free(host);
	free(esc);
	kfs_buf_free(&dotdot);
	kfs_buf_free(&sym);
	kfs_buf_free(&sym2);
	kfs_buf_free(&abs);
	fx_free(&f);
}

/* A layer whose bytes are not the ones its manifest names is refused before anything of it
 * is unpacked. */
static void test_digest_mismatch(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layer = {0};
	assert_true(it_tar(&layer, base_layer, 7, IT_GZIP));
	it_layout(f.layout, "localhost/bad:1", &layer, 1, NULL, NULL);
	char ld[KFS_DIGEST_LEN];
	kfs_sha256_digest(layer.data, layer.len, ld);
	struct kfs_buf other = {0};
	const struct it_ent e[] = {{'f', "bin/tool", "something else", 0, 0}};
	assert_true(it_tar(&other, e, 1, IT_GZIP));
	char rel[128];
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", ld + 7);
	assert_int_equal(kfs_write_file(f.layout, rel, other.data, other.len, NULL), 0);
	get_fails(&f.o, "localhost/bad:1", -EINVAL, "damaged");
	assert_cache_empty(f.cache);
	kfs_buf_free(&layer);
	kfs_buf_free(&other);
	fx_free(&f);
}

/* A second get reuses the unpacked root: it does not need the layers any more (they are
 * gone), and the root is the same folder, unchanged. */
static void test_cache_reuse(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layer = {0};
	assert_true(it_tar(&layer, base_layer, 7, IT_GZIP));
	it_layout(f.layout, "localhost/c:1", &layer, 1, NULL, NULL);
	struct kfs_image *a = get_ok(&f.o, "localhost/c:1");
	struct stat s1, t1, s2, t2;
	char *tool = in_root(a, "bin/tool");
	assert_int_equal(stat(a->rootfs, &s1), 0);
	assert_int_equal(stat(tool, &t1), 0);
	char ld[KFS_DIGEST_LEN], rel[128];
	kfs_sha256_digest(layer.data, layer.len, ld);
	snprintf(rel, sizeof(rel), "%s/blobs/sha256/%s", f.layout, ld + 7);
	assert_int_equal(unlink(rel), 0);
	struct kfs_image *b = get_ok(&f.o, "c:1");
	assert_string_equal(a->rootfs, b->rootfs);
	assert_int_equal(stat(b->rootfs, &s2), 0);
	assert_int_equal(stat(tool, &t2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(t1.st_ino, t2.st_ino);
	assert_true(t1.st_ctim.tv_sec == t2.st_ctim.tv_sec && t1.st_ctim.tv_nsec == t2.st_ctim.tv_nsec);
	assert_string_equal(b->cmd[0], "run");
	/* a different cache must unpack, and now cannot: the layer is missing */
	char *other = kfs_path_join(f.dir, "cache2");
	struct kfs_image_opts o2 = f.o;
	o2.cache_dir = other;
	get_fails(&o2, "c:1", -EINVAL, ld + 7);
	free(other);
	free(tool);
	kfs_image_free(a);
	kfs_image_free(b);
	kfs_buf_free(&layer);
	fx_free(&f);
}

/* docker-archive (as podman save writes it, and with older docker's layer.tar links) and
 * oci-archive (an OCI layout in a tar, gzip-compressed). */
static void test_archives(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layers[2] = {{0}};
	assert_true(it_tar(&layers[0], base_layer, 7, IT_PLAIN));
	const struct it_ent l2[] = {{'f', "etc/.wh.os-release", "", 0, 0},
				    {'f', "etc/motd", "hi\n", 0, 0}};
	assert_true(it_tar(&layers[1], l2, 2, IT_PLAIN));
	char *da = kfs_path_join(f.dir, "docker.tar"), *old = kfs_path_join(f.dir, "old.tar");
	char cfg[KFS_DIGEST_LEN], cfg2[KFS_DIGEST_LEN];
	it_docker_archive(da, "localhost/dock:2", layers, 2, false, cfg);
	it_docker_archive(old, "dock:3", layers, 2, true, cfg2);
	f.srcs[0] = da;
	f.srcs[1] = old;
	f.o.narchives = 2;
	struct kfs_image *img = get_ok(&f.o, "dock:2");
	assert_string_equal(img->digest, cfg);
	assert_true(exists_in(img, "etc/motd"));
	assert_false(exists_in(img, "etc/os-release"));
	assert_true(exists_in(img, "etc/os-release-link"));
	kfs_image_free(img);
	kfs_remove_tree(f.cache, &(struct kfs_error){0});
	img = get_ok(&f.o, "docker.io/library/dock:3");
	assert_true(exists_in(img, "bin/tool"));
	kfs_image_free(img);
	get_fails(&f.o, "docker.io/library/dock:2", -ENOENT, "podman pull docker.io/library/dock:2");

	/* oci-archive: the layout in a gzip'd tar */
	it_layout(f.layout, "ociarch:7", layers, 2, cfg, NULL);
	char *oa = kfs_path_join(f.dir, "oci.tar.gz");
	free(tu_sh("cd '%s' && tar czf '%s' index.json oci-layout blobs", f.layout, oa));
	f.srcs[0] = oa;
	f.o.narchives = 1;
	kfs_remove_tree(f.cache, &(struct kfs_error){0});
	img = get_ok(&f.o, "ociarch:7");
	assert_string_equal(img->digest, cfg);
	assert_true(exists_in(img, "etc/motd"));
	kfs_image_free(img);
	free(oa);
	free(da);
	free(old);
	kfs_buf_free(&layers[0]);
	kfs_buf_free(&layers[1]);
	fx_free(&f);
}

/* A docker archive whose layer is not the tar its config's diff_ids name. */
static void test_archive_diff_id_mismatch(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layers[1] = {{0}};
	assert_true(it_tar(&layers[0], base_layer, 7, IT_PLAIN));
	char *da = kfs_path_join(f.dir, "docker.tar");
	it_docker_archive(da, "localhost/dock:2", layers, 1, false, NULL);
	/* the same archive with the layer's bytes changed in place (same size) */
	free(tu_sh("cd '%s' && mkdir x && cd x && tar xf ../docker.tar && "
		   "sed -i 's/echo tool/echo evil/' blob0.tar && tar cf ../docker.tar *", f.dir));
	f.srcs[0] = da;
	get_fails(&f.o, "dock:2", -EINVAL, "damaged");
	free(da);
	kfs_buf_free(&layers[0]);
	fx_free(&f);
}

/* References as users write them against names as images are stored. */
static void test_ref_matching(void **state)
{
	(void)state;
	static const struct {
		const char *want, *stored;
		bool match;
	} cases[] = {
		{"busybox", "docker.io/library/busybox:latest", true},
		{"busybox", "busybox:latest", true},
		{"busybox", "localhost/busybox:latest", true}, /* buildah bud -t busybox */
		{"busybox:1", "docker.io/library/busybox:latest", false},
		{"busybox", "quay.io/busybox:latest", false},
		{"localhost/x:tag", "localhost/x:tag", true},
		{"localhost/x:tag", "x:tag", true}, /* a docker save of "x:tag" */
		{"localhost/x:tag", "docker.io/library/x:tag", false},
		{"docker.io/library/x:latest", "x", true},
		{"docker.io/library/x:latest", "localhost/x:latest", false},
		{"x:tag", "localhost/x:tag", true},
		{"org/app:v1", "docker.io/org/app:v1", true},
		{"org/app:v1", "localhost/org/app:v1", true},
		{"ghcr.io/syntasso/redis:v0.1.0", "ghcr.io/syntasso/redis:v0.1.0", true},
		{"ghcr.io/syntasso/redis:v0.1.0", "ghcr.io/syntasso/redis:v0.2.0", false},
		{"localhost:5000/app", "localhost:5000/app:latest", true},
		{"localhost:5000/app", "localhost/app:latest", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct img_ref r;
		assert_int_equal(img_ref_parse(cases[i].want, &r, NULL), 0);
		if (img_ref_matches(&r, cases[i].stored) != cases[i].match)
			fail_msg("%s against %s: expected %s", cases[i].want, cases[i].stored,
				 cases[i].match ? "a match" : "no match");
		img_ref_free(&r);
	}
	struct img_ref r;
	struct kfs_error err = {0};
	assert_int_equal(img_ref_parse("app@sha256:abc", &r, &err), -EINVAL);
	assert_contains(err.msg, "64 lower-case hex digits");
	assert_int_equal(img_ref_parse("bad name", &r, &err), -EINVAL);
	assert_int_equal(img_ref_parse("app:", &r, &err), -EINVAL);
	assert_int_equal(img_ref_parse("a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
				       "0123456789abcdef", &r, NULL), 0);
	assert_null(r.tag);
	assert_string_equal(r.path, "library/a");
	img_ref_free(&r);
}

/* By digest: the manifest's or the config's (the image ID); a layout's bare tag; where it
 * looked when it is nowhere. */
static void test_find_by_digest_and_tag(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layer = {0};
	assert_true(it_tar(&layer, base_layer, 7, IT_GZIP));
	char cfg[KFS_DIGEST_LEN], man[KFS_DIGEST_LEN];
	it_layout(f.layout, "v7", &layer, 1, cfg, man);
	char ref[200];
	snprintf(ref, sizeof(ref), "anything@%s", man);
	struct kfs_image *img = get_ok(&f.o, ref);
	assert_string_equal(img->digest, cfg);
	kfs_image_free(img);
	snprintf(ref, sizeof(ref), "whatever/name@%s", cfg);
	img = get_ok(&f.o, ref);
	kfs_image_free(img);
	/* "v7" is a bare tag: any name with tag v7 when no source holds the full name */
	img = get_ok(&f.o, "some/app:v7");
	kfs_image_free(img);
	get_fails(&f.o, "some/app:v8", -ENOENT, "some/app:v8");
	snprintf(ref, sizeof(ref), "x@sha256:%064d", 0);
	get_fails(&f.o, ref, -ENOENT, "x@sha256:0000");

	struct kfs_image_opts none = {.cache_dir = f.cache};
	struct kfs_error err = {0};
	assert_int_equal(kfs_image_get(&none, "nope:1", &img, &err), -ENOENT);
	assert_contains(err.msg, "image 'nope:1' not found");
	assert_contains(err.msg, "podman pull nope:1");
	assert_contains(err.msg, "podman load -i FILE");
	struct kfs_image_opts some = f.o;
	assert_int_equal(kfs_image_get(&some, "nope:1", &img, &err), -ENOENT);
	assert_contains(err.msg, f.layout);
	kfs_buf_free(&layer);
	fx_free(&f);
}

/* Two processes unpacking the same image at once both get it, whole, and the cache holds it
 * once with no temporary folder left; one left by a crash (unlocked) is removed. */
static void test_concurrent_unpack(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layer = {0};
	assert_true(it_tar(&layer, base_layer, 7, IT_GZIP));
	it_layout(f.layout, "localhost/par:1", &layer, 1, NULL, NULL);
	char *stale = kfs_path_join(f.cache, ".tmp-0123456789abcdef-crashed");
	assert_int_equal(kfs_mkdir_p(stale, NULL), 0);
	tu_write(stale, "rootfs/half", "x");
	struct timespec old[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};
	assert_int_equal(utimensat(AT_FDCWD, stale, old, 0), 0); /* a crash an hour ago */
	char *fresh = kfs_path_join(f.cache, ".tmp-fedcba9876543210-justmade");
	assert_int_equal(kfs_mkdir_p(fresh, NULL), 0); /* made, not locked yet: kept */
	pid_t kids[4];
	for (int i = 0; i < 4; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct kfs_image *img = NULL;
			struct kfs_error err = {0};
			int rc = kfs_image_get(&f.o, "localhost/par:1", &img, &err);
			char *t = rc == 0 ? kfs_path_join(img->rootfs, "bin/tool") : NULL;
			bool ok = rc == 0 && kfs_is_file(t);
			if (!ok)
				fprintf(stderr, "child %d: %s\n", i, rc ? err.msg : "no bin/tool");
			free(t);
			kfs_image_free(img);
			_exit(ok ? 0 : 1);
		}
	}
	for (int i = 0; i < 4; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	char *out = tu_sh("ls -A '%s'", f.cache);
	assert_true(strncmp(out, ".tmp-fedcba9876543210-justmade\nrefs\nsha256-", 43) == 0);
	assert_int_equal(strchr(out + 36, '\n') - out, (long)strlen(out) - 1);
	free(out);
	free(fresh);
	free(stale);
	kfs_buf_free(&layer);
	fx_free(&f);
}

/* A lookup is remembered per source and reference: a source that has not changed (same inode,
 * size and mtime) is not read again, neither for the image it gives nor for one it lacks; one
 * that changed is. */
static void test_remembered_lookups(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layer = {0};
	assert_true(it_tar(&layer, base_layer, 7, IT_GZIP));
	it_layout(f.layout, "localhost/m:1", &layer, 1, NULL, NULL);
	char *oa = kfs_path_join(f.dir, "m.tar.gz"), *other = kfs_path_join(f.dir, "other.tar");
	free(tu_sh("cd '%s' && tar czf '%s' index.json oci-layout blobs", f.layout, oa));
	it_docker_archive(other, "localhost/elsewhere:1", &layer, 1, false, NULL);
	f.srcs[0] = other; /* looked in first: it lacks the image */
	f.srcs[1] = oa;
	f.o.narchives = 2;
	kfs_image_free(get_ok(&f.o, "localhost/m:1"));
	/* both archives made garbage with their inode, size and mtime kept */
	free(tu_sh("for a in '%s' '%s'; do t=$(stat -c %%y \"$a\"); s=$(stat -c %%s \"$a\"); "
		   "head -c \"$s\" /dev/zero > \"$a\"; touch -d \"$t\" \"$a\"; done", oa, other));
	struct kfs_image *img = get_ok(&f.o, "localhost/m:1");
	assert_true(exists_in(img, "bin/tool"));
	kfs_image_free(img);
	/* a changed source is read again (and is now garbage) */
	free(tu_sh("touch -d '2001-01-01' '%s'", oa));
	get_fails(&f.o, "localhost/m:1", -EINVAL, "m.tar.gz");
	free(oa);
	free(other);
	kfs_buf_free(&layer);
	fx_free(&f);
}

/* A cache folder someone damaged is unpacked again; a -o images= path that is not there is a
 * clear error, not "image not found". */
static void test_cache_repair(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layer = {0};
	assert_true(it_tar(&layer, base_layer, 7, IT_GZIP));
	it_layout(f.layout, "localhost/r:1", &layer, 1, NULL, NULL);
	struct kfs_image *img = get_ok(&f.o, "localhost/r:1");
	assert_int_equal(kfs_remove_tree(img->rootfs, NULL), 0);
	kfs_image_free(img);
	img = get_ok(&f.o, "localhost/r:1");
	assert_true(exists_in(img, "bin/tool"));
	kfs_image_free(img);
	f.srcs[1] = "/nonexistent/images.tar";
	f.o.narchives = 2;
	get_fails(&f.o, "localhost/other:1", -EINVAL, "images=/nonexistent/images.tar");
	kfs_buf_free(&layer);
	fx_free(&f);
}

/* The container storage's image list, read without podman (the image already unpacked in the
 * cache, so nothing is copied out): a full name there wins over a layout's bare tag. */
static void test_storage_lookup(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	char id[65];
	memset(id, 'a', 64);
	id[64] = '\0';
	char *storage = kfs_path_join(f.dir, "storage"), *conf = kfs_path_join(f.dir, "storage.conf");
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "[{\"id\":\"%s\",\"digest\":\"sha256:%064d\",\"names\":"
			   "[\"localhost/app:v7\"]}]", id, 7);
	tu_write(storage, "overlay-images/images.json", b.data);
	kfs_buf_reset(&b);
	kfs_buf_printf(&b, "[storage]\ndriver = \"overlay\"\ngraphroot = \"%s\"\n", storage);
	tu_write(f.dir, "storage.conf", b.data);
	kfs_buf_reset(&b);
	kfs_buf_printf(&b, "%s/sha256-%s", f.cache, id);
	tu_write(b.data, "rootfs/marker", "storage");
	tu_write(b.data, "config.json", "{\"config\":{\"Cmd\":[\"from-storage\"]}}");
	struct kfs_buf layer = {0};
	assert_true(it_tar(&layer, base_layer, 7, IT_GZIP));
	it_layout(f.layout, "v7", &layer, 1, NULL, NULL);
	setenv("CONTAINERS_STORAGE_CONF", conf, 1);
	f.o.use_storage = true;
	struct kfs_image *img = get_ok(&f.o, "app:v7");
	assert_string_equal(img->digest + 7, id);
	assert_string_equal(img->cmd[0], "from-storage");
	kfs_image_free(img);
	img = get_ok(&f.o, "other:v7"); /* the layout's bare tag */
	assert_string_equal(img->cmd[0], "run");
	kfs_image_free(img);
	char ref[120];
	snprintf(ref, sizeof(ref), "whatever@sha256:%064d", 7); /* its manifest digest */
	img = get_ok(&f.o, ref);
	assert_string_equal(img->digest + 7, id);
	kfs_image_free(img);
	get_fails(&f.o, "app:v8", -ENOENT, storage);
	unsetenv("CONTAINERS_STORAGE_CONF");
	kfs_buf_free(&b);
	kfs_buf_free(&layer);
	free(storage);
	free(conf);
	fx_free(&f);
}

/* A multi-platform image: index.json names an image index, whose entry for linux on this
 * machine's architecture is the image. */
static void test_platform_index(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf layer = {0};
	assert_true(it_tar(&layer, base_layer, 7, IT_GZIP));
	char cfg[KFS_DIGEST_LEN], man[KFS_DIGEST_LEN], idx[KFS_DIGEST_LEN];
	it_layout(f.layout, NULL, &layer, 1, cfg, man);
	struct utsname u;
	assert_int_equal(uname(&u), 0);
	const char *arch = strcmp(u.machine, "aarch64") == 0 ? "arm64" : "amd64";
	char missing[KFS_DIGEST_LEN];
	kfs_sha256_digest("no such manifest", 16, missing);
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
			   "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
			   "\"digest\":\"%s\",\"platform\":{\"architecture\":\"s390x\",\"os\":\"linux\"}},"
			   "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
			   "\"platform\":{\"architecture\":\"%s\",\"os\":\"linux\"}}]}", missing, man, arch);
	it_blob(f.layout, b.data, b.len, idx);
	kfs_buf_reset(&b);
	kfs_buf_printf(&b, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci."
			   "image.index.v1+json\",\"digest\":\"%s\",\"annotations\":{\"org.opencontainers."
			   "image.ref.name\":\"quay.io/org/multi:2\"}}]}", idx);
	tu_write(f.layout, "index.json", b.data);
	struct kfs_image *img = get_ok(&f.o, "quay.io/org/multi:2");
	assert_string_equal(img->digest, cfg);
	kfs_image_free(img);
	kfs_buf_free(&b);
	kfs_buf_free(&layer);
	fx_free(&f);
}

static ino_t ino_of_fd(int fd)
{
	struct stat st;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	return st.st_ino;
}

/* Paths resolved inside a root, by openat2 and by the user-space walk used where it is missing
 * (older kernels, valgrind): links followed with the root as "/", ".." stopping at it. */
static void test_resolve_in_root(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	free(tu_sh("cd '%s' && mkdir -p root/usr/lib && cd root && ln -s usr/lib lib && "
		   "ln -s /usr abs && ln -s ../../.. up && ln -s loop loop && ln -s nope dangling && "
		   "ln -s /lib/../../usr twisty", dir));
	char *root = kfs_path_join(dir, "root"), *usr = kfs_path_join(root, "usr");
	char *lib = kfs_path_join(usr, "lib");
	int rootfd = open(root, O_RDONLY | O_DIRECTORY);
	struct stat sr, su, sl;
	assert_int_equal(stat(root, &sr), 0);
	assert_int_equal(stat(usr, &su), 0);
	assert_int_equal(stat(lib, &sl), 0);
	int (*open_fns[2])(int, const char *) = {img_open_in_root_walk, img_open_in_root};
	for (int i = 0; i < 2; i++) {
		int (*op)(int, const char *) = open_fns[i];
		assert_int_equal(ino_of_fd(op(rootfd, "lib")), sl.st_ino);
		assert_int_equal(ino_of_fd(op(rootfd, "abs")), su.st_ino);
		assert_int_equal(ino_of_fd(op(rootfd, "abs/lib")), sl.st_ino);
		assert_int_equal(ino_of_fd(op(rootfd, "up")), sr.st_ino);
		assert_int_equal(ino_of_fd(op(rootfd, "up/usr/./lib/")), sl.st_ino);
		assert_int_equal(ino_of_fd(op(rootfd, "../../usr")), su.st_ino);
		assert_int_equal(ino_of_fd(op(rootfd, "twisty")), su.st_ino);
		errno = 0;
		assert_int_equal(op(rootfd, "loop"), -1);
		assert_int_equal(errno, ELOOP);
		assert_int_equal(op(rootfd, "dangling"), -1);
		assert_int_equal(errno, ENOENT);
	}
	close(rootfd);
	free(root);
	free(usr);
	free(lib);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oci_layout),
		cmocka_unit_test(test_whiteouts),
		cmocka_unit_test(test_hostile_layers),
		cmocka_unit_test(test_digest_mismatch),
		cmocka_unit_test(test_cache_reuse),
		cmocka_unit_test(test_archives),
		cmocka_unit_test(test_archive_diff_id_mismatch),
		cmocka_unit_test(test_ref_matching),
		cmocka_unit_test(test_find_by_digest_and_tag),
		cmocka_unit_test(test_concurrent_unpack),
		cmocka_unit_test(test_cache_repair),
		cmocka_unit_test(test_remembered_lookups),
		cmocka_unit_test(test_storage_lookup),
		cmocka_unit_test(test_resolve_in_root),
		cmocka_unit_test(test_platform_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
