#!/usr/bin/env bash
# A real Prometheus scrapes a real tributaryd: runs a few commands through the CLI, lints the
# exposition with promtool, then checks the series through Prometheus' HTTP query API.
#
# usage: prometheus_scrape.sh <path to tributaryd> <path to tributary CLI>
# Needs prometheus, promtool and curl (scripts/install-deps). JSON is read with grep/sed only.
set -u -o pipefail

tributaryd=${1:?usage: prometheus_scrape.sh TRIBUTARYD TRIBUTARY_CLI}
cli=${2:?usage: prometheus_scrape.sh TRIBUTARYD TRIBUTARY_CLI}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for tool in prometheus promtool curl; do
  command -v "$tool" >/dev/null || fail "'$tool' not found; run scripts/install-deps"
done
[[ -x $tributaryd ]] || fail "no tributaryd at $tributaryd"
[[ -x $cli ]] || fail "no tributary CLI at $cli"

work=$(mktemp -d "${TMPDIR:-/tmp}/tributary-prom.XXXXXX") || fail "mktemp"
node_pid=""
prom_pid=""

# Stops a process we started: SIGTERM, up to 10 s for it to exit, then SIGKILL.
stop_pid() {
  local pid=$1 name=$2
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "warning: $name (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
    kill -9 "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
}

cleanup() {
  local rc=$?
  stop_pid "$prom_pid" prometheus
  stop_pid "$node_pid" tributaryd
  if [[ $rc -ne 0 ]]; then
    for log in "$work"/node.log "$work"/prometheus.log; do
      [[ -s $log ]] && { echo "--- last lines of $log:" >&2; tail -n 30 "$log" >&2; }
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$SECONDS

# --- 1. the node --------------------------------------------------------------------------
"$tributaryd" --data-dir "$work/data" --rpc-listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --ready-file "$work/ready.json" --streaming-ingestion=on >"$work/node.log" 2>&1 &
node_pid=$!

rpc_port=""
metrics_port=""
for _ in $(seq 200); do
  kill -0 "$node_pid" 2>/dev/null || fail "tributaryd exited before it was ready"
  if [[ -s $work/ready.json ]]; then
    ready=$(cat "$work/ready.json")
    rpc_port=$(grep -o '"rpc_port": *[0-9]*' <<<"$ready" | grep -o '[0-9]*$')
    metrics_port=$(grep -o '"metrics_port": *[0-9]*' <<<"$ready" | grep -o '[0-9]*$')
    [[ -n $rpc_port && -n $metrics_port ]] && break
  fi
  sleep 0.1
done
[[ -n $rpc_port && -n $metrics_port ]] ||
  fail "tributaryd not ready within 20 s (ready file: $(cat "$work/ready.json" 2>/dev/null))"
echo "node ready: rpc 127.0.0.1:$rpc_port, metrics 127.0.0.1:$metrics_port" \
  "($((SECONDS - started)) s)"

# --- 2. a few commands through the CLI ----------------------------------------------------
node=127.0.0.1:$rpc_port
"$cli" --node "$node" command '.create database Db' >"$work/cli.out" 2>&1 ||
  fail ".create database Db failed: $(cat "$work/cli.out")"
"$cli" --node "$node" --database Db command '.create table T (a:int)' >"$work/cli.out" 2>&1 ||
  fail ".create table T failed: $(cat "$work/cli.out")"
"$cli" --node "$node" --database Db command '.show tables' >"$work/cli.out" 2>&1 ||
  fail ".show tables failed: $(cat "$work/cli.out")"
if "$cli" --node "$node" --database Db command '.drop table NoSuchTable' >"$work/cli.out" 2>&1; then
  fail ".drop table NoSuchTable succeeded: $(cat "$work/cli.out")"
fi

# --- 3. promtool accepts the exposition, without a single lint warning --------------------
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" ||
  fail "GET http://127.0.0.1:$metrics_port/metrics failed"
lint=$(promtool check metrics <"$work/metrics.txt" 2>&1)
lint_rc=$?
[[ $lint_rc -eq 0 && -z $lint ]] || fail "promtool check metrics (rc $lint_rc): $lint"
echo "promtool check metrics: ok"

# --- 4. a real Prometheus, scraping every second -------------------------------------------
cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: tributary
    static_configs: [{targets: ['127.0.0.1:$metrics_port']}]
EOF

# Free port without python: start from a random base and take the first port that nothing
# listens on and that Prometheus then actually binds (another process may win the race).
prom_port=""
base=$((20000 + RANDOM % 30000))
for attempt in $(seq 0 19); do
  port=$((base + attempt * 7))
  [[ -z $(ss -Htln "sport = :$port" 2>/dev/null) ]] || continue
  rm -rf "$work/tsdb"
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
  prom_pid=$!
  for _ in $(seq 100); do
    kill -0 "$prom_pid" 2>/dev/null || break
    curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && { prom_port=$port; break; }
    sleep 0.1
  done
  [[ -n $prom_port ]] && break
  stop_pid "$prom_pid" prometheus
  prom_pid=""
  grep -q 'address already in use' "$work/prometheus.log" ||
    fail "prometheus did not become ready on 127.0.0.1:$port"
done
[[ -n $prom_port ]] || fail "no free port for prometheus after 20 tries"
echo "prometheus ready on 127.0.0.1:$prom_port ($((SECONDS - started)) s)"

# The value of the first sample an instant query returns, or empty.
query() {
  curl -sG "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
    grep -o '"value":\[[^]]*\]' | head -n 1 | sed 's/.*,"\([^"]*\)"\]$/\1/'
}

# expression | awk condition on v | what it means
checks=(
  'up{job="tributary"}|v == 1|the node is scraped'
  'tributary_commands_total{kind="create_table",result="ok"}|v == 1|one successful .create table'
  'sum(tributary_commands_total{result="error"})|v >= 1|the failing command counted as an error'
  'tributary_catalog_version|v >= 2|the catalog version counts both changes'
  'tributary_catalog_tables|v == 1|one table in the catalog'
  'sum(tributary_rpc_requests_total{method="command"})|v >= 4|every CLI command counted as an RPC'
  'tributary_rpc_latency_seconds_count{method="command",protocol="capnp"}|v >= 4|RPC latency recorded'
  'process_resident_memory_bytes|v > 0|process metrics served'
  'tributary_build_info|v == 1|build info served'
)

holds() { awk -v v="$1" "BEGIN { exit !($2) }"; }

deadline=$((SECONDS + 30))
while :; do
  failed=()
  for check in "${checks[@]}"; do
    IFS='|' read -r expr cond what <<<"$check"
    value=$(query "$expr")
    if [[ -z $value ]] || ! holds "$value" "$cond"; then
      failed+=("$what: expected $expr to satisfy '$cond', got '${value:-no sample}'")
    fi
  done
  ((${#failed[@]} == 0)) && break
  if ((SECONDS >= deadline)); then
    printf 'FAIL: %s\n' "${failed[@]}" >&2
    fail "${#failed[@]} of ${#checks[@]} checks still failing after 30 s of scraping"
  fi
  sleep 0.5
done
echo "all ${#checks[@]} series checked through Prometheus ($((SECONDS - started)) s)"

# --- 5. the node shuts down cleanly on SIGTERM --------------------------------------------
kill "$node_pid"
node_rc=""
for _ in $(seq 100); do
  kill -0 "$node_pid" 2>/dev/null || { wait "$node_pid"; node_rc=$?; break; }
  sleep 0.1
done
[[ -n $node_rc ]] || fail "tributaryd still running 10 s after SIGTERM"
node_pid=""
[[ $node_rc -eq 0 ]] || fail "tributaryd exited with status $node_rc after SIGTERM"
echo "PASS ($((SECONDS - started)) s)"
