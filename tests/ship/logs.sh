#!/bin/bash
# The daemon's log: one line per event with its fields, on stderr in the foreground (timestamp,
# level), to syslog once daemonized; -o log_level=; never a secret; SIGHUP reloads, SIGTERM and
# SIGINT unmount cleanly; the source argument and mount(8)'s options as fstab passes them.
. "$(dirname "$0")/lib.sh"
: "${KRATIXFS:?set KRATIXFS to the built kratixfs}"
need_root_fuse
MNT=$WORK/mnt
PROMISES=$WORK/promises
SEED=$SOURCE_ROOT/templates/postgresql/example-resource.yaml
mkdir -p "$MNT"
cp -r "$SOURCE_ROOT/templates" "$PROMISES"
# A field whose name says secret: its value must never reach a log line.
sed -i 's/^\( *\)database:$/\1adminPassword:\n\1  type: string\n\1  pattern: ^[a-z]+$\n&/' \
	"$PROMISES/postgresql/promise.yaml"
at_exit "fusermount3 -uz '$MNT'"
DAEMON=

# start LOG ARGS...: kratixfs -f in the background, logging to LOG; waits for the mount.
start() {
	local log=$1
	shift
	"$KRATIXFS" -f "$@" "$MNT" 2>"$log" &
	DAEMON=$!
	wait_for 5000 mountpoint -q "$MNT" || { fail "mount ($*)"; cat "$log" >&2; exit 1; }
}
# stop SIGNAL: the daemon's exit status after SIGNAL (or an unmount when SIGNAL is "umount").
stop() {
	if [ "$1" = umount ]; then fusermount3 -u "$MNT"; else kill -s "$1" "$DAEMON"; fi
	local rc=0
	wait "$DAEMON" || rc=$?
	return $rc
}

LOG=$WORK/fg.log
start "$LOG" "$PROMISES" -o "state=$WORK/s1,git=$WORK/git,nofail,_netdev,noauto,x-systemd.automount" \
	-o "git_push=https://bob:Tok3nSecret@127.0.0.1:9/state.git"
check "SOURCE is the promises folder, mount(8)'s options are ignored" \
	grep -q "^$PROMISES $MNT fuse.kratixfs " /proc/mounts
R=$MNT/requests/my-db
mkdir "$R"
cp "$SEED" "$R/object.yaml"
sed 's/size: medium/size: huge/' "$SEED" >"$WORK/bad.yaml"
cp "$WORK/bad.yaml" "$R/object.yaml" 2>/dev/null
sed 's/^spec:/spec:\n  adminPassword: Hunter2Secret/' "$SEED" >"$WORK/secret.yaml"
cp "$WORK/secret.yaml" "$R/object.yaml" 2>/dev/null
kill -HUP "$DAEMON"
check "SIGHUP re-reads the promises" wait_for 2000 grep -q "reload trigger=SIGHUP" "$LOG"
check "SIGTERM unmounts cleanly: exit 0" stop TERM
check "  ... nothing is left mounted" eval "! mountpoint -q '$MNT'"

TS='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{4} '
check "every line has a timestamp and a level" \
	eval "! grep -Ev '${TS}(error|warn|info|debug) ' '$LOG'"
check "start: mount point, promises, state, git" grep -Eq \
	"${TS}info start .*mountpoint=$MNT promises=$PROMISES state=$WORK/s1 git=$WORK/git " "$LOG"
check "render: request, promise, generation, outputs, phase, duration" grep -Eq \
	"${TS}info render request=my-db promise=postgresql generation=1 outputs=3 phase=Committed duration=[0-9.]+ms$" \
	"$LOG"
check "rejection: request, duration, the reason" grep -Eq \
	"${TS}warn reject request=my-db duration=[0-9.]+ms error=\".*spec.size: must be one of small, medium, large" \
	"$LOG"
check "commit: request, commit, duration" grep -Eq \
	"${TS}info commit request=my-db commit=[0-9a-f]{12} changed duration=[0-9.]+ms$" "$LOG"
check "push: its result" grep -Eq "${TS}warn push result=failed" "$LOG"
check "stop: the mount point and why" grep -Eq "${TS}info stop mountpoint=$MNT reason=SIGTERM$" "$LOG"
check "a rejected secret field is logged" grep -q "reject request=my-db .*adminPassword" "$LOG"
check_no_grep "  ... without its value" "$LOG" "Hunter2Secret"
check_no_grep "the credentials of -o git_push are never logged" "$LOG" "Tok3nSecret"
check_grep "  ... but the remote is" "$LOG" "https://***@127.0.0.1:9/state.git"

LOG=$WORK/quiet.log
start "$LOG" -o "promises=$PROMISES,state=$WORK/s2,log_level=warn"
mkdir "$R" && cp "$SEED" "$R/object.yaml" && cp "$WORK/bad.yaml" "$R/object.yaml" 2>/dev/null
check "SIGINT unmounts cleanly: exit 0" stop INT
check "-o log_level=warn keeps the rejection" grep -q " warn reject request=my-db" "$LOG"
check_no_grep "  ... and drops the renders" "$LOG" " info "

LOG=$WORK/debug.log
start "$LOG" -o "promises=$PROMISES,state=$WORK/s2,log_level=debug"
check "fusermount3 -u: exit 0" stop umount
check "  ... logged as unmounted" grep -q " info stop mountpoint=$MNT reason=unmounted" "$LOG"

check "-o log_level=loud is refused" eval "! '$KRATIXFS' -f -o log_level=loud '$MNT' 2>'$WORK/err'"
check_grep "  ... naming the levels" "$WORK/err" "log_level=loud: must be one of error, warn, info, debug"
check "two sources are refused" eval "! '$KRATIXFS' -f -o promises=/x '$PROMISES' '$MNT' 2>'$WORK/err'"
check_grep "  ... saying so" "$WORK/err" "name different folders"

check "daemonized, a state store that cannot open: exit 1" \
	eval "! '$KRATIXFS' -o 'state=$WORK/s4,git=/proc/none/x' '$MNT' 2>'$WORK/err'"
check_grep "  ... and the reason reaches the terminal from the background child" "$WORK/err" \
	"git /proc/none/x: opening or creating the bare repository"
check "  ... nothing is mounted" eval "! mountpoint -q '$MNT'"

# Daemonized: the lines go to syslog. The test runs in a private mount namespace with its own
# /dev holding a /dev/log socket that a small reader records, and /dev/fuse and /dev/null.
if command -v python3 >/dev/null && command -v unshare >/dev/null; then
	cat >"$WORK/syslog.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(5)
with open(sys.argv[1], "wb") as f:
    open(sys.argv[1] + ".ready", "w").close()
    try:
        while True:
            f.write(s.recv(8192) + b"\n")
            f.flush()
    except OSError:
        pass
PY
	SYSLOG=$WORK/syslog
	unshare -m --propagation private bash -c '
		set -e
		mount -t tmpfs tmpfs /dev
		mknod -m 666 /dev/fuse c 10 229
		mknod -m 666 /dev/null c 1 3
		python3 "$1/syslog.py" "$2" &
		for _ in $(seq 100); do [ -e "$2.ready" ] && break; sleep 0.05; done
		"$3" -o "promises=$4,state=$1/s3,git=$1/git3" "$5" 2>"$1/bg.err"
		mkdir "$5/requests/my-db"
		cp "$6" "$5/requests/my-db/object.yaml"
		fusermount3 -u "$5"
		for _ in $(seq 100); do grep -q " stop " "$2" && break; sleep 0.05; done
	' _ "$WORK" "$SYSLOG" "$KRATIXFS" "$PROMISES" "$MNT" "$SEED" >"$WORK/ns.out" 2>&1
	check "daemonized: start goes to syslog as kratixfs, facility daemon" \
		grep -Eq '^<30>.* kratixfs\[[0-9]+\]: info start ' "$SYSLOG"
	check "  ... so do the render" grep -q "kratixfs\[[0-9]*\]: info render request=my-db" "$SYSLOG"
	check "  ... and the commit" grep -q "kratixfs\[[0-9]*\]: info commit request=my-db" "$SYSLOG"
	check "  ... and, after the unmount, a clean stop (with git=: threads started after the fork)" \
		grep -q "kratixfs\[[0-9]*\]: info stop mountpoint=$MNT reason=unmounted" "$SYSLOG"
	check "  ... and nothing on stderr" test ! -s "$WORK/bg.err"
else
	echo "SKIP: python3 or unshare missing: the syslog path is not tested"
fi
finish
