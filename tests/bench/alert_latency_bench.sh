#!/usr/bin/env bash
# Event -> alert latency through real processes: a custos-agent replays from a FIFO into a real
# custos-collector; for each event written, the time until the alert's revision count moves in
# GET /api/v1/alerts/{id} (i.e. visible through the API) is measured. Prints p50/p90/p99/max.
# Optional background load: N loadgen agents streaming at the same time.
# Usage: tests/bench/alert_latency_bench.sh [samples=200] [background_agents=0] [background_rate=0]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${CUSTOS_BIN:-$PWD/build/ci/bin}
samples=${1:-200}; bg_agents=${2:-0}; bg_rate=${3:-0}
work=$(mktemp -d /tmp/custos-latency-bench-XXXXXX)
trap 'kill $apid $cpid ${lpid:-} 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${CUSTOS_BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
"$bin/custos-collector" init --data-dir "$work/c" >/dev/null
"$bin/custos-collector" run --data-dir "$work/c" --listen 127.0.0.1:0 --api 127.0.0.1:0 \
  --metrics 127.0.0.1:0 --ready-file "$work/ready" --log-level warn 2>"$work/collector.log" &
cpid=$!
for _ in $(seq 200); do [ -f "$work/ready" ] && break; sleep 0.05; done
port=$(python3 -c "import json;print(json.load(open('$work/ready'))['ingest_port'])")
aport=$(python3 -c "import json;print(json.load(open('$work/ready'))['api_port'])")
if [ "$bg_agents" -gt 0 ]; then
  token=$("$bin/custos-collector" token create --data-dir "$work/c" --uses "$bg_agents" 2>/dev/null)
  "$bin/custos-loadgen" --collector "127.0.0.1:$port" --server-name localhost --ca "$work/c/pki/ca.crt" \
    --token "$token" --agents "$bg_agents" --events 100000000 --rate "$bg_rate" --fresh-times --state-dir "$work/lg" \
    --quiet >/dev/null 2>&1 &
  lpid=$!
fi
token=$("$bin/custos-collector" token create --data-dir "$work/c" 2>/dev/null)
printf 'collector:\n  address: 127.0.0.1:%s\n  server_name: localhost\n' "$port" > "$work/agent.yaml"
"$bin/custos-agent" enroll --config "$work/agent.yaml" --state-dir "$work/a" --token "$token" \
  --ca "$work/c/pki/ca.crt" >/dev/null 2>&1
mkfifo "$work/events.fifo"
"$bin/custos-agent" run --config "$work/agent.yaml" --state-dir "$work/a" --replay "$work/events.fifo" \
  --no-file-source --no-settings-source --no-usb-source --log-level warn 2>"$work/agent.log" &
apid=$!
python3 - "$work" "$aport" "$samples" <<'PY'
import json, ssl, sys, time, urllib.request
work, aport, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context(cafile=f"{work}/c/pki/ca.crt")
token = open(f"{work}/c/admin.token").read().strip()
def api(method, path, body=None):
    req = urllib.request.Request(f"https://127.0.0.1:{aport}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx) as r:
        return json.load(r)
# Every copy revises the alert (its count and samples change), so each event is one revision.
api("POST", "/api/v1/policies", {"template": "data_leaks", "name": "latency",
    "indicators": [{"id": "usb_copy", "tiers": {"low": 1, "medium": 100000, "high": 1000000}}]})
fifo = open(f"{work}/events.fifo", "w", buffering=1)
def send(i):
    ev = {"timeNs": str(time.time_ns()), "actor": {"loginUser": "lat", "pid": 7},
          "file": {"op": "FILE_OP_COPY_TO_REMOVABLE", "path": f"/media/lat/USB/f{i}.bin", "size": "1000",
                   "deviceFingerprint": "usb-lat"}}
    fifo.write(json.dumps(ev) + "\n"); fifo.flush()
def current():
    a = api("GET", "/api/v1/alerts?person=lat&limit=1")["alerts"]
    return (a[0]["id"], a[0]["updates"]) if a else (None, 0)
send(0)
t0 = time.time()
while current()[0] is None:
    if time.time() - t0 > 30: sys.exit("no alert after 30 s; see collector.log")
    time.sleep(0.01)
alert_id, seen = current()
lat = []
for i in range(1, samples + 1):
    start = time.perf_counter(); send(i)
    while True:
        u = api("GET", f"/api/v1/alerts/{alert_id}")["updates"]
        if u > seen: seen = u; break
        if time.perf_counter() - start > 10: sys.exit(f"event {i}: no alert revision within 10 s")
        time.sleep(0.002)
    lat.append(time.perf_counter() - start)
    time.sleep(0.02)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
print(f"event -> alert visible through the API, {len(lat)} samples: p50 {q(0.5):.0f} ms, "
      f"p90 {q(0.9):.0f} ms, p99 {q(0.99):.0f} ms, max {lat[-1]*1000:.0f} ms")
PY
