#!/usr/bin/env bash
# read_storm.sh [BUILD_DIR] -- the read-storm test (tests/readstorm/
# run_readstorm.sh) repeated, per backend and per setting, with the medians of
# its figures: peak RssAnon / VmRSS, write p50 / p99 during the storm, reads
# completed / refused, read latency.
#
# Each run is a fresh server and store: 1,017,000 series filled over HTTP,
# then READS concurrent streamed reads of {__name__=~".+"} over all time while
# a paced write load (WRITE_RATE samples/s) goes on. See run_readstorm.sh for
# what is checked; a run whose checks fail is reported and still counted in
# the medians (its figures are what happened).
#
# Env:
#   BACKENDS   "lmdb sqlite"
#   RUNS       3 runs per setting
#   SETTINGS   space-separated settings, each "name:flag,flag,..." with
#              run_readstorm.sh flags (commas for spaces). Default:
#                ci:                   the ctest settings (20 reads, limit 10)
#                all20:--read-limit,20,--read-timeout,600  all 20 reads admitted at once
#   EXTRA      flags added to every run (e.g. "--cgroup-mib 1024")
#   SERVER     BUILD_DIR/server/promstore
# Example, a tight container limit for LMDB only:
#   BACKENDS=lmdb RUNS=1 SETTINGS="cg1g:--cgroup-mib,1024" bash bench/read_storm.sh build
set -euo pipefail

build=${1:-build}
BACKENDS=${BACKENDS:-lmdb sqlite}
RUNS=${RUNS:-3}
SETTINGS=${SETTINGS:-"ci: all20:--read-limit,20,--read-timeout,600"}
EXTRA=${EXTRA:-}
SERVER=${SERVER:-$build/server/promstore}
loadgen=$build/bench/loadgen/promstore-loadgen
readbench=$build/bench/readbench/promstore-readbench
script=$(dirname "$0")/../tests/readstorm/run_readstorm.sh
for b in "$SERVER" "$loadgen" "$readbench"; do
  [[ -x $b ]] || { echo "no $b: build first" >&2; exit 1; }
done

out=$(mktemp -d "${TMPDIR:-/tmp}/promstore-read-storm.XXXXXX")
trap 'rm -rf "$out"' EXIT
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || echo '?')"

lines=()
for backend in $BACKENDS; do
  for setting in $SETTINGS; do
    name=${setting%%:*}
    flags=${setting#*:}
    read -r -a args <<<"${flags//,/ } $EXTRA"
    for ((run = 1; run <= RUNS; run++)); do
      log=$out/$backend-$name-$run.log
      echo "== $backend $name run $run/$RUNS: run_readstorm.sh ${args[*]}"
      rc=0
      bash "$script" "${args[@]}" "$backend" "$SERVER" "$loadgen" "$readbench" >"$log" 2>&1 || rc=$?
      sed -n '/^==== read storm figures/,/^====$/p' "$log"
      grep -E 'FAIL|SKIPPED' "$log" || true
      line=$(grep '^STORM ' "$log" || true)
      [[ -n $line ]] && lines+=("$name rc=$rc ${line#STORM }")
      ((rc == 0)) || echo "  (run exited $rc)"
    done
  done
done

# Medians per backend and setting.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
median() { printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
  awk '{v[NR] = $1} END {if (!NR) {print "-"; exit} m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m}'; }
echo
echo "medians over the runs of each setting (memory in MiB, times in ms unless noted):"
cols="completed refused read_p50_ms refused_p50_ms storm_s write_pre_p50_ms write_pre_p99_ms write_p50_ms write_p99_ms write_max_ms anon_before_mib anon_storm_mib file_storm_mib rss_storm_mib cgroup_peak_mib store_before_mib store_mib total_s"
printf '%-7s %-7s %4s %5s' backend setting runs fail
for c in $cols; do printf ' %s' "$c"; done
echo
for backend in $BACKENDS; do
  for setting in $SETTINGS; do
    name=${setting%%:*}
    sel=()
    fails=0
    for l in "${lines[@]}"; do
      [[ ${l%% *} == "$name" && $(field backend "$l") == "$backend" ]] || continue
      sel+=("$l")
      [[ $(field rc "$l") == 0 ]] || fails=$((fails + 1))
    done
    printf '%-7s %-7s %4d %5d' "$backend" "$name" "${#sel[@]}" "$fails"
    for c in $cols; do
      vals=()
      for l in "${sel[@]}"; do vals+=("$(field "$c" "$l")"); done
      printf ' %s' "$(median "${vals[@]}")"
    done
    echo
  done
done
