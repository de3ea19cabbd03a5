#!/usr/bin/env bash
# Install the Debian 12 packages promstore needs to build and test.
# Idempotent: when every package is already installed it does nothing (no apt).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  liblmdb-dev libsqlite3-dev libpcre2-dev libcmocka-dev abigail-tools
  # for the HTTP server and remote-write/read protocol (later issues)
  libprotobuf-c-dev protobuf-c-compiler libsnappy-dev libmicrohttpd-dev libyaml-dev
  # for the server tests: libcurl as the HTTP client, openssl for a TLS certificate
  libcurl4-openssl-dev openssl
  # end-to-end tests and benchmarks against a real Prometheus (v2.42 in Debian 12)
  prometheus jq curl
  # the Go shim (go-shim/) and its adapter binary: Go 1.19 with cgo
  golang-go
  # fuzzing (tests/fuzz/run.sh): clang 14 and its libFuzzer/sanitizer runtimes
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

if ((EUID == 0)); then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "setup-deps: missing packages: ${missing[*]}" >&2
  echo "setup-deps: run as root (or install sudo) to install them" >&2
  exit 1
fi

echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
