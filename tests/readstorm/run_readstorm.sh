#!/usr/bin/env bash
# run_readstorm.sh -- a read storm against the real promstore server while
# remote writes continue (ctest readstorm_<backend>; bench/read_storm.sh runs
# it bigger and repeatedly).
#
#   run_readstorm.sh [options] BACKEND SERVER LOADGEN READBENCH
#
# 1. Start SERVER on 127.0.0.1:0 (the port is read from its log) with an
#    explicit --storage.remote.read-concurrent-limit. When a memory cgroup can
#    be made (v1 /sys/fs/cgroup/memory or v2 memory.max, a child of this
#    process's own cgroup), the server runs in it under a hard limit
#    (--cgroup-mib) on everything the kernel charges to it (heap, stacks, page
#    cache of the store): the kernel must reclaim page cache to stay under it,
#    and kills the server if that is not enough.
# 2. Fill it through the HTTP write path with LOADGEN: HOSTS node_exporter-like
#    hosts (1017 series each: 1000 hosts = 1,017,000 series), one sample per
#    series.
# 3. Start a paced write load (--write-rate samples/s into the same series,
#    newer samples) and let it run --pre-s seconds alone (the baseline).
# 4. The storm: --reads READBENCH processes at once, each one remote read of
#    {__name__=~".+"} over all time [INT64_MIN, INT64_MAX], streamed
#    (STREAMED_XOR_CHUNKS). READBENCH checks every frame's CRC-32C, the series
#    order and (--expect-series) that all series arrived.
# 5. Stop the write load when the last read has ended.
#
# /proc/PID/status (VmRSS, RssAnon, RssFile, VmHWM) is sampled every 100 ms
# from the start. Invariants (exit 1 when one fails):
#   - every read either completed (200, every series, every CRC good) or was
#     refused with a clear limit error (429 or 503 with Retry-After, or 400,
#     with a message naming the limit); nothing cut, nothing wrong;
#   - at least one read completed;
#   - every write was answered 2xx (before, during and after the storm);
#   - peak RssAnon (heap and stacks, sampled) stayed under --ceiling-mib, and
#     the storm added at most --storm-budget-mib to it;
#   - in the cgroup: no OOM kill;
#   - the server is alive afterwards and /-/ready answers 200.
# RssFile (for LMDB, pages of the memory-mapped data.mdb: clean, shared page
# cache the kernel can drop) and VmRSS are reported, not judged.
#
# Why the ceiling is on RssAnon, and why 512 MiB: RssAnon (heap and stacks)
# is what the kernel cannot reclaim, so it is what gets a server OOM-killed.
# After the fill most of it (~360 MiB at 1M series) is the writer's series
# cache (bounded at 512 MiB in plugin/engine/store.c), kept warm because the writes
# go on into every series; a streamed read adds one frame buffer and one
# bitmap of the store's series ids. So --ceiling-mib bounds the server as a
# whole and --storm-budget-mib what the storm adds. Under a cgroup limit
# close to RssAnon the kernel must evict the store's page cache, and an
# mmap'd LMDB store then pays for every reread page (see docs/RELIABILITY.md
# for how that goes at 512 MiB and 1 GiB).
#
# Figures are printed in a block between "==== read storm figures" and
# "====", and as one "STORM k=v ..." line for scripts. Loopback only; every
# step is bounded in time; every process started here is killed on exit.
set -euo pipefail

usage() {
  awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"
  cat <<'EOF'
Options (defaults in brackets):
  --hosts N            store size in hosts of 1017 series [1000]
  --reads N            concurrent remote reads in the storm [20]
  --read-limit N       server --storage.remote.read-concurrent-limit [10]
  --ceiling-mib N      the memory ceiling: bound on the server's peak RssAnon [512]
  --storm-budget-mib N most RssAnon the storm may add [64]
  --cgroup MODE        auto (use one if possible), on (required), off [auto]
  --cgroup-mib N       the cgroup's hard limit on anon + page cache [3072]
  --write-rate S       write load during the storm, samples/s [50000]
  --pre-s S            seconds of write load before the storm [8]
  --read-timeout S     bound on one read, seconds [240]
  --max-s S            bound on the whole run: then everything is killed [570]
  --server-flag F      one more server flag (repeatable)
  --keep DIR           keep the work directory (store, logs) in DIR
EOF
}

HOSTS=1000 READS=20 READ_LIMIT=10 CEILING_MIB=512 STORM_BUDGET_MIB=64 CGROUP=auto CGROUP_MIB=3072
WRITE_RATE=50000 PRE_S=8 READ_TIMEOUT=240 MAX_S=570 KEEP=""
server_flags=()
while (($#)); do
  case $1 in
    --hosts) HOSTS=$2; shift 2 ;;
    --reads) READS=$2; shift 2 ;;
    --read-limit) READ_LIMIT=$2; shift 2 ;;
    --ceiling-mib) CEILING_MIB=$2; shift 2 ;;
    --storm-budget-mib) STORM_BUDGET_MIB=$2; shift 2 ;;
    --cgroup) CGROUP=$2; shift 2 ;;
    --cgroup-mib) CGROUP_MIB=$2; shift 2 ;;
    --write-rate) WRITE_RATE=$2; shift 2 ;;
    --pre-s) PRE_S=$2; shift 2 ;;
    --read-timeout) READ_TIMEOUT=$2; shift 2 ;;
    --max-s) MAX_S=$2; shift 2 ;;
    --server-flag) server_flags+=("$2"); shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --*) echo "run_readstorm.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) break ;;
  esac
done
if (($# != 4)); then usage >&2; exit 2; fi
backend=$1 server=$2 loadgen=$3 readbench=$4
for b in "$server" "$loadgen" "$readbench"; do
  [[ -x $b ]] || { echo "run_readstorm.sh: no executable $b" >&2; exit 2; }
done
for v in HOSTS READS READ_LIMIT CEILING_MIB STORM_BUDGET_MIB CGROUP_MIB WRITE_RATE PRE_S READ_TIMEOUT MAX_S; do
  if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} == 0)); then
    echo "run_readstorm.sh: bad $v: ${!v}" >&2
    exit 2
  fi
done
case $CGROUP in auto | on | off) ;; *) echo "run_readstorm.sh: --cgroup auto|on|off" >&2; exit 2 ;; esac

T_START=$SECONDS
# The 1M-series run needs ~2.5 GiB of RAM (server + clients) and up to ~2.5
# GiB of disk (the store grows while reads hold old snapshots): skip (77) on
# a machine that has less, rather than fail for the machine's sake.
need_mib=$((HOSTS * 3))
avail_mib=$(awk '/^MemAvailable:/ {printf "%d", $2 / 1024}' /proc/meminfo)
disk_mib=$(df -Pm "${TMPDIR:-/tmp}" | awk 'NR == 2 {print $4}')
if ((avail_mib < need_mib || disk_mib < need_mib)); then
  echo "run_readstorm.sh: SKIPPED: needs ${need_mib} MiB of free memory and disk; have ${avail_mib} MiB memory, ${disk_mib} MiB disk in ${TMPDIR:-/tmp}"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/promstore-readstorm.XXXXXX")
server_pid="" sampler_pid="" writer_pid="" cg_dir="" watchdog_pid=""
reader_pids=()
cleanup() {
  local p
  if [[ -n $watchdog_pid ]]; then kill -TERM "$watchdog_pid" 2>/dev/null || true; fi
  for p in "${reader_pids[@]}" $writer_pid $sampler_pid; do kill -KILL "$p" 2>/dev/null || true; done
  if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [[ -n $cg_dir && -d $cg_dir ]]; then
    for p in $(seq 1 50); do rmdir "$cg_dir" 2>/dev/null && break; sleep 0.1; done
  fi
  if [[ -n $KEEP ]]; then
    if mkdir -p "$KEEP"; then cp -a "$work"/*.log "$work"/*.txt "$KEEP"/ 2>/dev/null || true; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "run_readstorm.sh: stopped (signal, or over --max-s $MAX_S s)" >&2; exit 130' INT TERM
# The whole run is bounded: past MAX_S the script is told to stop, and its
# EXIT trap kills the server, the load and the readers (ctest's own timeout
# would leave them running).
(
  trap 'kill -TERM "$sleep_pid" 2>/dev/null; exit 0' TERM
  sleep "$MAX_S" &
  sleep_pid=$!
  wait "$sleep_pid" && kill -TERM $$
) 2>/dev/null &
watchdog_pid=$!

log() { printf '[%4ds] %s\n' $((SECONDS - T_START)) "$*"; }
now_ms() { date +%s%3N; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; } # kB -> MiB
failures=()
check() { # check DESCRIPTION COMMAND...: record whether the command succeeds
  local d=$1
  shift
  if "$@"; then log "ok:   $d"; else log "FAIL: $d"; failures+=("$d"); fi
}
arith() { (($1)); } # arith EXPR: for check

# --- the memory cgroup (optional) ---------------------------------------------
cgroup_bytes=$((CGROUP_MIB * 1048576))
cg_kind=none
cg_setup() {
  local own parent
  if [[ -d /sys/fs/cgroup/memory ]] && own=$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup) &&
    [[ -n $own ]]; then
    parent=/sys/fs/cgroup/memory${own%/}
    cg_dir=$parent/promstore-readstorm-$$
    if mkdir "$cg_dir" 2>/dev/null; then
      if echo "$cgroup_bytes" >"$cg_dir/memory.limit_in_bytes" 2>/dev/null; then
        cg_kind=v1
        return 0
      fi
      rmdir "$cg_dir" 2>/dev/null || true
    fi
  fi
  cg_dir=""
  own=$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup 2>/dev/null) || own=""
  parent=/sys/fs/cgroup${own%/}
  if [[ -n $own && -f $parent/cgroup.subtree_control ]] &&
    grep -qw memory "$parent/cgroup.subtree_control" 2>/dev/null; then
    cg_dir=$parent/promstore-readstorm-$$
    if mkdir "$cg_dir" 2>/dev/null; then
      if echo "$cgroup_bytes" >"$cg_dir/memory.max" 2>/dev/null; then
        cg_kind=v2
        return 0
      fi
      rmdir "$cg_dir" 2>/dev/null || true
    fi
  fi
  cg_dir=""
  return 1
}
cg_oom_kills() { # OOM kills in the cgroup so far
  case $cg_kind in
    v1) awk '$1 == "oom_kill" {print $2; f = 1} END {if (!f) print 0}' "$cg_dir/memory.oom_control" ;;
    v2) awk '$1 == "oom_kill" {print $2; f = 1} END {if (!f) print 0}' "$cg_dir/memory.events" ;;
    *) echo 0 ;;
  esac
}
cg_peak_mib() { # peak of everything charged to the cgroup (anon + page cache + kernel)
  local f
  case $cg_kind in
    v1) f=$cg_dir/memory.max_usage_in_bytes ;;
    v2) f=$cg_dir/memory.peak ;;
    *) echo "-"; return ;;
  esac
  if [[ -r $f ]]; then awk '{printf "%.0f", $1 / 1048576}' "$f"; else echo "-"; fi
}
cg_limit_hits() { # v1: times usage hit the limit (reclaim ran); v2: "max" events
  case $cg_kind in
    v1) cat "$cg_dir/memory.failcnt" ;;
    v2) awk '$1 == "max" {print $2}' "$cg_dir/memory.events" ;;
    *) echo "-" ;;
  esac
}
if [[ $CGROUP != off ]]; then
  if cg_setup; then
    log "memory cgroup ($cg_kind) $cg_dir: hard limit $CGROUP_MIB MiB (anon + page cache)"
  elif [[ $CGROUP == on ]]; then
    echo "run_readstorm.sh: --cgroup on, but no memory cgroup can be made here" >&2
    exit 1
  else
    log "no memory cgroup available: the ceiling is checked on sampled RssAnon only"
  fi
fi

# --- the server -----------------------------------------------------------------
store=$work/store
slog=$work/server.log
port=""
start_server() {
  : >"$slog"
  local args=(--storage.backend="$backend" --storage.path="$store" --web.listen-address=127.0.0.1:0
    --storage.remote.read-concurrent-limit="$READ_LIMIT" "${server_flags[@]}")
  if [[ -n $cg_dir ]]; then
    # Join the cgroup first, then become the server: everything it ever
    # allocates is charged there.
    bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$cg_dir" "$server" "${args[@]}" \
      >>"$slog" 2>&1 &
  else
    "$server" "${args[@]}" >>"$slog" 2>&1 &
  fi
  server_pid=$!
  local i
  for ((i = 0; i < 300; i++)); do
    port=$(sed -n 's/.*msg="Listening on" address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$slog" | tail -n 1)
    if [[ -n $port ]] && curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/-/ready"; then
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run_readstorm.sh: the server did not become ready; log:" >&2
  tail -n 20 "$slog" >&2
  exit 1
}

# sampler: "ms VmRSS RssAnon RssFile VmHWM" (kB) every 100 ms while the
# server lives, at most 30 min.
sampler() {
  local pid=$1 out=$2 i k v rest rss anon file hwm
  for ((i = 0; i < 18000; i++)); do
    [[ -e $work/sampling ]] || break
    rss=0 anon=0 file=0 hwm=0
    while read -r k v rest; do
      case $k in
        VmRSS:) rss=$v ;; RssAnon:) anon=$v ;; RssFile:) file=$v ;; VmHWM:) hwm=$v ;;
      esac
    done <"/proc/$pid/status" 2>/dev/null || break
    echo "$(now_ms) $rss $anon $file $hwm"
    sleep 0.1
  done >"$out"
}

sph=$("$loadgen" --dry-run --senders 1 --hosts 1 --requests 1 --batch 1 |
  sed -n 's/.* \([0-9]*\) series (.*/\1/p')
[[ $sph =~ ^[0-9]+$ ]] || { echo "run_readstorm.sh: cannot learn series per host from loadgen" >&2; exit 1; }
n_series=$((HOSTS * sph))
log "backend $backend; $n_series series ($HOSTS hosts x $sph); $READS reads at once, server read limit $READ_LIMIT; RssAnon ceiling $CEILING_MIB MiB${cg_dir:+, cgroup hard limit $CGROUP_MIB MiB}; write load $WRITE_RATE samples/s"
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"

start_server
log "server pid $server_pid on 127.0.0.1:$port"
: >"$work/sampling"
sampler "$server_pid" "$work/mem.txt" &
sampler_pid=$!
base_url=http://127.0.0.1:$port

# --- fill -------------------------------------------------------------------------
# One scrape of every series, ending five minutes ago; the write load appends
# newer samples to the same series from there.
fill_end=$(($(date +%s) * 1000 - 300000))
t0=$SECONDS
rc=0
# Five hosts per request, and a few requests more than the hosts need:
# loadgen splits hosts and requests between its senders separately, and the
# extra requests only carry a second scrape of some hosts (still before
# fill_end).
fill_out=$(timeout -k 5 300 "$loadgen" --senders 4 --hosts "$HOSTS" --batch $((sph * 5)) \
  --requests $(((HOSTS + 4) / 5 + 4)) --duration 280 --end-ms "$fill_end" \
  "$base_url/api/v1/write" 2>&1) || rc=$?
fill_s=$((SECONDS - t0))
stored=$(curl -sf --max-time 10 "$base_url/metrics" | awk '$1 == "promstore_series" {print $2}' || true)
log "fill: $(grep '^sent' <<<"$fill_out" || echo "loadgen failed (exit $rc): $fill_out") -> store holds ${stored:-?} series (${fill_s}s)"
check "the fill stored all $n_series series through HTTP (loadgen exit $rc)" \
  arith "rc == 0 && ${stored:-0} == n_series"
if [[ ${stored:-0} != "$n_series" ]]; then
  echo "run_readstorm.sh: cannot go on without the store" >&2
  exit 1
fi

# --- write load ------------------------------------------------------------------
# Paced, into the same series, samples after the fill's. Enough requests for
# the whole run; stopped with SIGTERM once the storm is over.
batch=2000
max_run_s=$((PRE_S + READ_TIMEOUT + 10))
wreqs=$((WRITE_RATE * max_run_s / batch + 4))
timeline=$work/writes.txt
"$loadgen" --senders 4 --hosts "$HOSTS" --batch "$batch" --requests "$wreqs" --duration "$max_run_s" \
  --rate "$WRITE_RATE" --start-ms "$fill_end" --timeline "$timeline" "$base_url/api/v1/write" \
  >"$work/writer.log" 2>&1 &
writer_pid=$!
for ((i = 0; i < 1200; i++)); do # encoding takes a few seconds
  grep -q '^encoded' "$work/writer.log" 2>/dev/null && break
  kill -0 "$writer_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q '^encoded' "$work/writer.log" || { echo "run_readstorm.sh: loadgen did not start:" >&2; cat "$work/writer.log" >&2; exit 1; }
writes_from=$(now_ms)
log "write load running ($WRITE_RATE samples/s, $batch per request); ${PRE_S}s before the storm"
sleep "$PRE_S"

# --- the storm ---------------------------------------------------------------------
store_before=$(du -sm "$store" | cut -f1)
storm_from=$(now_ms)
log "storm: $READS reads of {__name__=~\".+\"} over all time, streamed, at once"
for ((i = 0; i < READS; i++)); do
  timeout -k 5 "$READ_TIMEOUT" "$readbench" -T streamed -n 1 -m '__name__=~.+' \
    -s -9223372036854775808 -e 9223372036854775807 --expect-series "$n_series" \
    -t $((READ_TIMEOUT * 1000)) "$base_url/api/v1/read" >"$work/read-$i.txt" 2>&1 &
  reader_pids+=($!)
done
read_rc=()
for p in "${reader_pids[@]}"; do
  r=0
  wait "$p" || r=$?
  read_rc+=("$r")
done
reader_pids=()
storm_to=$(now_ms)
storm_s=$(awk -v a="$storm_from" -v b="$storm_to" 'BEGIN {printf "%.1f", (b - a) / 1000}')
log "storm over after ${storm_s}s"
sleep 1 # a second of writes after the storm
kill -TERM "$writer_pid" 2>/dev/null || true
wrc=0
wait "$writer_pid" || wrc=$?
writer_pid=""
log "write load: $(grep '^sent' "$work/writer.log" || cat "$work/writer.log")"

# --- judge ------------------------------------------------------------------------
check "the server is alive after the storm" kill -0 "$server_pid"
ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$base_url/-/ready" || true)
check "/-/ready answers 200 after the storm (got $ready)" test "$ready" = 200
metrics=$(curl -sf --max-time 10 "$base_url/metrics" || true)
limit_hits=$(awk '$1 == "promstore_limit_hits_total{limit=\"read_concurrency\"}" {print $2}' <<<"$metrics")

# Reads: complete, or refused with a clear limit error; nothing else.
completed=0 refused=0 bad=0
ok_lat=() refused_lat=() refusals=()
for ((i = 0; i < READS; i++)); do
  f=$work/read-$i.txt
  res=$(grep '^RESULT' "$f" || true)
  st=$(sed -n 's/.* status=\([0-9]*\).*/\1/p' <<<"$res")
  ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$res")
  lat=$(sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p' <<<"$res")
  ra=$(sed -n 's/.* retry_after=\([^ ]*\).*/\1/p' <<<"$res")
  err=$(sed -n 's/^readbench: error: //p' "$f" | head -n 1)
  if ((read_rc[i] == 0)) && [[ $st == 200 && $ok == 1 ]]; then
    completed=$((completed + 1))
    ok_lat+=("$lat")
  elif [[ ($st == 503 || $st == 429) && $ra != - && $err =~ (too\ many|limit) ]] ||
    [[ $st == 400 && $err =~ limit ]]; then
    refused=$((refused + 1))
    refused_lat+=("$lat")
    refusals+=("$err")
  else
    bad=$((bad + 1))
    log "read $i: neither complete nor a clear limit error (exit ${read_rc[i]}): ${err:-$(tail -n 3 "$f")}"
  fi
done
check "every read completed or got a clear limit error ($completed completed, $refused refused, $bad other)" \
  arith "bad == 0"
check "at least one read completed with all $n_series series" arith "completed >= 1"
if [[ -n $limit_hits ]]; then
  # Only the storm's reads reach /api/v1/read, so the server's count must agree.
  check "the server counted $refused read_concurrency limit hits (metrics: $limit_hits)" \
    test "${limit_hits%.*}" = "$refused"
fi

median() { # median of the arguments (numbers), "-" when none
  (($#)) || { echo "-"; return; }
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f", m}'
}
read_p50=$(median "${ok_lat[@]}")
read_max=$(printf '%s\n' "${ok_lat[@]:-0}" | sort -g | tail -n 1 | awk '{printf "%.0f", $1}')
refused_p50=$(median "${refused_lat[@]}")

# Writes: every one 2xx; latency percentiles by window (send time).
pct() { # pct FROM_MS TO_MS: "n p50 p99 max non2xx" of writes sent in [FROM, TO)
  awk -v a="$1" -v b="$2" '$1 >= a && $1 < b {print $2, $3}' "$timeline" | sort -g |
    awk '{l[NR] = $1; if ($2 < 200 || $2 > 299) bad++}
         END {if (NR == 0) {print "0 - - - 0"; exit}
              i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999);
              printf "%d %.1f %.1f %.1f %d\n", NR, l[i50], l[i99], l[NR], bad + 0}'
}
read -r w_all _ _ _ w_bad_all < <(pct 0 99999999999999)
read -r w_pre w_pre50 w_pre99 w_premax _ < <(pct "$writes_from" "$storm_from")
read -r w_st w_st50 w_st99 w_stmax _ < <(pct "$storm_from" "$storm_to")
check "every write was answered 2xx ($w_all writes, $w_bad_all not 2xx, loadgen exit $wrc)" \
  arith "wrc == 0 && w_bad_all == 0 && w_all > 0"
# shellcheck disable=SC2034 # read by arith
last_write=$(awk 'BEGIN {m = 0} $1 > m {m = $1} END {printf "%.0f", m}' "$timeline")
check "writes went on during the whole storm ($w_st sent in it)" \
  arith "w_st > 0 && last_write >= storm_to - 2000"

# Memory: peaks over the whole run, and over the storm window.
rm -f "$work/sampling"
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
peaks() { # peaks FROM_MS TO_MS: "samples rss anon file hwm" maxima (kB)
  awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b {n++; for (i = 2; i <= 5; i++) if ($i > m[i]) m[i] = $i}
    END {printf "%d %d %d %d %d\n", n, m[2], m[3], m[4], m[5]}' "$work/mem.txt"
}
read -r n_all pk_rss pk_anon pk_file _ < <(peaks 0 99999999999999)
read -r _ st_rss st_anon st_file _ < <(peaks "$storm_from" "$storm_to")
# RssAnon just before the storm: the last sample before it started.
anon_before=$(awk -v a="$storm_from" '$1 < a {v = $3} END {print v + 0}' "$work/mem.txt")
file_before=$(awk -v a="$storm_from" '$1 < a {v = $4} END {print v + 0}' "$work/mem.txt")
hwm_end=$(awk '{v = $5} END {print v + 0}' "$work/mem.txt")
storm_growth=$((st_anon - anon_before))
check "peak RssAnon $(mib "$pk_anon") MiB < ceiling $CEILING_MIB MiB ($n_all samples)" \
  arith "pk_anon > 0 && pk_anon < CEILING_MIB * 1024"
check "the storm added $(mib "$storm_growth") MiB of RssAnon (< $STORM_BUDGET_MIB MiB)" \
  arith "storm_growth < STORM_BUDGET_MIB * 1024"
oom=$(cg_oom_kills)
if [[ -n $cg_dir ]]; then
  check "no OOM kill in the cgroup (hard limit $CGROUP_MIB MiB)" arith "oom == 0"
fi
store_mib=$(du -sm "$store" | cut -f1)

# --- report -----------------------------------------------------------------------
cg_line=none
if [[ -n $cg_dir ]]; then
  cg_line="$cg_kind, hard limit $CGROUP_MIB MiB: peak charge $(cg_peak_mib) MiB (anon + page cache), limit reached $(cg_limit_hits) times, OOM kills $oom"
fi
refusal=${refusals[0]:-none}
refusal=${refusal%"${refusal##*[! ]}"}
total_s=$((SECONDS - T_START))
cat <<EOF

==== read storm figures ($backend) ====
store          $n_series series ($HOSTS hosts), filled over HTTP in ${fill_s}s; on disk $store_before MiB before the storm, $store_mib MiB after the run
storm          $READS concurrent streamed reads of {__name__=~".+"} over all time; server read limit $READ_LIMIT
reads          $completed completed (all $n_series series, CRCs and order checked), $refused refused, $bad other
read latency   completed: median $read_p50 ms, max $read_max ms; refused: median $refused_p50 ms
refusal        $refusal
storm length   ${storm_s} s
writes         $w_all in all, $w_bad_all not 2xx; paced at $WRITE_RATE samples/s ($batch per request)
write latency  before the storm: n=$w_pre p50 $w_pre50 ms p99 $w_pre99 ms (max $w_premax)
               during the storm: n=$w_st p50 $w_st50 ms p99 $w_st99 ms (max $w_stmax)
memory (MiB)   RssAnon ceiling $CEILING_MIB
               RssAnon before the storm $(mib "$anon_before"), peak in the storm $(mib "$st_anon") (+$(mib "$storm_growth")), peak overall $(mib "$pk_anon")
               RssFile before the storm $(mib "$file_before"), peak in the storm $(mib "$st_file"), peak overall $(mib "$pk_file")
               VmRSS peak in the storm $(mib "$st_rss"), overall $(mib "$pk_rss"); VmHWM at the end $(mib "$hwm_end")
cgroup         $cg_line
run time       ${total_s} s
====
STORM backend=$backend series=$n_series reads=$READS limit=$READ_LIMIT completed=$completed refused=$refused other=$bad read_p50_ms=$read_p50 read_max_ms=$read_max refused_p50_ms=$refused_p50 storm_s=$storm_s writes=$w_all writes_bad=$w_bad_all storm_writes=$w_st write_pre_p50_ms=$w_pre50 write_pre_p99_ms=$w_pre99 write_p50_ms=$w_st50 write_p99_ms=$w_st99 write_max_ms=$w_stmax anon_before_mib=$(mib "$anon_before") anon_storm_mib=$(mib "$st_anon") anon_peak_mib=$(mib "$pk_anon") file_storm_mib=$(mib "$st_file") rss_storm_mib=$(mib "$st_rss") rss_peak_mib=$(mib "$pk_rss") hwm_mib=$(mib "$hwm_end") cgroup=$cg_kind cgroup_peak_mib=$(cg_peak_mib) oom_kills=$oom store_before_mib=$store_before store_mib=$store_mib fill_s=$fill_s total_s=$total_s
EOF

# Stop the server cleanly (it must still close its store). It gives requests
# in flight 30 s; after 45 s it is killed and that is a failure.
t0=$SECONDS
kill -TERM "$server_pid" 2>/dev/null || true
for ((i = 0; i < 450; i++)); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
src=0
if kill -0 "$server_pid" 2>/dev/null; then
  kill -KILL "$server_pid" 2>/dev/null || true
  src=timeout
fi
ws=0
wait "$server_pid" 2>/dev/null || ws=$?
[[ $src == timeout ]] || src=$ws
server_pid=""
check "the server exited 0 on SIGTERM within 45 s (status $src after $((SECONDS - t0)) s)" test "$src" = 0

if ((${#failures[@]})); then
  echo "readstorm: FAILED: ${#failures[@]} check(s)"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
echo "readstorm: all checks passed"
