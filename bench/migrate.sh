#!/usr/bin/env bash
# How fast `protocol migrate` copies a large SQLite database into PostgreSQL: the demo data plus
# MESSAGES generated messages (written straight into SQLite by a script: as many events, a
# reaction on every tenth), copied into a throwaway PostgreSQL (Debian's postgresql, as the
# postgres user, private port and socket folder, fsync off like the tests'). Prints the rows
# and rows per second. BIN picks the binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-300000}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/protocol
fi
PG=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d)
chown postgres "$work"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_postgres "$PG/initdb" -D "$work/data" -A trust -U postgres --no-sync >/dev/null
as_postgres "$PG/pg_ctl" -D "$work/data" -l "$work/pg.log" -w start \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work -c fsync=off" >/dev/null
trap 'as_postgres "$PG/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null; rm -rf "$work"' EXIT
as_postgres "$PG/psql" -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE chat"

cat > "$work/protocol.toml" <<EOF
[server]
listen = "127.0.0.1:0"
database = "chat.db"
[[accounts]]
username = "KevinMcCallister"
phone_number = "1-800-759-3000"
token = "token-kevin"
[[accounts]]
username = "KateMcCallister"
phone_number = "1-800-759-3001"
token = "token-kate"
EOF
"$BIN" --config "$work/protocol.toml" seed-demo >/dev/null
python3 - "$work/chat.db" "$MESSAGES" <<'PY'
import random, sqlite3, string, sys, time
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
convs = c.execute("SELECT id, direct_low, direct_high FROM conversations WHERE direct_low IS NOT NULL").fetchall()
chars = string.ascii_letters + string.digits
rid = lambda: "".join(random.choices(chars, k=16))
now = int(time.time())
messages, events, reactions = [], [], []
for i in range(n):
    conv, low, high = convs[i % len(convs)]
    sender = low if i % 2 else high
    mid = rid()
    body = "message %d: %s" % (i, " ".join(random.choices(["home", "alone", "kevin", "paris", "pizza", "van"], k=8)))
    messages.append((mid, conv, sender, body, now - n + i))
    events.append(("message.created", now - n + i,
                   '"type":"message.created","payload":{"id":"%s","message":"%s"}}' % (mid, body),
                   "%s %s" % (low, high)))
    if i % 10 == 0:
        reactions.append((mid, "thumbs_up", low, now))
c.execute("BEGIN")
c.executemany("INSERT INTO messages (id, conversation_id, sender_id, body, created_at) VALUES (?,?,?,?,?)", messages)
c.executemany("INSERT INTO events (type, created_at, body_tail, audience) VALUES (?,?,?,?)", events)
c.executemany("INSERT INTO reactions (message_id, emoji, contact_id, created_at) VALUES (?,?,?,?)", reactions)
c.execute("COMMIT")
PY
ls -l "$work/chat.db" | awk '{printf "SQLite file: %.0f MiB\n", $5/1048576}'
start=$(date +%s.%N)
"$BIN" --config "$work/protocol.toml" migrate --to "postgres://postgres@127.0.0.1:$port/chat" | tee "$work/out"
end=$(date +%s.%N)
rows=$(sed -n 's/.*: \([0-9]*\) rows,.*/\1/p' "$work/out" | head -1)
python3 -c "print(f'{$rows} rows in {$end-$start:.1f} s: {$rows/($end-$start):,.0f} rows/s')"
