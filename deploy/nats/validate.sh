#!/bin/sh
# Checks that nats-prod.conf parses (`nats-server -t`), with placeholder passwords.
set -eu
here=$(dirname "$0")
for u in SYS INGEST POLICY ORCHESTRATOR APPROVALS WORKERS INTEGRATOR_DEV; do
  eval "export NATS_${u}_PASSWORD=\${NATS_${u}_PASSWORD:-placeholder-$u}"
done
export NATS_SERVER_NAME="${NATS_SERVER_NAME:-warden-1}"
export NATS_STORE_DIR="${NATS_STORE_DIR:-/data}"
exec nats-server -t -c "$here/nats-prod.conf"
