#!/bin/bash
# The kernel's caches (docs/mount.md#caching): each render of a rendered file is its own inode,
# cached for long. A reader keeps the render it opened; any process that starts after a write's
# close sees the new render, although names, attributes and pages are cached; an unchanged output
# is read again without a request to the daemon; FORGET frees inodes; sed -i while another
# process stats object.yaml gives no ESTALE; a folder removed and made again is a new inode.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
mount_fs -d -o log_level=debug
R=$MNT/requests/r
mkdir "$R"
request r small >"$WORK/small.yaml"
request r large >"$WORK/large.yaml"
cp "$WORK/small.yaml" "$R/object.yaml"
OUT=$R/output/statefulset.yaml
cp "$OUT" "$WORK/small.out"
cp "$WORK/large.yaml" "$R/object.yaml"
cp "$OUT" "$WORK/large.out"
check "the two renders differ" test "$(wc -c <"$WORK/small.out")" != "$(wc -c <"$WORK/large.out")"
cp "$WORK/small.yaml" "$R/object.yaml"

# A reader of render N keeps reading render N, all of it, after a re-render; a reader that opens
# after the close reads render N+1; its inode is another.
check "a reader keeps the render it opened, whole, across a re-render" python3 -c "
import os, sys
f = open('$OUT', 'rb', buffering=0)
head = f.read(7)
ino_before = os.fstat(f.fileno()).st_ino
os.system('cp $WORK/large.yaml $R/object.yaml')
rest = f.read()
want = open('$WORK/small.out', 'rb').read()
sys.exit(0 if head + rest == want and os.fstat(f.fileno()).st_ino == ino_before
	 and len(want) == os.fstat(f.fileno()).st_size else 1)"
check "a reader that opens after the close reads the new render" cmp "$OUT" "$WORK/large.out"

# Warm every cache (names, attributes, pages, the listing), then write: processes started after
# the close see the new render.
bad=""
for i in $(seq 1 20); do
	if [ $((i % 2)) = 0 ]; then v=small; else v=large; fi
	cat "$OUT" >/dev/null
	stat "$OUT" >/dev/null
	ls -l "$R/output" >/dev/null
	cp "$WORK/$v.yaml" "$R/object.yaml" || bad="$bad write$i"
	cmp -s "$OUT" "$WORK/$v.out" || bad="$bad cat$i"
	[ "$(stat -c %s "$OUT")" = "$(wc -c <"$WORK/$v.out")" ] || bad="$bad stat$i"
	[ "$(ls -l "$R/output" | awk '$NF == "statefulset.yaml" {print $5}')" = \
		"$(wc -c <"$WORK/$v.out")" ] || bad="$bad ls$i"
done
check_eq "cat, stat and ls in new processes see each write at once" "${bad# }" ""

# An unchanged rendered file is served from the kernel's caches: reading it again sends no
# LOOKUP, no GETATTR and no READ.
cat "$OUT" >/dev/null
sleep 0.2
before=$(grep -c 'opcode: \(LOOKUP\|GETATTR\|READ\) ' "$WORK/daemon.log")
for _ in 1 2 3 4 5; do cat "$OUT" >/dev/null; done
sleep 0.2
after=$(grep -c 'opcode: \(LOOKUP\|GETATTR\|READ\) ' "$WORK/daemon.log")
check "the daemon's log counts its requests (-d)" test "$before" -gt 0
check_eq "five more reads of an unchanged output: no LOOKUP, GETATTR or READ" \
	"$((after - before))" "0"

# FORGET: 400 re-renders make at least 400 inodes of outputs (the statefulset differs between
# the two requests; outputs whose bytes stay the same keep their inode); once the kernel lets
# them go, the table is back to the few the kernel still holds.
for i in $(seq 1 200); do
	cp "$WORK/small.yaml" "$R/object.yaml"
	cat "$R"/output/*.yaml >/dev/null
	cp "$WORK/large.yaml" "$R/object.yaml"
	cat "$R"/output/*.yaml >/dev/null
done
sync
# Only root may tell the kernel to drop its caches (which makes it FORGET every unused inode).
if echo 2 2>/dev/null >/proc/sys/vm/drop_caches; then
	wait_for 5000 sh -c "grep -q 'inodes count=' '$WORK/daemon.log'"
	sleep 0.5
	last=$(grep -o 'inodes count=[0-9]* forgets=[0-9]*' "$WORK/daemon.log" | tail -n 1)
	count=${last#inodes count=}
	count=${count%% *}
	forgets=${last##*forgets=}
	check "FORGET: at least 400 inodes forgotten ($last)" test "${forgets:-0}" -ge 400
	check "FORGET: the table holds at most 50 inodes after the kernel dropped its caches" \
		test "${count:-99999}" -le 50
else
	echo "skip - FORGET: not root, cannot drop the kernel's caches"
fi

# sed -i renames a new file onto object.yaml while another process stats and reads it: the
# replaced inode still names object.yaml, so nobody gets ESTALE.
cp "$WORK/small.yaml" "$R/object.yaml"
(
	for i in $(seq 1 100); do
		sed -i "s/size: small/size: large/" "$R/object.yaml"
		sed -i "s/size: large/size: small/" "$R/object.yaml"
	done
) 2>"$WORK/sed.err" &
sed_pid=$!
: >"$WORK/stat.err"
while kill -0 "$sed_pid" 2>/dev/null; do
	stat "$R/object.yaml" >/dev/null 2>>"$WORK/stat.err"
	cat "$R/object.yaml" >/dev/null 2>>"$WORK/stat.err"
done
wait "$sed_pid"
check_eq "sed -i 200 times: no error" "$(cat "$WORK/sed.err")" ""
check_eq "stat and cat meanwhile: no ESTALE" "$(grep -c 'Stale' "$WORK/stat.err")" "0"
# A folder removed while a process still has it as its working folder, then made again under
# its name: the new folder is another inode, and works.
G=$MNT/requests/again
request again small >"$WORK/again.yaml"
mkdir "$G"
cp "$WORK/again.yaml" "$G/object.yaml"
(cd "$G" && sleep 3) &
holder=$!
sleep 0.3
old_ino=$(stat -c %i "$G")
check "the removed folder had an inode" test -n "$old_ino"
rm -rf "$G"
mkdir "$G"
check "a folder made again where a removed one is still in use takes a write" \
	cp "$WORK/again.yaml" "$G/object.yaml"
check "and shows its outputs" test -s "$G/output/statefulset.yaml"
check "and is another inode" test "$(stat -c %i "$G")" != "$old_ino"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

check "unmount" unmount_fs
finish
