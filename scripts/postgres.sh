#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests (Debian's postgresql package, installed if
# missing): `scripts/postgres.sh start` creates it once under $CODEACT_PG_DIR (default
# /tmp/codeact-postgres), starts it listening on 127.0.0.1:$CODEACT_PG_PORT (default 54329) and
# a socket in that directory only, with trust authentication for local connections, and prints
# its URL; `stop` stops it. PostgreSQL refuses to run as root, so as root it runs as the
# unprivileged `postgres` user the package creates.
set -euo pipefail
DIR="${CODEACT_PG_DIR:-/tmp/codeact-postgres}"
PORT="${CODEACT_PG_PORT:-54329}"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
  start)
    if [ ! -s "$DIR/data/PG_VERSION" ]; then
      mkdir -p "$DIR"
      [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
      as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off" start >/dev/null
    fi
    echo "$URL"
    ;;
  stop)
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
