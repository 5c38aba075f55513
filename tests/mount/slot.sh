#!/bin/bash
# The mount as a pipeline's /kratix: after a run of input/object.yaml, a later "container" (the
# commands below) adds, edits, renames and removes files under output/ and metadata/, checked as
# rendered files are, until the next write of input/object.yaml starts a new run.
. "$(dirname "$0")/lib.sh"
mount_fs
K=$MNT

check "a run: cp the seed into input/object.yaml" cp "$SEED" "$K/input/object.yaml"
check "output/ is the render" diff -r "$GOLDEN/my-db/output" "$K/output"

cat >"$WORK/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
data:
  size: small
EOF
check "cp a new output" cp "$WORK/cm.yaml" "$K/output/extra.yaml"
check "cat reads it back" cmp "$WORK/cm.yaml" "$K/output/extra.yaml"
check "stat: the mount's owner may write it" test -w "$K/output/extra.yaml"
check "mkdir -p output/sub/deep" mkdir -p "$K/output/sub/deep"
check "tee a file into the sub-folder" sh -c "tee '$K/output/sub/deep/more.yaml' <'$WORK/cm.yaml' >/dev/null"
check_eq "ls output/sub/deep" "$(ls "$K/output/sub/deep")" "more.yaml"
check "sed -i edits an output in place" sed -i 's/size: small/size: large/' "$K/output/extra.yaml"
check_grep "  ... the edit is there" "$K/output/extra.yaml" "size: large"
check "sed -i edits a rendered output" sed -i 's/replicas: 2/replicas: 5/' "$K/output/statefulset.yaml"
check_grep "  ... replicas: 5" "$K/output/statefulset.yaml" "replicas: 5"
check_eq "  ... sed left no temporary file" "$(ls "$K/output" | grep -c '^sed')" "0"
check "mv renames an output into the sub-folder" mv "$K/output/extra.yaml" "$K/output/sub/extra.yaml"
check "  ... the old name is gone" test ! -e "$K/output/extra.yaml"
check_grep "  ... the new one reads" "$K/output/sub/extra.yaml" "size: large"
check_grep "  ... the slot's status lists it" "$K/status.yaml" "path: sub/extra.yaml"
check "echo >> appends to an output (O_APPEND)" sh -c "echo '  more: yes' >>'$K/output/sub/extra.yaml'"
check_grep "  ... appended" "$K/output/sub/extra.yaml" "more: yes"
check "truncate -s 0 empties an output" truncate -s 0 "$K/output/sub/deep/more.yaml"
check_eq "  ... size 0" "$(stat -c %s "$K/output/sub/deep/more.yaml")" "0"
check "rm a rendered output" rm "$K/output/secret.yaml"
check "  ... gone" test ! -e "$K/output/secret.yaml"
check "rmdir of a folder that is not empty fails" sh -c "! rmdir '$K/output/sub' 2>/dev/null"
check "rm -r a sub-folder" rm -r "$K/output/sub/deep"
check_eq "  ... output/sub holds the rest" "$(ls "$K/output/sub")" "extra.yaml"
check_fails "rmdir output/ itself" rmdir "$K/output"
check_grep "  ... busy, as Kratix's volume mount" "$WORK/err" "busy"

# A bad YAML output is refused at its close: the file keeps its bytes, the log says why.
printf 'kind: [\n' >"$WORK/bad.yaml"
cp "$K/output/service.yaml" "$WORK/service-before"
check_fails "cp a bad YAML output" cp "$WORK/bad.yaml" "$K/output/service.yaml"
check_grep "  ... cp reports EIO" "$WORK/err" "Input/output error"
check "  ... the file keeps its previous bytes" cmp "$WORK/service-before" "$K/output/service.yaml"
check_grep "  ... the daemon's log says why" "$WORK/daemon.log" "slot-refused op=put path=output/service.yaml"
check_fails "tee a bad new output" sh -c "tee '$K/output/new.yaml' <'$WORK/bad.yaml' >/dev/null"
check "  ... it was never created" test ! -e "$K/output/new.yaml"
check "a file that is not YAML by name takes any bytes" cp "$WORK/bad.yaml" "$K/output/notes.txt"
check_fails "mv it to a .yaml name" mv "$K/output/notes.txt" "$K/output/notes.yaml"
check "  ... nothing moved" test -e "$K/output/notes.txt" -a ! -e "$K/output/notes.yaml"
check_fails "mv an output out to input/" mv "$K/output/notes.txt" "$K/input/notes.txt"

# metadata/: a script appends a condition to status.yaml, as a later container does.
cat >"$WORK/add-condition.sh" <<'EOF'
#!/bin/sh
set -e
cd "$1/metadata"
cp status.yaml /tmp/kratixfs-slot-status.$$
cat >>/tmp/kratixfs-slot-status.$$ <<'YAML'
conditions:
  - type: DatabaseReady
    status: "True"
    reason: Provisioned
    message: the database answers
YAML
cp /tmp/kratixfs-slot-status.$$ status.yaml
rm -f /tmp/kratixfs-slot-status.$$
EOF
chmod +x "$WORK/add-condition.sh"
check "a script appends a condition to metadata/status.yaml" "$WORK/add-condition.sh" "$K"
check_grep "  ... the file has it" "$K/metadata/status.yaml" "type: DatabaseReady"
check_grep "  ... the slot's merged status has it" "$K/status.yaml" "reason: Provisioned"
check_grep "  ... beside the daemon's conditions" "$K/status.yaml" "type: Reconciled"
check_fails "a status.yaml with a kratix key" sh -c "printf 'kratix: {}\n' | tee -a '$K/metadata/status.yaml' >/dev/null"
check_grep "  ... EIO" "$WORK/err" "Input/output error"
check_grep "  ... kept as it was" "$K/metadata/status.yaml" "type: DatabaseReady"
check "sed -i on metadata/status.yaml" sed -i 's/the database answers/ready/' "$K/metadata/status.yaml"
check_grep "  ... edited" "$K/metadata/status.yaml" "message: ready"
check "destination-selectors.yaml: a valid list" sh -c \
	"printf -- '- matchLabels:\n    environment: dev\n' | tee '$K/metadata/destination-selectors.yaml' >/dev/null"
check_fails "destination-selectors.yaml: an entry without matchLabels" sh -c \
	"printf -- '- directory: x\n' | tee '$K/metadata/destination-selectors.yaml' >/dev/null"
check_grep "  ... says so in the log" "$WORK/daemon.log" "has no selectors"
check_grep "  ... kept as it was" "$K/metadata/destination-selectors.yaml" "environment: dev"
check "workflow-control.yaml: suspend" sh -c \
	"printf 'suspend: true\nmessage: waiting\n' | tee '$K/metadata/workflow-control.yaml' >/dev/null"
check_fails "workflow-control.yaml: a retryAfter that is not a duration" sh -c \
	"printf 'retryAfter: soon\n' | tee '$K/metadata/workflow-control.yaml' >/dev/null"

# Restarts keep the slot's files.
snapshot() { (cd "$K" && find output metadata | sort && cat output/sub/extra.yaml metadata/*); }
snapshot >"$WORK/before-restart"
unmount_fs || fail "unmount"
mount_fs
snapshot >"$WORK/after-restart"
check "a restart shows the slot's files as they were" diff "$WORK/before-restart" "$WORK/after-restart"

# The next write of input/object.yaml starts a new run: output/ and metadata/ are its render.
sed 's/size: medium/size: huge/' "$SEED" >"$WORK/huge.yaml"
check_fails "a refused input/object.yaml" cp "$WORK/huge.yaml" "$K/input/object.yaml"
check "  ... starts no run: the slot's files stay" test -e "$K/output/sub/extra.yaml"
exec 3<"$K/output/sub/extra.yaml" # a reader holds a file the next run removes
check "the same input again" cp "$SEED" "$K/input/object.yaml"
check_eq "  ... the reader keeps reading what it opened" "$(grep -c 'more: yes' <&3)" "1"
exec 3<&-
check "  ... a new run: output/ is the render again" diff -r "$GOLDEN/my-db/output" "$K/output"
check "  ... the added files are gone" test ! -e "$K/output/sub"
check "  ... metadata/ is the render's" test ! -e "$K/metadata/workflow-control.yaml" \
	-a ! -e "$K/metadata/destination-selectors.yaml"
check "  ... its status.yaml too" sh -c "! grep -q DatabaseReady '$K/metadata/status.yaml'"
check "a new file after the run" cp "$WORK/cm.yaml" "$K/output/extra.yaml"
check "sed -i after the run" sed -i 's/replicas: 2/replicas: 4/' "$K/output/statefulset.yaml"
check_grep "  ... replicas: 4" "$K/output/statefulset.yaml" "replicas: 4"

# A shell's `>` opens the file with O_TRUNC, dup2s it to the command's stdout and closes the
# first descriptor before anything is written: nothing is stored until the content comes, so a
# refused content leaves the file as it was. The shell's status is 0 (it ignores that close's
# error): the file tells.
cp "$K/output/statefulset.yaml" "$WORK/sts-before"
sh -c "printf 'kind: [\n' >'$K/output/statefulset.yaml'" 2>/dev/null
bash -c "cat '$WORK/bad.yaml' >'$K/output/statefulset.yaml'" 2>/dev/null
check "a bad YAML through a shell's > keeps the file's bytes" \
	cmp "$WORK/sts-before" "$K/output/statefulset.yaml"
check_eq "  ... and its size" "$(stat -c %s "$K/output/statefulset.yaml")" \
	"$(stat -c %s "$WORK/sts-before")"
check_grep "  ... the log says why" "$WORK/daemon.log" "slot-refused op=put path=output/statefulset.yaml"
sh -c "printf 'kind: [\n' >'$K/output/fresh.yaml'" 2>/dev/null
check "  ... a bad new file through > is created empty (the shell's first close), without the bad bytes" \
	test -e "$K/output/fresh.yaml" -a ! -s "$K/output/fresh.yaml"
sed 's/replicas: 4/replicas: 6/' "$WORK/sts-before" >"$WORK/sts-good"
check "a good one through > lands" sh -c "cat '$WORK/sts-good' >'$K/output/statefulset.yaml'"
check "  ... its bytes are the file's" cmp "$WORK/sts-good" "$K/output/statefulset.yaml"
check "printf through > lands" sh -c "printf 'a: 1\n' >'$K/output/printed.yaml'"
check_eq "  ... its bytes are the file's" "$(cat "$K/output/printed.yaml")" "a: 1"
check "touch then mv of a new file" sh -c "touch '$K/output/touched.yaml' && mv '$K/output/touched.yaml' '$K/output/moved.yaml'"
check "  ... moved, empty" test -e "$K/output/moved.yaml" -a ! -s "$K/output/moved.yaml"
check ": > of an existing file" sh -c ": >'$K/output/printed.yaml'"
check "  ... stores it empty (at the release, just after the close)" \
	wait_for 2000 test -e "$K/output/printed.yaml" -a ! -s "$K/output/printed.yaml"

# A file opened before a new run never stores its bytes over the new run's file: its close
# gets ESTALE, and the log says a new run started since it was opened.
exec 7>>"$K/output/secret.yaml"
check "a new run while a writer holds a file" cp "$SEED" "$K/input/object.yaml"
cp "$K/output/secret.yaml" "$WORK/secret-new-run"
echo 'x: 1' >&7
exec 7>&-
check "  ... the old writer's close does not replace the new run's file" \
	cmp "$WORK/secret-new-run" "$K/output/secret.yaml"
check_grep "  ... the log says why" "$WORK/daemon.log" "a new run started since it was opened"
sed 's/size: medium/size: large/' "$SEED" >"$WORK/large.yaml"
check "ESTALE from an old writer's close" /usr/bin/python3 -c '
import errno, shutil, sys
k, large = sys.argv[1], sys.argv[2]
f = open(k + "/output/service.yaml", "ab", buffering=0)
shutil.copyfile(large, k + "/input/object.yaml")
f.write(b"x: 1\n")
try:
    f.close()
except OSError as e:
    sys.exit(0 if e.errno == errno.ESTALE else "close: %s" % e)
sys.exit("close succeeded")
' "$K" "$WORK/large.yaml"
check "  ... the new run's file is the render's" sh -c "! grep -q 'x: 1' '$K/output/service.yaml'"
check "a writer opened in the new run stores" sh -c "echo '# kept' >>'$K/output/service.yaml'"
check_grep "  ... stored" "$K/output/service.yaml" "# kept"
check "a new file in this run (the other users' checks below read it)" \
	cp "$WORK/cm.yaml" "$K/output/extra.yaml"

# requests/<name>/output stays read-only.
mkdir "$K/requests/my-db"
check "a request" cp "$SEED" "$K/requests/my-db/object.yaml"
check_fails "a request's output/ takes no new file" cp "$WORK/cm.yaml" "$K/requests/my-db/output/x.yaml"
check_grep "  ... read-only" "$WORK/err" "Read-only file system"
check_fails "nor an edit" sed -i 's/a/b/' "$K/requests/my-db/output/service.yaml"

unmount_fs || fail "unmount"

# Who may write: the mount's owner. With allow_other the kernel checks the slot's modes (folders
# 0755, files 0644, the mounting user's): other users read, and change nothing.
OTHER_USER=kfs-other
if id "$OTHER_USER" >/dev/null 2>&1 || useradd -M -s /bin/sh "$OTHER_USER" 2>/dev/null; then
	as_other() { su -s /bin/sh "$OTHER_USER" -c "$1"; }
	chmod 0755 "$WORK" && chmod 0644 "$WORK/cm.yaml"
	mount_fs -o allow_other
	check_eq "the slot's output/ is the mount owner's, 0755" \
		"$(stat -c %u:%a "$K/output")" "$(id -u):755"
	check "another user reads the slot's files" as_other "cat '$K/output/extra.yaml'"
	check_fails "another user cannot add a file" as_other "cp '$WORK/cm.yaml' '$K/output/theirs.yaml'"
	check_grep "  ... Permission denied" "$WORK/err" "Permission denied"
	check_fails "nor edit one" as_other "sed -i 's/extra/theirs/' '$K/output/extra.yaml'"
	check_fails "nor remove one" as_other "rm -f '$K/output/extra.yaml'"
	check "  ... it is all there" cmp "$WORK/cm.yaml" "$K/output/extra.yaml"
	check_fails "nor chmod the slot open" as_other "chmod 777 '$K/output'"
	check_fails "its owner cannot chmod it either (the modes are fixed)" chmod 777 "$K/output"
	check "the owner still writes" cp "$WORK/cm.yaml" "$K/output/mine.yaml"
	unmount_fs || fail "unmount"
else
	echo "skip - other users: cannot create the user $OTHER_USER"
fi
finish
