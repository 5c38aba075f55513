#!/bin/bash
# A full disk under the state folder: a write that cannot be stored fails with ENOSPC and
# changes nothing (no new outputs, no commit); what close() accepted survives a restart.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
mount -t tmpfs -o size=512k,mode=0700 tmpfs "$STATE" 2>/dev/null ||
	{ echo "SKIP: cannot mount a tmpfs (needs root)"; exit 77; }
trap 'cleanup_disk' EXIT
cleanup_disk() {
	cleanup_mount_only
	umount "$STATE" 2>/dev/null
	cleanup
}
cleanup_mount_only() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	[ -n "$DAEMON_PID" ] && wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}
GIT=$WORK/state.git
mount_fs -o "git=$GIT"
R=$MNT/requests/my-db
mkdir "$R" && cp "$SEED" "$R/object.yaml"
# More than a page of comments: its record cannot fit in the journal's last page.
{ request my-db large; for i in $(seq 200); do echo "# padding line $i of a long comment block"; done; } \
	>"$WORK/large.yaml"
request my-db small >"$WORK/small.yaml"
commits() { git -C "$GIT" rev-list --count HEAD; }
# Fill the state folder's filesystem to the last byte.
dd if=/dev/zero of="$STATE/filler" bs=4k 2>/dev/null
dd if=/dev/zero of="$STATE/filler2" bs=1 2>/dev/null
before=$(commits)
check_fails "a write on a full state folder fails" cp "$WORK/large.yaml" "$R/object.yaml"
check_grep "  ... with ENOSPC" "$WORK/err" "No space left on device"
check_grep "  ... the outputs are unchanged (replicas: 2)" "$R/output/statefulset.yaml" "replicas: 2"
check "  ... object.yaml is unchanged" cmp "$SEED" "$R/object.yaml"
check_eq "  ... nothing was committed" "$(commits)" "$before"
rm -f "$STATE/filler" "$STATE/filler2"
check "with space again, the same write works" cp "$WORK/large.yaml" "$R/object.yaml"
check_grep "  ... replicas: 3" "$R/output/statefulset.yaml" "replicas: 3"
check "unmount" unmount_fs
mount_fs -o "git=$GIT"
check "after a restart: the accepted write is there" cmp "$WORK/large.yaml" "$R/object.yaml"
check_grep "  ... with its outputs" "$R/output/statefulset.yaml" "replicas: 3"
check "unmount" unmount_fs
finish
