#!/usr/bin/env bash
# A throwaway PostgreSQL on 127.0.0.1 for the tests: installs Debian's server package if it is
# missing (root only), starts a cluster in /tmp if none is answering on the port, and prints its
# URL. Idempotent: a second call reuses the running server. `postgres.sh stop` stops the one it
# started (`make stop`), and only that one.
set -euo pipefail
PORT=${EVENTSYNC_PG_PORT:-55432}
DIR=${EVENTSYNC_PG_DIR:-/tmp/eventsync-postgres}
URL="postgresql://postgres:eventsync@127.0.0.1:$PORT/postgres"

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
BIN=$(find_bin)

as_owner() {  # PostgreSQL refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  if [ -n "$BIN" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
    rm -rf "$DIR"
    echo "stopped PostgreSQL at $URL" >&2
  else
    echo "no PostgreSQL of the tests is running in $DIR" >&2
  fi
  exit 0
fi

if [ -z "$BIN" ] || [ ! -x "$BIN/postgres" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed and installing it needs root: apt-get install postgresql" >&2
    exit 1
  fi
  echo "installing PostgreSQL from Debian's packages" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  BIN=$(find_bin)
fi

if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  rm -rf "$DIR" && mkdir -p "$DIR"
  echo eventsync > "$DIR/password"  # a throwaway server on loopback; dlt insists on a password
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$DIR"; fi
  as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$DIR/password" >/dev/null
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -o \
    "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
fi
echo "$URL"
