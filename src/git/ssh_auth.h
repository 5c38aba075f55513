/* libgit2 callbacks for pushing over SSH (push.c). Private to src/git.
 *
 *   struct ctx { struct kfs_ssh_auth auth; ... } c = {.auth = {.remote = url}};
 *   callbacks.credentials = kfs_ssh_credentials_cb;
 *   callbacks.certificate_check = kfs_ssh_hostkey_cb;
 *   callbacks.payload = &c;          (the auth part must come first)
 *
 * Keys: the ssh-agent's, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa; a URL without a user takes the
 * local user's name. Host keys: refused unless ~/.ssh/known_hosts or /etc/ssh/ssh_known_hosts
 * lists them (read with ssh-keygen -F). HTTP(S): the user and token in the URL, which libgit2
 * offers itself; a refusal is said plainly. */
#ifndef KRATIXFS_GIT_SSH_AUTH_H
#define KRATIXFS_GIT_SSH_AUTH_H

#include <git2.h>

struct kfs_ssh_auth {
	const char *remote; /* as given to -o git_push: its port picks the known_hosts name */
	int key_tries;	    /* keys offered so far in this connection: reset before each one */
};

int kfs_ssh_credentials_cb(git_credential **out, const char *url, const char *user,
			   unsigned int allowed, void *payload);
int kfs_ssh_hostkey_cb(git_cert *cert, int valid, const char *host, void *payload);

#endif
