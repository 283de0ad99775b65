#!/usr/bin/env python3
"""One server against three, behind haproxy, on one PostgreSQL database (all on 127.0.0.1).

    tests/with_postgres.sh python3 bench/fleet.py [--seconds 5] [--rounds 3] [--sends 200]

Starts three servers of this build on the database in PROTOCOL_DATABASE (tests/with_postgres.sh
makes a throwaway one) and haproxy (Debian's package, installed with apt if missing) in front,
round robin, health-checked on /health. Each round measures, through haproxy, `GET /v1/messages`
(a page of 10) and `POST /v1/messages` with wrk (2 threads, 64 connections), once with one
server behind haproxy and once with all three; then the time from a send acknowledged by one
server to its event on a live stream of another (p50/p99 over --sends sends, one at a time).

tests/with_postgres.sh runs PostgreSQL with fsync and synchronous_commit off (bench/run.sh keeps
PostgreSQL's durable defaults), so sends here are not comparable with that table's.

This machine has 2 cores shared by PostgreSQL, the servers, haproxy and wrk: three servers cannot
be faster than one here. What the table shows is what a fleet costs (the same work through more
processes, and the lock that serialises writers) and that it works, not how it scales.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (Ours, http, wrk, free_port, log)

SERVERS = 3


def ensure_haproxy():
    if shutil.which("haproxy") is None:
        bench.log("installing haproxy (apt)…")
        subprocess.run(["apt-get", "install", "-y", "-qq", "haproxy"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("haproxy")


class Haproxy:
    """haproxy in the foreground on a free port, round robin over `backends` (ports)."""

    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.port = bench.free_port()
        self.base = f"http://{bench.HOST}:{self.port}"
        self.proc = None

    def start(self, backends):
        config = os.path.join(self.work, "haproxy.cfg")
        servers = "\n".join(f"    server s{i} {bench.HOST}:{port} check inter 1s"
                            for i, port in enumerate(backends))
        with open(config, "w") as f:
            f.write(f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend chat
    bind {bench.HOST}:{self.port}
    default_backend protocol
backend protocol
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
{servers}
""")
        self.proc = subprocess.Popen([self.binary, "-db", "-f", config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                bench.http("GET", self.base + "/health")
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("haproxy did not come up")
                time.sleep(0.1)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def delivery_times(stream_on, send_on, conversation, sends):
    """(seconds from each send's start to its event on bob's live stream on `stream_on`, and
    to its acknowledgement by `send_on`), both sorted; sends one at a time."""
    arrived, lock = {}, threading.Lock()
    host, port = stream_on.base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token-bob\r\n\r\n")
    stop = threading.Event()

    def read():
        pending = b""
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return
            now = time.monotonic()
            pending += chunk
            # The payload's message id follows "payload":{"id":"…" in each data line.
            while b"\n\n" in pending:
                frame, pending = pending.split(b"\n\n", 1)
                marker = b'"payload":{"id":"'
                if b"event: message.created" in frame and marker in frame:
                    start = frame.index(marker) + len(marker)
                    with lock:
                        arrived[frame[start:start + 16].decode()] = now

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.5)
    started, answered = {}, []
    for n in range(sends):
        start = time.monotonic()
        message = bench.http("POST", send_on.base + "/v1/messages", "token-alice",
                             form=f"conversation_id={conversation}&message=timed+{n}")
        answered.append(time.monotonic() - start)
        started[message["id"]] = start
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with lock:
            if all(m in arrived for m in started):
                break
        time.sleep(0.05)
    stop.set()
    reader.join()
    sock.close()
    missing = [m for m in started if m not in arrived]
    if missing:
        raise RuntimeError(f"{len(missing)} of {sends} events never reached the other server's stream")
    return sorted(arrived[m] - started[m] for m in started), sorted(answered)


def percentile(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sends", type=int, default=200)
    ap.add_argument("--binary", default=os.path.join(bench.ROOT, "target", "release", "protocol"))
    ap.add_argument("--database", default=os.environ.get("PROTOCOL_DATABASE"))
    args = ap.parse_args()
    if not args.database:
        sys.exit("no --database (or PROTOCOL_DATABASE): run it under tests/with_postgres.sh")
    haproxy_binary = ensure_haproxy()
    if args.binary == ap.get_default("binary"):
        bench.log("building release…")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=bench.ROOT, check=True)
    work = tempfile.mkdtemp(prefix="protocol-fleet-")
    servers = [bench.Ours(os.path.join(work, f"s{i}"), args.binary, args.database) for i in range(SERVERS)]
    proxy = Haproxy(haproxy_binary, work)
    try:
        for server in servers:
            server.start()
        conversation = servers[0].conversation("bob")
        for i in range(200):
            bench.http("POST", servers[0].base + "/v1/messages", "token-alice",
                       form=f"conversation_id={conversation}&message=seed+{i}")
        ports = [int(s.base.rsplit(":", 1)[1]) for s in servers]
        runs = {}
        for r in range(args.rounds):
            bench.log(f"round {r + 1} of {args.rounds}…")
            for count in ([1, SERVERS] if r % 2 == 0 else [SERVERS, 1]):
                proxy.start(ports[:count])
                page = f"{proxy.base}/v1/messages?conversation_id={conversation}&limit=10"
                form = f"conversation_id={conversation}&message=through+haproxy"
                runs.setdefault((count, "list"), []).append(bench.wrk(page, args.seconds, "Bearer token-alice"))
                runs.setdefault((count, "send"), []).append(
                    bench.wrk(proxy.base + "/v1/messages", args.seconds, "Bearer token-alice", post_form=form))
                proxy.stop()
        bench.log(f"timing {args.sends} sends from one server to a stream on another…")
        times, answered = delivery_times(servers[0], servers[1], conversation, args.sends)

        print(f"\n{'':58}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for count in (1, SERVERS):
            for kind, label in (("list", "GET /v1/messages limit=10"), ("send", "POST /v1/messages")):
                rps, p50, p99, errors = bench.median_of(runs[count, kind])
                print(f"{f'{count} server(s) behind haproxy':30}{label:28}{rps:>9,.0f}{p50:>9.2f}{p99:>9.2f}{errors:>8}")
        print(f"\n{args.rounds} round(s) of {args.seconds} s (medians); PostgreSQL, {SERVERS} servers, haproxy "
              "and wrk share this machine's cores")
        ms = lambda values, p: percentile(values, p) * 1000  # noqa: E731
        print(f"{args.sends} sends through one server, one at a time, from the request's start: "
              f"its event on another server's stream p50 {ms(times, 50):.1f} ms, p99 {ms(times, 99):.1f} ms "
              f"(the send's own answer p50 {ms(answered, 50):.1f} ms, p99 {ms(answered, 99):.1f} ms)")
    finally:
        proxy.stop()
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
