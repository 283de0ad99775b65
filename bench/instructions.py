#!/usr/bin/env python3
"""Instructions per request, counted by valgrind (callgrind): a figure that does not move with the
machine's load, for comparing two builds of the server on a shared, noisy machine.

    python3 bench/instructions.py [--requests N] [--metrics] [BINARY ...]

Without BINARY it builds and measures target/release/protocol. For each binary and each of
GET /health, POST /v1/messages (a form, as bench/run.sh sends it) and
GET /v1/messages?conversation_id=…&limit=10 (a page of 10 plain messages) it runs
the server under callgrind twice, sending 200 and then 200 + N requests one after another on one
keep-alive connection, and prints (instructions of the second run - of the first) / N: start-up and
set-up cancel out. Only user-space instructions are counted: system calls, the scheduler and the
network stack are not, so this ranks changes to our own code, not the whole cost of a request.
Nor is the checkpoint thread's: it runs every 50 ms whatever the requests, so its share grows
with the wall time of a run (a busy machine made /health vary by 10% from run to run); its work
per write shows in the writer's own checkpoints anyway. --rounds R keeps the lowest of R runs.
With --metrics the server also serves /metrics (server.metrics_listen), which is what puts the
metrics' recording on the request path. Everything runs on 127.0.0.1; valgrind comes from apt
if missing.
"""
import argparse
import glob
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (Ours, http: the server set-up the main benchmark uses)

WARM_UP = 200


def ensure_valgrind():
    if shutil.which("valgrind") is None:
        bench.log("installing valgrind (apt)…")
        subprocess.run(["apt-get", "install", "-y", "-qq", "valgrind"], check=True, stdout=subprocess.DEVNULL)


def instructions(binary, requests, target, metrics=False):
    """Total user-space instructions of one server run that answers `requests` of `target`."""
    work = tempfile.mkdtemp(prefix="protocol-instructions-")
    ours = None
    try:
        ours = bench.Ours(work, binary)
        if metrics:
            with open(ours.config) as f:
                text = f.read()
            with open(ours.config, "w") as f:
                f.write(text.replace("[server]\n", '[server]\nmetrics_listen = "127.0.0.1:0"\n', 1))
        out = os.path.join(work, "callgrind.out")
        ours.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",
             binary, "--config", ours.config],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "error"})
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection(bench.HOST, ours.port, timeout=30)
                probe.request("GET", "/health")
                probe.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or ours.proc.poll() is not None:
                    raise RuntimeError("the server did not start under valgrind")
                time.sleep(0.2)
        conversation = ours.conversation("bob")
        for i in range(20):
            bench.http("POST", ours.base + "/v1/messages", "token-alice",
                       form=f"conversation_id={conversation}&message=seed+{i}")
        method, path, body, expected = {
            "health": ("GET", "/health", None, 200),
            "send": ("POST", "/v1/messages", f"conversation_id={conversation}&message=hello+from+the+benchmark", 201),
            "list": ("GET", f"/v1/messages?conversation_id={conversation}&limit=10", None, 200),
        }[target]
        headers = {"Authorization": "Bearer token-alice", "Content-Type": "application/x-www-form-urlencoded"}
        connection = http.client.HTTPConnection(bench.HOST, ours.port, timeout=60)
        for _ in range(requests):
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != expected:
                raise RuntimeError(f"{method} {path}: {response.status}")
        ours.proc.terminate()
        ours.proc.wait(120)
        total, threads = 0, 0
        for name in glob.glob(out + "*"):
            with open(name) as f:
                text = f.read()
            if "db::wal::start::{{closure}}" in text:
                continue  # the checkpoint thread: periodic, see above
            for line in text.splitlines():
                if line.startswith(("totals:", "summary:")):
                    total += int(line.split()[1])
                    threads += 1
                    break
        if not threads:
            raise RuntimeError("callgrind wrote no totals")
        return total
    finally:
        if ours and ours.proc and ours.proc.poll() is None:
            ours.proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000, help="measured requests per target")
    ap.add_argument("--metrics", action="store_true", help="with /metrics on (server.metrics_listen)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per figure; the lowest counts")
    ap.add_argument("binaries", nargs="*")
    args = ap.parse_args()
    ensure_valgrind()
    binaries = args.binaries
    if not binaries:
        bench.log("building release…")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=bench.ROOT, check=True)
        binaries = [os.path.join(bench.ROOT, "target", "release", "protocol")]
    metrics = ", metrics on" if args.metrics else ""
    print(f"{'binary':40} {'GET /health':>12} {'POST /v1/messages':>18} {'GET /v1/messages':>17}   (instructions/request{metrics})")
    for binary in binaries:
        per_request = []
        for target in ("health", "send", "list"):
            figures = []
            for _ in range(args.rounds):
                base = instructions(binary, WARM_UP, target, args.metrics)
                more = instructions(binary, WARM_UP + args.requests, target, args.metrics)
                figures.append((more - base) / args.requests)
            per_request.append(min(figures))
        print(f"{binary:40} {per_request[0]:>12,.0f} {per_request[1]:>18,.0f} {per_request[2]:>17,.0f}")


if __name__ == "__main__":
    main()
