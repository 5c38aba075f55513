#!/bin/bash
# kill -9 while 4 writers rewrite requests: after fusermount3 -u and a remount, every request's
# output is what `kratixfs render` makes of its current object.yaml, and status agrees.
. "$(dirname "$0")/lib.sh"
mount_fs
sizes=(small medium large)
for w in 0 1 2 3; do
	for j in 0 1 2; do
		mkdir "$MNT/requests/w$w-$j"
		request "w$w-$j" small >"$MNT/requests/w$w-$j/object.yaml"
	done
done
writer() {
	local w=$1 i=0
	while :; do
		local j=$((i % 3)) s=${sizes[$(((i / 3 + w) % 3))]}
		request "w$w-$j" "$s" >"$MNT/requests/w$w-$j/object.yaml" 2>/dev/null || {
			mountpoint -q "$MNT" || return 0
		}
		i=$((i + 1))
	done
}
pids=()
for w in 0 1 2 3; do
	writer $w &
	pids+=($!)
done
sleep 2
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
for p in "${pids[@]}"; do
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
done
check "fusermount3 -u the dead mount" fusermount3 -u "$MNT"
mount_fs
bad_out="" bad_status=""
for w in 0 1 2 3; do
	for j in 0 1 2; do
		r=w$w-$j
		k=$WORK/k-$r
		mkdir -p "$k/input"
		cp "$MNT/requests/$r/object.yaml" "$k/input/object.yaml"
		"$KRATIXFS" render --promises "$PROMISES" --kratix "$k" >/dev/null 2>&1
		diff -r "$k/output" "$MNT/requests/$r/output" >/dev/null || bad_out="$bad_out $r"
		g=$(awk '/^generation:/{print $2}' "$MNT/requests/$r/status.yaml")
		o=$(awk '/^observedGeneration:/{print $2}' "$MNT/requests/$r/status.yaml")
		ph=$(cat "$MNT/requests/$r/phase")
		[ "$g" = "$o" ] && [ "$ph" = Rendered ] || bad_status="$bad_status $r($ph,$g/$o)"
	done
done
check_eq "every output equals a fresh render of its object.yaml" "$bad_out" ""
check_eq "every status is Rendered with generation == observedGeneration" "$bad_status" ""
check "unmount" unmount_fs
finish
