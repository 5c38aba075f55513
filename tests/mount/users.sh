#!/bin/bash
# Other users (-o allow_other): a request folder belongs to its creator, modes are real and the
# kernel checks them (allow_other implies default_permissions), requests/ is sticky like /tmp.
# Another user can neither rewrite nor remove root's request, and nothing of theirs reaches Git.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
OTHER_USER=kfs-other
id "$OTHER_USER" >/dev/null 2>&1 || useradd -M -s /bin/sh "$OTHER_USER" 2>/dev/null ||
	{ echo "SKIP: cannot create the user $OTHER_USER"; exit 77; }
chmod 0755 "$WORK" # the other user must reach the mount point
cp "$SEED" "$WORK/seed.yaml" && chmod 0644 "$WORK/seed.yaml"
request theirs small >"$WORK/theirs.yaml" && chmod 0644 "$WORK/theirs.yaml"
as_other() { su -s /bin/sh "$OTHER_USER" -c "$1"; }
GIT=$WORK/state.git
mount_fs -o "allow_other,git=$GIT"
R=$MNT/requests/my-db
mkdir "$R" && cp "$SEED" "$R/object.yaml"
deletes() { git -C "$GIT" log --format=%s | grep -c '^Delete from' || true; }

check_eq "requests/ is sticky and open to all, as /tmp" "$(stat -c %a "$MNT/requests")" "1777"
check_eq "root's request folder is root's" "$(stat -c %U:%a "$R")" "root:755"
check "another user reads root's outputs (mode 0755 folder, 0444 files)" \
	as_other "cat '$R/output/service.yaml'"
check_fails "another user cannot rewrite root's object.yaml" as_other "cp '$WORK/seed.yaml' '$R/object.yaml'"
check_grep "  ... Permission denied" "$WORK/err" "Permission denied"
check_fails "another user cannot rm -rf root's request" as_other "rm -rf '$R'"
check "  ... it is all there" test -s "$R/output/statefulset.yaml"
check "  ... with its object.yaml" cmp "$SEED" "$R/object.yaml"
check_eq "  ... and Git got no Delete" "$(deletes)" "0"
check_fails "another user cannot chmod root's request" as_other "chmod 777 '$R'"
check_fails "another user cannot create a file in root's request" as_other "touch '$R/x'"

T=$MNT/requests/theirs
check "another user makes a request of their own" \
	as_other "mkdir '$T' && cp '$WORK/theirs.yaml' '$T/object.yaml'"
check_eq "  ... the folder is theirs" "$(stat -c %U "$T")" "$OTHER_USER"
check_eq "  ... and object.yaml too" "$(stat -c %U "$T/object.yaml")" "$OTHER_USER"
check_grep "  ... it renders" "$T/output/statefulset.yaml" "replicas: 1"
check "they chmod it 0700" as_other "chmod 700 '$T'"
check_eq "  ... stat says 700" "$(stat -c %a "$T")" "700"
check "they chmod object.yaml 0600" as_other "chmod 600 '$T/object.yaml'"
check_eq "  ... stat says 600" "$(stat -c %a "$T/object.yaml")" "600"
check "root chmods its own request 0700" chmod 700 "$R"
check_fails "  ... then another user cannot read it" as_other "cat '$R/object.yaml'"
check_fails "chown by a user who is not root fails" as_other "chown root '$T'"
check "chown by root works" chown "root:root" "$T"
check_eq "  ... stat says root" "$(stat -c %U "$T")" "root"
check "  ... and back" chown "$OTHER_USER" "$T"
# A rename moves an inode on a real filesystem: its owner and mode go with it. Another user may
# rename in a folder they can write, but must not read through it what they could not read.
S=$MNT/requests/shared
mkdir "$S" && request shared small >"$S/object.yaml" && chmod 777 "$S" && chmod 600 "$S/object.yaml"
check_fails "another user cannot read a 0600 object.yaml" as_other "cat '$S/object.yaml'"
as_other "mv '$S/object.yaml' '$S/stolen'" >/dev/null 2>&1
check_eq "  ... renamed by them, the copy keeps root's owner and mode" \
	"$(stat -c %U:%a "$S/stolen" 2>/dev/null)" "root:600"
check_fails "  ... so they still cannot read it" as_other "cat '$S/stolen'"
echo "password: hunter2" >"$S/secret.txt" && chmod 600 "$S/secret.txt"
check_fails "another user cannot rename root's 0600 scratch file onto object.yaml" \
	as_other "mv '$S/secret.txt' '$S/object.yaml'"
check_grep "  ... Permission denied" "$WORK/err" "Permission denied"
check "  ... the scratch file is still root's alone" test "$(stat -c %U:%a "$S/secret.txt")" = root:600
check_fails "chmod of a generated file fails" chmod 600 "$R/status.yaml"
check_fails "chmod of the requests folder fails (it is the mount's)" chmod 700 "$MNT/requests"

check "unmount" unmount_fs
mount_fs -o "allow_other,git=$GIT"
check_eq "after a restart: owners and modes are kept" \
	"$(stat -c %U:%a "$T" "$T/object.yaml" "$R" | tr '\n' ' ')" \
	"$OTHER_USER:700 $OTHER_USER:600 root:700 "
check "they rm -rf their own request" as_other "rm -rf '$T'"
check "  ... it is gone" test ! -e "$T"
check "unmount" unmount_fs
finish
