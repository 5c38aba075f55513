# Shared by the mount tests: a temp mount of the built binary with its own state folder and a
# copy of the bundled promises, unmounted on every exit path, and assertions that say what broke.
set -u
: "${KRATIXFS:?set KRATIXFS to the built kratixfs}" "${SOURCE_ROOT:?set SOURCE_ROOT}"

if [ ! -c /dev/fuse ]; then
	echo "SKIP: /dev/fuse is missing"
	exit 77
fi

WORK=$(mktemp -d /tmp/kratixfs-mount.XXXXXX)
MNT=$WORK/mnt
STATE=$WORK/state
PROMISES=$WORK/promises
SEED=$SOURCE_ROOT/templates/postgresql/example-resource.yaml
GOLDEN=$SOURCE_ROOT/templates/postgresql/test-output
mkdir -p "$MNT" "$STATE"
cp -r "$SOURCE_ROOT/templates" "$PROMISES"
DAEMON_PID=
PASSES=0
FAILS=0

cleanup() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null ||
			umount -l "$MNT" 2>/dev/null
	fi
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		sleep 0.5
		kill -9 "$DAEMON_PID" 2>/dev/null
	fi
	if [ "$FAILS" -ne 0 ] && [ -s "$WORK/daemon.log" ]; then
		echo "--- daemon log:" >&2
		tail -n 40 "$WORK/daemon.log" >&2
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

pass() { echo "ok   - $1"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL - $1" >&2; FAILS=$((FAILS + 1)); }

# mount_fs [OPTIONS...]: mounts in the foreground (in the background of this shell) and waits.
mount_fs() {
	"$KRATIXFS" -f -o "promises=$PROMISES,state=$STATE" "$@" "$MNT" >>"$WORK/daemon.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "mount: $MNT is not mounted"
	cat "$WORK/daemon.log" >&2
	exit 1
}

# unmount_fs: fusermount3 -u and wait for the daemon; its exit status is the function's.
unmount_fs() {
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
	local rc=0
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	if [ "$rc" -ne 0 ]; then
		echo "the daemon exited with status $rc; its log's errors and last lines:" >&2
		grep -E ' error |Sanitizer|runtime error|^    #[0-9]' "$WORK/daemon.log" | head -n 40 >&2
		tail -n 5 "$WORK/daemon.log" >&2
	fi
	return $rc
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@" >"$WORK/out" 2>"$WORK/err"; then pass "$what"; else
		fail "$what"
		sed 's/^/    | /' "$WORK/out" "$WORK/err" | head -n 60 >&2
	fi
}

# check_fails DESCRIPTION COMMAND...: passes when COMMAND fails; stderr is in $WORK/err.
check_fails() {
	local what=$1
	shift
	if "$@" >"$WORK/out" 2>"$WORK/err"; then fail "$what (it succeeded)"; else pass "$what"; fi
}

# check_eq DESCRIPTION GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', wanted '$3'"; fi
}

# check_grep DESCRIPTION FILE PATTERN: FILE contains the fixed string PATTERN.
check_grep() {
	if grep -qF -- "$3" "$2" 2>/dev/null; then pass "$1"; else
		fail "$1: '$3' not in $2"
		sed 's/^/    | /' "$2" 2>/dev/null | head -n 20 >&2
	fi
}

# A request like the seed, named $1, of size $2.
request() {
	sed -e "s/^  name: my-db/  name: $1/" -e "s/size: medium/size: $2/" "$SEED"
}

# wait_for MILLISECONDS COMMAND...: polls COMMAND; true once it succeeds.
wait_for() {
	# A sanitizer build is several times slower: make test-tsan scales the waits.
	local ms=$(($1 * ${KFS_WAIT_SCALE:-1}))
	shift
	local end=$(($(date +%s%N) + ms * 1000000))
	while [ "$(date +%s%N)" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.02
	done
	"$@" >/dev/null 2>&1
}

finish() {
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}
