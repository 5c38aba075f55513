#!/bin/bash
# 8 writers on 100 requests while readers cat the outputs: no torn read, and the final state is
# each request's last write.
. "$(dirname "$0")/lib.sh"
mount_fs
sizes=(small medium large)
replicas=(1 2 3)
for i in $(seq 0 99); do mkdir "$MNT/requests/r$i"; done
writer() {
	local w=$1 round i
	for round in 0 1 2; do
		for i in $(seq "$w" 8 99); do
			request "r$i" "${sizes[$(((i + round) % 3))]}" >"$MNT/requests/r$i/object.yaml" ||
				echo "write r$i round $round failed" >>"$WORK/errors"
		done
	done
}
reader() {
	local end=$(($(date +%s) + 30))
	while [ -e "$WORK/readers-on" ] && [ "$(date +%s)" -lt "$end" ]; do
		local i=$((RANDOM % 100)) f
		f=$MNT/requests/r$i/output/statefulset.yaml
		[ -e "$f" ] || continue
		cat "$f" >"$WORK/read-$1" 2>/dev/null || continue
		if ! grep -q '^kind: StatefulSet' "$WORK/read-$1" ||
			[ "$(tail -c1 "$WORK/read-$1" | od -An -c | tr -d ' ')" != '\n' ]; then
			echo "torn read of r$i" >>"$WORK/errors"
		fi
		echo >>"$WORK/reads"
	done
}
touch "$WORK/readers-on" "$WORK/errors" "$WORK/reads"
rpids=()
for r in 0 1 2 3; do
	reader $r &
	rpids+=($!)
done
wpids=()
for w in 0 1 2 3 4 5 6 7; do
	writer $w &
	wpids+=($!)
done
for p in "${wpids[@]}"; do wait "$p"; done
rm -f "$WORK/readers-on"
for p in "${rpids[@]}"; do wait "$p"; done
check_eq "no write failed and no read was torn" "$(head -n 5 "$WORK/errors")" ""
check "readers read something" test "$(wc -l <"$WORK/reads")" -gt 10
bad=""
for i in $(seq 0 99); do
	want=${replicas[$(((i + 2) % 3))]}
	grep -q "replicas: $want\$" "$MNT/requests/r$i/output/statefulset.yaml" || bad="$bad r$i"
	[ "$(cat "$MNT/requests/r$i/phase")" = Rendered ] || bad="$bad r$i(phase)"
done
check_eq "every request shows its last write" "$bad" ""
check_eq "status.yaml counts 100 requests" "$(grep -c 'total: 100' "$MNT/status.yaml")" "1"
check "unmount" unmount_fs
finish
