#!/bin/bash
# The operator's install: `make install DESTDIR=...` puts every file where it belongs, the
# installed binary finds its daemon and its bundled promises, systemd-analyze accepts the unit,
# and the unit's commands mount, reload and unmount as systemd would run them.
. "$(dirname "$0")/lib.sh"
need_root_fuse
install_copy /usr/local
P=$DEST/usr/local

for f in bin/kratixfs libexec/kratixfs/kratixfs-daemon sbin/mount.kratixfs \
	sbin/mount.fuse.kratixfs share/kratixfs/promises/postgresql/promise.yaml \
	lib/systemd/system/kratixfs@.service share/man/man8/kratixfs.8 \
	share/man/man8/mount.kratixfs.8 share/bash-completion/completions/kratixfs \
	share/zsh/site-functions/_kratixfs; do
	check "installed: $f" test -e "$P/$f"
done
check "the bash completion is the one for kratixfs" grep -q "^complete .* kratixfs$" \
	"$P/share/bash-completion/completions/kratixfs"
check "the zsh completion declares itself for kratixfs" grep -qx "#compdef kratixfs" \
	"$P/share/zsh/site-functions/_kratixfs"
check "mount.kratixfs is executable" test -x "$P/sbin/mount.kratixfs"
check "mount.fuse.kratixfs is the same helper" \
	test "$(readlink -f "$P/sbin/mount.fuse.kratixfs")" = "$(readlink -f "$P/sbin/mount.kratixfs")"
check "the bundled promises keep their golden cases" test -d "$P/share/kratixfs/promises/postgresql/test-input"
check "nothing is installed outside the prefix" \
	test "$(find "$DEST" -mindepth 1 -maxdepth 2 | sort | tr '\n' ' ')" = "$DEST/usr $DEST/usr/local "

"$P/bin/kratixfs" --help >"$WORK/help" 2>&1
check_grep "the installed binary's default promises are the installed ones" "$WORK/help" \
	"(default $P/share/kratixfs/promises)"
"$P/libexec/kratixfs/kratixfs-daemon" --help >"$WORK/dhelp" 2>&1
check_grep "  ... and so are the installed daemon's" "$WORK/dhelp" \
	"(default $P/share/kratixfs/promises)"
check "the installed golden cases pass" "$P/bin/kratixfs" test "$P/share/kratixfs/promises/postgresql"
mkdir -p "$WORK/k/input"
cp "$SOURCE_ROOT/templates/postgresql/example-resource.yaml" "$WORK/k/input/object.yaml"
# A mark only the installed copy has, so that rendering the source tree's promises would fail.
echo "# rendered from the installed promises" >>"$(find "$P/share/kratixfs/promises/postgresql/workflows" -name statefulset.yaml)"
check "the installed kratixfs render uses the installed promises" \
	env -u KRATIXFS_PROMISES "$P/bin/kratixfs" render --kratix "$WORK/k"
check_grep "  ... and renders their StatefulSet" "$WORK/k/output/statefulset.yaml" \
	"# rendered from the installed promises"

# systemd-analyze verify: on a copy of the unit whose ExecStart names the DESTDIR binary (it
# checks that the command exists), with the installed man pages on MANPATH (it checks them too).
UNIT=$P/lib/systemd/system/kratixfs@.service
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$WORK/units"
	sed "s|/usr/local/bin/kratixfs|$P/bin/kratixfs|" "$UNIT" >"$WORK/units/kratixfs@.service"
	cp "$WORK/units/kratixfs@.service" "$WORK/units/kratixfs@srv-kratix.service"
	check "systemd-analyze verify accepts kratixfs@srv-kratix.service" \
		env MANPATH="$P/share/man" systemd-analyze verify "$WORK/units/kratixfs@srv-kratix.service"
else
	echo "SKIP: systemd-analyze is missing (make deps installs systemd)"
fi
check_grep "the unit restarts on failure" "$UNIT" "Restart=on-failure"
check_grep "the unit reloads with SIGHUP" "$UNIT" "ExecReload=/bin/kill -HUP \$MAINPID"
check_grep "the unit unmounts on stop" "$UNIT" "ExecStop=-fusermount3 -u %f"
check_grep "the unit mounts at the escaped instance's path" "$UNIT" " %f"

# The unit's commands, as systemd runs kratixfs@<escaped $WORK/srv/kratix>.service: %f and
# the environment expanded, ExecStart in the foreground, then reload and stop.
MNT=$WORK/srv/kratix
unit_cmd() {
	sed -n "s/^$1=-\{0,1\}//p" "$UNIT" | sed -e "s|%f|$MNT|g" -e 's/\$\$/$/g' \
		-e "s|\${STATE_DIRECTORY}|$WORK/unit-state|" -e "s|/usr/local/bin/kratixfs|$P/bin/kratixfs|" \
		-e "s|\$KRATIXFS_OPTS|-o promises=$SOURCE_ROOT/templates,git=$WORK/unit-git|"
}
at_exit "fusermount3 -uz '$MNT'"
eval "$(unit_cmd ExecStartPre | head -n 1)"
eval "exec $(unit_cmd ExecStart)" >"$WORK/unit.log" 2>&1 &
MAINPID=$!
check "ExecStartPost: the mount is there when start returns" eval "$(unit_cmd ExecStartPost)"
mkdir "$MNT/requests/my-db"
check "the unit's mount renders" \
	cp "$SOURCE_ROOT/templates/postgresql/example-resource.yaml" "$MNT/requests/my-db/object.yaml"
check "  ... and commits to -o git from KRATIXFS_OPTS" grep -qx Committed "$MNT/requests/my-db/phase"
check "  ... the state is in STATE_DIRECTORY" test -d "$WORK/unit-state/scratch"
check "ExecReload" eval "$(unit_cmd ExecReload)"
check "  ... re-reads the promises" wait_for 2000 grep -q "reload trigger=SIGHUP" "$WORK/unit.log"
check "ExecStop unmounts" eval "$(unit_cmd ExecStop)"
rc=0
wait "$MAINPID" || rc=$?
check "  ... and the daemon exits 0" test "$rc" -eq 0
check "  ... after a clean stop" grep -q "info stop mountpoint=$MNT reason=unmounted" "$WORK/unit.log"
check "ExecStopPost on an unmounted folder is harmless (its failure is ignored: '-')" \
	grep -q '^ExecStopPost=-fusermount3 -uz %f' "$UNIT"
finish
