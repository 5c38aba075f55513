#!/bin/bash
# -o git=REPO, checked with the real git CLI: what `git clone` shows, the log's messages and
# authors, fsck, no commit for the same content, `Delete from:` on rm -rf, close() returning only
# once the commit exists, a restart that commits nothing, and -o git_branch.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || { echo "SKIP: git is missing"; exit 77; }

REPO=$WORK/state.git
G() { git --git-dir="$REPO" "$@"; }
count() { G rev-list --count main 2>/dev/null || echo 0; }
DIR=default/resources/my-namespace/postgresql/my-db/instance-configure/5058f
DEPS=default/dependencies/postgresql
# A WorkPlacement's name by Kratix's rules: the Work (buildWorkIdentifier, then five characters:
# kratixfs takes them from the identifier's md5), ".<destination>-", shortID(md5(directory)).
wp() { printf '%s-%s.%s-%s' "$1" "$(printf %s "$1" | md5sum | cut -c1-5)" "${2:-default}" "${3:-5058f}"; }
rq() { wp "postgresql-$1-${2:-my-namespace}-instance-configure"; }

mount_fs -o "git=$REPO"
check "the bare repository is created" test -f "$REPO/HEAD"
check_eq "it is bare" "$(G rev-parse --is-bare-repository)" "true"
wait_for 5000 G rev-parse -q --verify main
check_eq "loading the promise commits its dependencies" "$(G log -1 --format=%s main)" \
	"Update from: $(wp postgresql-promise-configure)"
check_eq "... one line per WorkPlacement, the canary files' last" "$(G log -1 --format=%B main | grep .)" \
	"Update from: $(wp postgresql-promise-configure)
Update from: $(wp postgresql-static-deps)
Update from: kratix-canary"
check "promise workflow outputs under dependencies/<promise>/<pipeline>/5058f" \
	G cat-file -e "main:$DEPS/promise-configure/5058f/serviceaccount.yaml"
check "spec.dependencies under dependencies/<promise>/5058f/static" \
	G cat-file -e "main:$DEPS/5058f/static/postgresql-dependencies.yaml"
n0=$(count)

mkdir "$MNT/requests/my-db"
check_eq "mkdir alone commits nothing" "$(count)" "$n0"
cp "$SEED" "$MNT/requests/my-db/object.yaml"
# No wait: close() returns only once the commit exists.
check_eq "the commit exists when cp returns" "$(G log -1 --format=%s main)" "Update from: $(rq my-db)"
check_eq "one commit for one request" "$(count)" "$((n0 + 1))"
check_eq "status.yaml commit is the branch head" \
	"$(awk '/^commit:/{print $2}' "$MNT/requests/my-db/status.yaml")" "$(G rev-parse main)"
check_eq "phase is Committed" "$(cat "$MNT/requests/my-db/phase")" "Committed"

late=""
for i in $(seq 1 20); do
	mkdir "$MNT/requests/c$i"
	request "c$i" small >"$MNT/requests/c$i/object.yaml"
	G cat-file -e "main:default/resources/my-namespace/postgresql/c$i/instance-configure/5058f/statefulset.yaml" \
		2>/dev/null || late="$late c$i"
	G log -1 --format=%s main | grep -qx "Update from: $(rq "c$i")" || late="$late c$i(message)"
done
check_eq "20 writes in a row: each commit is there when the shell's > returns" "$late" ""
n1=$(count)

git clone -q "$REPO" "$WORK/clone" 2>"$WORK/err"
check_eq "git clone checks out main" "$(git -C "$WORK/clone" rev-parse --abbrev-ref HEAD)" "main"
check "clone: the request's files under <path>/resources/<ns>/<promise>/<request>/<pipeline>/5058f" \
	diff -r "$GOLDEN/my-db/output" "$WORK/clone/$DIR"
check "clone: the promise workflow's files match the golden promise case" \
	diff -r "$GOLDEN/promise/output" "$WORK/clone/$DEPS/promise-configure/5058f"
check_eq "clone: metadata/status.yaml is never committed" \
	"$(cd "$WORK/clone" && git ls-files | grep -c 'status.yaml')" "0"
check_eq "clone: the canary files, as Kratix writes them" \
	"$(cat "$WORK/clone/default/dependencies/kratix-canary-namespace.yaml" \
		"$WORK/clone/default/resources/kratix-canary-configmap.yaml")" \
	"apiVersion: v1
kind: Namespace
metadata:
  name: kratix-worker-system
spec: {}
status: {}
apiVersion: v1
data:
  canary: this confirms your infrastructure is reading from Kratix state stores
kind: ConfigMap
metadata:
  name: kratix-info
  namespace: kratix-worker-system"
check_eq "clone: nothing outside default/" \
	"$(cd "$WORK/clone" && git ls-files | grep -cv '^default/')" "0"

check_eq "every author and committer is kratix <>, Kratix's default gitAuthor" \
	"$(G log --format='%an <%ae>|%cn <%ce>' main | sort -u)" \
	"kratix <>|kratix <>"
check_eq "every message is Update from: <WorkPlacement>" \
	"$(G log --format=%B main | grep -v '^$' | grep -cv '^Update from: ')" "0"
check_eq "history is linear" "$(G rev-list --min-parents=2 --count main)" "0"

cp "$SEED" "$MNT/requests/my-db/object.yaml"
check_eq "cp of the same content: no commit" "$(count)" "$n1"
sh -c "cat '$SEED' > '$MNT/requests/my-db/object.yaml'"
check_eq "> of the same content: no commit" "$(count)" "$n1"
check "touch object.yaml: no error" touch "$MNT/requests/my-db/object.yaml"
check_eq "touch: no commit" "$(count)" "$n1"

request my-db small >"$MNT/requests/my-db/object.yaml"
check_eq "a change: one commit" "$(count)" "$((n1 + 1))"
check_eq "the change's message" "$(G log -1 --format=%s main)" "Update from: $(rq my-db)"
check_eq "the change touches only my-db's files" \
	"$(G diff --name-only main~1 main | grep -cv "^$DIR/")" "0"
check_grep "the committed statefulset has replicas: 1" <(G show "main:$DIR/statefulset.yaml") \
	"replicas: 1"

mkdir "$MNT/requests/nons"
request nons small | grep -v 'namespace:' >"$MNT/requests/nons/object.yaml"
check "a request without a namespace goes to resources/default/" \
	G cat-file -e "main:default/resources/default/postgresql/nons/instance-configure/5058f/service.yaml"

n2=$(count)
before=$(G rev-parse main)
rm -rf "$MNT/requests/my-db"
check_eq "rm -rf: one commit" "$(count)" "$((n2 + 1))"
check_eq "rm -rf: Delete from: <its WorkPlacement>" "$(G log -1 --format=%s main)" \
	"Delete from: $(rq my-db)"
check_eq "rm -rf: it deletes exactly the three files" \
	"$(G diff --name-status "$before" main | sort | tr '\t\n' ' ')" \
	"D $DIR/secret.yaml D $DIR/service.yaml D $DIR/statefulset.yaml "
check_eq "rm -rf: the request's folder is gone from the tree" \
	"$(G ls-tree -r --name-only main | grep -c '/my-db/')" "0"
check "rm -rf: the other requests stay" \
	G cat-file -e "main:default/resources/my-namespace/postgresql/c1/instance-configure/5058f/secret.yaml"
git -C "$WORK/clone" pull -q --ff-only 2>"$WORK/err"
check_eq "git pull in the clone removes the folder" "$(test -e "$WORK/clone/$DIR" && echo yes)" ""
check_eq "the Delete commit is kratix's too" "$(G log -1 --format='%an <%ae>' main)" \
	"kratix <>"

check "git fsck --strict is clean" G fsck --strict --no-dangling --no-progress
check_eq "git fsck prints nothing" "$(cat "$WORK/out" "$WORK/err")" ""

# A restart renders every request again: the same bytes, so no commit.
n3=$(count)
head3=$(G rev-parse main)
check "unmount: the daemon exits 0" unmount_fs
mount_fs -o "git=$REPO"
check_eq "restart: the head did not move" "$(G rev-parse main)" "$head3"
check_eq "restart: no commit" "$(count)" "$n3"
check_eq "restart: status.yaml still names a commit" \
	"$(grep -c '^commit: [0-9a-f]\{40\}$' "$MNT/requests/c1/status.yaml")" "1"
request c1 large >"$MNT/requests/c1/object.yaml"
check_eq "restart: a change after it commits again" "$(G log -1 --format=%s main)" \
	"Update from: $(rq c1)"
check "git fsck after the restart" G fsck --strict --no-dangling --no-progress
check "unmount: the daemon exits 0" unmount_fs

# -o git_branch: another branch, which HEAD names so that a clone checks it out.
REPO2=$WORK/branch.git
STATE=$WORK/state-branch
mkdir -p "$STATE"
mount_fs -o "git=$REPO2,git_branch=deploy"
mkdir "$MNT/requests/b1"
request b1 medium >"$MNT/requests/b1/object.yaml"
check_eq "git_branch: the branch holds the commit" \
	"$(git --git-dir="$REPO2" log -1 --format=%s deploy)" "Update from: $(rq b1)"
check_fails "git_branch: no main branch" git --git-dir="$REPO2" rev-parse -q --verify main
git clone -q "$REPO2" "$WORK/clone2" 2>"$WORK/err"
check "git_branch: git clone checks it out with the files" \
	test -f "$WORK/clone2/default/resources/my-namespace/postgresql/b1/instance-configure/5058f/statefulset.yaml"
check "unmount: the daemon exits 0" unmount_fs

# A branch locked by another git process: renders are still published, status.yaml says why the
# commit failed (the request's and the promise's), and the background retry commits them once the
# lock is gone.
REPO3=$WORK/locked.git
STATE=$WORK/state-locked
mkdir -p "$STATE"
git init -q --bare -b main "$REPO3"
touch "$REPO3/refs/heads/main.lock"
# Kept fresh, as a live git process's would be: kratixfs removes a lock only once it is stale.
(while [ -e "$REPO3/refs/heads/main.lock" ]; do touch "$REPO3/refs/heads/main.lock"; sleep 0.3; done) &
TOUCHER=$!
mount_fs -o "git=$REPO3"
PROMISE_OUTPUTS=$(ls "$MNT/promises/postgresql/output" | tr '\n' ' ')
check_grep "locked: the promise's status.yaml says why" \
	"$MNT/promises/postgresql/status.yaml" "commitError"
mkdir "$MNT/requests/l1"
check "locked: writing the request succeeds" \
	sh -c "cat '$SEED' | sed 's/name: my-db/name: l1/' >'$MNT/requests/l1/object.yaml'"
check "locked: the outputs are published" test -s "$MNT/requests/l1/output/statefulset.yaml"
check_eq "locked: the phase stays Rendered" "$(cat "$MNT/requests/l1/phase")" "Rendered"
check_grep "locked: Committed is False with the reason" "$MNT/requests/l1/status.yaml" \
	"reason: CommitFailed"
check_grep "locked: the reason says the branch is locked" "$MNT/requests/l1/status.yaml" "locked"
kill "$TOUCHER"
wait "$TOUCHER" 2>/dev/null
rm "$REPO3/refs/heads/main.lock"
check "unlocked: the retry commits the request" wait_for 30000 \
	git --git-dir="$REPO3" cat-file -e "main:default/resources/my-namespace/postgresql/l1/instance-configure/5058f/statefulset.yaml"
check "unlocked: the phase turns Committed" wait_for 10000 \
	grep -qx Committed "$MNT/requests/l1/phase"
check "unlocked: the promise's dependencies are committed" \
	git --git-dir="$REPO3" cat-file -e "main:$DEPS/promise-configure/5058f/serviceaccount.yaml"
check "unlocked: the promise's commitError is gone" wait_for 10000 \
	sh -c "! grep -q commitError '$MNT/promises/postgresql/status.yaml'"
check_eq "unlocked: the promise's outputs are still there" \
	"$(ls "$MNT/promises/postgresql/output" | tr '\n' ' ')" "$PROMISE_OUTPUTS"
check "unmount: the daemon exits 0" unmount_fs

# A bad branch name stops the mount with a message that names it.
"$KRATIXFS" -f -o "promises=$PROMISES,state=$STATE,git=$WORK/bad.git,git_branch=a..b" "$MNT" \
	>"$WORK/bad.log" 2>&1 &
bad=$!
for _ in $(seq 100); do kill -0 "$bad" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$bad" 2>/dev/null; then
	fail "git_branch=a..b: the daemon is still running"
	fusermount3 -u "$MNT" 2>/dev/null
	kill "$bad" 2>/dev/null
else
	pass "git_branch=a..b: the daemon exits"
fi
wait "$bad" 2>/dev/null
check_grep "git_branch=a..b: the message names the option" "$WORK/bad.log" "git_branch=a..b"
finish
