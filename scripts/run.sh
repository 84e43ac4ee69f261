#!/usr/bin/env bash
# Quickstart: build MAWS and run it (gateway + worker in one process) on this machine.
#
#   bash scripts/run.sh                      # http://127.0.0.1:8000/
#   PORT=9000 bash scripts/run.sh            # PORT, HOST, REDIS_URL, ... are honoured
#   REDIS_URL=redis://host:6379 bash scripts/run.sh   # use that Redis, start none
#
# Needs Node 20+ on Debian/Ubuntu. Without REDIS_URL it installs redis-server (apt-get) when
# missing and, unless something already answers on 127.0.0.1:6379, starts one whose data lives
# in .maws/redis and which is stopped again when this script exits. Dev tokens are on; the JWT
# secret and the Bull Board password are generated once and kept in .maws/ so restarts keep
# working tokens and the same login. Ctrl-C (or SIGTERM) shuts MAWS down gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
STATE="$ROOT/.maws"
REDIS_DIR="$STATE/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"

started_redis=""
node_pid=""

cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  if [ -n "$started_redis" ] && [ -f "$REDIS_PIDFILE" ]; then
    local pid
    pid="$(cat "$REDIS_PIDFILE" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      echo "Stopping the redis-server this script started (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      # SIGTERM makes Redis flush its AOF and exit; give it a few seconds.
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
}
trap cleanup EXIT
# Until MAWS runs, a signal just ends the script (and the EXIT trap cleans up).
trap 'exit 130' INT
trap 'exit 143' TERM

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "run.sh: need root (or sudo) to run: $*" >&2
    exit 1
  fi
}

# True when a Redis answers PING on 127.0.0.1:6379.
redis_answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true)" = "PONG" ]
  else
    (
      exec 3<>/dev/tcp/127.0.0.1/6379 || exit 1
      printf 'PING\r\n' >&3
      IFS= read -r -t 2 line <&3 || exit 1
      [[ "$line" == "+PONG"* ]]
    ) 2>/dev/null
  fi
}

random_secret() {
  node -e "process.stdout.write(require('node:crypto').randomBytes(${1:-32}).toString('base64url'))"
}

# Prints the contents of a file in .maws/, creating it with a random value the first time.
kept_secret() {
  local file="$STATE/$1"
  if [ ! -s "$file" ]; then
    (umask 077 && random_secret "$2" >"$file")
  fi
  cat "$file"
}

# ---- prerequisites ----
if ! command -v node >/dev/null 2>&1; then
  echo "run.sh: Node.js 20+ is required (https://nodejs.org/)" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "run.sh: Node.js 20+ is required, found $(node -v)" >&2
  exit 1
fi

if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
  echo "Installing redis-server from the system's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
fi
if [ -z "${REDIS_URL:-}" ]; then
  # MAWS uses sharded pub/sub (Redis 7+); say so here rather than after the build.
  redis_major="$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')"
  if [ -n "$redis_major" ] && [ "$redis_major" -lt 7 ]; then
    echo "run.sh: MAWS needs Redis 7 or newer; this system's redis-server is $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')." >&2
    echo "        Use a Redis 7 (Debian 12, Ubuntu 24.04, or the redis.io packages) and set REDIS_URL." >&2
    exit 1
  fi
fi

# ---- build ----
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build

# ---- redis ----
mkdir -p "$STATE"
if [ -z "${REDIS_URL:-}" ]; then
  if redis_answers; then
    echo "Using the Redis that already answers on 127.0.0.1:6379"
  else
    mkdir -p "$REDIS_DIR"
    rm -f "$REDIS_PIDFILE"
    redis-server --bind 127.0.0.1 --port 6379 \
      --appendonly yes --maxmemory-policy noeviction \
      --dir "$REDIS_DIR" --daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_DIR/redis.log"
    started_redis=1
    for _ in $(seq 100); do
      redis_answers && break
      sleep 0.1
    done
    if ! redis_answers; then
      echo "run.sh: redis-server did not come up on 127.0.0.1:6379; its log ($REDIS_DIR/redis.log) ends:" >&2
      tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
      exit 1
    fi
    echo "Started redis-server on 127.0.0.1:6379 (data in .maws/redis, pid $(cat "$REDIS_PIDFILE" 2>/dev/null || echo '?'))"
  fi
fi

# ---- configuration ----
export AUTH_DEV_TOKENS="${AUTH_DEV_TOKENS:-true}"
if [ -z "${JWT_SECRET:-}" ]; then
  JWT_SECRET="$(kept_secret jwt-secret 32)"
fi
export JWT_SECRET
export ADMIN_USER="${ADMIN_USER:-admin}"
if [ -z "${ADMIN_PASSWORD:-}" ]; then
  ADMIN_PASSWORD="$(kept_secret admin-password 12)"
fi
export ADMIN_PASSWORD

host="${HOST:-127.0.0.1}"
case "$host" in 0.0.0.0 | "::" | "[::]") host=127.0.0.1 ;; esac
case "$host" in *:*) host="[$host]" ;; esac
url="http://$host:${PORT:-8000}/"
cat <<INFO

  MAWS:       $url
  Bull Board: ${url}admin/queues  (user: $ADMIN_USER  password: $ADMIN_PASSWORD)
  Stop with Ctrl-C.

INFO

# ---- run ----
# A child rather than exec, so that the EXIT trap can stop the Redis started above.
# SIGINT and SIGTERM both become SIGTERM for MAWS: its graceful shutdown.
node dist/main.js all &
node_pid=$!
trap 'kill -TERM "$node_pid" 2>/dev/null || true' INT TERM
status=0
while :; do
  wait "$node_pid" && status=0 || status=$?
  kill -0 "$node_pid" 2>/dev/null || break
done
# If the last wait was cut short by a signal just before MAWS exited, its status is still held.
if wait "$node_pid" 2>/dev/null; then status=0; else rc=$?; [ "$rc" -eq 127 ] || status=$rc; fi
node_pid=""
exit "$status"
