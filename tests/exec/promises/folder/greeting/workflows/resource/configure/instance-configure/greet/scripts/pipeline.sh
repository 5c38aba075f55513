#!/bin/sh
# A kratix CLI container folder's script (kratix add container), with busybox's sed for yq.
set -eu
name=$(sed -n 's/^  name: *//p' /kratix/input/object.yaml | head -n 1)
size=$(sed -n 's/^  size: *//p' /kratix/input/object.yaml | head -n 1)
replicas=1
if [ "$size" = large ]; then replicas=3; fi
sed -e "s/NAME_PLACEHOLDER/$name/" -e "s/SIZE_PLACEHOLDER/$size/" \
	-e "s/REPLICAS_PLACEHOLDER/$replicas/" /resources/configmap.yaml \
	>/kratix/output/configmap.yaml
