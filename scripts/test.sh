#!/usr/bin/env bash
# Sets up and runs every test on a fresh Debian/Ubuntu machine with Node 20+:
# installs what the tests need from Debian (redis-server; docker-compose for validating
# the compose file; chromium for the browser tests), installs npm dependencies, then runs
# `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing from Debian's packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

npm ci --no-audit --no-fund
npm test
