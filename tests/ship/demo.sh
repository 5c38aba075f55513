#!/bin/bash
# The newcomer's command: `make demo` on a fresh tree mounts ./kratix and shows the seed's request
# rendered and committed; a second `make demo` works too; `make undemo` unmounts.
. "$(dirname "$0")/lib.sh"
need_root_fuse
TREE=$WORK/tree
MNT=$TREE/kratix
copy_tree "$TREE"
at_exit "make -C '$TREE' -s undemo; fusermount3 -uz '$MNT'"

demo() {
	if make -C "$TREE" -s --no-print-directory demo >"$WORK/demo$1.out" 2>&1; then
		pass "make demo (run $1) succeeds"
	else
		fail "make demo (run $1) succeeds"
		tail -n 40 "$WORK/demo$1.out" >&2
		return
	fi
	local out=$WORK/demo$1.out
	check_grep "  ... prints the tree" "$out" "requests"
	check_grep "  ... prints the tree with my-db's outputs" "$out" "statefulset.yaml"
	check_grep "  ... prints the StatefulSet (medium: 2 replicas)" "$out" "replicas: 2"
	check_grep "  ... prints the StatefulSet (medium: 10Gi)" "$out" "storage: 10Gi"
	check_grep "  ... prints status.yaml, committed" "$out" "phase: Committed"
	check_grep "  ... prints the state store's git log" "$out" "Update from: postgresql-my-db-"
	check_grep "  ... shows how to try more" "$out" "Try more"
	check_grep "  ... shows how to stop" "$out" "make undemo"
	check "  ... leaves ./kratix mounted" mountpoint -q "$MNT"
	check "  ... the mount works once make has exited" \
		grep -qx Committed "$MNT/requests/my-db/phase"
	check "  ... the state store is a bare repository that clones" \
		git clone -q "$TREE/build/demo/statestore.git" "$WORK/clone$1"
	check "  ... holding my-db's StatefulSet" \
		test -n "$(find "$WORK/clone$1" -path '*my-db*' -name statefulset.yaml)"
}

demo 1
pid1=$(cat "$TREE/build/demo/kratixfs.pid" 2>/dev/null)
demo 2
check "the second run replaced the first daemon" gone "$pid1"
pid2=$(cat "$TREE/build/demo/kratixfs.pid" 2>/dev/null)
check "the log has the render" grep -q "info render request=my-db" "$TREE/build/demo/kratixfs.log"

# README's "30 seconds with the mount", as shown, while the demo runs.
try_readme() {
	cd "$TREE" || return 1
	mkdir -p try && ./build/kratixfs -o state="$PWD/build/try-state" try || return 1
	mkdir try/requests/my-db &&
		cp templates/postgresql/example-resource.yaml try/requests/my-db/object.yaml &&
		[ "$(ls try/requests/my-db/output | tr '\n' ' ')" = "secret.yaml service.yaml statefulset.yaml " ] &&
		grep -q 'replicas: 2' try/requests/my-db/output/statefulset.yaml &&
		[ "$(cat try/requests/my-db/phase)" = Rendered ] &&
		! sed -i 's/size: medium/size: huge/' try/requests/my-db/object.yaml 2>/dev/null &&
		grep -q '^message: "spec.size: must be one of small, medium, large' \
			try/requests/my-db/status.yaml
	local rc=$?
	rm -rf try/requests/my-db && fusermount3 -u try || rc=1
	return $rc
}
check "README's 30 seconds with the mount, beside the demo" try_readme
check "make undemo succeeds" make -C "$TREE" -s --no-print-directory undemo
check "  ... ./kratix is no longer mounted" test ! -e "$MNT" -o ! -d "$MNT/requests"
check "  ... the daemon has exited" gone "$pid2"
check "  ... it logged a clean stop" grep -q "info stop .*reason=unmounted" \
	"$TREE/build/demo/kratixfs.log"
check "make undemo twice is harmless" make -C "$TREE" -s --no-print-directory undemo
finish
