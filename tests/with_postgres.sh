#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL, as tests/support/postgres.rs starts one for the
# Rust tests: Debian's initdb and pg_ctl (as the postgres user when run as root), a private port
# and socket folder, fsync=off. The command gets the URL of an empty database in
# PROTOCOL_DATABASE (which the server itself also reads); the cluster is removed afterwards.
#
#   tests/with_postgres.sh python3 bench/soak.py --seconds 15
#   tests/with_postgres.sh tests/schemathesis.sh
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG…]" >&2; exit 2; }

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  initdb=$(command -v initdb || true)
  [ -n "$initdb" ] || { echo "$0: no PostgreSQL here (initdb, pg_ctl): install Debian's postgresql" >&2; exit 1; }
  bin=$(dirname "$initdb")
fi
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

dir=$(mktemp -d /tmp/protocol-pg-XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$dir"
stop() {
  as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w start -o \
  "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  >/dev/null
as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE protocol"
export PROTOCOL_DATABASE="postgres://postgres@127.0.0.1:$port/protocol"
echo "with_postgres: PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') at $PROTOCOL_DATABASE" >&2
status=0
"$@" || status=$?
exit $status
