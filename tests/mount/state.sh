#!/bin/bash
# The state folder: its files are the daemon's user's alone whatever the umask (and so is a Git
# store kratixfs creates); one daemon per state folder and none on top of a live mount, each
# refusal naming the other daemon's pid; and a flipped byte in state/snapshot plus a torn tail of
# the journal: the other requests come back, the damaged file is kept aside as it was, the log
# and the root status.yaml say what was lost, and the Git store keeps the lost request's files.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || { echo "SKIP: git is missing"; exit 77; }

REPO=$WORK/new/statestore.git
DIR=default/resources/my-namespace/postgresql
mode() { stat -c %a "$1"; }

# The daemon and everything it creates under umask 000.
umask 000
mount_fs -o "git=$REPO"
for r in db-a db-b db-c; do
	mkdir "$MNT/requests/$r"
	size=small
	[ "$r" = db-b ] && size=large
	request "$r" "$size" >"$MNT/requests/$r/object.yaml"
done
touch "$MNT/requests/db-a/notes.txt" # a scratch file: its folder is created now
check_eq "state/journal is 0600" "$(mode "$STATE/journal")" 600
check_eq "state/snapshot is 0600" "$(mode "$STATE/snapshot")" 600
check_eq "state/lock is 0600" "$(mode "$STATE/lock")" 600
check_eq "state/scratch is 0700" "$(mode "$STATE/scratch")" 700
check_eq "the Git store kratixfs created is 0700" "$(mode "$REPO")" 700
check_eq "the lock names the daemon" "$(cat "$STATE/lock")" "$DAEMON_PID"

# A second daemon on the same state folder, elsewhere: refused, naming the first.
mkdir -p "$WORK/mnt2"
check_fails "a second mount of the same state folder is refused" \
	timeout 30 "$KRATIXFS" -f -o "promises=$PROMISES,state=$STATE" "$WORK/mnt2"
check_grep "... naming the other daemon's pid" "$WORK/err" \
	"the state folder is in use by another kratixfs (pid $DAEMON_PID)"
check_fails "... and nothing is mounted" mountpoint -q "$WORK/mnt2"
# Another state folder, on top of the live mount: refused, naming it.
check_fails "a mount on top of a live kratixfs mount is refused" \
	timeout 30 "$KRATIXFS" -f -o "promises=$PROMISES,state=$WORK/state2" "$MNT"
check_grep "... naming the daemon's pid" "$WORK/err" \
	"$MNT: a kratixfs is already mounted there (pid $DAEMON_PID"
check_eq "the first mount still serves its requests" "$(cat "$MNT/requests/db-b/phase")" \
	Committed
check "unmount" unmount_fs
# A restart compacts: the three requests are in the snapshot now.
mount_fs -o "git=$REPO"
check "unmount" unmount_fs
check_eq "a new state/snapshot is 0600" "$(mode "$STATE/snapshot")" 600

# One byte of db-b's record flipped in the snapshot, a torn record at the end of the journal.
off=$(grep -boa 'size: large' "$STATE/snapshot" | head -n1 | cut -d: -f1)
check "db-b's record is in the snapshot" test -n "$off"
printf S | dd of="$STATE/snapshot" bs=1 seek="$off" conv=notrunc status=none
printf KFS2 >>"$STATE/journal"
cp "$STATE/snapshot" "$WORK/damaged"
git --git-dir="$REPO" ls-tree -r main --name-only | grep "/db-b/" >"$WORK/git-b"
mount_fs -o "git=$REPO"
check_eq "the other requests are there" "$(ls "$MNT/requests" | tr '\n' ' ')" "db-a db-c "
for r in db-a db-c; do
	check_eq "$r is Committed" "$(cat "$MNT/requests/$r/phase")" Committed
	check "$r has its outputs" test -s "$MNT/requests/$r/output/statefulset.yaml"
done
aside=$(ls "$STATE"/snapshot.damaged-* 2>/dev/null)
check "the damaged snapshot is kept aside" test -f "$aside"
check "... byte for byte" cmp "$aside" "$WORK/damaged"
check_eq "... 0600" "$(mode "$aside")" 600
check_grep "the log says so (error)" "$WORK/daemon.log" \
	"error state-damaged file=$STATE/snapshot kept-as=$aside records-kept=2 records-lost=1"
check_grep "... and names the lost request" "$WORK/daemon.log" \
	"error state-damaged lost-requests=db-b unnamed-records=0 git=kept"
check_grep "the torn tail of the journal is logged as a crash (info)" "$WORK/daemon.log" \
	"info recover state=$STATE torn-tail=4"
check "... and not kept aside" test ! -e "$(ls "$STATE"/journal.damaged-* 2>/dev/null | head -n1)"
cat "$MNT/status.yaml" >"$WORK/root-status"
check_grep "the root status.yaml has a recovery section" "$WORK/root-status" "recovery:"
check_grep "... naming the damaged file" "$WORK/root-status" "file: $STATE/snapshot"
check_grep "... where it was kept" "$WORK/root-status" "keptAs: $aside"
check_grep "... the records kept" "$WORK/root-status" "recordsKept: 2"
check_grep "... and lost" "$WORK/root-status" "recordsLost: 1"
check_grep "... and the lost request" "$WORK/root-status" "- db-b"
check_grep "... and what Git keeps" "$WORK/root-status" \
	"the Git store keeps the last committed files of the lost requests"
check_eq "the Git store still holds db-b's files" \
	"$(git --git-dir="$REPO" ls-tree -r main --name-only | grep "/db-b/")" "$(cat "$WORK/git-b")"
check "... (some)" test -s "$WORK/git-b"
check "unmount" unmount_fs

# Nothing of the snapshot can be proven: the daemon refuses to mount and says what to do.
printf 'not a snapshot\n' >"$STATE/snapshot"
check_fails "an unreadable snapshot refuses the mount" \
	timeout 30 "$KRATIXFS" -f -o "promises=$PROMISES,state=$STATE" "$MNT"
check_grep "... saying why and what to do" "$WORK/err" \
	"$STATE/snapshot: damaged: none of its 15 bytes can be read as a record"
check_eq "... changing nothing" "$(cat "$STATE/snapshot")" "not a snapshot"
finish
