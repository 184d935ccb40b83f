#!/bin/bash
# zonecast-eip-watch (zonecast-eip-watch.service): the ingest on this instance runs only while
# the instance holds its AZ's Elastic IP. Every ZONECAST_EIP_WATCH_SECS (3 s) it asks EC2 which
# instance holds the address:
#   - another instance (a newer one took it during a deploy, once healthy): stop the health
#     check, the metrics timer and the ingest. Stopping the ingest sends SIGTERM: it drains
#     (final segments, an index marked draining: viewers move to the peer AZ) and closes its
#     connections, so encoders reconnect to the address, now the newer instance.
#   - nobody (the newer instance is gone: a deploy rolled back and deleted its group): take the
#     address back onto this instance's secondary private IP, then as below.
#   - this instance, after a hand-over (or the newer instance gave the address back): start the
#     ingest, its health check and metrics again.
# An EC2 API error changes nothing. `--once` checks once (tests).
#
# The address sits on a secondary private IP, so this instance keeps its own public IP and its
# access to EC2 and S3 when the address moves away (a drained ingest still uploads).
set -uo pipefail

ROOT=${ZONECAST_ROOT:-}
# shellcheck source=/dev/null
. "$ROOT/etc/zonecast/boot.env"
# shellcheck source=/dev/null
. "$ROOT/etc/zonecast/instance.env"
STATE_DIR=${ZONECAST_STATE_DIR:-$ROOT/run/zonecast}
INTERVAL=${ZONECAST_EIP_WATCH_SECS:-3}
HANDED_OVER="$STATE_DIR/handed-over"
TIMERS=(zonecast-healthcheck.timer zonecast-metrics.timer)

log() { echo "zonecast-eip-watch: $*" >&2; }

check() {
  local holder
  if ! holder=$(aws ec2 describe-addresses --region "$ZONECAST_REGION" \
    --allocation-ids "$ZONECAST_EIP_ALLOCATION_ID" --query 'Addresses[0].InstanceId' --output text); then
    log "describe-addresses failed; nothing changed"
    return
  fi
  [ "$holder" = "None" ] && holder=""

  if [ -z "$holder" ]; then
    log "$ZONECAST_EIP_ALLOCATION_ID is free: taking it back"
    if ! aws ec2 associate-address --region "$ZONECAST_REGION" --allocation-id "$ZONECAST_EIP_ALLOCATION_ID" \
      --instance-id "$ZONECAST_INSTANCE_ID" --private-ip-address "$ZONECAST_EIP_PRIVATE_IP" \
      --allow-reassociation >/dev/null; then
      log "associate-address failed"
      return
    fi
    holder=$ZONECAST_INSTANCE_ID
  fi

  if [ "$holder" = "$ZONECAST_INSTANCE_ID" ]; then
    if [ -e "$HANDED_OVER" ]; then
      log "this instance holds the address again: starting the ingest"
      systemctl start zonecast-ingest.service "${TIMERS[@]}" && rm -f "$HANDED_OVER"
    fi
  elif [ ! -e "$HANDED_OVER" ]; then
    log "the address moved to $holder: draining the ingest"
    mkdir -p "$STATE_DIR"
    touch "$HANDED_OVER"
    systemctl stop "${TIMERS[@]}"
    systemctl stop zonecast-ingest.service
  fi
}

if [ "${1:-}" = "--once" ]; then
  check
  exit 0
fi
while :; do
  check
  sleep "$INTERVAL"
done
