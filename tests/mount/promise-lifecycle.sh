#!/bin/bash
# A promise's lifecycle on the mount (docs/kratix.md, "Promise lifecycle"): promises/<p>/status.yaml
# counts its requests and shows its workflow's message; a removed promise folder deletes its Works
# from Git and holds its requests (kept, writes refused naming it) until it comes back; a promise
# whose required promise is missing serves no request until it loads.
. "$(dirname "$0")/lib.sh"
REPO=$WORK/statestore.git
mount_fs -o "git=$REPO"
P=$MNT/promises/postgresql/status.yaml

mkdir "$MNT/requests/db1" "$MNT/requests/db2"
request db1 medium >"$MNT/requests/db1/object.yaml"
request db2 small >"$MNT/requests/db2/object.yaml"
check_grep "promises/postgresql/status.yaml counts 2 requests" "$P" "requests: 2"
check_grep "... and shows the promise workflow's message" "$P" \
	"message: Promise postgresql v0.1.0 dependencies rendered"

mv "$PROMISES/postgresql" "$WORK/postgresql.away"
check "the removed promise's folder leaves the mount within 1 s" \
	wait_for 1000 test ! -e "$MNT/promises/postgresql"
check "Git's last commit is a Delete from: of the promise" \
	wait_for 1000 sh -c "git --git-dir='$REPO' log -1 --format=%s main | grep -q '^Delete from: postgresql'"
tree=$(git --git-dir="$REPO" ls-tree -r --name-only main)
check_eq "its dependencies left Git" "$(echo "$tree" | grep -c dependencies/postgresql)" 0
check_eq "its requests' Works stay in Git" \
	"$(echo "$tree" | grep -c 'resources/my-namespace/postgresql/db[12]/')" 6
check "db1 says its promise is gone" \
	wait_for 1000 grep -q "its promise postgresql is no longer in the promises folder" \
	"$MNT/requests/db1/status.yaml"
check "db1 keeps its outputs" grep -q "replicas: 2" "$MNT/requests/db1/output/statefulset.yaml"
request db1 large >"$WORK/large.yaml"
check_fails "a write of db1 is refused" cp "$WORK/large.yaml" "$MNT/requests/db1/object.yaml"
check_grep "... naming the promise" "$MNT/requests/db1/status.yaml" "promise postgresql"
check "rm -rf deletes db2 deliberately" rm -rf "$MNT/requests/db2"
check_eq "db2's Works left Git" \
	"$(git --git-dir="$REPO" ls-tree -r --name-only main | grep -c 'postgresql/db2/')" 0

mv "$WORK/postgresql.away" "$PROMISES/postgresql"
check "the promise folder comes back within 1 s" wait_for 1000 test -e "$P"
check "db1 is served again" wait_for 1000 grep -q "message: PostgreSQL db1" \
	"$MNT/requests/db1/status.yaml"
check "a write of db1 renders" cp "$WORK/large.yaml" "$MNT/requests/db1/object.yaml"
check_grep "... replicas: 3" "$MNT/requests/db1/output/statefulset.yaml" "replicas: 3"
check_grep "the promise counts 1 request" "$P" "requests: 1"

# A copy of a loaded promise's folder is refused, naming both folders; removing the copy, or
# renaming the promise's folder (mv), is no removal: no Delete commit, its Works stay in Git.
deletes() { git --git-dir="$REPO" log --format=%s main | grep -c '^Delete from: postgresql'; }
before=$(deletes)
cp -r "$PROMISES/postgresql" "$PROMISES/pg-copy"
check "the copy names the folder that holds its promise" wait_for 1000 grep -q \
	"promise postgresql is already loaded from promises/postgresql" "$MNT/promises/pg-copy/status.yaml"
rm -rf "$PROMISES/pg-copy"
check "the copy leaves the mount" wait_for 1000 test ! -e "$MNT/promises/pg-copy"
mv "$PROMISES/postgresql" "$PROMISES/pg2"
check "the renamed folder is on the mount" wait_for 1000 test -e "$MNT/promises/pg2/status.yaml"
check_grep "... still serving db1" "$MNT/promises/pg2/status.yaml" "requests: 1"
mv "$PROMISES/pg2" "$PROMISES/postgresql"
check "and back under its name" wait_for 1000 test -e "$P"
check_eq "no Delete commit came of the copy or the renames" "$(deletes)" "$before"
check "the promise's dependencies stay in Git" sh -c \
	"git --git-dir='$REPO' ls-tree -r --name-only main | grep -q dependencies/postgresql"

# requiredPromises: a promise requiring one that is not there serves nothing until it loads.
mkdir -p "$WORK/kv"
sed -e 's/^  name: postgresql$/  name: kv/' -e 's/kind: Postgresql/kind: Kv/' \
	-e 's/plural: postgresqls/plural: kvs/' -e 's/singular: postgresql/singular: kv/' \
	-e 's/postgresqls.marketplace/kvs.marketplace/' \
	-e 's/^spec:$/spec:\n  requiredPromises:\n    - {name: cache, version: v0.1.0}/' \
	"$PROMISES/postgresql/promise.yaml" >"$WORK/kv/promise.yaml"
cp -r "$PROMISES/postgresql/workflows" "$WORK/kv/"
cp -r "$WORK/kv" "$PROMISES/kv"
check "kv says Requirement not installed" wait_for 1000 grep -q "state: Requirement not installed" \
	"$MNT/promises/kv/status.yaml"
check_grep "... and is Unavailable" "$MNT/promises/kv/status.yaml" "phase: Unavailable"
mkdir "$MNT/requests/k1"
sed -e 's/kind: Postgresql/kind: Kv/' -e 's/name: my-db/name: k1/' "$SEED" >"$WORK/k1.yaml"
check_fails "a kv request is refused" cp "$WORK/k1.yaml" "$MNT/requests/k1/object.yaml"
check_grep "... naming the missing promise" "$MNT/requests/k1/status.yaml" "promise cache v0.1.0"
sed -e 's/^  name: postgresql$/  name: cache/' -e 's/kind: Postgresql/kind: Cache/' \
	-e 's/plural: postgresqls/plural: caches/' -e 's/singular: postgresql/singular: cache/' \
	-e 's/postgresqls.marketplace/caches.marketplace/' \
	"$PROMISES/postgresql/promise.yaml" >"$WORK/cache.yaml"
mkdir -p "$WORK/cache" && cp -r "$PROMISES/postgresql/workflows" "$WORK/cache/"
cp "$WORK/cache.yaml" "$WORK/cache/promise.yaml" && cp -r "$WORK/cache" "$PROMISES/cache"
check "kv becomes Available once cache loads" wait_for 1000 grep -q "phase: Available" \
	"$MNT/promises/kv/status.yaml"
check "the kv request renders now" cp "$WORK/k1.yaml" "$MNT/requests/k1/object.yaml"
check "unmount" unmount_fs
finish
