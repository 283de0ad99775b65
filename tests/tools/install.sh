#!/usr/bin/env bash
# Installs the third-party tools that tests/tools.rs runs against the server, into
# target/tools/ (nothing global but Node.js itself, from apt when it is missing):
#   target/tools/venv  openapi-spec-validator, openapi-python-client, prometheus-client (PyPI)
#   target/tools/npm   openapi-typescript, @redocly/cli (npm)
# Without them `cargo test` skips those tests with a SKIPPED line; with PROTOCOL_CI=1 it fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=target/tools
mkdir -p "$tools"

if [ ! -x "$tools/venv/bin/openapi-python-client" ]; then
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q \
        "openapi-spec-validator==0.9.0" "openapi-python-client==0.29.1" "prometheus-client==0.26.0"
fi

if ! command -v npm > /dev/null; then
    apt-get update -qq && apt-get install -y -qq nodejs npm > /dev/null
fi
# @redocly/cli 2 needs Node.js 20.19 or later; 1.34 runs on Debian 12's Node.js 18.
redocly="@redocly/cli@2.77.0"
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a == 20 && b >= 19) ? 0 : 1)'; then
    redocly="@redocly/cli@1.34.21"
fi
if [ ! -x "$tools/npm/node_modules/.bin/openapi-typescript" ] || [ ! -x "$tools/npm/node_modules/.bin/redocly" ]; then
    mkdir -p "$tools/npm"
    [ -f "$tools/npm/package.json" ] || echo '{"private": true}' > "$tools/npm/package.json"
    (cd "$tools/npm" && npm install --no-audit --no-fund --silent "openapi-typescript@7.13.0" "$redocly")
fi
echo "tools in $tools: $("$tools/venv/bin/openapi-python-client" --version), openapi-typescript $("$tools/npm/node_modules/.bin/openapi-typescript" --version 2>/dev/null | tail -1), redocly $("$tools/npm/node_modules/.bin/redocly" --version 2>/dev/null | tail -1)"
