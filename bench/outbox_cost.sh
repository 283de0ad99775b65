#!/usr/bin/env bash
# What the event outbox costs on POST /v1/messages: the same commit built twice, once as is and
# once with db::events::record turned into a no-op, measured alternately in one run
# (3 rounds each, 64 connections, wrk) on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}; SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release --quiet
work=$(mktemp -d)
trap 'pkill -f "$work" 2>/dev/null || true; git worktree remove --force "$work/src-tree" 2>/dev/null || true; rm -rf "$work"' EXIT
git worktree add --quiet --detach "$work/src-tree" HEAD
# The variant: record() returns at once.
python3 - "$work/src-tree/src/db/events.rs" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
marker = "    audience: &[String],\n) -> Result<()> {\n"
assert marker in s
s = s.replace(marker, marker + "    if true {\n        return Ok(());\n    }\n", 1)
open(p, "w").write(s)
PY
(cd "$work/src-tree" && CARGO_TARGET_DIR="$work/target" cargo build --release --quiet)
cp target/release/protocol "$work/with-outbox"
cp "$work/target/release/protocol" "$work/without-outbox"

run() { # binary → requests/s
  local bin=$1 dir; dir=$(mktemp -d -p "$work")
  printf '[server]\nlisten = "127.0.0.1:0"\ndatabase = "%s/b.db"\n[[accounts]]\nusername = "a"\nphone_number = "1"\ntoken = "ta"\n[[accounts]]\nusername = "b"\nphone_number = "2"\ntoken = "tb"\n' "$dir" > "$dir/p.toml"
  RUST_LOG=error "$bin" --config "$dir/p.toml" > "$dir/out" & local pid=$!
  for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
  local base; base=$(sed -n 's/^listening on //p' "$dir/out")
  local conv; conv=$(curl -s -H "Authorization: Bearer ta" "$base/v1/contacts" -d username=b -d phone_number=2 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["conversation_id"])')
  printf 'wrk.method = "POST"\nwrk.body = "conversation_id=%s&message=benchmark+message"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = "Bearer ta"\n' "$conv" > "$dir/post.lua"
  wrk -t2 -c64 -d"${SECONDS_PER_RUN}s" -s "$dir/post.lua" "$base/v1/messages" | awk '/Requests\/sec/ {print $2}'
  kill $pid; wait $pid 2>/dev/null || true
}
with=(); without=()
for _ in $(seq "$ROUNDS"); do
  without+=("$(run "$work/without-outbox")")
  with+=("$(run "$work/with-outbox")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_with=$(median "${with[@]}"); m_without=$(median "${without[@]}")
echo "POST /v1/messages, 64 connections, ${ROUNDS} rounds each (req/s): without outbox ${without[*]} | with outbox ${with[*]}"
awk -v a="$m_with" -v b="$m_without" 'BEGIN {printf "median without %.0f, with %.0f: the outbox keeps %.0f%% of the throughput (costs %.0f%%)\n", b, a, 100*a/b, 100*(1-a/b)}'
