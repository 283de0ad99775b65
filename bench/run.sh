#!/usr/bin/env bash
# The one benchmark command: Protocol server side by side with PocketBase on 127.0.0.1.
# Options: --quick (short runs, 1M-message deep table), --only ours, --backends sqlite,postgres,
# --compare LABEL=BINARY, --pg-synchronous-commit on|off, --no-pages, --seconds N, --rounds N, --deep N.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/bench.py "$@"
