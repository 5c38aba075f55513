#!/bin/bash
# Nothing lost: ordinary tools that replace a file (mv across filesystems, tar, install,
# cp --remove-destination, vim outside /tmp) edit a request and never delete it, in the mount or
# in Git; a compound shell write commits once, whole; a reader always gets one whole render; a
# refused first write stays visible; an empty file and renames onto generated files fail.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

GIT=$WORK/state.git
mount_fs -o "git=$GIT"
R=$MNT/requests/my-db
mkdir "$R" && cp "$SEED" "$R/object.yaml"
OTHER=$(mktemp -d /var/tmp/kratixfs-other.XXXXXX) # another filesystem than the mount
trap 'rm -rf "$OTHER"; cleanup' EXIT
request my-db large >"$OTHER/large.yaml"
request my-db huge >"$OTHER/huge.yaml"
deletes() { git -C "$GIT" log --format=%s | grep -c '^Delete from' || true; }
commits() { git -C "$GIT" rev-list --count HEAD; }

# 1. Unlink + create is an edit.
cp "$OTHER/large.yaml" "$OTHER/mv.yaml"
check "mv of a good body from another filesystem" mv "$OTHER/mv.yaml" "$R/object.yaml"
check_grep "  ... renders it (replicas: 3)" "$R/output/statefulset.yaml" "replicas: 3"
check_eq "  ... and Git got no Delete" "$(deletes)" "0"
cp "$OTHER/huge.yaml" "$OTHER/mv.yaml"
check_fails "mv of a refused body from another filesystem fails" mv "$OTHER/mv.yaml" "$R/object.yaml"
check_grep "  ... the last good outputs stay (replicas: 3)" "$R/output/statefulset.yaml" \
	"replicas: 3"
check_grep "  ... the refused bytes are there to fix" "$R/object.yaml" "size: huge"
check_grep "  ... status.yaml says they are not in force" "$R/status.yaml" "not in force"
check_eq "  ... Git got no Delete" "$(deletes)" "0"
check "cp --remove-destination of a good body" cp --remove-destination "$SEED" "$R/object.yaml"
check_grep "  ... renders it (replicas: 2)" "$R/output/statefulset.yaml" "replicas: 2"
check "install of a good body" install -m 0644 "$OTHER/large.yaml" "$R/object.yaml"
check_grep "  ... renders it (replicas: 3)" "$R/output/statefulset.yaml" "replicas: 3"
mkdir -p "$OTHER/t/my-db" && cp "$SEED" "$OTHER/t/my-db/object.yaml"
tar -C "$OTHER/t" -cf "$OTHER/req.tar" my-db/object.yaml
check "tar -x over the existing request" tar -C "$MNT/requests" -xf "$OTHER/req.tar"
check_grep "  ... renders it (replicas: 2)" "$R/output/statefulset.yaml" "replicas: 2"
check_eq "no tool's unlink reached Git as a Delete" "$(deletes)" "0"
# vim outside /tmp (backupskip empty): rename to object.yaml~, write, and on the refused close
# unlink and rename the backup back.
before=$(commits)
vim -N -u NONE -i NONE -es -c "set backupskip=" -c "%s/size: medium/size: huge/" -c wq \
	"$R/object.yaml" >/dev/null 2>&1
check_grep "vim's refused write (defaults outside /tmp): object.yaml keeps the seed" \
	"$R/object.yaml" "size: medium"
check_grep "  ... the outputs stay (replicas: 2)" "$R/output/statefulset.yaml" "replicas: 2"
check_eq "  ... and Git got neither a Delete nor a commit" "$(deletes) $(commits)" "0 $before"
vim -N -u NONE -i NONE -es -c "set backupcopy=no backupskip=" -c "%s/size: medium/size: huge/" \
	-c wq "$R/object.yaml" >/dev/null 2>&1
check_grep "vim's refused write with backupcopy=no: object.yaml keeps the seed" \
	"$R/object.yaml" "size: medium"
check_grep "  ... the outputs stay (replicas: 2)" "$R/output/statefulset.yaml" "replicas: 2"
check_eq "  ... and Git got neither a Delete nor a commit" "$(deletes) $(commits)" "0 $before"
check "rm object.yaml" rm "$R/object.yaml"
check_eq "  ... Git got no Delete: only the folder's removal deletes" "$(deletes)" "0"
check "  ... the outputs stay" test -s "$R/output/statefulset.yaml"
check "rmdir of a request folder whose object.yaml is unlinked" rmdir "$R"
check_eq "  ... deletes the request, once, in Git" "$(deletes)" "1"
mkdir "$R" && cp "$SEED" "$R/object.yaml"
check_fails "rmdir of a request folder with its object.yaml" rmdir "$R"
check_grep "  ... says Directory not empty" "$WORK/err" "not empty"

# 2. A compound write commits once, whole: cat's close (a child that inherited the fd) does not
# submit the head of the file; the opener's does.
head -n -1 "$OTHER/large.yaml" >"$OTHER/head.yaml" # all but "  size: large" ... (last line)
tail -n 1 "$OTHER/large.yaml" >"$OTHER/tail.yaml"
before=$(commits)
bash -c "{ cat '$OTHER/head.yaml'; sleep 0.3; cat '$OTHER/tail.yaml'; } > '$R/object.yaml'"
check_grep "a compound shell write renders the whole request" "$R/object.yaml" "size: large"
check_grep "  ... replicas: 3" "$R/output/statefulset.yaml" "replicas: 3"
check_eq "  ... with one commit" "$(commits)" "$((before + 1))"
check "  ... holding the whole request" \
	sh -c "git -C '$GIT' show HEAD -- | grep -q 'replicas: 3'"
check_fails "a refused body written by a child of the opener: the child's close fails" \
	sh -c "cat '$OTHER/huge.yaml' > '$R/object.yaml'"
check_grep "  ... naming the field" "$R/status.yaml" "spec.size"

# 3. No torn reads: 6 writers rewrite one request, 3 readers read its statefulset; every read is
# one whole render.
for s in small medium large; do
	mkdir -p "$WORK/ref-$s/input"
	request my-db "$s" >"$WORK/ref-$s/input/object.yaml"
	"$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/ref-$s" >/dev/null
	md5sum <"$WORK/ref-$s/output/statefulset.yaml" | cut -d' ' -f1 >>"$WORK/valid"
done
jobs_=""
for w in 1 2 3 4 5 6; do
	(while [ ! -e "$WORK/stop" ]; do
		for s in small medium large; do cp "$WORK/ref-$s/input/object.yaml" "$R/object.yaml"; done
	done) &
	jobs_="$jobs_ $!"
done
readers=""
for rd in 1 2 3; do
	# Small reads, as a program reading in pieces does: each read may be a round trip.
	/usr/bin/python3 - "$R/output/statefulset.yaml" "$WORK/valid" >"$WORK/reader$rd" <<'PY' &
import hashlib, os, sys, time
path, valid = sys.argv[1], set(open(sys.argv[2]).read().split())
end = time.time() + 4
n = torn = 0
while time.time() < end:
    fd = os.open(path, os.O_RDONLY)
    data = b""
    while True:
        chunk = os.read(fd, 512)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    n += 1
    torn += hashlib.md5(data).hexdigest() not in valid
print(n, torn)
PY
	readers="$readers $!"
done
wait $readers
touch "$WORK/stop"
wait $jobs_ # not the daemon
reads=$(cat "$WORK"/reader* | awk '{ s += $1 } END { print s }')
torn=$(cat "$WORK"/reader* | awk '{ s += $2 } END { print s }')
check_eq "no torn read in $reads reads under 6 writers" "$torn" "0"

# 12. Smaller ones.
mkdir "$MNT/requests/first"
check_fails "a refused first write fails" cp "$OTHER/huge.yaml" "$MNT/requests/first/object.yaml"
check_grep "  ... its bytes stay in object.yaml to fix in place" \
	"$MNT/requests/first/object.yaml" "size: huge"
check "  ... fixed in place with sed -i" sed -i 's/size: huge/size: small/; s/name: my-db/name: first/' \
	"$MNT/requests/first/object.yaml"
check_grep "  ... and rendered" "$MNT/requests/first/output/statefulset.yaml" "replicas: 1"
mkdir "$MNT/requests/empty"
check_fails "cp /dev/null onto a new object.yaml fails" cp /dev/null "$MNT/requests/empty/object.yaml"
check_grep "  ... with EINVAL" "$WORK/err" "Invalid argument"
check_fails "cp /dev/null object.yaml fails" cp /dev/null "$R/object.yaml"
check_grep "  ... with EINVAL" "$WORK/err" "Invalid argument"
check_grep "  ... and object.yaml is kept" "$R/object.yaml" "size: large"
echo x >"$R/scratch.txt"
check_fails "rename onto status.yaml fails" mv "$R/scratch.txt" "$R/status.yaml"
check_grep "  ... with EROFS" "$WORK/err" "Read-only file system"
rm -f "$R/scratch.txt"
head -c 3000000 /dev/zero | tr '\0' 'a' >"$OTHER/big.yaml"
check_fails "a 3 MB object.yaml fails" cp "$OTHER/big.yaml" "$R/object.yaml"
check_grep "  ... and status.yaml names its real size" "$R/status.yaml" "3000000 bytes"

check "unmount" unmount_fs
check "git fsck --full --strict of the state store" git -C "$GIT" fsck --full --strict
finish
