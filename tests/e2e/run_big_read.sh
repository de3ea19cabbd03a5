#!/usr/bin/env bash
# run_big_read.sh BACKEND SERVER FILL -- a real Prometheus (v2.42, Debian's
# package) reads a day of 2,000 series at a 15 s interval (11.5M samples, a
# ~198 MiB decoded answer) from promstore by remote read, which Prometheus
# before 2.55 asks for as SAMPLES only: one snappy-compressed ReadResponse.
#
#   FILL (tests/e2e/fill_big.c) writes the data straight into a store, and
#   the answers PromQL must give; then promstore serves that store and
#   Prometheus B (no scrape configs, read_recent) queries it:
#     count_over_time and sum_over_time over [1d] of every series, equal to
#     what was written; three series' raw samples, equal to them as strings
#     (-0.0 included, printed "-0"); no warnings in any API answer (a failed
#     remote read is only a warning there); promstore logs no cut stream.
#   While the queries run, promstore's RssAnon is sampled from /proc every
#   50 ms; its peak must stay under RSS_LIMIT_KB (128 MiB): the answer is
#   never held whole.
#
# Prometheus's own limits are set so that they are not what fails:
# query.max-samples stays at its 50M default (a query here loads 11.5M),
# remote_timeout is 2m and query.timeout 3m. Loopback only; every wait is
# bounded; a run takes about a minute (at most ~5 min).
# Env: PROMETHEUS (binary, default prometheus), NSERIES (2000), NSAMPLES
# (5760), RSS_LIMIT_KB (131072), SERVER_FLAGS (more flags for promstore, e.g.
# --storage.remote.max-decoded-bytes=1GiB to measure a server that caps
# SAMPLES there), KEEP=1 keeps the work dir.
set -euo pipefail

backend=${1:?usage: run_big_read.sh lmdb|sqlite SERVER FILL}
server=${2:?usage: run_big_read.sh lmdb|sqlite SERVER FILL}
fill=${3:?usage: run_big_read.sh lmdb|sqlite SERVER FILL}
PROMETHEUS=${PROMETHEUS:-prometheus}
NSERIES=${NSERIES:-2000}
NSAMPLES=${NSAMPLES:-5760}
RSS_LIMIT_KB=${RSS_LIMIT_KB:-131072}
STEP_S=15
RAW=(0 1234 $((NSERIES - 1)))
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_need_tools "$PROMETHEUS" curl jq
e2e_init bigread prom_b

e2e_watchdog 290

fail() {
  printf 'e2e[%s] FAIL %s\n' "$backend" "$*"
  failures=$((failures + 1))
}

# --- the data ----------------------------------------------------------------

# The day ends ten minutes ago, on a multiple of the step; the query is at
# its last sample, so [1d] holds every sample and no other.
t_end=$(( ($(date +%s) - 600) / STEP_S * STEP_S ))
t0=$((t_end - (NSAMPLES - 1) * STEP_S))
log "writing $NSERIES series x $NSAMPLES samples into a $backend store"
"$fill" "$backend" "$work/store" "$NSERIES" "$NSAMPLES" $((t0 * 1000)) $((STEP_S * 1000)) \
  "$work" "${RAW[@]}"
log "written"

free_port PS && free_port PB
# shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
"$server" --storage.backend="$backend" --storage.path="$work/store" \
  --web.listen-address="127.0.0.1:$PS" ${SERVER_FLAGS:-} >>"$work/promstore.log" 2>&1 &
pid[promstore]=$!
wait_ready promstore "http://127.0.0.1:$PS/-/ready" 30

cat >"$work/b.yml" <<EOF2
global: {evaluation_interval: 1m}
remote_read:
  - url: http://127.0.0.1:$PS/api/v1/read
    read_recent: true
    remote_timeout: 2m
EOF2
"$PROMETHEUS" --config.file="$work/b.yml" --storage.tsdb.path="$work/prom_b-data" \
  --web.listen-address="127.0.0.1:$PB" --query.timeout=3m >"$work/prom_b.log" 2>&1 &
pid[prom_b]=$!
wait_ready prom_b "http://127.0.0.1:$PB/-/ready" 60

# --- promstore's RssAnon, sampled while the queries run -------------------------

rss_sampler() { # rss_sampler PID OUT: the peak RssAnon (kB) into OUT, for at most 5 min
  local max=0 v i
  for ((i = 0; i < 6000; i++)); do
    v=$(awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null) || break
    [[ -n $v ]] || break
    if ((v > max)); then
      max=$v
      echo "$max" >"$2.tmp" && mv "$2.tmp" "$2"
    fi
    sleep 0.05
  done
}
rss_before=$(awk '/^RssAnon:/ {print $2}' "/proc/${pid[promstore]}/status")
rss_sampler "${pid[promstore]}" "$work/rss_peak" &
pid[sampler]=$!

# --- the queries -------------------------------------------------------------------

query() { # query PROMQL OUT: an instant query at t_end on B; 0 if it succeeded without warnings
  local t=$SECONDS
  curl -sS --max-time 200 -o "$2" "http://127.0.0.1:$PB/api/v1/query" \
    --data-urlencode "query=$1" --data-urlencode "time=$t_end" || { fail "$1: curl failed"; return 1; }
  if [[ $(jq -r .status "$2" 2>/dev/null) != success ]]; then
    fail "$1: $(head -c 300 "$2")"
    return 1
  fi
  if [[ $(jq -c '.warnings // []' "$2") != '[]' ]]; then
    fail "$1: warnings $(jq -c .warnings "$2" | head -c 300)"
    return 1
  fi
  log "$1: $(jq '.data.result | length' "$2") series in $((SECONDS - t)) s"
}

# Per series "i value", sorted, from a vector answer.
vector_by_i='.data.result | map("\(.metric.i) \(.value[1])") | sort | .[]'

if query "count_over_time(e2e_big[1d])" "$work/count.json"; then
  jq -r "$vector_by_i" "$work/count.json" >"$work/count.got"
  awk '{print $1, $2}' "$work/agg.txt" >"$work/count.want"
  if cmp -s "$work/count.got" "$work/count.want"; then
    printf 'e2e[%s] PASS count_over_time of %d series\n' "$backend" "$NSERIES"
  else
    fail "count_over_time differs from what was written:"
    diff "$work/count.want" "$work/count.got" | head -n 10 || true
  fi
fi

if query "sum_over_time(e2e_big[1d])" "$work/sum.json"; then
  jq -r "$vector_by_i" "$work/sum.json" >"$work/sum.got"
  awk '{print $1, $3}' "$work/agg.txt" >"$work/sum.want"
  # Numbers, compared exactly: sums of quarters have one right answer.
  if [[ $(wc -l <"$work/sum.got") -eq $NSERIES ]] &&
     paste -d' ' "$work/sum.want" "$work/sum.got" | awk '$1 != $3 || $2 + 0 != $4 + 0 {bad = 1} END {exit bad}'; then
    printf 'e2e[%s] PASS sum_over_time of %d series\n' "$backend" "$NSERIES"
  else
    fail "sum_over_time differs from what was written:"
    paste -d' ' "$work/sum.want" "$work/sum.got" | awk '$1 != $3 || $2 + 0 != $4 + 0' | head -n 10
  fi
fi

for k in "${RAW[@]}"; do
  i=$(printf '%05d' "$k")
  if query "e2e_big{i=\"$i\"}[1d]" "$work/raw_$i.json"; then
    jq -r '.data.result[0].values[] | "\(.[0]) \(.[1])"' "$work/raw_$i.json" >"$work/raw_$i.got"
    if cmp -s "$work/raw_$i.txt" "$work/raw_$i.got"; then
      printf 'e2e[%s] PASS raw samples of series %s (%d)\n' "$backend" "$i" "$NSAMPLES"
    else
      fail "raw samples of series $i differ:"
      diff "$work/raw_$i.txt" "$work/raw_$i.got" | head -n 10 || true
    fi
  fi
done

stop sampler
peak=$(cat "$work/rss_peak" 2>/dev/null || echo 0)
log "promstore RssAnon: ${rss_before} kB before the queries, peak ${peak} kB during them"
if ((peak == 0 || peak >= RSS_LIMIT_KB)); then
  fail "promstore's RssAnon peaked at ${peak} kB, not under ${RSS_LIMIT_KB} kB"
else
  printf 'e2e[%s] PASS RssAnon peak %d kB < %d kB\n' "$backend" "$peak" "$RSS_LIMIT_KB"
fi
if grep -q "Remote read cut short" "$work/promstore.log"; then
  fail "promstore cut a remote read short: $(grep -m1 'Remote read cut short' "$work/promstore.log")"
fi

stop prom_b
stop promstore
if ((failures)); then
  log "$failures check(s) failed"
  exit 1
fi
log "all checks passed"
