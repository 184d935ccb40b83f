#!/bin/bash
# Run by zonecast-metrics.timer every minute: puts this AZ's ingest figures into CloudWatch
# (namespace ZoneCast, dimensions Stack and AZ), which the stack's alarms watch (template.yaml,
# "Alarms"):
#   IngestUp          1 when GET /healthz answers, else 0
#   Publishes         streams being published ("publishes" in /healthz; 0 when down)
#   SegmentsUploaded  segments uploaded since the last run (zonecast_segments_uploaded_total)
#   UploadRetries     S3 PUTs that failed and were retried since the last run
#                     (zonecast_upload_retries_total)
#   UploadsPending    uploads queued now (zonecast_uploads_pending)
# Not run on an instance that handed its address over (the Elastic IP watch stops the timer),
# so during a deploy the figures come from the instance that serves the AZ.
set -uo pipefail

ROOT=${ZONECAST_ROOT:-}
# shellcheck source=/dev/null
. "$ROOT/etc/zonecast/boot.env"
URL=${ZONECAST_HEALTH_URL:-http://127.0.0.1:8935/healthz}
METRICS_URL=${ZONECAST_METRICS_URL:-http://127.0.0.1:8935/metrics}
STATE_DIR=${ZONECAST_STATE_DIR:-$ROOT/run/zonecast}
PREVIOUS="$STATE_DIR/metrics.previous"

up=0
publishes=0
segments=0
retries=0
pending=0
if health=$(curl -fsS --max-time 2 "$URL"); then
  up=1
  publishes=$(printf '%s' "$health" | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["publishes"]))' 2>/dev/null)
  publishes=${publishes:-0}
  if metrics=$(curl -fsS --max-time 2 "$METRICS_URL"); then
    read -r segments retries pending < <(printf '%s\n' "$metrics" | awk '
      /^zonecast_(segments_uploaded_total|upload_retries_total|uploads_pending)[{ ]/ {
        name = $1; sub(/\{.*/, "", name); v[name] = $NF
      }
      END {
        printf "%d %d %d\n", v["zonecast_segments_uploaded_total"], v["zonecast_upload_retries_total"],
          v["zonecast_uploads_pending"]
      }')
  fi
fi

# Counters since the last run; a restarted ingest starts again from 0.
last_segments=0
last_retries=0
if [ -f "$PREVIOUS" ]; then
  read -r last_segments last_retries <"$PREVIOUS" || true
fi
delta() { if [ "$1" -ge "${2:-0}" ]; then echo $(($1 - ${2:-0})); else echo "$1"; fi; }
new_segments=$(delta "$segments" "$last_segments")
new_retries=$(delta "$retries" "$last_retries")
mkdir -p "$STATE_DIR"
printf '%s %s\n' "$segments" "$retries" >"$PREVIOUS"

dims="[{\"Name\":\"Stack\",\"Value\":\"$ZONECAST_STACK_NAME\"},{\"Name\":\"AZ\",\"Value\":\"$ZONECAST_AZ\"}]"
datum() { printf '{"MetricName":"%s","Value":%s,"Unit":"Count","Dimensions":%s}' "$1" "$2" "$dims"; }
data="[$(datum IngestUp "$up"),$(datum Publishes "$publishes"),$(datum SegmentsUploaded "$new_segments"),$(datum UploadRetries "$new_retries"),$(datum UploadsPending "$pending")]"

aws cloudwatch put-metric-data --region "$ZONECAST_REGION" --namespace ZoneCast --metric-data "$data"
