#!/bin/bash
# A request's life: rm -rf deletes it; the state survives a remount; SIGTERM and SIGINT unmount
# cleanly; --help and --version answer.
. "$(dirname "$0")/lib.sh"

check "--help lists -o promises=" sh -c "'$KRATIXFS' --help | grep -q 'promises='"
check "--help lists -o state= and max_input=" sh -c \
	"'$KRATIXFS' --help | grep -q 'state=' && '$KRATIXFS' --help | grep -q 'max_input='"
check "--help says FUSE options pass through" sh -c "'$KRATIXFS' --help | grep -q 'FUSE'"
check "--version" sh -c "'$KRATIXFS' --version | grep -q '^kratixfs '"
check "the render sub-command still works" sh -c "'$KRATIXFS' render --help | grep -q kratix"

mount_fs
for n in a b c; do
	mkdir "$MNT/requests/$n"
	request "$n" small >"$MNT/requests/$n/object.yaml"
done
echo scratch >"$MNT/requests/c/.object.yaml.swp"
check_eq "requests/ lists a b c" "$(ls "$MNT/requests" | tr '\n' ' ')" "a b c "
check "rm -rf requests/a" rm -rf "$MNT/requests/a"
check_eq "a is gone" "$(ls "$MNT/requests" | tr '\n' ' ')" "b c "
check "rm -rf requests/c (with a scratch file)" rm -rf "$MNT/requests/c"
check "c's scratch folder is gone" test ! -e "$STATE/scratch/c"
check "rm object.yaml" rm "$MNT/requests/b/object.yaml"
check "  ... object.yaml is gone from the folder" test ! -e "$MNT/requests/b/object.yaml"
check "  ... but the request stays in force: its outputs stay" \
	test -s "$MNT/requests/b/output/statefulset.yaml"
check_grep "  ... and status.yaml says how to delete it" "$MNT/requests/b/status.yaml" \
	"stays in force until its folder is removed"
check "rmdir the folder deletes the request" rmdir "$MNT/requests/b"
check_eq "requests/ is empty" "$(ls "$MNT/requests" | wc -l)" "0"

mkdir "$MNT/requests/keep"
request keep large >"$MNT/requests/keep/object.yaml"
echo Applied >"$MNT/requests/keep/feedback"
cp -r "$MNT/requests/keep" "$WORK/keep-before"
check "unmount (fusermount3 -u): daemon exits 0" unmount_fs
mount_fs
check "after remount: object.yaml is there" cmp "$WORK/keep-before/object.yaml" "$MNT/requests/keep/object.yaml"
check "after remount: output is the same" diff -r "$WORK/keep-before/output" "$MNT/requests/keep/output"
check_eq "after remount: phase is kept" "$(cat "$MNT/requests/keep/phase")" "Applied"
check_eq "after remount: a/b/c stay deleted" "$(ls "$MNT/requests" | tr '\n' ' ')" "keep "

pid=$DAEMON_PID
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
DAEMON_PID=
check_eq "SIGTERM: the daemon exits 0" "$rc" "0"
check_fails "SIGTERM: the mount is gone" mountpoint -q "$MNT"

mount_fs
check "kill -HUP reloads and keeps serving" sh -c "kill -HUP $DAEMON_PID; sleep 0.3; cat '$MNT/requests/keep/phase'"
pid=$DAEMON_PID
# A file still open when the signal comes: the kernel never releases it, the daemon frees it
# (the sanitizer build's leak check fails the exit status otherwise).
exec 3<"$MNT/requests/keep/status.yaml"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
exec 3<&-
DAEMON_PID=
check_eq "SIGINT: the daemon exits 0" "$rc" "0"
check_fails "SIGINT: the mount is gone" mountpoint -q "$MNT"
finish
