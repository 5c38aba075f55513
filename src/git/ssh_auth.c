/* SSH for push remotes: keys offered as ssh offers them, host keys checked as ssh checks them. */
#include "ssh_auth.h"

#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kratixfs/buf.h"

/* The home folder of the user the daemon runs as: $HOME, else the password database (a systemd
 * service may have no $HOME). */
static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	if (home && *home)
		return home;
	struct passwd *pw = getpwuid(geteuid());
	return pw ? pw->pw_dir : NULL;
}

/* Whether a URL has a user (and maybe a token) before its host. */
static bool url_has_user(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *at = strchr(p, '@'), *slash = strchr(p, '/');
	return at && (!slash || at < slash);
}

/* SSH keys, as ssh offers them: the agent's, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa. libgit2
 * asks again after each refusal. HTTP(S) takes the user and token written in the URL: libgit2
 * offers those itself, and asks here only when the server refused them, or wants some. */
int kfs_ssh_credentials_cb(git_credential **out, const char *url, const char *user,
			   unsigned int allowed, void *data)
{
	struct kfs_ssh_auth *a = data;
	static const char *const keys[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
	const char *home = home_dir();
	if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) {
		git_error_set_str(GIT_ERROR_HTTP,
				  url_has_user(url)
				      ? "the server refused the user and token in the URL: check "
					"them, and that the token may push"
				      : "the server asks for a user and token: write them in the "
					"URL, as https://user:token@host/org/repo.git");
		return GIT_EAUTH;
	}
	/* A URL without a user: ssh's default, the local user's name. */
	struct passwd *pw = getpwuid(geteuid());
	const char *me = pw && pw->pw_name ? pw->pw_name : "git";
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user && *user ? user : me);
	if (!(allowed & GIT_CREDENTIAL_SSH_KEY))
		return GIT_PASSTHROUGH;
	if (!user || !*user)
		user = me;
	while (a->key_tries <= 3) {
		int t = a->key_tries++;
		if (t == 0) {
			if (getenv("SSH_AUTH_SOCK"))
				return git_credential_ssh_key_from_agent(out, user);
			continue;
		}
		char priv[PATH_MAX], pub[PATH_MAX + 4];
		snprintf(priv, sizeof(priv), "%s/.ssh/%s", home ? home : "", keys[t - 1]);
		snprintf(pub, sizeof(pub), "%s.pub", priv);
		if (home && access(priv, R_OK) == 0)
			return git_credential_ssh_key_new(out, user,
							  access(pub, R_OK) == 0 ? pub : NULL, priv,
							  NULL);
	}
	git_error_set_str(GIT_ERROR_SSH, "no SSH key was accepted (tried the ssh-agent, and "
					 "~/.ssh/id_ed25519, id_ecdsa, id_rsa)");
	return GIT_EAUTH;
}

/* The port of an ssh:// remote, 22 for host:path. */
static unsigned ssh_port(const char *remote)
{
	const char *p = strstr(remote, "://");
	if (!p)
		return 22;
	p += 3;
	const char *slash = strchr(p, '/'), *at = strchr(p, '@');
	if (at && (!slash || at < slash))
		p = at + 1;
	if (*p == '[')
		p = strchr(p, ']') ? strchr(p, ']') + 1 : p;
	else
		while (*p && *p != ':' && *p != '/')
			p++;
	return *p == ':' ? (unsigned)atoi(p + 1) : 22;
}

/* Whether known_hosts file lists key (base64) for name, asked of ssh-keygen -F, which knows
 * hashed names and [host]:port; *no_keygen is set when ssh-keygen cannot be run. */
static bool known_host(const char *file, const char *name, const char *key, bool *no_keygen)
{
	if (access(file, R_OK) != 0)
		return false;
	int fds[2];
	if (pipe(fds) != 0)
		return false;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	/* Not the push thread's blocked SIGPIPE: ssh-keygen gets the default signal mask. */
	posix_spawnattr_t at;
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	char *argv[] = {"ssh-keygen", "-F", (char *)name, "-f", (char *)file, NULL};
	pid_t pid;
	int rc = posix_spawnp(&pid, "ssh-keygen", &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		*no_keygen = true;
	close(fds[1]);
	struct kfs_buf text = {0};
	char chunk[4096];
	ssize_t n;
	while (rc == 0 && (n = read(fds[0], chunk, sizeof(chunk))) > 0)
		kfs_buf_add(&text, chunk, (size_t)n);
	close(fds[0]);
	if (rc == 0)
		waitpid(pid, NULL, 0);
	bool found = false;
	for (char *line = text.data, *next; !found && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* "names keytype key [comment]"; "@revoked" and "@cert-authority" lines are not
		 * plain keys. */
		char names[1024], type[64], k[8192];
		found = line[0] != '#' && line[0] != '@' &&
			sscanf(line, "%1023s %63s %8191s", names, type, k) == 3 && strcmp(k, key) == 0;
	}
	kfs_buf_free(&text);
	return found;
}

/* SSH host keys are checked against known_hosts, as ssh does with StrictHostKeyChecking: an
 * unknown host is refused. TLS certificates get libgit2's own check. */
int kfs_ssh_hostkey_cb(git_cert *cert, int valid, const char *host, void *data)
{
	struct kfs_ssh_auth *a = data;
	(void)valid;
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return GIT_PASSTHROUGH;
	const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
	if (!(hk->type & GIT_CERT_SSH_RAW) || strspn(host, "abcdefghijklmnopqrstuvwxyz"
						       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") !=
						   strlen(host)) {
		git_error_set_str(GIT_ERROR_SSH, "the server sent no host key that can be checked "
						 "against known_hosts (or the host name is not plain)");
		return GIT_ECERTIFICATE;
	}
	struct kfs_buf key = {0}, name = {0}, file = {0};
	kfs_buf_base64(&key, hk->hostkey, hk->hostkey_len);
	unsigned port = ssh_port(a->remote);
	if (port == 22)
		kfs_buf_adds(&name, host);
	else
		kfs_buf_printf(&name, "[%s]:%u", host, port);
	const char *home = home_dir();
	if (home)
		kfs_buf_printf(&file, "%s/.ssh/known_hosts", home);
	bool no_keygen = false;
	bool ok = (home && known_host(file.data, name.data, key.data, &no_keygen)) ||
		  known_host("/etc/ssh/ssh_known_hosts", name.data, key.data, &no_keygen);
	if (!ok && no_keygen) {
		git_error_set_str(GIT_ERROR_SSH, "cannot run ssh-keygen to read known_hosts: "
						 "install openssh-client");
	} else if (!ok) {
		char scan[32] = "";
		if (port != 22)
			snprintf(scan, sizeof(scan), "-p %u ", port);
		kfs_buf_reset(&file);
		kfs_buf_printf(&file,
			       "the host key of %s is not in ~/.ssh/known_hosts nor "
			       "/etc/ssh/ssh_known_hosts: check it, then add it (ssh-keyscan %s%s)",
			       name.data, scan, host);
		git_error_set_str(GIT_ERROR_SSH, file.data);
	}
	kfs_buf_free(&key);
	kfs_buf_free(&name);
	kfs_buf_free(&file);
	return ok ? 0 : GIT_ECERTIFICATE;
}
