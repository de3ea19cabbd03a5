#!/usr/bin/env bash
# check_cli.sh PROMSTORE CHECK_FIXTURE BACKEND -- `promstore check` end to end:
#   1. a healthy store: exit 0, "OK", the series count;
#   2. the same store given by --config.file: exit 0;
#   3. a directory without a store: exit 2, and nothing is created in it;
#   4. the store held by a running server: exit 2, "is open";
#   5. the store with one postings entry deleted: exit 1, the report names the
#      table, the series and the label pair;
#   6. a bad flag: exit 2.
set -euo pipefail

promstore=$1
fixture=$2
backend=$3

work=$(mktemp -d "${TMPDIR:-/tmp}/promstore-checkcli-XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "check_cli($backend): FAIL: $*" >&2
  for f in "$work"/out "$work"/err; do
    [[ -f $f ]] && { echo "--- $f"; cat "$f"; } >&2
  done
  exit 1
}

# run_check EXPECTED_STATUS ARGS...: run the check, keep stdout/stderr in out/err.
run_check() {
  local want=$1 status=0
  shift
  "$promstore" check "$@" >"$work/out" 2>"$work/err" || status=$?
  [[ $status -eq $want ]] || fail "promstore check $* exited $status, expected $want"
}

store=$work/store
"$fixture" make "$store" "$backend" || fail "building the store"

# 1. healthy
run_check 0 --storage.path="$store" --storage.backend="$backend"
grep -q '^OK: no problems found$' "$work/out" || fail "no OK line"
grep -q '^40 series, ' "$work/out" || fail "series count missing"
grep -q '^problem:' "$work/out" && fail "problems reported on a healthy store"

# 2. the same through the server's YAML configuration
printf 'storage:\n  backend: %s\n  path: %s\n' "$backend" "$store" >"$work/promstore.yml"
run_check 0 --config.file="$work/promstore.yml"

# 3. no store: nothing created
mkdir "$work/empty"
run_check 2 --storage.path="$work/empty" --storage.backend="$backend"
grep -q 'holds no promstore store' "$work/err" || fail "no 'holds no promstore store' message"
[[ -z $(ls -A "$work/empty") ]] || fail "check created files in an empty directory"
run_check 2 --storage.path="$work/missing" --storage.backend="$backend"
[[ ! -e $work/missing ]] || fail "check created the store directory"

# 4. busy: a running server holds the store
"$promstore" --storage.path="$store" --storage.backend="$backend" \
  --web.listen-address=127.0.0.1:0 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q 'Server is ready' "$work/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited: $(cat "$work/server.log")"
  sleep 0.1
done
grep -q 'Server is ready' "$work/server.log" || fail "the server did not become ready"
run_check 2 --storage.path="$store" --storage.backend="$backend"
grep -q 'is open' "$work/err" || fail "no 'is open' message while the server runs"
kill "$server_pid"
wait "$server_pid" || fail "the server did not exit cleanly"
server_pid=

# 5. damaged: the postings entry instance="host-2" of series 3 is gone
"$fixture" damage "$store" "$backend" || fail "damaging the store"
run_check 1 --storage.path="$store" --storage.backend="$backend"
grep -q '^problem: table=postings series=3: .*instance="host-2"' "$work/out" ||
  fail "the report does not name the missing postings entry"
grep -q '^FAILED: 1 problem found$' "$work/out" || fail "no FAILED summary line"
run_check 1 --config.file="$work/promstore.yml"

# 6. bad flag
run_check 2 --storage.path="$store" --no-such-flag
echo "check_cli($backend): OK"
