#!/usr/bin/env bash
# run_e2e.sh BACKEND SERVER [LOADGEN] -- end-to-end test of promstore with a real
# Prometheus (v2.42, Debian's package).
#
#   promstore  <- remote_write -- Prometheus A (scrapes itself and promstore, 1s)
#   promstore  -- remote_read  -> Prometheus B (no scrape configs, read_recent)
#
# The same PromQL range queries over a settled window must give identical
# results on A (its own TSDB) and on B (promstore only), with no warnings on B
# (remote-read errors surface only as warnings). Then promstore is killed with
# SIGKILL while A writes, restarted on the same store after 5 s, and once A has
# retried the gap away a window spanning the kill must match too. With LOADGEN
# (promstore-loadgen), large node_exporter-like batches (job="node") are also
# being written when the kill lands, so it interrupts appends in progress; the
# queries select jobs "prometheus" and "promstore" only. Last, A must not have
# dropped any sample or metadata, and promstore must exit 0 on SIGTERM.
#
# BACKEND is lmdb or sqlite; SERVER is the promstore binary. SERVER may also be
# "prometheus" to check this harness itself against Prometheus's own receiver.
# Loopback only; every wait is bounded; a run takes about 80 s (at most ~5 min).
# Env: PROMETHEUS (binary, default prometheus), KEEP=1 keeps the work dir.
set -euo pipefail

backend=${1:?usage: run_e2e.sh lmdb|sqlite SERVER}
server=${2:?usage: run_e2e.sh lmdb|sqlite SERVER}
loadgen=${3:-}
PROMETHEUS=${PROMETHEUS:-prometheus}
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_need_tools "$PROMETHEUS" curl jq
e2e_init e2e prom_a prom_b

start_promstore() {
  if [[ $(basename "$server") == prometheus ]]; then # harness self-check
    printf 'global: {}\n' >"$work/standin.yml"
    "$server" --config.file="$work/standin.yml" --storage.tsdb.path="$work/store" \
      --web.listen-address="127.0.0.1:$PS" --web.enable-remote-write-receiver \
      >>"$work/promstore.log" 2>&1 &
  else
    "$server" --storage.backend="$backend" --storage.path="$work/store" \
      --web.listen-address="127.0.0.1:$PS" >>"$work/promstore.log" 2>&1 &
  fi
  pid[promstore]=$!
  wait_ready promstore "http://127.0.0.1:$PS/-/ready" 30
}

start_prometheus() { # start_prometheus NAME PORT CONFIG
  "$PROMETHEUS" --config.file="$3" --storage.tsdb.path="$work/$1-data" \
    --web.listen-address="127.0.0.1:$2" >"$work/$1.log" 2>&1 &
  pid[$1]=$!
  wait_ready "$1" "http://127.0.0.1:$2/-/ready" 60
}

# --- queries -------------------------------------------------------------------

QUERIES=(
  'rate(prometheus_http_requests_total[5s])'
  'sum by (job) (rate(process_cpu_seconds_total{job=~"prom.*"}[5s]))'
  'histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))'
  '{__name__=~"go_goroutines|process_open_fds", job=~"prom.*"}'
  'count by (__name__) ({job="prometheus"})'
  'up{job=~"prom.*"}'
  # promstore's own series: stale markers and a counter reset across the kill
  'count by (__name__) ({job="promstore"})'
  'rate(promstore_samples_appended_total[5s])'
)

query_range() { # query_range PORT QUERY START END OUTFILE
  curl -sS --max-time 15 -o "$5" "http://127.0.0.1:$1/api/v1/query_range" \
    --data-urlencode "query=$2" --data-urlencode "start=$3" --data-urlencode "end=$4" \
    --data-urlencode "step=1"
}

# A's result, sorted by series; values as strings, exactly as Prometheus prints them.
NORMALIZE='[.data.result[] | {metric, values}] | sort_by(.metric | tojson)'
# Same series and timestamps, values equal as strings or within 1e-9 relative.
# shellcheck disable=SC2016 # (jq variables, not shell ones)
CLOSE='def num: try tonumber catch null;
  def close(a; b): a == b or ((a | num) as $x | (b | num) as $y
    | $x != null and $y != null and (($x - $y) | fabs) <= 1e-9 * ([($x | fabs), ($y | fabs)] | max));
  (.[0] | length) == (.[1] | length) and
  all(range(.[0] | length) as $i | [.[0][$i], .[1][$i]];
    .[0].metric == .[1].metric and (.[0].values | length) == (.[1].values | length) and
    all(range(.[0].values | length) as $j | [.[0].values[$j], .[1].values[$j]];
      .[0][0] == .[1][0] and close(.[0][1]; .[1][1])))'

# shellcheck disable=SC2016
FLAT='.[] | (.metric | tojson) as $m | .values[] | "\($m) \(.[0]) \(.[1])"'

compare_window() { # compare_window LABEL START END: every query on A and on B
  local label=$1 start=$2 end=$3 i q a b na nb
  log "comparing A and B on [$start, $end] ($label)"
  for i in "${!QUERIES[@]}"; do
    q=${QUERIES[$i]}
    a=$work/$label-$i-a.json b=$work/$label-$i-b.json
    query_range "$PA" "$q" "$start" "$end" "$a" || true
    query_range "$PB" "$q" "$start" "$end" "$b" || true
    local why=""
    if [[ $(jq -r .status "$a" 2>/dev/null) != success ]]; then
      why="A: $(head -c 300 "$a")"
    elif [[ $(jq -r .status "$b" 2>/dev/null) != success ]]; then
      why="B: $(head -c 300 "$b")"
    elif [[ $(jq -c '.warnings // []' "$b") != '[]' ]]; then
      why="B warnings: $(jq -c .warnings "$b")"
    else
      jq -S "$NORMALIZE" "$a" >"$a.n"
      jq -S "$NORMALIZE" "$b" >"$b.n"
      na=$(jq length "$a.n") nb=$(jq length "$b.n")
      if ((na == 0)); then
        why="A returned no series"
      elif ! cmp -s "$a.n" "$b.n" && [[ $(jq -s "$CLOSE" "$a.n" "$b.n") != true ]]; then
        why="results differ (A: $na series, B: $nb series); diff A B:"
      fi
    fi
    if [[ -z $why ]]; then
      printf 'e2e[%s] PASS %-10s %s (%d series)\n' "$backend" "$label" "$q" "$na"
    else
      printf 'e2e[%s] FAIL %-10s %s: %s\n' "$backend" "$label" "$q" "$why"
      if [[ -f $b.n ]]; then # one line per sample: series, time, value
        for f in "$a.n" "$b.n"; do jq -r "$FLAT" "$f" >"$f.txt"; done
        diff "$a.n.txt" "$b.n.txt" | head -n 40 || true
      fi
      failures=$((failures + 1))
    fi
  done
}

# A's remote-write progress: the newest sample timestamp it has sent (s).
highest_sent() {
  curl -sf --max-time 5 "http://127.0.0.1:$PA/api/v1/query" \
    --data-urlencode 'query=max(prometheus_remote_storage_queue_highest_sent_timestamp_seconds)' |
    jq -r '.data.result[0].value[1] // "0"' | cut -d. -f1
}

wait_sent() { # wait_sent T SECONDS: until A has sent every sample up to T
  local i h=0
  for ((i = 0; i < $2; i++)); do
    h=$(highest_sent || echo 0)
    ((h >= $1)) && return 0
    sleep 1
  done
  log "A has sent only up to $h after $2 s, wanted $1"
  return 1
}

a_counter() { # the sum of one of A's counters
  curl -sf --max-time 5 "http://127.0.0.1:$PA/api/v1/query" --data-urlencode "query=sum($1)" |
    jq -r '.data.result[0].value[1] // "0"'
}

# --- scenario ----------------------------------------------------------------------

free_port PS && free_port PA && free_port PB
log "work dir $work; promstore :$PS, Prometheus A :$PA, B :$PB; $("$PROMETHEUS" --version 2>&1 | head -n 1)"

cat >"$work/a.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ['127.0.0.1:$PA']}]
  - job_name: promstore
    static_configs: [{targets: ['127.0.0.1:$PS']}]
remote_write:
  - url: http://127.0.0.1:$PS/api/v1/write
    queue_config: {batch_send_deadline: 1s, min_backoff: 30ms, max_backoff: 1s}
    metadata_config: {send: true, send_interval: 10s}
EOF
cat >"$work/b.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
remote_read:
  - url: http://127.0.0.1:$PS/api/v1/read
    read_recent: true
    remote_timeout: 10s
EOF

# A hard bound on the whole run (it takes about 80 s).
e2e_watchdog 290

# 1. Start everything.
start_promstore
start_prometheus prom_a "$PA" "$work/a.yml"
start_prometheus prom_b "$PB" "$work/b.yml"

# 2. Wait until B sees A's data through promstore.
for ((i = 0; ; i++)); do
  n=$(curl -sf --max-time 5 "http://127.0.0.1:$PB/api/v1/query" --data-urlencode 'query=up{job="prometheus"}' |
    jq -r '(.warnings // []) as $w | if ($w | length) > 0 then "warn: \($w)" else (.data.result | length) end' ||
    echo "query failed")
  [[ $n == 1 ]] && break
  ((i < 60)) || { log "FAIL: B never saw up{job=\"prometheus\"} through promstore (last: $n)"; exit 1; }
  sleep 1
done
t_data=$(date +%s)
log "B reads A's data through promstore"

# 3. Let 40 s of data accumulate, then compare a settled window (its range
# selectors reach 10 s before it, still well after the data's first sample).
sleep 40
end=$(($(date +%s) - 5)) start=$((end - 15))
wait_sent $((end + 1)) 30
compare_window steady "$start" "$end"

# 4. SIGKILL promstore while A writes (and the load generator, if given);
# restart on the same store and port.
if [[ -n $loadgen ]]; then
  "$loadgen" --senders 2 --hosts 20 --batch 500 --requests 4000 --duration 15 \
    --timeout-ms 5000 "http://127.0.0.1:$PS/api/v1/write" >"$work/loadgen.log" 2>&1 &
  pid[loadgen]=$!
  sleep 2
fi
t_kill=$(date +%s)
log "SIGKILL promstore (pid ${pid[promstore]})"
stop promstore KILL
sleep 5
for ((i = 0; ; i++)); do # the port may take a moment to come free
  start_promstore && break
  stop promstore
  ((i < 5)) || { log "FAIL: promstore does not restart"; exit 1; }
  sleep 1
done
log "promstore restarted after $(($(date +%s) - t_kill)) s"
if [[ -n $loadgen ]]; then
  wait "${pid[loadgen]}" || true # bounded by its --duration and --timeout-ms
  unset "pid[loadgen]"
  log "load generator: $(grep '^sent' "$work/loadgen.log" || tail -n 1 "$work/loadgen.log")"
fi
sleep 10
end=$(($(date +%s) - 5)) start=$((t_kill - 10))
wait_sent $((end + 1)) 60
compare_window after-kill "$start" "$end"

# 5. Remote-write health as A sees it: nothing may have been dropped.
for m in prometheus_remote_storage_samples_failed_total prometheus_remote_storage_metadata_failed_total \
  prometheus_remote_storage_samples_dropped_total prometheus_remote_storage_samples_retried_total \
  prometheus_remote_storage_samples_total prometheus_remote_storage_metadata_total; do
  v=$(a_counter "$m" || echo "?")
  case $m in
    *failed* | *dropped*)
      if [[ $v != 0 ]]; then
        printf 'e2e[%s] FAIL remote-write %s = %s (A dropped data)\n' "$backend" "$m" "$v"
        failures=$((failures + 1))
      else
        printf 'e2e[%s] PASS remote-write %s = 0\n' "$backend" "$m"
      fi
      ;;
    *) log "A: $m = $v" ;;
  esac
done
grep -iE 'level=(error|warn).*remote' "$work/prom_a.log" | tail -n 5 | sed 's/^/  A log: /' || true

# 6. promstore stops cleanly on SIGTERM (status 0, no sanitizer report).
p=${pid[promstore]}
unset "pid[promstore]"
kill -TERM "$p"
rc=0
wait "$p" || rc=$? # bounded by the watchdog
if ((rc != 0)) || grep -qE 'Sanitizer|runtime error' "$work/promstore.log"; then
  printf 'e2e[%s] FAIL shutdown: promstore exit status %d after SIGTERM\n' "$backend" "$rc"
  grep -E -A 20 'Sanitizer|runtime error' "$work/promstore.log" | head -n 40 || true
  failures=$((failures + 1))
else
  printf 'e2e[%s] PASS shutdown: promstore exit status 0 after SIGTERM\n' "$backend"
fi

log "data since ${t_data}; total $((SECONDS - t_start)) s"
if ((failures)); then
  echo "e2e[$backend]: FAILED ($failures checks)"
  exit 1
fi
echo "e2e[$backend]: PASSED"
