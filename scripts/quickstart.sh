#!/usr/bin/env bash
# Quick start: install what is needed (when root), build, and run the main job on its embedded
# defaults — a collector on SQLite with its own CA, and an agent on this machine enrolled to it
# over mutual TLS, watching a directory; a risk policy; then some file activity there, the stored
# events and the alert the activity raised, read through the HTTPS API with the custos CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then scripts/install-deps.sh; fi
scripts/build.sh ci
bin="$PWD/build/ci/bin"
data="${CUSTOS_QUICKSTART_DIR:-/tmp/custos-quickstart}"
port="${CUSTOS_QUICKSTART_PORT:-7443}"
metrics_port="${CUSTOS_QUICKSTART_METRICS_PORT:-9464}"
api_port="${CUSTOS_QUICKSTART_API_PORT:-8443}"
watched="$data/watched"
mkdir -p "$data" "$watched"
for pidfile in "$data/agent.pid" "$data/collector.pid"; do
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then kill "$(cat "$pidfile")"; sleep 1; fi
done

echo "== 1. collector: data directory, CA, server certificate, store ($data/collector)"
"$bin/custos-collector" init --data-dir "$data/collector"

echo "== 2. collector: agents on 127.0.0.1:$port, HTTPS API on 127.0.0.1:$api_port, metrics on 127.0.0.1:$metrics_port"
rm -f "$data/ready"
"$bin/custos-collector" run --data-dir "$data/collector" --listen "127.0.0.1:$port" \
  --api "127.0.0.1:$api_port" --metrics "127.0.0.1:$metrics_port" --ready-file "$data/ready" \
  >"$data/collector.log" 2>&1 &
echo $! >"$data/collector.pid"
for _ in $(seq 100); do [ -f "$data/ready" ] && break; sleep 0.1; done
if [ ! -f "$data/ready" ]; then
  echo "collector did not start; its log:" >&2; cat "$data/collector.log" >&2; exit 1
fi

echo "== 3. agent: enroll this machine with a one-time token"
cat >"$data/agent.yaml" <<YAML
collector:
  address: 127.0.0.1:$port
  server_name: localhost
sources:
  file:
    roots: [$watched]
    classification: ["confidential:*customer*"]
YAML
if [ ! -f "$data/agent/agent.crt" ]; then
  # The token goes through a pipe, never onto a command line (where ps shows it to everyone).
  "$bin/custos-collector" token create --data-dir "$data/collector" --uses 1 --ttl 1h \
    --note quickstart |
    "$bin/custos-agent" enroll --config "$data/agent.yaml" --state-dir "$data/agent" \
      --token-file - --ca "$data/collector/pki/ca.crt"
fi

echo "== 4. agent: watching $watched"
"$bin/custos-agent" run --config "$data/agent.yaml" --state-dir "$data/agent" \
  >"$data/agent.log" 2>&1 &
echo $! >"$data/agent.pid"
for _ in $(seq 100); do
  grep -q '"connected": true' "$data/agent/status.json" 2>/dev/null && break; sleep 0.1
done

api=(--api "https://127.0.0.1:$api_port" --data-dir "$data/collector")
me=$(id -un)
echo "== 5. a risk policy (data leaks, files labelled confidential are priority content), and a"
echo "      manual trigger: score $me for 7 days"
"$bin/custos" policies "${api[@]}" --format json | grep -q '"Quickstart leaks"' ||
  "$bin/custos" policy create "${api[@]}" --template data_leaks --name "Quickstart leaks" \
    --set '{"priority_content": {"labels": ["confidential"]}}'
"$bin/custos" trigger "$me" --days 7 --reason "quickstart demo" "${api[@]}"

echo "== 6. some file activity in $watched"
echo "id,name,email" >"$watched/customer-list.csv"
cp "$watched/customer-list.csv" "$watched/notes.txt"
mv "$watched/notes.txt" "$watched/export.txt"
mv "$watched/customer-list.csv" "$watched/holiday.jpg"
mkdir -p "$watched/archive" && rm "$watched/export.txt"
sleep 2

echo "== 7. agent status"
"$bin/custos-agent" status --state-dir "$data/agent" || true

echo "== 8. the events the collector stored"
"$bin/custos" events "${api[@]}" --limit 10
echo "   (people are pseudonyms, Anon-..., until a reveal is approved or an admin runs"
echo "    custos settings --pseudonymisation off; docs/privacy.md)"

echo "== 9. the alert they raised (priority content touched, extension changed), with its explanation"
for _ in $(seq 50); do
  "$bin/custos" alerts "${api[@]}" --person "$me" --format json 2>/dev/null | grep -q '"id"' && break
  sleep 0.2
done
"$bin/custos" alerts "${api[@]}"
id=$("$bin/custos" alerts "${api[@]}" --person "$me" --format json | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["id"] if a else "")')
if [ -n "$id" ]; then "$bin/custos" alert show "$id" "${api[@]}"; fi

echo "== 10. sign in as the first admin (the console will use this session; docs/accounts.md)"
python3 - "$api_port" "$data/collector" <<'PY'
import json, ssl, sys, urllib.request
port, data = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=f"{data}/pki/ca.crt")
ctx.check_hostname = False  # the server certificate names localhost; we connect by address
password = open(f"{data}/admin.password").read().strip()
req = urllib.request.Request(f"https://127.0.0.1:{port}/api/v1/session", method="POST",
                             data=json.dumps({"username": "admin", "password": password}).encode(),
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, context=ctx) as r:
    body = json.load(r)
    cookie = r.headers["Set-Cookie"].split(";")[0]
print(f"   signed in as {body['user']['username']} (roles {', '.join(body['user']['roles'])}); "
      f"session until {body['expires_at']}; cookie {cookie.split('=')[0]}=..., CSRF token issued")
PY
"$bin/custos" whoami "${api[@]}"

cat <<MSG

Collector (pid $(cat "$data/collector.pid"), log $data/collector.log) and agent (pid $(cat "$data/agent.pid"),
log $data/agent.log) keep running: anything you do in $watched shows up.
  events:   $bin/custos events --api https://127.0.0.1:$api_port --data-dir $data/collector --since -10m
            $bin/custos events --api https://127.0.0.1:$api_port --data-dir $data/collector --format json --limit 3
  agent:    $bin/custos-agent status --state-dir $data/agent
  agents:   $bin/custos-collector agent list --data-dir $data/collector
  alerts:   $bin/custos alerts --api https://127.0.0.1:$api_port --data-dir $data/collector
            $bin/custos alert dismiss ID --reason "demo" --api https://127.0.0.1:$api_port --data-dir $data/collector
  sign-in:  user admin, password in $data/collector/admin.password (POST /api/v1/session; the web
            console comes with a later issue); more accounts: custos user add NAME --roles analyst ...
  audit:    $bin/custos-collector audit verify --data-dir $data/collector
  API:      curl --cacert $data/collector/pki/ca.crt -H "Authorization: Bearer \$(cat $data/collector/admin.token)" https://127.0.0.1:$api_port/api/v1/alerts
  metrics:  curl -s http://127.0.0.1:$metrics_port/metrics
  load:     $bin/custos-loadgen --help     (simulated agents)
  stop:     kill $(cat "$data/agent.pid") $(cat "$data/collector.pid")
MSG
