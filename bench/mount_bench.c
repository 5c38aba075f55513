/* bench-mount: the timed loops of bench/mount, in C so that no shell or process start is inside a
 * sample. Each mode prints "key value" lines (times in microseconds) that bench/mount reads.
 *
 *   write-read MOUNT TEMPLATE N PREFIX
 *	per request PREFIX-<i>: mkdir requests/PREFIX-<i> (not timed), then timed: open
 *	object.yaml (O_CREAT|O_TRUNC), write, close, open output/statefulset.yaml, read, close.
 *   write-read-made MOUNT TEMPLATE N PREFIX
 *	the same without the mkdir: requests/PREFIX-<i> exist already (bench/mount counts the FUSE
 *	requests of the write and read alone with it).
 *   spawn-read WORKDIR TEMPLATE N OUTPUT CMD [ARG...]
 *	the same work done by a process per request, as a pipeline does it: WORKDIR/r<i>/input and
 *	output/ are made (not timed), then timed: write input/object.yaml, run CMD (every "{}" in
 *	its arguments and $KRATIX_DIR are the request's folder), wait, read OUTPUT, close.
 *   read-loop FILE N
 *	open, read to the end, close, N times.
 *   fstat-loop FILE N
 *	fstat of one open file, N times: on the mount, one FUSE round trip (a GETATTR) each.
 *   fill MOUNT TEMPLATE N THREADS PREFIX
 *	THREADS writers, each creating its share of N requests (mkdir, write object.yaml, close);
 *	the wall time of the whole and the time of each request.
 *
 * TEMPLATE is a request whose "@NAME@" is replaced by the request's name. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "samples.h"
#include "kratixfs/buf.h"

#define MAX_N	      10000000
#define OUTPUT_FILE   "output/statefulset.yaml"
#define NAME_TOKEN    "@NAME@"
#define READ_BUF_SIZE 65536

extern char **environ;

static void print_stats(uint64_t *samples, size_t n, uint64_t total_ns)
{
	qsort(samples, n, sizeof(*samples), cmp_u64);
	printf("n %zu\n", n);
	printf("median_us %.2f\n", percentile_us(samples, n, 50));
	printf("p90_us %.2f\n", percentile_us(samples, n, 90));
	printf("p99_us %.2f\n", percentile_us(samples, n, 99));
	printf("max_us %.2f\n", (double)samples[n - 1] / 1000.0);
	printf("total_s %.3f\n", (double)total_ns / 1e9);
	printf("per_s %.0f\n", (double)n * 1e9 / (double)total_ns);
}

static int parse_n(const char *s, const char *what, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > MAX_N) {
		fprintf(stderr, "bench-mount: %s: \"%s\" is not a number in 1..%d\n", what, s,
			MAX_N);
		return -EINVAL;
	}
	*out = (size_t)v;
	return 0;
}

/* The whole file at path, NUL-terminated. */
static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bench-mount: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	struct kfs_buf b = {0};
	char chunk[4096];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		kfs_buf_add(&b, chunk, (size_t)n);
	close(fd);
	if (n < 0 || b.len == 0) {
		fprintf(stderr, "bench-mount: %s: empty or unreadable\n", path);
		kfs_buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return kfs_buf_steal(&b);
}

/* The template with every NAME_TOKEN replaced by name. */
static void fill_template(struct kfs_buf *out, const char *tmpl, const char *name)
{
	kfs_buf_reset(out);
	const char *p = tmpl, *hit;
	while ((hit = strstr(p, NAME_TOKEN))) {
		kfs_buf_add(out, p, (size_t)(hit - p));
		kfs_buf_adds(out, name);
		p = hit + strlen(NAME_TOKEN);
	}
	kfs_buf_adds(out, p);
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes a whole file and reports close()'s verdict too: on the mount that is the render's. */
static int put_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = write_all(fd, data, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Reads a file to its end; returns its size or a negative errno. */
static ssize_t read_to_end(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n, total = 0;
	while ((n = read(fd, buf, size)) > 0)
		total += n;
	int rc = n < 0 ? -errno : 0;
	close(fd);
	return rc < 0 ? rc : total;
}

/* made: the request folders exist already, so no mkdir is called. */
static int mode_write_read(char **argv, bool made)
{
	const char *mnt = argv[0], *prefix = argv[3];
	size_t n, len;
	if (parse_n(argv[2], "N", &n) < 0)
		return EXIT_FAILURE;
	char *tmpl = slurp(argv[1], &len);
	if (!tmpl)
		return EXIT_FAILURE;
	uint64_t *samples = kfs_xcalloc(n, sizeof(*samples));
	char *rbuf = kfs_xmalloc(READ_BUF_SIZE);
	struct kfs_buf body = {0}, path = {0}, name = {0};
	int status = EXIT_FAILURE;
	uint64_t total = 0;
	ssize_t got = 0;
	for (size_t i = 0; i < n; i++) {
		kfs_buf_reset(&name);
		kfs_buf_printf(&name, "%s-%zu", prefix, i);
		fill_template(&body, tmpl, name.data);
		kfs_buf_reset(&path);
		kfs_buf_printf(&path, "%s/requests/%s", mnt, name.data);
		if (!made && mkdir(path.data, 0755) < 0) {
			fprintf(stderr, "bench-mount: mkdir %s: %s\n", path.data, strerror(errno));
			goto out;
		}
		size_t dir_len = path.len;
		kfs_buf_adds(&path, "/object.yaml");
		uint64_t t0 = now_ns();
		int rc = put_file(path.data, body.data, body.len);
		if (rc == 0) {
			path.len = dir_len;
			kfs_buf_adds(&path, "/" OUTPUT_FILE);
			got = read_to_end(path.data, rbuf, READ_BUF_SIZE);
			rc = got < 0 ? (int)got : got == 0 ? -ENODATA : 0;
		}
		samples[i] = now_ns() - t0;
		total += samples[i];
		if (rc < 0) {
			fprintf(stderr, "bench-mount: %s: %s\n", path.data, strerror(-rc));
			goto out;
		}
	}
	print_stats(samples, n, total);
	printf("output_bytes %zd\n", got);
	status = EXIT_SUCCESS;
out:
	kfs_buf_free(&body);
	kfs_buf_free(&path);
	kfs_buf_free(&name);
	free(rbuf);
	free(samples);
	free(tmpl);
	return status;
}

/* argv for one run: every "{}" replaced by dir. */
static char **spawn_argv(char **cmd, int ncmd, const char *dir)
{
	char **out = kfs_xcalloc((size_t)ncmd + 1, sizeof(*out));
	for (int i = 0; i < ncmd; i++)
		out[i] = kfs_xstrdup(strcmp(cmd[i], "{}") == 0 ? dir : cmd[i]);
	return out;
}

/* environ with KRATIX_DIR=dir in front (getenv finds the first). */
static char **spawn_env(const char *kratix_var)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = kfs_xcalloc(n + 2, sizeof(*env));
	env[0] = (char *)kratix_var;
	memcpy(env + 1, environ, n * sizeof(*env));
	return env;
}

static int run_once(char **argv, char **env)
{
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, env);
	if (rc != 0)
		return -rc;
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : -ECHILD;
}

static int mode_spawn_read(int argc, char **argv)
{
	const char *work = argv[0], *output = argv[3];
	size_t n, len;
	if (parse_n(argv[2], "N", &n) < 0)
		return EXIT_FAILURE;
	char *tmpl = slurp(argv[1], &len);
	if (!tmpl)
		return EXIT_FAILURE;
	char **cmd = argv + 4;
	int ncmd = argc - 4;
	uint64_t *samples = kfs_xcalloc(n, sizeof(*samples));
	char *rbuf = kfs_xmalloc(READ_BUF_SIZE);
	struct kfs_buf body = {0}, dir = {0}, path = {0}, var = {0}, name = {0};
	int status = EXIT_FAILURE;
	uint64_t total = 0;
	ssize_t got = 0;
	for (size_t i = 0; i < n; i++) {
		kfs_buf_reset(&name);
		kfs_buf_printf(&name, "r%zu", i);
		fill_template(&body, tmpl, "my-db");
		kfs_buf_reset(&dir);
		kfs_buf_printf(&dir, "%s/%s", work, name.data);
		kfs_buf_reset(&path);
		kfs_buf_printf(&path, "%s/input", dir.data);
		int rc = 0;
		if (mkdir(dir.data, 0755) < 0 || mkdir(path.data, 0755) < 0)
			rc = -errno;
		kfs_buf_reset(&path);
		kfs_buf_printf(&path, "%s/output", dir.data);
		if (rc == 0 && mkdir(path.data, 0755) < 0)
			rc = -errno;
		if (rc < 0) {
			fprintf(stderr, "bench-mount: mkdir %s: %s\n", path.data, strerror(-rc));
			goto out;
		}
		kfs_buf_reset(&var);
		kfs_buf_printf(&var, "KRATIX_DIR=%s", dir.data);
		char **av = spawn_argv(cmd, ncmd, dir.data);
		char **env = spawn_env(var.data);

		uint64_t t0 = now_ns();
		kfs_buf_reset(&path);
		kfs_buf_printf(&path, "%s/input/object.yaml", dir.data);
		rc = put_file(path.data, body.data, body.len);
		if (rc == 0)
			rc = run_once(av, env);
		if (rc == 0) {
			kfs_buf_reset(&path);
			kfs_buf_printf(&path, "%s/%s", dir.data, output);
			got = read_to_end(path.data, rbuf, READ_BUF_SIZE);
			rc = got < 0 ? (int)got : got == 0 ? -ENODATA : 0;
		}
		samples[i] = now_ns() - t0;
		total += samples[i];

		for (int k = 0; k < ncmd; k++)
			free(av[k]);
		free(av);
		free(env);
		if (rc < 0) {
			fprintf(stderr, "bench-mount: %s: %s\n", rc == -ECHILD ? cmd[0] : path.data,
				rc == -ECHILD ? "exited with an error" : strerror(-rc));
			goto out;
		}
	}
	print_stats(samples, n, total);
	printf("output_bytes %zd\n", got);
	status = EXIT_SUCCESS;
out:
	kfs_buf_free(&body);
	kfs_buf_free(&dir);
	kfs_buf_free(&path);
	kfs_buf_free(&var);
	kfs_buf_free(&name);
	free(rbuf);
	free(samples);
	free(tmpl);
	return status;
}

static int mode_read_loop(char **argv)
{
	size_t n;
	if (parse_n(argv[1], "N", &n) < 0)
		return EXIT_FAILURE;
	char *rbuf = kfs_xmalloc(READ_BUF_SIZE);
	uint64_t *samples = kfs_xcalloc(n, sizeof(*samples));
	int status = EXIT_FAILURE;
	ssize_t got = 0;
	/* Warm-up: the page cache and the daemon's threads reach their steady state. */
	for (size_t i = 0; i < n / 10 + 1; i++)
		if ((got = read_to_end(argv[0], rbuf, READ_BUF_SIZE)) <= 0)
			goto fail;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		got = read_to_end(argv[0], rbuf, READ_BUF_SIZE);
		samples[i] = now_ns() - t0;
		total += samples[i];
		if (got <= 0)
			goto fail;
	}
	print_stats(samples, n, total);
	printf("bytes %zd\n", got);
	status = EXIT_SUCCESS;
	goto out;
fail:
	fprintf(stderr, "bench-mount: %s: %s\n", argv[0], got < 0 ? strerror((int)-got) : "empty");
out:
	free(samples);
	free(rbuf);
	return status;
}

static int mode_fstat_loop(char **argv)
{
	size_t n;
	if (parse_n(argv[1], "N", &n) < 0)
		return EXIT_FAILURE;
	int fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bench-mount: %s: %s\n", argv[0], strerror(errno));
		return EXIT_FAILURE;
	}
	uint64_t *samples = kfs_xcalloc(n, sizeof(*samples));
	int status = EXIT_FAILURE;
	struct stat st;
	for (size_t i = 0; i < n / 10 + 1; i++)
		if (fstat(fd, &st) < 0)
			goto fail;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		int rc = fstat(fd, &st);
		samples[i] = now_ns() - t0;
		total += samples[i];
		if (rc < 0)
			goto fail;
	}
	print_stats(samples, n, total);
	status = EXIT_SUCCESS;
	goto out;
fail:
	fprintf(stderr, "bench-mount: fstat %s: %s\n", argv[0], strerror(errno));
out:
	close(fd);
	free(samples);
	return status;
}

struct filler {
	const char *mnt, *tmpl, *prefix;
	size_t first, step, n; /* requests first, first + step, ... below n */
	uint64_t *samples;     /* one per request, at its index */
	pthread_barrier_t *start;
	int rc;
	char failed[512];
};

static void *fill_thread(void *arg)
{
	struct filler *f = arg;
	struct kfs_buf body = {0}, path = {0}, name = {0};
	pthread_barrier_wait(f->start);
	for (size_t i = f->first; i < f->n && f->rc == 0; i += f->step) {
		kfs_buf_reset(&name);
		kfs_buf_printf(&name, "%s-%zu", f->prefix, i);
		fill_template(&body, f->tmpl, name.data);
		kfs_buf_reset(&path);
		kfs_buf_printf(&path, "%s/requests/%s", f->mnt, name.data);
		uint64_t t0 = now_ns();
		int rc = mkdir(path.data, 0755) < 0 ? -errno : 0;
		if (rc == 0) {
			kfs_buf_adds(&path, "/object.yaml");
			rc = put_file(path.data, body.data, body.len);
		}
		f->samples[i] = now_ns() - t0;
		if (rc < 0) {
			f->rc = rc;
			snprintf(f->failed, sizeof(f->failed), "%s: %s", path.data, strerror(-rc));
		}
	}
	kfs_buf_free(&body);
	kfs_buf_free(&path);
	kfs_buf_free(&name);
	return NULL;
}

static int mode_fill(char **argv)
{
	size_t n, nthreads, len;
	if (parse_n(argv[2], "N", &n) < 0 || parse_n(argv[3], "THREADS", &nthreads) < 0)
		return EXIT_FAILURE;
	char *tmpl = slurp(argv[1], &len);
	if (!tmpl)
		return EXIT_FAILURE;
	uint64_t *samples = kfs_xcalloc(n, sizeof(*samples));
	struct filler *f = kfs_xcalloc(nthreads, sizeof(*f));
	pthread_t *tids = kfs_xcalloc(nthreads, sizeof(*tids));
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1);
	for (size_t t = 0; t < nthreads; t++) {
		f[t] = (struct filler){.mnt = argv[0],
				       .tmpl = tmpl,
				       .prefix = argv[4],
				       .first = t,
				       .step = nthreads,
				       .n = n,
				       .samples = samples,
				       .start = &start};
		pthread_create(&tids[t], NULL, fill_thread, &f[t]);
	}
	pthread_barrier_wait(&start);
	uint64_t t0 = now_ns();
	for (size_t t = 0; t < nthreads; t++)
		pthread_join(tids[t], NULL);
	uint64_t total = now_ns() - t0;
	int status = EXIT_SUCCESS;
	for (size_t t = 0; t < nthreads; t++) {
		if (f[t].rc < 0) {
			fprintf(stderr, "bench-mount: %s\n", f[t].failed);
			status = EXIT_FAILURE;
		}
	}
	if (status == EXIT_SUCCESS) {
		print_stats(samples, n, total);
		printf("threads %zu\n", nthreads);
	}
	pthread_barrier_destroy(&start);
	free(tids);
	free(f);
	free(samples);
	free(tmpl);
	return status;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "write-read") == 0 && argc == 6)
		return mode_write_read(argv + 2, false);
	if (strcmp(mode, "write-read-made") == 0 && argc == 6)
		return mode_write_read(argv + 2, true);
	if (strcmp(mode, "spawn-read") == 0 && argc >= 7)
		return mode_spawn_read(argc - 2, argv + 2);
	if (strcmp(mode, "read-loop") == 0 && argc == 4)
		return mode_read_loop(argv + 2);
	if (strcmp(mode, "fstat-loop") == 0 && argc == 4)
		return mode_fstat_loop(argv + 2);
	if (strcmp(mode, "fill") == 0 && argc == 7)
		return mode_fill(argv + 2);
	fprintf(stderr,
		"usage: %s write-read MOUNT TEMPLATE N PREFIX\n"
		"       %s write-read-made MOUNT TEMPLATE N PREFIX\n"
		"       %s spawn-read WORKDIR TEMPLATE N OUTPUT CMD [ARG...]\n"
		"       %s read-loop FILE N\n"
		"       %s fstat-loop FILE N\n"
		"       %s fill MOUNT TEMPLATE N THREADS PREFIX\n",
		argv[0], argv[0], argv[0], argv[0], argv[0], argv[0]);
	return EXIT_FAILURE;
}
