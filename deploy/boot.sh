#!/bin/bash
# Run once at first boot by the launch template's user data, from the unpacked layer in
# /opt/zonecast (see template.yaml, IngestLaunchTemplateAz1/2). Reads /etc/zonecast/boot.env:
#   ZONECAST_REGION, ZONECAST_LAYER_ARN, ZONECAST_EIP_ALLOCATION_ID, ZONECAST_STACK_NAME,
#   ZONECAST_SIGNAL_RESOURCE (the Auto Scaling group's logical id)
# 1. moves this AZ's Elastic IP onto this instance (encoders keep one address per AZ),
# 2. installs the binary and the systemd units, starts the ingest and its health timer,
# 3. waits for GET /healthz, then signals CloudFormation SUCCESS (FAILURE on any error), so
#    a deploy whose new instance never gets healthy rolls back instead of going dark.
set -euo pipefail

# shellcheck source=/dev/null
. /etc/zonecast/boot.env
LAYER=/opt/zonecast
HEALTH_URL=http://127.0.0.1:8935/healthz

log() { echo "zonecast-boot: $*" >&2; }

imds_token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token \
  -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
imds() { curl -fsS -H "X-aws-ec2-metadata-token: $imds_token" "http://169.254.169.254/latest/meta-data/$1"; }
instance_id=$(imds instance-id)

signal() {
  # Outside a create or update (the Auto Scaling group replacing a failed instance) there is
  # nothing waiting for a signal and CloudFormation refuses it: that is fine.
  aws cloudformation signal-resource --region "$ZONECAST_REGION" \
    --stack-name "$ZONECAST_STACK_NAME" --logical-resource-id "$ZONECAST_SIGNAL_RESOURCE" \
    --unique-id "$instance_id" --status "$1" >/dev/null 2>&1 || log "signal $1 not delivered"
}
trap 'log "failed at line $LINENO"; signal FAILURE' ERR

log "associating $ZONECAST_EIP_ALLOCATION_ID with $instance_id"
aws ec2 associate-address --region "$ZONECAST_REGION" \
  --allocation-id "$ZONECAST_EIP_ALLOCATION_ID" --instance-id "$instance_id" \
  --allow-reassociation >/dev/null

log "installing the ingest from $ZONECAST_LAYER_ARN"
install -m 0755 "$LAYER/bin/zonecast-ingest" /usr/local/bin/zonecast-ingest
install -d -m 0755 /usr/local/lib/zonecast
install -m 0755 "$LAYER/deploy/zonecast-healthcheck.sh" /usr/local/lib/zonecast/zonecast-healthcheck.sh
for unit in zonecast-ingest.service zonecast-healthcheck.service zonecast-healthcheck.timer; do
  install -m 0644 "$LAYER/deploy/$unit" "/etc/systemd/system/$unit"
done
/usr/local/bin/zonecast-ingest --version
systemctl daemon-reload
systemctl enable --now zonecast-ingest.service zonecast-healthcheck.timer

log "waiting for $HEALTH_URL"
for _ in $(seq 1 60); do
  if curl -fsS --max-time 2 -o /dev/null "$HEALTH_URL"; then
    log "healthy"
    signal SUCCESS
    exit 0
  fi
  sleep 2
done
log "no healthy answer from $HEALTH_URL within 120 s"
journalctl -u zonecast-ingest.service -n 50 --no-pager >&2 || true
signal FAILURE
exit 1
