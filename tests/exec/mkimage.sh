#!/usr/bin/env bash
# Builds a small test image from local files only (no registry):
#
#   mkimage.sh NAME OUT [DIR]
#
# NAME (e.g. localhost/kfs-test-busybox:1) is built `FROM scratch` with Debian's busybox-static
# at /bin/busybox and a link in /bin for each of its applets (sh, sed, awk, cat, ...), a
# /etc/passwd and /etc/group with root and nobody, and PATH=/bin; DIR's files are copied over
# the root when given, and DIR/Dockerfile.extra (if there) is appended to the Dockerfile (ENV,
# WORKDIR, USER, ENTRYPOINT, CMD lines). `buildah bud` builds it into the local container
# storage (COPY works offline), then skopeo saves it three ways:
#
#   OUT/oci          an OCI image layout folder (ref.name NAME)
#   OUT/docker.tar   a docker-archive, as `docker save` / `podman save` write one
#   OUT/oci.tar      an oci-archive
#
# and OUT/id holds the image ID (its config's digest, sha256:<hex>). Exits 77 (skip) when
# buildah, skopeo or busybox-static is missing (`make deps` installs them).
set -eu
if [ $# -lt 2 ]; then
	echo "usage: $0 NAME OUT [DIR]" >&2
	exit 2
fi
NAME=$1
OUT=$2
DIR=${3:-}
BUSYBOX=${BUSYBOX:-/bin/busybox}

for tool in buildah skopeo; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is missing (make deps installs it)"
		exit 77
	fi
done
# The static build: a dynamic busybox would need the host's libc inside the image.
if [ ! -x "$BUSYBOX" ] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q "statically linked"; then
	if [ ! -x "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
		echo "SKIP: $BUSYBOX is not a static busybox (apt-get install busybox-static)"
		exit 77
	fi
fi

mkdir -p "$OUT"
CTX=$(mktemp -d "${TMPDIR:-/tmp}/kfs-mkimage.XXXXXX")
trap 'rm -rf "$CTX"' EXIT
mkdir -p "$CTX/root/bin" "$CTX/root/etc" "$CTX/root/tmp"
cp "$BUSYBOX" "$CTX/root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$CTX/root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' \
	>"$CTX/root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$CTX/root/etc/group"
if [ -n "$DIR" ]; then
	tar -C "$DIR" --exclude=./Dockerfile.extra -cf - . | tar -C "$CTX/root" -xf -
fi
{
	echo "FROM scratch"
	echo "COPY root/ /"
	echo "ENV PATH=/bin"
	if [ -n "$DIR" ] && [ -f "$DIR/Dockerfile.extra" ]; then
		cat "$DIR/Dockerfile.extra"
	fi
} >"$CTX/Dockerfile"

buildah bud --quiet --pull=never --network=none -t "$NAME" "$CTX" >"$CTX/build.log" 2>&1 || {
	cat "$CTX/build.log" >&2
	exit 1
}
printf 'sha256:%s\n' "$(buildah inspect --type image --format '{{.FromImageID}}' "$NAME")" >"$OUT/id"
rm -rf "$OUT/oci" "$OUT/docker.tar" "$OUT/oci.tar"
skopeo copy --quiet "containers-storage:$NAME" "oci:$OUT/oci:$NAME" 2>"$CTX/copy.log" &&
	skopeo copy --quiet "containers-storage:$NAME" "docker-archive:$OUT/docker.tar:$NAME" \
		2>>"$CTX/copy.log" &&
	skopeo copy --quiet "containers-storage:$NAME" "oci-archive:$OUT/oci.tar:$NAME" \
		2>>"$CTX/copy.log" || {
	grep -v 'level=info' "$CTX/copy.log" >&2
	exit 1
}
