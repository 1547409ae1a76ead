#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, bench and CI, from Debian's postgresql-15 package.
#   pg.sh start   initdb into a fresh directory, start on a free loopback port (pg_ctl -w);
#                 prints KUBETRAIL_TEST_POSTGRES_URL=postgres://…
#   pg.sh stop    stop the server started by `start` and remove its data
#   pg.sh url     print the URL of the running server
# As root, the server runs as the postgres user (initdb refuses root); otherwise as the caller.
set -euo pipefail

BIN="${KUBETRAIL_PG_BIN:-/usr/lib/postgresql/15/bin}"
RUN="${KUBETRAIL_PG_RUN:-${TMPDIR:-/tmp}/kubetrail-pg}"

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

running() {
  [ -f "$RUN/url" ] && as_owner "$BIN/pg_ctl" -D "$RUN/data" status > /dev/null 2>&1
}

start() {
  if running; then
    echo "KUBETRAIL_TEST_POSTGRES_URL=$(cat "$RUN/url")"
    return
  fi
  if [ ! -x "$BIN/initdb" ]; then
    echo "no PostgreSQL at $BIN: apt-get install postgresql-15 (or set KUBETRAIL_PG_BIN)" >&2
    exit 1
  fi
  rm -rf "$RUN"
  mkdir -p "$RUN"
  [ "$(id -u)" -eq 0 ] && chown postgres "$RUN"
  local port
  port=$(free_port)
  as_owner "$BIN/initdb" -D "$RUN/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 > "$RUN/initdb.log" 2>&1 || {
    cat "$RUN/initdb.log" >&2
    exit 1
  }
  # Loopback only, no Unix socket in a system directory; sized for a 2-core test machine.
  as_owner "$BIN/pg_ctl" -D "$RUN/data" -l "$RUN/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$RUN' -c fsync=on -c max_connections=100 -c shared_buffers=128MB" \
    start > /dev/null || {
    cat "$RUN/server.log" >&2
    exit 1
  }
  local url="postgres://postgres@127.0.0.1:$port/postgres"
  echo "$url" > "$RUN/url"
  echo "KUBETRAIL_TEST_POSTGRES_URL=$url"
}

stop() {
  if [ -d "$RUN/data" ]; then
    as_owner "$BIN/pg_ctl" -D "$RUN/data" -m fast -w stop > /dev/null 2>&1 || true
  fi
  rm -rf "$RUN"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) cat "$RUN/url" ;;
  *)
    echo "usage: pg.sh start|stop|url" >&2
    exit 2
    ;;
esac
