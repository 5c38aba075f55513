#!/bin/bash
# -o git_push=REMOTE, checked with the real git CLI: a local bare remote, `git daemon` on
# 127.0.0.1 (down, then back), someone else's commit on the remote, and two daemons with their
# own state pushing 100 requests each to one remote at the same time: the remote ends with all
# 200 requests' files and every commit of both daemons in its history.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || { echo "SKIP: git is missing"; exit 77; }
[ -x "$(git --exec-path)/git-daemon" ] || { echo "SKIP: git daemon is missing"; exit 77; }

SRV=$WORK/srv
REMOTE=$SRV/remote.git
GD_PID=
PORT=
MNT2=$WORK/mnt2
DAEMON2_PID=
HTTP_PID=
mkdir -p "$SRV" "$MNT2"

stop_all() {
	if mountpoint -q "$MNT2" 2>/dev/null; then
		fusermount3 -u "$MNT2" 2>/dev/null || fusermount3 -uz "$MNT2" 2>/dev/null
	fi
	[ -n "$DAEMON2_PID" ] && kill "$DAEMON2_PID" 2>/dev/null
	[ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
	stop_git_daemon
	cleanup
}
trap stop_all EXIT

R() { git --git-dir="$REMOTE" "$@"; }
L() { git --git-dir="$REPO" "$@"; }
same_head() { [ "$(R rev-parse -q --verify main)" = "$(L rev-parse -q --verify main)" ]; }
pushed() { grep -qx 'pushed: true' "$MNT/requests/$1/status.yaml"; }
fresh_request() {
	mkdir "$1/requests/$2" && request "$2" "$3" >"$1/requests/$2/object.yaml"
}

# start_git_daemon [PORT]: git daemon on 127.0.0.1 serving $SRV, on PORT or a free one.
start_git_daemon() {
	local want=${1:-} try port
	for try in $(seq 20); do
		port=${want:-$((20000 + RANDOM % 40000))}
		git daemon --reuseaddr --enable=receive-pack --export-all --base-path="$SRV" \
			--listen=127.0.0.1 --port="$port" "$SRV" >>"$WORK/git-daemon.log" 2>&1 &
		GD_PID=$!
		for _ in $(seq 100); do
			kill -0 "$GD_PID" 2>/dev/null || break
			if git ls-remote "git://127.0.0.1:$port/remote.git" >/dev/null 2>&1; then
				PORT=$port
				return 0
			fi
			sleep 0.05
		done
		stop_git_daemon
		[ -n "$want" ] && [ "$try" -ge 5 ] && break
		[ -n "$want" ] && sleep 0.5
	done
	fail "git daemon: no port to listen on"
	cat "$WORK/git-daemon.log" >&2
	return 1
}
stop_git_daemon() {
	if [ -n "$GD_PID" ]; then
		kill "$GD_PID" 2>/dev/null
		wait "$GD_PID" 2>/dev/null
	fi
	GD_PID=
}

git init -q --bare -b main "$REMOTE"
git --git-dir="$REMOTE" config core.logAllRefUpdates always
# A WorkPlacement's name by Kratix's rules: the Work (buildWorkIdentifier, then five characters:
# kratixfs takes them from the identifier's md5), ".<destination>-", shortID(md5(directory)).
wp() { printf '%s-%s.default-5058f' "$1" "$(printf %s "$1" | md5sum | cut -c1-5)"; }
rq() { wp "postgresql-$1-my-namespace-instance-configure"; }

# --- a local bare remote: a path ---------------------------------------------------------------
REPO=$WORK/local.git
mount_fs -o "git=$REPO,git_push=$REMOTE"
fresh_request "$MNT" p1 medium
check "path remote: the remote gets the local head" wait_for 10000 same_head
check "path remote: status.yaml says pushed: true" wait_for 5000 pushed p1
check_eq "path remote: Pushed condition True" \
	"$(grep -A1 'type: Pushed' "$MNT/requests/p1/status.yaml" | awk '/status:/{print $2}')" '"True"'
check_eq "path remote: the remote's log is kratixfs's" \
	"$(R log --format='%an %s' main | tr '\n' '|')" \
	"kratix Update from: $(rq p1)|kratix Update from: $(wp postgresql-promise-configure)|"
git clone -q "$REMOTE" "$WORK/clone" 2>"$WORK/err"
check_eq "path remote: a clone of the remote has the request's files" \
	"$(ls "$WORK/clone/default/resources/my-namespace/postgresql/p1/instance-configure/5058f" | tr '\n' ' ')" \
	"secret.yaml service.yaml statefulset.yaml "
check "path remote: the clone's statefulset is p1's" \
	grep -q 'name: p1$' "$WORK/clone/default/resources/my-namespace/postgresql/p1/instance-configure/5058f/statefulset.yaml"

# Someone else pushes to the remote: kratixfs fetches, re-applies its change on top, pushes.
echo "Hands off default/: kratixfs writes it." >"$WORK/clone/README.md"
git -C "$WORK/clone" add README.md
git -C "$WORK/clone" -c user.name=Ops -c user.email=ops@example.com commit -q -m "Add a README"
git -C "$WORK/clone" push -q origin main 2>"$WORK/err"
human=$(git -C "$WORK/clone" rev-parse HEAD)
fresh_request "$MNT" p2 small
check "diverged remote: kratixfs's change lands on the remote" wait_for 10000 sh -c \
	"git --git-dir='$REMOTE' cat-file -e main:default/resources/my-namespace/postgresql/p2/instance-configure/5058f/statefulset.yaml"
check "diverged remote: the other commit is kept in the history" \
	R merge-base --is-ancestor "$human" main
check "diverged remote: README.md is still there" R cat-file -e main:README.md
check_eq "diverged remote: the re-applied commit keeps its message and author" \
	"$(R log -1 --format='%an %s' main)" "kratix Update from: $(rq p2)"
check "diverged remote: the local branch follows the remote" wait_for 10000 same_head
check "diverged remote: p2 is pushed" wait_for 5000 pushed p2
check_eq "diverged remote: history is linear" "$(R rev-list --min-parents=2 --count main)" "0"
check "unmount: the daemon exits 0" unmount_fs

# --- git daemon on 127.0.0.1 ---------------------------------------------------------------------
start_git_daemon || { finish; exit 1; }
URL=git://127.0.0.1:$PORT/remote.git
REPO=$WORK/net.git
STATE=$WORK/state-net
mkdir -p "$STATE"
mount_fs -o "git=$REPO,git_push=$URL"
fresh_request "$MNT" n1 large
check "git daemon: the remote gets the local head" wait_for 10000 same_head
check "git daemon: the remote keeps the earlier history" R merge-base --is-ancestor "$human" main
check "git daemon: n1 is pushed" wait_for 5000 pushed n1
check "git daemon: the earlier daemon's request is still on the remote" \
	R cat-file -e main:default/resources/my-namespace/postgresql/p1/instance-configure/5058f/service.yaml

stop_git_daemon
fresh_request "$MNT" n2 small
check_eq "remote down: the commit is made anyway" "$(L log -1 --format=%s main)" \
	"Update from: $(rq n2)"
check "remote down: Pushed turns False with a reason" wait_for 10000 \
	grep -q 'reason: PushFailed' "$MNT/requests/n2/status.yaml"
check_grep "remote down: the reason names the remote" "$MNT/requests/n2/status.yaml" "$URL"
check_eq "remote down: status.yaml says pushed: false" \
	"$(grep '^pushed:' "$MNT/requests/n2/status.yaml")" "pushed: false"
# More requests than the daemon remembers commits by number (64), and a promise that changes
# while the daemon is down: the restart commits them all in one batch, and once the remote is
# back they must all say pushed.
for i in $(seq 1 70); do
	fresh_request "$MNT" "m$i" small
done
check "remote down: unmount" unmount_fs
sed -i 's/image: postgres:16/image: postgres:17/' \
	"$PROMISES/postgresql/workflows/resource/configure/instance-configure/postgresql-configure/values.yaml"
mount_fs -o "git=$REPO,git_push=$URL"
check "remote down, after a restart: the push fails again" wait_for 10000 \
	grep -q 'reason: PushFailed' "$MNT/requests/n2/status.yaml"
check_eq "remote down, after a restart: n2 is still not pushed" \
	"$(grep '^pushed:' "$MNT/requests/n2/status.yaml")" "pushed: false"
check_eq "remote down, after a restart: neither is n1, whose commit the remote has" \
	"$(grep '^pushed:' "$MNT/requests/n1/status.yaml")" "pushed: false"
check_grep "remote down, after a restart: the root says pushed: false" "$MNT/status.yaml" \
	"pushed: false"
sleep 1
start_git_daemon "$PORT" || { finish; exit 1; }
check "remote back: the backoff retry pushes n2" wait_for 30000 same_head
check "remote back: n2 is pushed" wait_for 5000 pushed n2
all_pushed() { ! grep -L '^pushed: true' "$MNT"/requests/*/status.yaml | grep -q .; }
check "remote back: every request recovered in the batch is pushed" wait_for 10000 all_pushed
check "unmount: the daemon exits 0" unmount_fs

# --- a remote with credentials in its URL: they never reach status.yaml or the log -------------
REPO=$WORK/secret.git
STATE=$WORK/state-secret
mkdir -p "$STATE"
mount_fs -o "git=$REPO,git_push=http://kratix:s3cr3t-t0ken@127.0.0.1:1/state.git"
fresh_request "$MNT" s1 small
check "credentials: the push fails (nothing listens on port 1)" wait_for 10000 \
	grep -q 'reason: PushFailed' "$MNT/requests/s1/status.yaml"
check_grep "credentials: the reason names the remote, masked" "$MNT/requests/s1/status.yaml" \
	"http://***@127.0.0.1:1/state.git"
check "credentials: not in the request's status.yaml" \
	sh -c "! grep -q s3cr3t '$MNT/requests/s1/status.yaml'"
check "credentials: not in the root status.yaml" sh -c "! grep -q s3cr3t '$MNT/status.yaml'"
check "unmount: the daemon exits 0" unmount_fs
check "credentials: not in the log" sh -c "! grep -q s3cr3t '$WORK/daemon.log'"

# --- HTTP with basic auth, the user and token in the URL as a Git host takes them --------------
python3 "$(dirname "$0")/git-http-server.py" "$SRV" kratix:t0ken-0k "$WORK/http.port" \
	2>>"$WORK/http.log" &
HTTP_PID=$!
wait_for 10000 test -s "$WORK/http.port"
HTTP_URL="127.0.0.1:$(cat "$WORK/http.port")/remote.git"
REPO=$WORK/http.git
STATE=$WORK/state-http
mkdir -p "$STATE"
mount_fs -o "git=$REPO,git_push=http://kratix:wr0ng-t0ken@$HTTP_URL"
fresh_request "$MNT" t1 small
check "http, a wrong token: the push fails" wait_for 10000 \
	grep -q 'reason: PushFailed' "$MNT/requests/t1/status.yaml"
check_grep "http, a wrong token: the reason names the remote, masked" \
	"$MNT/requests/t1/status.yaml" "http://***@$HTTP_URL"
check_grep "http, a wrong token: the server refused it" "$WORK/http.log" '" 401 '
check_grep "http, a wrong token: the reason says what to check" "$MNT/requests/t1/status.yaml" \
	"the server refused the user and token in the URL: check them"
check "unmount: the daemon exits 0" unmount_fs
mount_fs -o "git=$REPO,git_push=http://kratix:t0ken-0k@$HTTP_URL"
check "http, the right token: t1 reaches the remote" wait_for 30000 \
	R cat-file -e main:default/resources/my-namespace/postgresql/t1/instance-configure/5058f/service.yaml
check "http, the right token: t1 is pushed" wait_for 10000 pushed t1
check "unmount: the daemon exits 0" unmount_fs
check "http: neither token is in the log" \
	sh -c "! grep -q -e wr0ng-t0ken -e t0ken-0k '$WORK/daemon.log'"
kill "$HTTP_PID"
wait "$HTTP_PID" 2>/dev/null
HTTP_PID=

# --- an SSH remote: sshd on 127.0.0.1, a key in ~/.ssh, the host key in known_hosts ------------
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
if [ -x "$SSHD" ] && command -v ssh-keygen >/dev/null; then
	SSH=$WORK/ssh
	mkdir -p "$SSH/home/.ssh" /run/sshd
	chmod 700 "$SSH/home/.ssh"
	ssh-keygen -q -t ed25519 -N '' -f "$SSH/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$SSH/home/.ssh/id_ed25519"
	cp "$SSH/home/.ssh/id_ed25519.pub" "$SSH/authorized_keys"
	SSH_PORT=$((20000 + RANDOM % 40000))
	# Passwords allowed too, as sshd's default: kratixfs must still offer its keys.
	cat >"$SSH/sshd_config" <<-EOF
		ListenAddress 127.0.0.1
		Port $SSH_PORT
		HostKey $SSH/host_key
		AuthorizedKeysFile $SSH/authorized_keys
		PasswordAuthentication yes
		KbdInteractiveAuthentication no
		PermitRootLogin yes
		StrictModes no
		UsePAM no
		PidFile $SSH/sshd.pid
	EOF
	"$SSHD" -D -e -f "$SSH/sshd_config" 2>>"$SSH/sshd.log" &
	SSHD_PID=$!
	for _ in $(seq 100); do
		(echo >/dev/tcp/127.0.0.1/$SSH_PORT) 2>/dev/null && break
		sleep 0.05
	done
	# No user in the URL: ssh's default, the local user's name, as libgit2 asks for it first.
	SSH_URL="ssh://127.0.0.1:$SSH_PORT$SRV/remote.git"
	REAL_HOME=$HOME
	export HOME=$SSH/home # the daemon's ~/.ssh
	REPO=$WORK/ssh.git
	STATE=$WORK/state-ssh
	mkdir -p "$STATE"
	# libgit2 1.5 leaks libssh2's known-hosts list on every SSH connection (libgit2 issue
	# #6598, fixed in 1.7): the sanitizer build's leak check is off for this daemon only.
	REAL_ASAN_OPTIONS=${ASAN_OPTIONS-}
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	mount_fs -o "git=$REPO,git_push=$SSH_URL"
	export ASAN_OPTIONS=$REAL_ASAN_OPTIONS
	fresh_request "$MNT" h1 small
	check "ssh, unknown host: the push is refused" wait_for 10000 \
		grep -q 'reason: PushFailed' "$MNT/requests/h1/status.yaml"
	check_grep "ssh, unknown host: the reason says what to do" "$MNT/requests/h1/status.yaml" \
		"is not in ~/.ssh/known_hosts"
	check "ssh, unknown host: the remote does not have h1" sh -c \
		"! git --git-dir='$REMOTE' cat-file -e main:default/resources/my-namespace/postgresql/h1/instance-configure/5058f/service.yaml 2>/dev/null"
	echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1-2 "$SSH/host_key.pub")" >"$SSH/home/.ssh/known_hosts"
	# The next retry of the backoff (at most a few seconds after the first failures) pushes.
	check "ssh, known host and key: h1 reaches the remote" wait_for 30000 sh -c \
		"git --git-dir='$REMOTE' cat-file -e main:default/resources/my-namespace/postgresql/h1/instance-configure/5058f/service.yaml"
	check "ssh, known host and key: h1 is pushed" wait_for 10000 pushed h1
	check "unmount: the daemon exits 0" unmount_fs
	export HOME=$REAL_HOME
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
else
	echo "ok   - ssh: skipped, no sshd (Debian's openssh-server)"
fi

# --- two daemons, their own state, one remote, 100 requests each at the same time --------------
# two_daemons LABEL URL A B: daemons A and B (also the requests' prefixes) push to URL.
two_daemons() {
	local what=$1 url=$2 a=$3 b=$4 start wa wb bad missing notpushed i p m
	REPO=$WORK/$a.git
	STATE=$WORK/state-$a
	mkdir -p "$STATE" "$WORK/state-$b"
	mount_fs -o "git=$REPO,git_push=$url"
	"$KRATIXFS" -f -o "promises=$PROMISES,state=$WORK/state-$b,git=$WORK/$b.git,git_push=$url" \
		"$MNT2" >>"$WORK/daemon2.log" 2>&1 &
	DAEMON2_PID=$!
	for _ in $(seq 100); do mountpoint -q "$MNT2" && break; sleep 0.05; done
	check "$what: second daemon mounted" mountpoint -q "$MNT2"
	: >"$WORK/errors"
	start=$(date +%s%N)
	writer "$MNT" "$a" &
	wa=$!
	writer "$MNT2" "$b" &
	wb=$!
	wait "$wa" "$wb"
	check_eq "$what: 200 writes succeed" "$(cat "$WORK/errors")" ""
	check "$what: the remote ends with all 200 requests and both daemons' heads" \
		wait_for 120000 settled "$a" "$b"
	echo "     ($what: settled $((($(date +%s%N) - start) / 1000000)) ms after the first" \
		"write; remote: $(R rev-list --count main) commits)"
	check_eq "$what: every request's three files are on the remote" \
		"$(R ls-tree -r --name-only main -- default/resources/my-namespace/postgresql |
			grep -c "/postgresql/\($a\|$b\)-[0-9]*/")" "600"
	bad=""
	for i in 1 50 100; do
		for p in "$a" "$b"; do
			m=$MNT
			[ "$p" = "$b" ] && m=$MNT2
			R show "main:default/resources/my-namespace/postgresql/$p-$i/instance-configure/5058f/statefulset.yaml" |
				cmp -s - "$m/requests/$p-$i/output/statefulset.yaml" || bad="$bad $p-$i"
		done
	done
	check_eq "$what: the remote's files are what the mounts render" "$bad" ""
	R log --format=%B main | grep "^Update from: postgresql-\($a\|$b\)-" | sort >"$WORK/remote-lines"
	missing=""
	for i in $(seq 1 100); do
		for p in "$a" "$b"; do
			grep -qx "Update from: $(rq "$p-$i")" "$WORK/remote-lines" || missing="$missing $p-$i"
		done
	done
	check_eq "$what: every request's Update line is in the remote's log" "$missing" ""
	check_eq "$what: no Update line twice" "$(uniq -d "$WORK/remote-lines" | wc -l)" "0"
	check "$what: the earlier history is kept" R merge-base --is-ancestor "$human" main
	check "$what: the earlier daemons' requests stay" \
		R cat-file -e main:default/resources/my-namespace/postgresql/n2/instance-configure/5058f/service.yaml
	check_eq "$what: history is linear" "$(R rev-list --min-parents=2 --count main)" "0"
	check_eq "$what: the branch only ever moved forward (reflog)" "$(non_ff)" ""
	check_eq "$what: every commit is kratix's or the README's" \
		"$(R log --format='%an' main | sort -u | tr '\n' ' ')" "Ops kratix "
	check "$what: git fsck on the remote" R fsck --strict --no-dangling --no-progress
	notpushed=0
	for i in $(seq 1 100); do
		grep -qx 'pushed: true' "$MNT/requests/$a-$i/status.yaml" ||
			notpushed=$((notpushed + 1))
	done
	check_eq "$what: status.yaml says pushed: true for all of $a's requests" "$notpushed" "0"
	check "$what: and for $b's" wait_for 10000 \
		sh -c "! grep -L '^pushed: true' '$MNT2'/requests/$b-*/status.yaml | grep -q ."
	fusermount3 -u "$MNT2"
	check "$what: the second daemon exits 0" wait "$DAEMON2_PID"
	DAEMON2_PID=
	check "unmount: the daemon exits 0" unmount_fs
}
# writer MNT PREFIX [N]: N requests (100), one after the other.
writer() {
	local mnt=$1 prefix=$2 i
	for i in $(seq 1 "${3:-100}"); do
		fresh_request "$mnt" "$prefix-$i" small || echo "$prefix-$i failed" >>"$WORK/errors"
	done
}
# The remote has both daemons' last commits once each local head is in its history.
settled() {
	[ "$(R ls-tree -r --name-only main -- default/resources/my-namespace/postgresql |
		grep -c "/postgresql/\($1\|$2\)-[0-9]*/.*/statefulset.yaml$")" = 200 ] &&
		R merge-base --is-ancestor "$(git --git-dir="$WORK/$1.git" rev-parse main)" main &&
		R merge-base --is-ancestor "$(git --git-dir="$WORK/$2.git" rev-parse main)" main
}
# Every move of the remote's branch whose old head is not in the new head's history.
non_ff() {
	local prev="" h
	R reflog show --format=%H main | tac | while read -r h; do
		[ -n "$prev" ] && ! R merge-base --is-ancestor "$prev" "$h" && echo "$prev..$h"
		prev=$h
	done
}

# libgit2 moves a path remote's branch by force: kratixfs must not lose the other's commits.
two_daemons "path remote" "$REMOTE" c d
two_daemons "git daemon" "$URL" a b

# --- two daemons writing into one aggregatedYAML file: each keeps the other's parts ------------
cat >"$WORK/agg-dests.yaml" <<'EOF'
apiVersion: platform.kratix.io/v1alpha1
kind: Destination
metadata: {name: all, labels: {environment: dev}}
spec: {path: agg, filepath: {mode: aggregatedYAML}}
EOF
REPO=$WORK/e.git
STATE=$WORK/state-e
mkdir -p "$STATE" "$WORK/state-f"
mount_fs -o "git=$REPO,git_push=$REMOTE,destinations=$WORK/agg-dests.yaml"
"$KRATIXFS" -f -o "promises=$PROMISES,state=$WORK/state-f,git=$WORK/f.git,git_push=$REMOTE" \
	-o "destinations=$WORK/agg-dests.yaml" "$MNT2" >>"$WORK/daemon2.log" 2>&1 &
DAEMON2_PID=$!
for _ in $(seq 100); do mountpoint -q "$MNT2" && break; sleep 0.05; done
: >"$WORK/errors"
writer "$MNT" e 20 &
wa=$!
writer "$MNT2" f 20 &
wb=$!
wait "$wa" "$wb"
check_eq "aggregatedYAML, two daemons: 40 writes succeed" "$(cat "$WORK/errors")" ""
agg_settled() {
	[ "$(R show main:agg/aggregated.yaml 2>/dev/null | grep -c '^kind: StatefulSet$')" = 40 ] &&
		R merge-base --is-ancestor "$(git --git-dir="$WORK/e.git" rev-parse main)" main &&
		R merge-base --is-ancestor "$(git --git-dir="$WORK/f.git" rev-parse main)" main
}
check "aggregatedYAML, two daemons: the remote's file has all 40 requests' parts" \
	wait_for 60000 agg_settled
R show main:agg/aggregated.yaml >"$WORK/agg-all.yaml"
missing=""
for i in $(seq 1 20); do
	for p in e f; do
		grep -qx "  name: $p-$i" "$WORK/agg-all.yaml" || missing="$missing $p-$i"
	done
done
check_eq "aggregatedYAML, two daemons: every request's StatefulSet is in it" "$missing" ""
check_eq "aggregatedYAML, two daemons: none twice" \
	"$(grep -c '^kind: StatefulSet$' "$WORK/agg-all.yaml")" "40"
rm -rf "$MNT/requests/e-1" "$MNT2/requests/f-1"
gone() { ! R show main:agg/aggregated.yaml | grep -q -e '^  name: e-1$' -e '^  name: f-1$'; }
check "aggregatedYAML, two daemons: rm -rf on each removes just that part" wait_for 30000 gone
check_eq "aggregatedYAML, two daemons: the other 38 stay" \
	"$(R show main:agg/aggregated.yaml | grep -c '^kind: StatefulSet$')" "38"
fusermount3 -u "$MNT2"
check "aggregatedYAML, two daemons: the second daemon exits 0" wait "$DAEMON2_PID"
DAEMON2_PID=
check "unmount: the daemon exits 0" unmount_fs
finish
