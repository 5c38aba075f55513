# Shared by the exec tests and bench/exec: small images built offline (busybox-static in a root
# of its own, written into an OCI layout by ociimage.py), read with -o images=LAYOUT.
set -u

# busybox_root DIR: a root folder holding /bin/busybox and a link per applet, /etc/passwd, /tmp.
busybox_root() {
	mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/usr/bin" "$1/proc" "$1/dev" || return 1
	cp /bin/busybox "$1/bin/busybox" || return 1
	local a
	# Each applet where alpine has it (bin/sh, usr/bin/env, ...): scripts name them by path.
	for a in $("$1/bin/busybox" --list-full); do
		[ "$a" = bin/busybox ] && continue
		mkdir -p "$1/$(dirname "$a")"
		ln -sf /bin/busybox "$1/$a"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$1/etc/passwd"
	echo 'root:x:0:' >"$1/etc/group"
}

# oci_image LAYOUT REF ROOT [ociimage.py options]: adds ROOT as image REF to LAYOUT.
oci_image() {
	local layout=$1 ref=$2 rootfs=$3
	shift 3
	/usr/bin/python3 "$SOURCE_ROOT/tests/exec/ociimage.py" "$layout" "$ref" "$rootfs" "$@"
}

# test_images LAYOUT SCRATCH: the images the exec tests and bench/exec use.
#   kratixfs.test/busybox:v1           busybox alone (FROM of the container folders)
#   kratixfs.test/greeting-pipeline:v1 the seed's pattern: /execute-pipeline fills the template
#                                      it carries in /tmp/transfer/ (tests/exec/images/greeting)
#   kratixfs.test/probe:v1             /usr/bin/probe (tests/exec/images/probe)
#   alpine                             busybox alone, standing in for alpine without its apk
#                                      packages (the marketplace's FROM "alpine")
test_images() {
	local layout=$1 tmp=$2 src=$SOURCE_ROOT/tests/exec/images
	busybox_root "$tmp/busybox" || return 1
	oci_image "$layout" kratixfs.test/busybox:v1 "$tmp/busybox" --cmd '["sh"]' || return 1
	oci_image "$layout" docker.io/library/alpine:latest "$tmp/busybox" --cmd '["sh"]' ||
		return 1
	cp -a "$tmp/busybox" "$tmp/greeting"
	mkdir -p "$tmp/greeting/tmp/transfer"
	cp "$src/greeting/execute-pipeline" "$tmp/greeting/execute-pipeline"
	cp "$src/greeting/configmap.yaml" "$tmp/greeting/tmp/transfer/configmap.yaml"
	oci_image "$layout" kratixfs.test/greeting-pipeline:v1 "$tmp/greeting" \
		--cmd '["sh", "-c", "./execute-pipeline"]' --workdir / || return 1
	cp -a "$tmp/busybox" "$tmp/probe"
	cp "$src/probe/probe" "$tmp/probe/usr/bin/probe"
	oci_image "$layout" kratixfs.test/probe:v1 "$tmp/probe" --entrypoint '["/usr/bin/probe"]'
}
