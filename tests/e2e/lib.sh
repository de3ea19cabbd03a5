# shellcheck shell=bash disable=SC2154,SC2034 # backend is the caller's; failures is used by it
# lib.sh -- what the e2e scripts share: the run (work dir, traps, time
# budget), their log line, our processes, ports. Sourced once `backend` is
# set; then e2e_init. Loopback only; every wait is bounded.

log() { printf 'e2e[%s] %3ds: %s\n' "$backend" $((SECONDS - t_start)) "$*"; }

# --- processes ---------------------------------------------------------------

stop() { # stop NAME [SIGNAL]: signal one of our processes and reap it (<= 10 s)
  local p=${pid[$1]:-} i
  [[ -n $p ]] || return 0
  disown "$p" 2>/dev/null || true # no "Killed" job notice; bash still reaps it
  kill -"${2:-TERM}" "$p" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "pid[$1]"
}

declare -A used_port=()
# Ports are taken from 20000-31999, below Linux's ephemeral range (32768 up by
# default): a port in that range can be the local end of an outgoing
# connection (a scrape, a curl) by the time the server binds it, and then its
# bind fails with "address already in use" (seen: Prometheus B on 34836).
free_port() { # free_port VAR: a port in 20000-31999 that nothing accepts connections on
  local i p
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 12000))
    [[ -z ${used_port[$p]:-} ]] || continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_port[$p]=1
      printf -v "$1" '%s' "$p"
      return 0
    fi
  done
  echo "e2e: no free port" >&2
  return 1
}

wait_ready() { # wait_ready NAME URL SECONDS
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    curl -sf -o /dev/null --max-time 2 "$2" && return 0
    kill -0 "${pid[$1]}" 2>/dev/null || { log "$1 exited"; return 1; }
    sleep 0.2
  done
  log "$1 not ready after $3 s: $2"
  return 1
}

# --- the run -------------------------------------------------------------------

declare -A pid=() # name -> pid of each process we started

# e2e_init TAG PROM...: the work dir $work (promstore-TAG-BACKEND.XXXXXX), the
# clock of log, failures=0, and the traps: on exit every process in pid is
# stopped and, after a failure, the end of promstore.log and the warnings in
# each PROM.log are shown; $work is removed unless KEEP=1.
e2e_init() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/promstore-$1-$backend.XXXXXX")
  shift
  e2e_prom_logs=("$@")
  failures=0
  t_start=$SECONDS
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
}

e2e_cleanup() {
  local rc=$? n
  trap - EXIT INT TERM
  for n in "${!pid[@]}"; do stop "$n"; done
  if ((rc != 0)); then
    echo "--- last lines of promstore.log"
    tail -n 15 "$work/promstore.log" 2>/dev/null || true
    for n in "${e2e_prom_logs[@]}"; do
      echo "--- last warnings and errors in $n.log"
      grep -E 'level=(warn|error)' "$work/$n.log" 2>/dev/null | tail -n 10 || true
    done
  fi
  if [[ ${KEEP:-0} == 1 ]]; then echo "e2e: work dir kept: $work"; else rm -rf "$work"; fi
  exit "$rc"
}

e2e_watchdog() { # e2e_watchdog SECONDS: end the run (TERM to the script) past its time budget
  ( for ((i = 0; i < $1; i++)); do sleep 1; done
    echo "e2e[$backend] FAIL: time budget of $1 s exceeded" >&2
    kill -TERM $$ ) </dev/null >/dev/null &
  pid[watchdog]=$!
}

e2e_need_tools() { # e2e_need_tools TOOL...: each on PATH, or FAIL
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "e2e: FAIL: $tool not found (scripts/setup-deps.sh)"; exit 1; }
  done
}
