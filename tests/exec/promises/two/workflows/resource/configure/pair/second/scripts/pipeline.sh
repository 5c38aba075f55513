#!/bin/sh
# Sees what the first container of the pipeline left in /kratix/output and /kratix/metadata.
set -eu
{
	echo "kind: ConfigMap"
	echo "metadata:"
	echo "  name: from-second"
	echo "data:"
	echo "  seen: \"$(sed -n 's/^  name: //p' /kratix/output/a.yaml)\""
	echo "  status: \"$(sed -n 's/^message: //p' /kratix/metadata/status.yaml)\""
} >/kratix/output/b.yaml
printf 'message: second ran after "%s"\nstep: 2\n' \
	"$(sed -n 's/^message: //p' /kratix/metadata/status.yaml)" >/kratix/metadata/status.yaml
