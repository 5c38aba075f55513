#!/bin/sh
set -eu
printf 'kind: ConfigMap\nmetadata:\n  name: from-first\n' >/kratix/output/a.yaml
printf 'message: first ran\nstep: 1\n' >/kratix/metadata/status.yaml
