#!/bin/bash
# The kernel caches names (entry_timeout): nothing read right after a close may be stale. A
# rewrite that changes an output's size shows at once; an output that a re-render drops is gone
# at once; a cached name of a rejected or deleted object.yaml neither crashes nor blocks a write.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C # ${#var} counts bytes

# A second promise like the seed without service.yaml: switching a request's kind to it drops
# that output on the next render.
P2=$PROMISES/pgsmall
cp -r "$PROMISES/postgresql" "$P2"
sed -i -e 's/^  name: postgresql$/  name: pgsmall/' -e 's/postgresqls\./pgsmalls./' \
	-e 's/kind: Postgresql$/kind: Pgsmall/' -e 's/plural: postgresqls/plural: pgsmalls/' \
	-e 's/singular: postgresql/singular: pgsmall/' "$P2/promise.yaml"
find "$P2/workflows/resource" -path '*templates/output/service.yaml' -delete

# The expected outputs, rendered without the mount.
sizes=(small medium large)
for s in "${sizes[@]}"; do
	mkdir -p "$WORK/ref-$s/input"
	request r "$s" >"$WORK/ref-$s/input/object.yaml"
	"$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/ref-$s" >/dev/null ||
		fail "kratixfs render of size $s"
done
mount_fs
R=$MNT/requests/r
mkdir "$R"

# Bash builtins write and read, so that no process start separates the close from the read.
declare -A body want
for s in "${sizes[@]}"; do
	body[$s]=$(request r "$s")
	IFS= read -r -d '' "want[$s]" <"$WORK/ref-$s/output/statefulset.yaml"
done
bad=""
for i in $(seq 0 199); do
	s=${sizes[$((i % 3))]}
	printf '%s\n' "${body[$s]}" >"$R/object.yaml" || bad="$bad write$i"
	got=""
	IFS= read -r -d '' got <"$R/output/statefulset.yaml"
	[ "$got" = "${want[$s]}" ] || bad="$bad read$i($s)"
	[ "$(stat -c %s "$R/output/statefulset.yaml")" = "${#want[$s]}" ] || bad="$bad size$i($s)"
done
check_eq "200 rewrites of three sizes: each read and stat right after the close sees the new one" \
	"${bad# }" ""

# Postgresql <-> Pgsmall: service.yaml comes and goes with the kind.
bad=""
for i in $(seq 0 19); do
	request r small >"$R/object.yaml"
	cat "$R/output/service.yaml" >/dev/null || bad="$bad has$i"
	request r small | sed 's/^kind: Postgresql$/kind: Pgsmall/' >"$R/object.yaml" ||
		bad="$bad switch$i"
	cat "$R/output/service.yaml" >/dev/null 2>"$WORK/cat-err" && bad="$bad still$i"
	grep -q "No such file" "$WORK/cat-err" || bad="$bad errno$i"
	[ -e "$R/output/service.yaml" ] && bad="$bad exists$i"
	cat "$R/output/statefulset.yaml" >/dev/null || bad="$bad other$i"
done
check_eq "an output dropped by a re-render gives ENOENT to cat and stat right after the close" \
	"${bad# }" ""

request r small >"$R/object.yaml"
cat "$R/output/statefulset.yaml" >/dev/null
rm "$R/object.yaml"
check_fails "cat of object.yaml right after its rm" cat "$R/object.yaml"
check_grep "  ... says No such file" "$WORK/err" "No such file"
check "an output right after rm object.yaml still reads: only rmdir deletes" \
	cat "$R/output/statefulset.yaml"

mkdir "$MNT/requests/r2"
R2=$MNT/requests/r2
check_fails "a first write that is not YAML is refused" \
	sh -c "env printf 'a: [b\n' > '$R2/object.yaml'"
check_eq "cat of object.yaml right after the refused first write shows the refused bytes" \
	"$(cat "$R2/object.yaml")" "a: [b"
request r2 large >"$WORK/r2.yaml"
# O_CREAT without O_EXCL: the kernel, holding the name, sends OPEN rather than CREATE.
check "a valid request written right after it is accepted" \
	sh -c "cat '$WORK/r2.yaml' > '$R2/object.yaml'"
check_grep "  ... and its output reads" "$R2/output/statefulset.yaml" "replicas: 3"
mkdir "$MNT/requests/r3"
check_fails "cat of an object.yaml that a writer holds open, not yet closed" \
	bash -c "exec 3>'$MNT/requests/r3/object.yaml'; cat '$MNT/requests/r3/object.yaml'"
check "the daemon is still serving" test -d "$MNT/requests"
check "unmount" unmount_fs
finish
