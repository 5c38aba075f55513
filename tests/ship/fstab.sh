#!/bin/bash
# mount(8) and /etc/fstab, through the installed files: `mount -t fuse.kratixfs SOURCE DIR -o ...`
# with mount(8)'s own options (nofail, _netdev, x-systemd.*), both through mount.fuse3 (kratixfs
# on the default PATH) and through the installed mount.fuse.kratixfs / mount.kratixfs helpers.
# mount(8) looks for helpers in /sbin only and runs them without PATH, so the test runs in a
# private mount namespace where the DESTDIR install is overlaid on /usr/local (and on /usr/sbin
# for the helper): nothing outside the test sees it.
if [ -z "${KFS_SHIP_NS:-}" ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	KFS_SHIP_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
need_root_fuse
if [ -z "${KFS_SHIP_NS:-}" ]; then
	echo "SKIP: unshare is missing"
	exit 77
fi
install_copy /usr/local
P=$DEST/usr/local
MNT=$WORK/kratix
PROMISES=$WORK/promises
SEED=$SOURCE_ROOT/templates/postgresql/example-resource.yaml
mkdir -p "$MNT"
cp -r "$SOURCE_ROOT/templates" "$PROMISES"
# mount(8) makes a source that names a file in the current folder a path: meson runs the tests
# in the build folder, which holds a file named kratixfs.
cd "$WORK" || exit 1

if ! mount -t overlay overlay -o "lowerdir=$P:/usr/local" /usr/local 2>"$WORK/err"; then
	echo "SKIP: overlayfs is not available: $(cat "$WORK/err")"
	exit 77
fi
at_exit "umount -l /usr/local"
# The daemon serving $MNT: mount(8) started it, so its process id is found, not known.
daemon_pid() {
	for p in /proc/[0-9]*; do
		case $(readlink "$p/exe" 2>/dev/null) in
		*/kratixfs-daemon) grep -qsF "$MNT" "$p/cmdline" && echo "${p#/proc/}" ;;
		esac
	done
}
# Should an unmount have failed: the lazy unmount, then that daemon, by its id.
# shellcheck disable=SC2016 # expanded at exit
at_exit 'umount -l "$MNT"; for p in $(daemon_pid); do kill "$p"; done'

# mounted_by_mount DESCRIPTION: the mount works, then umount(8) stops it and its daemon.
mounted() {
	check "$1: mounted as fuse.kratixfs" \
		grep -q " $MNT fuse.kratixfs " /proc/mounts
	local r=$MNT/requests/t$2
	mkdir "$r"
	sed "s/^  name: my-db/  name: t$2/" "$SEED" >"$WORK/req.yaml"
	check "$1: a request renders" cp "$WORK/req.yaml" "$r/object.yaml"
	check "$1: ... into output/" test -s "$r/output/statefulset.yaml"
	local pid
	pid=$(daemon_pid)
	check "$1: one daemon serves it ($pid)" test "$(echo "$pid" | wc -w)" -eq 1
	check "$1: umount" umount "$MNT"
	check "$1: ... and the daemon exits" wait_for 3000 gone "$pid"
}

# 1. No helper in /sbin: mount(8) runs /sbin/mount.fuse -> mount.fuse3, which runs
#    `kratixfs SOURCE MOUNTPOINT -o OPTIONS` from the default PATH (/usr/local/bin).
check "mount -t fuse.kratixfs through mount.fuse3" \
	mount -t fuse.kratixfs "$PROMISES" "$MNT" \
	-o "state=$WORK/state1,git=$WORK/git1,nofail,_netdev,x-systemd.automount"
check "  ... with SOURCE as the promises folder" grep -q "^$PROMISES $MNT " /proc/mounts
mounted "mount.fuse3" 1
check "  ... and -o git= committed" git --git-dir="$WORK/git1" log --oneline -1

# 2. The installed helper, where mount(8) looks for it.
if mount -t overlay overlay -o "lowerdir=$P/sbin:/usr/sbin" /usr/sbin 2>"$WORK/err"; then
	at_exit "umount -l /usr/sbin"
	check "mount.fuse.kratixfs is what mount(8) finds" test -x /sbin/mount.fuse.kratixfs
	check "mount -v -t fuse.kratixfs through mount.fuse.kratixfs" \
		mount -v -t fuse.kratixfs "$PROMISES" "$MNT" \
		-o "state=$WORK/state2,nofail,_netdev,noauto,user,x-systemd.requires=foo.service"
	cp "$WORK/out" "$WORK/helper.out"
	check_grep "  ... the helper ran the installed kratixfs with the promises as source" \
		"$WORK/helper.out" "/usr/local/bin/kratixfs $PROMISES $MNT -o rw,"
	check_grep "  ... with the kratixfs options" "$WORK/helper.out" ",state=$WORK/state2"
	for o in nofail _netdev noauto x-systemd; do
		check_no_grep "  ... without mount(8)'s $o" "$WORK/helper.out" "$o"
	done
	mounted "mount.fuse.kratixfs" 2

	check "mount -t kratixfs (mount.kratixfs), source 'kratixfs': the bundled promises" \
		mount -t kratixfs kratixfs "$MNT" -o "state=$WORK/state3"
	check "  ... mounted from the installed promises" \
		grep -q "^/usr/local/share/kratixfs/promises $MNT fuse.kratixfs " /proc/mounts
	mounted "mount.kratixfs" 3

	printf '%s %s fuse.kratixfs state=%s,git=%s,nofail,_netdev 0 0\n' \
		"$PROMISES" "$MNT" "$WORK/state4" "$WORK/git4" >"$WORK/fstab"
	check "an fstab line: mount -T FSTAB MOUNTPOINT" mount -T "$WORK/fstab" "$MNT"
	mounted "fstab" 4
	check "  ... and it committed to its git=" git --git-dir="$WORK/git4" log --oneline -1

	check "mount.kratixfs -f prints the command and mounts nothing" \
		/sbin/mount.kratixfs -f "$PROMISES" "$MNT" -o "nofail,state=$WORK/s5,comment=x"
	check_grep "  ... without nofail or comment=" "$WORK/out" \
		"/usr/local/bin/kratixfs $PROMISES $MNT -o state=$WORK/s5"
	check "  ... nothing mounted" eval "! grep -q ' $MNT ' /proc/mounts"
else
	echo "SKIP: cannot overlay /usr/sbin: $(cat "$WORK/err")"
fi
finish
