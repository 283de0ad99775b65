#!/usr/bin/env bash
# Screenshot of the /docs page taken by headless Chromium with the network off: the server and
# the browser run in a fresh network namespace that has only loopback, so any asset the page
# tried to fetch from the internet would fail to load and show as missing.
#
#   sudo apt-get install -y chromium     # Debian's package
#   tests/docs_screenshot.sh [OUT.png]   # default target/docs.png; needs root or user namespaces
#
# Not part of `cargo test` (it needs Chromium); the same guarantee is tested without a browser
# in tests/api/openapi.rs (no external URL in the page or its scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-target/docs.png}")"
cargo build --quiet
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed -e 's/^listen = .*/listen = "127.0.0.1:18181"/' -e 's/^database = .*/database = "docs.db"/' \
    protocol.toml > "$work/protocol.toml"
cp target/debug/protocol "$work/"

cat > "$work/inside.sh" <<'INSIDE'
set -euo pipefail
cd "$1"
ip link set lo up
./protocol --config protocol.toml > server.out 2> server.err &
server=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:18181/health > /dev/null && break; sleep 0.1; done
if curl -fs --max-time 3 https://example.com > /dev/null 2>&1; then
    echo "the network is reachable: refusing to take the screenshot" >&2; kill $server; exit 1
fi
echo "network: only loopback ($(ip -o link | cut -d: -f2 | tr -d ' ' | tr '\n' ' '))"
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --no-first-run --disable-default-apps --disable-sync \
    --hide-scrollbars --window-size=1280,1700 --virtual-time-budget=8000 \
    --screenshot="$2" http://127.0.0.1:18181/docs 2> chromium.err
kill $server
INSIDE
unshare -rn bash "$work/inside.sh" "$work" "$out"
echo "wrote $out"
