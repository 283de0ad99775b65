#!/usr/bin/env bash
# Peak memory of the server while it receives a max-size upload (issue: attachments).
#
#   bench/upload_rss.sh            # 25 MiB (the default max_upload_bytes)
#   SIZE_MIB=100 bench/upload_rss.sh
#
# Starts the release binary on 127.0.0.1 with a fresh database, reads the kernel's
# high-water mark of its resident memory (VmHWM) before and after an upload of exactly
# max_upload_bytes, and checks that one byte more is refused with 413 and leaves no file.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-25}
SIZE=$((SIZE_MIB * 1024 * 1024))

cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/protocol.toml" <<TOML
[server]
listen = "127.0.0.1:0"
database = "$work/bench.db"
max_upload_bytes = $SIZE

[[accounts]]
username = "bench"
phone_number = "1"
token = "bench-token"
TOML
RUST_LOG=warn ./target/release/protocol --config "$work/protocol.toml" > "$work/out" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
base=$(sed -n 's/^listening on //p' "$work/out")

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
head -c "$SIZE" /dev/urandom > "$work/file.bin"
# Warm up: one small request so the baseline includes the runtime's steady state.
curl -sf -H "Authorization: Bearer bench-token" -F "file=@/etc/hostname" "$base/v1/attachments" >/dev/null
before_rss=$(kib VmRSS); before_hwm=$(kib VmHWM)

status=$(curl -s -o "$work/resp" -w '%{http_code}' -H "Authorization: Bearer bench-token" \
  -F "file=@$work/file.bin" "$base/v1/attachments")
after_hwm=$(kib VmHWM); after_rss=$(kib VmRSS)
[ "$status" = 201 ] || { echo "upload failed: $status $(cat "$work/resp")"; exit 1; }
stored=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["file_size"])' "$work/resp")

head -c $((SIZE + 1)) /dev/urandom > "$work/big.bin"
over=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer bench-token" \
  -F "file=@$work/big.bin" "$base/v1/attachments")
files=$(find "$work/bench.db-files" -type f | wc -l)

printf 'upload size           %10d bytes (%d MiB), stored %d bytes\n' "$SIZE" "$SIZE_MIB" "$stored"
printf 'RSS before upload     %10d KiB\n' "$before_rss"
printf 'peak RSS before       %10d KiB\n' "$before_hwm"
printf 'peak RSS after        %10d KiB  (grew %d KiB = %.1f%% of the file)\n' "$after_hwm" \
  $((after_hwm - before_hwm)) "$(awk -v a="$after_hwm" -v b="$before_hwm" -v s="$SIZE" 'BEGIN {print (a - b) * 1024 * 100 / s}')"
printf 'RSS after upload      %10d KiB\n' "$after_rss"
printf 'one byte over limit   %10s (expect 413); files on disk: %d (expect 2)\n' "$over" "$files"
