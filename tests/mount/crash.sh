#!/bin/bash
# kill -9 while 4 writers rewrite requests: after fusermount3 -u and a remount, every request's
# output is what `kratixfs render` makes of its current object.yaml, and status agrees. Then the
# same with -o git: the repository is whole (git fsck) and holds every request's outputs.
. "$(dirname "$0")/lib.sh"
sizes=(small medium large)
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

all_phase() {
	local f
	for f in "$MNT"/requests/*/phase; do
		[ "$(cat "$f")" = "$1" ] || return 1
	done
}

# crash LABEL PHASE [REPO]: 12 requests, 4 writers, kill -9, remount, check. PHASE is what every
# request must show after the restart; with REPO, Git is on and checked too.
crash() {
	local label=$1 phase=$2 repo=${3:-} opts=() pids=() w j r k g o ph
	[ -n "$repo" ] && opts=(-o "git=$repo")
	mount_fs "${opts[@]}"
	for w in 0 1 2 3; do
		for j in 0 1 2; do
			mkdir "$MNT/requests/w$w-$j"
			request "w$w-$j" small >"$MNT/requests/w$w-$j/object.yaml"
		done
	done
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
	# A writer's last sed may still hold its file on the dead mount for a moment (EBUSY).
	check "$label: fusermount3 -u the dead mount" wait_for 5000 fusermount3 -u "$MNT"
	mount_fs "${opts[@]}"
	# A kill while the branch moved leaves its lock: the first commits fail, and the retry
	# removes the lock once it is stale (2 s) and commits.
	[ -n "$repo" ] && wait_for 20000 all_phase "$phase"
	local bad_out="" bad_status="" bad_git=""
	for w in 0 1 2 3; do
		for j in 0 1 2; do
			r=w$w-$j
			k=$WORK/k-$label-$r
			mkdir -p "$k/input"
			cp "$MNT/requests/$r/object.yaml" "$k/input/object.yaml"
			"$KRATIXFS" render --promises "$PROMISES" --kratix "$k" >/dev/null 2>&1
			diff -r "$k/output" "$MNT/requests/$r/output" >/dev/null || bad_out="$bad_out $r"
			g=$(awk '/^generation:/{print $2}' "$MNT/requests/$r/status.yaml")
			o=$(awk '/^observedGeneration:/{print $2}' "$MNT/requests/$r/status.yaml")
			ph=$(cat "$MNT/requests/$r/phase")
			[ "$g" = "$o" ] && [ "$ph" = "$phase" ] || bad_status="$bad_status $r($ph,$g/$o)"
			if [ -n "$repo" ]; then
				git --git-dir="$repo" show \
					"main:default/resources/my-namespace/postgresql/$r/instance-configure/5058f/statefulset.yaml" 2>/dev/null |
					cmp -s - "$MNT/requests/$r/output/statefulset.yaml" || bad_git="$bad_git $r"
			fi
		done
	done
	check_eq "$label: every output equals a fresh render of its object.yaml" "$bad_out" ""
	check_eq "$label: every status is $phase with generation == observedGeneration" \
		"$bad_status" ""
	if [ -n "$repo" ]; then
		check_eq "$label: the repository holds every request's current outputs" "$bad_git" ""
		check "$label: git fsck --full --strict" \
			git --git-dir="$repo" fsck --full --strict --no-dangling --no-progress
	fi
	check "$label: unmount" unmount_fs
}

crash plain Rendered
STATE=$WORK/state-git
mkdir -p "$STATE"
crash git Committed "$WORK/crash.git"
finish
