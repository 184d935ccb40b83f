#!/bin/bash
# Run by zonecast-healthcheck.timer every 10 s. Restarts zonecast-ingest (SIGTERM: it drains
# first) when either holds:
#   - GET /healthz failed 3 times in a row (about 6 s): the process hangs;
#   - it has publishes ("publishes" in /healthz) but produced nothing for STALL_SECS (60 s):
#     none of zonecast_segments_uploaded_total, _indexes_uploaded_total,
#     _upload_retries_total, _uploads_pending (GET /metrics) moved. A slow S3 still moves
#     the retry and pending counters, so only a stuck process is restarted, never one that
#     waits for S3.
# Skipped while the service is not active (starting, stopping, drained by the Elastic IP watch:
# Restart=always and the watch own those) and within GRACE_SECS of its start, so a slow start
# is never killed in a loop.
set -uo pipefail

URL=${ZONECAST_HEALTH_URL:-http://127.0.0.1:8935/healthz}
METRICS_URL=${ZONECAST_METRICS_URL:-http://127.0.0.1:8935/metrics}
STATE_DIR=${ZONECAST_STATE_DIR:-/run/zonecast}
UNIT=zonecast-ingest.service
GRACE_SECS=${ZONECAST_HEALTH_GRACE_SECS:-20}
STALL_SECS=${ZONECAST_STALL_SECS:-60}
RETRY_SECS=${ZONECAST_HEALTH_RETRY_SECS:-2}
PROGRESS="$STATE_DIR/healthcheck.progress"

log() { echo "zonecast-healthcheck: $*" >&2; }

restart() {
  log "$*; restarting $UNIT"
  rm -f "$PROGRESS"
  systemctl restart "$UNIT"
  exit 0
}

state=$(systemctl show -p ActiveState --value "$UNIT")
if [ "$state" != "active" ]; then
  rm -f "$PROGRESS"
  exit 0
fi
entered_us=$(systemctl show -p ActiveEnterTimestampMonotonic --value "$UNIT")
now_us=$(awk '{ printf "%d", $1 * 1000000 }' /proc/uptime)
if [ -n "$entered_us" ] && [ $((now_us - entered_us)) -lt $((GRACE_SECS * 1000000)) ]; then
  exit 0
fi

health=""
for attempt in 1 2 3; do
  if health=$(curl -fsS --max-time 2 "$URL"); then
    break
  fi
  health=""
  [ "$attempt" -lt 3 ] && sleep "$RETRY_SECS"
done
[ -n "$health" ] || restart "$URL failed 3 times"

publishes=$(printf '%s' "$health" | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["publishes"]))' 2>/dev/null)
if [ "${publishes:-0}" -eq 0 ]; then
  rm -f "$PROGRESS"
  exit 0
fi

# What the ingest has done so far; it changes while it produces (or keeps trying to upload).
metrics=$(curl -fsS --max-time 2 "$METRICS_URL") || exit 0
fingerprint=$(printf '%s\n' "$metrics" | awk '
  /^zonecast_(segments_uploaded_total|indexes_uploaded_total|upload_retries_total|uploads_pending)[{ ]/ {
    name = $1; sub(/\{.*/, "", name); v[name] = $NF
  }
  END {
    printf "%s/%s/%s/%s", v["zonecast_segments_uploaded_total"], v["zonecast_indexes_uploaded_total"],
      v["zonecast_upload_retries_total"], v["zonecast_uploads_pending"]
  }')
now=$(date +%s)
mkdir -p "$STATE_DIR"
if [ -f "$PROGRESS" ]; then
  read -r last_fingerprint since <"$PROGRESS" || true
  if [ "$fingerprint" = "${last_fingerprint:-}" ]; then
    if [ $((now - ${since:-$now})) -ge "$STALL_SECS" ]; then
      restart "$publishes publish(es) but no segment, index, retry or queue change for $((now - since)) s ($fingerprint)"
    fi
    exit 0
  fi
fi
printf '%s %s\n' "$fingerprint" "$now" >"$PROGRESS"
exit 0
