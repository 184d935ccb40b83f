#!/bin/bash
# Run by zonecast-healthcheck.timer every 10 s. Three failed GET /healthz in a row (about
# 6 s) restart zonecast-ingest. Skipped while the service is starting or restarted less
# than GRACE_SECS ago, so a slow start is never killed in a loop.
set -uo pipefail

URL=${ZONECAST_HEALTH_URL:-http://127.0.0.1:8935/healthz}
UNIT=zonecast-ingest.service
GRACE_SECS=${ZONECAST_HEALTH_GRACE_SECS:-20}

state=$(systemctl show -p ActiveState --value "$UNIT")
if [ "$state" != "active" ]; then
  # Starting, restarting or failed: Restart=always owns that case.
  exit 0
fi
entered_us=$(systemctl show -p ActiveEnterTimestampMonotonic --value "$UNIT")
now_us=$(awk '{ printf "%d", $1 * 1000000 }' /proc/uptime)
if [ -n "$entered_us" ] && [ $((now_us - entered_us)) -lt $((GRACE_SECS * 1000000)) ]; then
  exit 0
fi

for attempt in 1 2 3; do
  if curl -fsS --max-time 2 -o /dev/null "$URL"; then
    exit 0
  fi
  [ "$attempt" -lt 3 ] && sleep 2
done

echo "zonecast: $URL failed 3 times; restarting $UNIT" >&2
systemctl restart "$UNIT"
