#!/bin/bash
# Editors: sed -i and vim write a scratch file and rename it into place, or rename the original
# away as a backup; their scratch files live in the request folder but are never rendered.
. "$(dirname "$0")/lib.sh"
mount_fs
R=$MNT/requests/my-db
mkdir "$R" && cp "$SEED" "$R/object.yaml"

check "sed -i s/medium/large/" sed -i 's/size: medium/size: large/' "$R/object.yaml"
check_grep "sed -i: replicas: 3" "$R/output/statefulset.yaml" "replicas: 3"
check_eq "sed -i leaves no scratch file" "$(ls -a "$R" | grep -c '^sed')" "0"

check "vim -es with defaults (writebackup, backupcopy=auto)" \
	vim -N -u NONE -i NONE -es -c "set backupskip=" -c "%s/size: large/size: small/" -c wq "$R/object.yaml"
check_grep "vim (defaults): replicas: 1" "$R/output/statefulset.yaml" "replicas: 1"
check "vim -es with backupcopy=no (rename into place)" \
	vim -N -u NONE -i NONE -es -c 'set backupcopy=no' -c '%s/size: small/size: medium/' \
	-c 'wq' "$R/object.yaml"
check_grep "vim (backupcopy=no): replicas: 2" "$R/output/statefulset.yaml" "replicas: 2"
check "vim -es with backup and swap files" \
	vim -N -u NONE -i NONE -es -c 'set backup backupskip= swapfile backupcopy=yes' \
	-c '%s/size: medium/size: large/' -c 'wq' "$R/object.yaml"
check_grep "vim (backup=yes): replicas: 3" "$R/output/statefulset.yaml" "replicas: 3"
check "vim's backup object.yaml~ holds the previous content" grep -q "size: medium" "$R/object.yaml~"
check "rm object.yaml~" rm "$R/object.yaml~"

request my-db small >"$WORK/new.yaml"
check "write a scratch file .new.yaml" cp "$WORK/new.yaml" "$R/.new.yaml"
check_grep "a scratch file is not rendered" "$R/output/statefulset.yaml" "replicas: 3"
check "mv .new.yaml object.yaml" mv "$R/.new.yaml" "$R/object.yaml"
check_grep "mv into place: replicas: 1" "$R/output/statefulset.yaml" "replicas: 1"
check "mv into place removes the scratch file" test ! -e "$R/.new.yaml"

gen=$(awk '/^generation:/{print $2}' "$R/status.yaml")
for name in .object.yaml.swp .object.yaml.swx 'object.yaml~' 4913 '.#object.yaml' sedAb12Cd; do
	check "scratch $name: create and write" sh -c "echo 'not: a request' > '$R/$name'"
	check "scratch $name: read back" grep -q "not: a request" "$R/$name"
	check "scratch $name: listed" sh -c "ls -a '$R' | grep -qxF -- '$name'"
	check "scratch $name: rename" mv "$R/$name" "$R/$name.2"
	check "scratch $name: unlink" rm "$R/$name.2"
done
check_eq "scratch files never change the generation" \
	"$(awk '/^generation:/{print $2}' "$R/status.yaml")" "$gen"
check "mv object.yaml object.yaml~ (a backup) succeeds" mv "$R/object.yaml" "$R/object.yaml~"
check "... and the request keeps its object" cmp "$WORK/new.yaml" "$R/object.yaml"
check "... and the backup has the content" cmp "$WORK/new.yaml" "$R/object.yaml~"
check_eq "... and the phase is unchanged" "$(cat "$R/phase")" "Rendered"
rm -f "$R/object.yaml~"

check "touch object.yaml" touch "$R/object.yaml"
check "touch -d on object.yaml" touch -d '2020-01-01' "$R/object.yaml"
request my-db medium >"$WORK/medium.yaml"
check "cp -p into object.yaml" cp -p "$WORK/medium.yaml" "$R/object.yaml"
check_grep "cp -p: replicas: 2" "$R/output/statefulset.yaml" "replicas: 2"
check "truncate(1) + append to object.yaml via a handle (python r+)" python3 -c "
f = open('$R/object.yaml', 'r+')
f.seek(0); f.truncate(0); f.write(open('$WORK/new.yaml').read()); f.close()"
check_grep "r+ rewrite: replicas: 1" "$R/output/statefulset.yaml" "replicas: 1"
check "fsync on object.yaml works" python3 -c "
import os
fd = os.open('$R/object.yaml', os.O_WRONLY | os.O_TRUNC)
os.write(fd, open('$WORK/medium.yaml','rb').read()); os.fsync(fd); os.close(fd)"
check_grep "after fsync+close: replicas: 2" "$R/output/statefulset.yaml" "replicas: 2"

# A request's first object.yaml written with its times preserved (cp -p sets them through the
# open file, before the close that renders it), and touch of a request that has none yet.
check "mkdir a second request" mkdir "$MNT/requests/fresh"
sed 's/name: my-db/name: fresh/' "$WORK/medium.yaml" >"$WORK/fresh.yaml"
check "cp -p into a new request's object.yaml" cp -p "$WORK/fresh.yaml" "$MNT/requests/fresh/object.yaml"
check_grep "cp -p into a new request: rendered" "$MNT/requests/fresh/phase" "Rendered"
check "mkdir a third request" mkdir "$MNT/requests/untouched"
check "touch of an object.yaml that does not exist yet" touch "$MNT/requests/untouched/object.yaml"

check "unmount" unmount_fs
check "scratch state is kept outside the mount" test -d "$STATE/scratch/my-db"
finish
