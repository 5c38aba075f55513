#!/usr/bin/env bash
# An image built by mkimage.sh (buildah, busybox-static, local files only) found by
# kfs_image_get in each source it reads: the local container storage, an OCI layout folder, a
# docker-archive and an oci-archive; unpacked once, the same root podman mounts; and a
# container folder's Dockerfile laid over it.
set -u
: "${IMAGE_GET:?set IMAGE_GET to the built kfs-image-get}" "${SOURCE_ROOT:?set SOURCE_ROOT}"
MKIMAGE=$SOURCE_ROOT/tests/exec/mkimage.sh
WORK=$(mktemp -d /tmp/kratixfs-images.XXXXXX)
NAME=localhost/kfs-test-image-sources-$$:1
SHORT=kfs-test-image-sources-$$:1
PASSES=0
FAILS=0
MOUNTED=

cleanup() {
	[ -n "$MOUNTED" ] && podman image unmount "$NAME" >/dev/null 2>&1
	buildah rmi "$NAME" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
pass() { echo "ok   - $1"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL - $1" >&2; FAILS=$((FAILS + 1)); }
# field FILE KEY: the value of KEY= in kfs-image-get's output
field() { sed -n "s/^$2=//p" "$1"; }

mkdir -p "$WORK/extra/work"
echo data >"$WORK/extra/work/f"
printf 'ENV MODE=test\nWORKDIR /work\nCMD ["/bin/sh", "-c", "echo hi"]\n' >"$WORK/extra/Dockerfile.extra"
"$MKIMAGE" "$NAME" "$WORK/out" "$WORK/extra"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL - mkimage.sh $NAME" >&2; exit 1; }
ID=$(cat "$WORK/out/id")

# The local container storage, by the short name buildah was given (kept as localhost/...).
if "$IMAGE_GET" "$WORK/cache" "$SHORT" --storage >"$WORK/s.out" 2>"$WORK/err"; then
	pass "found in the container storage by its short name"
else
	fail "storage: $(cat "$WORK/err")"
fi
[ "$(field "$WORK/s.out" digest)" = "$ID" ] && pass "keyed by the image ID" ||
	fail "digest $(field "$WORK/s.out" digest), expected $ID"
ROOT=$(field "$WORK/s.out" rootfs)
[ "$(field "$WORK/s.out" workdir)" = /work ] && pass "WorkingDir" || fail "workdir"
grep -qx 'env=\[PATH=/bin\] \[MODE=test\]' "$WORK/s.out" && pass "Env" || fail "env: $(grep ^env= "$WORK/s.out")"
grep -qx 'cmd=\[/bin/sh\] \[-c\] \[echo hi\]' "$WORK/s.out" && pass "Cmd" || fail "cmd"
[ "$("$ROOT/bin/sh" -c 'echo ok')" = ok ] && pass "the root's busybox sh runs" || fail "bin/sh"
[ "$(cat "$ROOT/work/f" 2>/dev/null)" = data ] && pass "the folder's files are in the root" ||
	fail "work/f"

# The same root podman mounts: same paths, kinds and modes (the root folder itself aside: podman
# mounts it 0555).
if MNT=$(podman image mount "$NAME" 2>/dev/null); then
	MOUNTED=1
	(cd "$MNT" && find . -mindepth 1 -printf '%p %y %m\n' | sort) >"$WORK/podman.list"
	(cd "$ROOT" && find . -mindepth 1 -printf '%p %y %m\n' | sort) >"$WORK/ours.list"
	diff "$WORK/podman.list" "$WORK/ours.list" >"$WORK/diff" && pass "the same tree podman mounts" ||
		fail "the unpacked root differs from podman's: $(head -5 "$WORK/diff")"
	podman image unmount "$NAME" >/dev/null 2>&1
	MOUNTED=
fi

# Unpacked once: a second get neither copies (skopeo fails if started) nor changes the root.
mkdir -p "$WORK/nobin"
printf '#!/bin/sh\necho "skopeo must not run" >&2\nexit 1\n' >"$WORK/nobin/skopeo"
chmod +x "$WORK/nobin/skopeo"
ino=$(stat -c %i "$ROOT/bin/busybox")
if PATH=$WORK/nobin:$PATH "$IMAGE_GET" "$WORK/cache" "$NAME" --storage >"$WORK/s2.out" 2>"$WORK/err"; then
	pass "second get from the cache"
else
	fail "second get: $(cat "$WORK/err")"
fi
[ "$(stat -c %i "$ROOT/bin/busybox")" = "$ino" ] && pass "the root was not unpacked again" ||
	fail "bin/busybox has a new inode"

# A copy out of the storage that fails: its error, and nothing left in the cache.
PATH=$WORK/nobin:$PATH "$IMAGE_GET" "$WORK/cache-fail" "$NAME" --storage >/dev/null 2>"$WORK/err"
[ $? -eq 1 ] && grep -q "skopeo copy containers-storage:" "$WORK/err" &&
	grep -q "skopeo must not run" "$WORK/err" && pass "a failed copy out of the storage says why" ||
	fail "failed skopeo: $(cat "$WORK/err")"
[ -z "$(ls -A "$WORK/cache-fail" 2>/dev/null)" ] && pass "a failed unpack leaves nothing" ||
	fail "cache-fail holds $(ls -A "$WORK/cache-fail")"

# Each saved form, in its own cache: the same image ID, the same files.
for src in oci docker.tar oci.tar; do
	cache=$WORK/cache-$src
	if "$IMAGE_GET" "$cache" "$NAME" "$WORK/out/$src" >"$WORK/$src.out" 2>"$WORK/err"; then
		pass "found in $src"
	else
		fail "$src: $(cat "$WORK/err")"
		continue
	fi
	[ "$(field "$WORK/$src.out" digest)" = "$ID" ] && pass "$src: the image ID" ||
		fail "$src: digest $(field "$WORK/$src.out" digest), expected $ID"
	r=$(field "$WORK/$src.out" rootfs)
	(cd "$r" && find . -mindepth 1 -printf '%p %y %m\n' | sort) >"$WORK/$src.list"
	diff "$WORK/ours.list" "$WORK/$src.list" >/dev/null 2>&1 && pass "$src: the same tree" ||
		fail "$src: the tree differs"
done
# An image the sources do not hold: -ENOENT (exit 2), naming it and how to get it.
"$IMAGE_GET" "$WORK/cache" localhost/kfs-no-such-image:1 --storage "$WORK/out/oci" \
	>/dev/null 2>"$WORK/err"
[ $? -eq 2 ] && pass "missing image: ENOENT" || fail "missing image: exit status"
grep -q "podman pull localhost/kfs-no-such-image:1" "$WORK/err" && grep -q "$WORK/out/oci" "$WORK/err" &&
	grep -q "container storage" "$WORK/err" && pass "missing image: where it looked, how to get it" ||
	fail "missing image message: $(cat "$WORK/err")"

# A container folder: its Dockerfile on the image.
mkdir -p "$WORK/folder/scripts"
echo 'echo pipeline' >"$WORK/folder/scripts/pipeline.sh"
cat >"$WORK/folder/Dockerfile" <<EOF
FROM $NAME
ENV PATH=/opt/bin:\$PATH
COPY scripts/ /opt/scripts/
RUN apk add --no-cache yq
ENTRYPOINT ["/bin/sh", "/opt/scripts/pipeline.sh"]
EOF
if "$IMAGE_GET" --recipe "$WORK/folder" "$WORK/cache" "$NAME" --storage >"$WORK/r.out" 2>"$WORK/err"; then
	pass "recipe on the image"
else
	fail "recipe: $(cat "$WORK/err")"
fi
grep -q "^skipped=Dockerfile:4: RUN apk add --no-cache yq" "$WORK/r.out" &&
	pass "RUN listed with its file and line" || fail "skipped RUN"
grep -qx 'env=\[PATH=/opt/bin:/bin\] \[MODE=test\]' "$WORK/r.out" && pass "ENV on the image's PATH" ||
	fail "recipe env: $(grep ^env= "$WORK/r.out")"
grep -qx 'cmd=' "$WORK/r.out" && pass "ENTRYPOINT drops the image's CMD" || fail "recipe cmd"

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
