#!/bin/bash
# ZoneCast ingest instance, first boot. template.yaml embeds this file verbatim in the user data
# of both launch templates, after the lines that write /etc/zonecast/ingest.env and
# /etc/zonecast/boot.env (regenerate with `python3 deploy/embed.py`; deploy/test_template.py
# fails while the two differ). boot.env holds ZONECAST_REGION, ZONECAST_AZ,
# ZONECAST_STACK_NAME, ZONECAST_LAYER_ARN, ZONECAST_EIP_ALLOCATION_ID,
# ZONECAST_SIGNAL_RESOURCE (the Auto Scaling group's logical id),
# ZONECAST_REJOIN_TIMEOUT_SECS, ZONECAST_PUBLISH_AUTH and ZONECAST_PUBLISH_SECRET_PARAMETER.
#
#  1. download the ingest layer version named in boot.env into /opt/zonecast;
#  2. install the binary, the helper scripts and the systemd units; with publish auth required,
#     fetch the publish token secret from SSM Parameter Store into a root-only file that systemd
#     hands to the ingest as a credential; start the ingest, its health
#     check and its metrics timer; wait for GET /healthz (at most ZONECAST_HEALTH_TIMEOUT_SECS).
#     This instance does not hold the AZ's address yet: encoders still publish to the instance
#     being replaced, if there is one;
#  3. ask the current holder of the AZ's Elastic IP how many streams it publishes, then move the
#     address onto this instance's secondary private IP and start zonecast-eip-watch. The
#     previous instance's watch sees the move within seconds and drains its ingest (SIGTERM);
#     encoders reconnect to the address, now this instance;
#  4. wait until this instance publishes as many streams as the previous one did (at most
#     ZONECAST_REJOIN_TIMEOUT_SECS; at once when it published none);
#  5. put the AZ's figures into CloudWatch once, then signal CloudFormation SUCCESS: only now
#     does a deploy go on to the other AZ (and a first create make the AZ's alarms).
#
# A failure in steps 1-3 (before the address moved) signals FAILURE: a deploy rolls back and
# the previous instance keeps the address and its streams. When no deploy is waiting for a
# signal (the Auto Scaling group replaced an instance on its own: CloudFormation refuses the
# signal), the instance marks itself Unhealthy instead, so the group replaces it.
# A failure in step 4 during a deploy drains this ingest, gives the address back to the
# previous instance (its watch starts its ingest again) and signals FAILURE.
#
# deploy/test_boot.py runs this script against a stub aws CLI and a fake instance metadata
# service; the ZONECAST_ROOT, *_URL, *_PORT and *_SECS overrides below exist for it.
set -euo pipefail

ROOT=${ZONECAST_ROOT:-}
IMDS=${ZONECAST_IMDS_URL:-http://169.254.169.254}
HEALTH_PORT=${ZONECAST_HEALTH_PORT:-8935}
HEALTH_TIMEOUT=${ZONECAST_HEALTH_TIMEOUT_SECS:-120}
ADDRESS_TIMEOUT=${ZONECAST_ADDRESS_TIMEOUT_SECS:-60}
POLL=${ZONECAST_POLL_SECS:-2}
CONF=$ROOT/etc/zonecast
LAYER=$ROOT/opt/zonecast
LIB=$ROOT/usr/local/lib/zonecast
UNIT_DIR=$ROOT/etc/systemd/system
BIN=$ROOT/usr/local/bin/zonecast-ingest
# Shipped in the layer (deploy/Makefile installs the same lists).
UNITS=(zonecast-ingest.service zonecast-healthcheck.service zonecast-healthcheck.timer
  zonecast-metrics.service zonecast-metrics.timer zonecast-eip-watch.service)
SCRIPTS=(zonecast-healthcheck.sh zonecast-metrics.sh zonecast-eip-watch.sh)
# What runs while this instance serves its AZ.
SERVICES=(zonecast-ingest.service zonecast-healthcheck.timer zonecast-metrics.timer)

# shellcheck source=/dev/null
. "$CONF/boot.env"
REJOIN_TIMEOUT=${ZONECAST_REJOIN_TIMEOUT_SECS:-120}

instance_id=""
predecessor=""
predecessor_ip=""

log() { echo "zonecast-boot: $*" >&2; }

# signal STATUS: 0 when CloudFormation accepted it (a create or deploy is waiting for it).
signal() {
  local out
  if out=$(aws cloudformation signal-resource --region "$ZONECAST_REGION" \
    --stack-name "$ZONECAST_STACK_NAME" --logical-resource-id "$ZONECAST_SIGNAL_RESOURCE" \
    --unique-id "${instance_id:-unknown}" --status "$1" 2>&1); then
    log "signal $1 accepted"
    return 0
  fi
  log "signal $1 refused: ${out//$'\n'/ }"
  return 1
}

# Steps 1-3: this instance does not hold the address.
fail() {
  trap - ERR
  log "FAILED: $*"
  journalctl -u zonecast-ingest.service -n 50 --no-pager >&2 || true
  if signal FAILURE; then
    log "CloudFormation rolls back; the previous instance keeps the address"
  elif [ -n "$instance_id" ]; then
    log "no deploy is waiting: marking $instance_id Unhealthy so the Auto Scaling group replaces it"
    aws autoscaling set-instance-health --region "$ZONECAST_REGION" --instance-id "$instance_id" \
      --health-status Unhealthy --no-should-respect-grace-period ||
      log "set-instance-health failed"
  fi
  exit 1
}

# Step 4: this instance holds the address.
fail_holding() {
  trap - ERR
  log "FAILED: $*"
  if ! signal FAILURE; then
    log "no deploy is waiting: keeping the address and serving"
    exit 0
  fi
  if [ -n "$predecessor" ]; then
    log "draining, then giving the address back to $predecessor"
    systemctl stop zonecast-eip-watch.service zonecast-healthcheck.timer zonecast-metrics.timer || true
    systemctl stop zonecast-ingest.service || true
    aws ec2 associate-address --region "$ZONECAST_REGION" --allocation-id "$ZONECAST_EIP_ALLOCATION_ID" \
      --instance-id "$predecessor" --private-ip-address "$predecessor_ip" --allow-reassociation >/dev/null ||
      log "giving the address back failed: $predecessor takes it when this instance is terminated"
  fi
  exit 1
}
trap 'fail "unexpected error at line $LINENO"' ERR

# --- instance metadata (IMDSv2) -----------------------------------------------------------
imds_token=$(curl -fsS --max-time 5 --retry 3 -X PUT "$IMDS/latest/api/token" \
  -H "X-aws-ec2-metadata-token-ttl-seconds: 300") || fail "instance metadata: no IMDSv2 token"
imds() { curl -fsS --max-time 5 --retry 3 -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/latest/meta-data/$1"; }
instance_id=$(imds instance-id) || fail "instance metadata: no instance-id"
mac=$(imds mac) || fail "instance metadata: no mac"
primary_ip=$(imds local-ipv4) || fail "instance metadata: no local-ipv4"
private_ips=$(imds "network/interfaces/macs/$mac/local-ipv4s") || fail "instance metadata: no local-ipv4s"
# The primary address (local-ipv4) keeps the instance's own public IP (AWS APIs, S3); the other
# one carries the AZ's Elastic IP. The metadata service documents no order for local-ipv4s, so
# the secondary is whichever address is not the primary, wherever it is listed.
address_ip=$(printf '%s\n' "$private_ips" | grep -vxF -- "$primary_ip" | grep -m1 . || true)
[ -n "$address_ip" ] || fail "no secondary private IP besides $primary_ip (launch template: SecondaryPrivateIpAddressCount)"
log "instance $instance_id, AZ $ZONECAST_AZ, address on $address_ip"

# --- 1. the ingest layer ------------------------------------------------------------------
log "downloading layer $ZONECAST_LAYER_ARN"
url=$(aws lambda get-layer-version-by-arn --region "$ZONECAST_REGION" --arn "$ZONECAST_LAYER_ARN" \
  --query Content.Location --output text) || fail "layer download: get-layer-version-by-arn failed"
work=$(mktemp -d)
curl -fsS --retry 5 --retry-delay 1 --retry-all-errors -o "$work/layer.zip" "$url" ||
  fail "layer download: the layer content could not be fetched"
rm -rf "$LAYER.new"
install -d -m 0755 "$LAYER.new"
python3 -m zipfile -e "$work/layer.zip" "$LAYER.new" || fail "layer download: not a zip archive"
rm -rf "$LAYER" "$work"
mv "$LAYER.new" "$LAYER"

# --- 2. install, start, wait for /healthz -------------------------------------------------
install -d -m 0755 "$(dirname "$BIN")" "$LIB" "$UNIT_DIR"
install -m 0755 "$LAYER/bin/zonecast-ingest" "$BIN" || fail "install: the layer has no bin/zonecast-ingest"
for script in "${SCRIPTS[@]}"; do
  install -m 0755 "$LAYER/deploy/$script" "$LIB/$script" || fail "install: the layer has no deploy/$script"
done
for unit in "${UNITS[@]}"; do
  install -m 0644 "$LAYER/deploy/$unit" "$UNIT_DIR/$unit" || fail "install: the layer has no deploy/$unit"
done
"$BIN" --version >&2 || fail "install: the ingest binary does not run"

# The publish token secret (README.md, "Publish auth"): from SSM Parameter Store (SecureString)
# into a root-only file that systemd passes to the ingest's dynamic user as a credential
# (LoadCredential). Never on a command line, in an environment file or in a log. Fetched once,
# here: a boot without it fails before the address moves.
if [ "${ZONECAST_PUBLISH_AUTH:-off}" = required ]; then
  secret=$CONF/publish-secret
  rm -f "$secret.new"
  if ! ssm_error=$( (umask 077 && aws ssm get-parameter --region "$ZONECAST_REGION" \
    --name "$ZONECAST_PUBLISH_SECRET_PARAMETER" --with-decryption \
    --query Parameter.Value --output text >"$secret.new") 2>&1); then
    rm -f "$secret.new"
    fail "publish secret: ssm get-parameter $ZONECAST_PUBLISH_SECRET_PARAMETER failed: ${ssm_error//$'\n'/ }"
  fi
  if [ "$(tr -d '[:space:]' <"$secret.new" | wc -c)" -lt 16 ]; then
    rm -f "$secret.new"
    fail "publish secret: $ZONECAST_PUBLISH_SECRET_PARAMETER holds fewer than 16 characters"
  fi
  chmod 0600 "$secret.new"
  mv "$secret.new" "$secret"
  install -d -m 0755 "$UNIT_DIR/zonecast-ingest.service.d"
  cat >"$UNIT_DIR/zonecast-ingest.service.d/publish-secret.conf" <<DROPIN
[Service]
LoadCredential=publish-secret:${secret#"$ROOT"}
Environment=ZONECAST_PUBLISH_SECRET_FILE=%d/publish-secret
DROPIN
  log "publish auth required: secret from $ZONECAST_PUBLISH_SECRET_PARAMETER"
fi
printf 'ZONECAST_INSTANCE_ID=%s\nZONECAST_EIP_PRIVATE_IP=%s\n' "$instance_id" "$address_ip" >"$CONF/instance.env"
systemctl daemon-reload
systemctl enable --now "${SERVICES[@]}" || fail "systemctl could not start the ingest"

healthz() { curl -fsS --max-time 2 "http://$1:$HEALTH_PORT/healthz"; }
publishes_of() {
  local n
  n=$(healthz "$1" 2>/dev/null | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["publishes"]))' 2>/dev/null) || true
  echo "${n:-0}"
}
deadline=$((SECONDS + HEALTH_TIMEOUT))
until healthz 127.0.0.1 >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || fail "health never green: no answer from /healthz within ${HEALTH_TIMEOUT} s"
  sleep "$POLL"
done
log "ingest healthy"

# --- relay check ------------------------------------------------------------------------------
# The ingest relays to its peer by the peer's Elastic IP's public DNS name (ZONECAST_RELAY_TO),
# which resolves to the peer's private address only inside a VPC with the DNS attributes
# enableDnsSupport and enableDnsHostnames on. Elsewhere it does not resolve, or resolves to the
# public address, which the security group does not open to the peer: the relay cannot work.
# Direct publishes to this ingest are unaffected, so this is an error in the log, not a failed
# boot.
relay=$(sed -n 's/^ZONECAST_RELAY_TO=//p' "$CONF/ingest.env" 2>/dev/null | tail -n 1 || true)
relay_host=${relay%:*}
if [ -n "$relay_host" ]; then
  relay_addrs=$(getent ahostsv4 "$relay_host" 2>/dev/null | awk '{print $1}' | sort -u || true)
  relay_private=$(grep -E '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.)' <<<"$relay_addrs" | head -n 1 || true)
  relay_addrs=$(tr '\n' ' ' <<<"$relay_addrs" | sed 's/ *$//')
  if [ -n "$relay_private" ]; then
    log "relay to the peer ingest: $relay_host is $relay_private (private)"
  else
    log "RELAY ERROR: the peer ingest's name $relay_host resolves to ${relay_addrs:-nothing}, not to a private address: the relay between the ingests cannot work (encoders that publish to one ingest reach one AZ only). Turn on the VPC's DNS attributes enableDnsSupport and enableDnsHostnames (aws ec2 modify-vpc-attribute), then replace the instances; README.md, \"The relay\""
  fi
fi

# --- 3. take the AZ's address -------------------------------------------------------------
deadline=$((SECONDS + ADDRESS_TIMEOUT))
until ip -o -4 addr show | grep -qF "inet $address_ip/"; do
  [ "$SECONDS" -lt "$deadline" ] || fail "Elastic IP: $address_ip is not configured on any interface"
  sleep "$POLL"
done
holder=$(aws ec2 describe-addresses --region "$ZONECAST_REGION" --allocation-ids "$ZONECAST_EIP_ALLOCATION_ID" \
  --query 'Addresses[0].[InstanceId,PrivateIpAddress]' --output text) || fail "Elastic IP: describe-addresses failed"
read -r holder_id holder_ip <<<"$holder" || true
[ "${holder_id:-None}" = "None" ] && holder_id=""
expected=0
if [ -n "$holder_id" ] && [ "$holder_id" != "$instance_id" ]; then
  predecessor=$holder_id
  predecessor_ip=$holder_ip
  expected=$(publishes_of "$holder_ip")
  log "the address is on $predecessor ($predecessor_ip), which publishes $expected stream(s)"
fi
aws ec2 associate-address --region "$ZONECAST_REGION" --allocation-id "$ZONECAST_EIP_ALLOCATION_ID" \
  --instance-id "$instance_id" --private-ip-address "$address_ip" --allow-reassociation >/dev/null ||
  fail "Elastic IP: associate-address failed"
log "this instance holds $ZONECAST_EIP_ALLOCATION_ID"
trap 'fail_holding "unexpected error at line $LINENO"' ERR
systemctl enable --now zonecast-eip-watch.service || fail_holding "systemctl could not start zonecast-eip-watch"

# --- 4. wait for the streams to come back -------------------------------------------------
deadline=$((SECONDS + REJOIN_TIMEOUT))
while :; do
  now=$(publishes_of 127.0.0.1)
  [ "$now" -ge "$expected" ] && break
  [ "$SECONDS" -lt "$deadline" ] ||
    fail_holding "streams did not come back: $now of $expected publish(es) within ${REJOIN_TIMEOUT} s"
  sleep "$POLL"
done
log "publishing $now stream(s) (the previous instance had $expected)"

# --- 5. -----------------------------------------------------------------------------------
# Put this AZ's figures once now, before the signal: the "ingest not running" alarm is created
# only after this signal on a first create (template.yaml, DependsOn), and with a real
# IngestUp datapoint in its window it cannot see three missing (breaching) minutes in a row.
systemctl start zonecast-metrics.service || log "zonecast-metrics did not run; the timer runs it within a minute"
signal SUCCESS || log "no deploy is waiting for a signal (the Auto Scaling group replaced an instance)"
exit 0
