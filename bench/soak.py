#!/usr/bin/env python3
"""Sustained mixed load: 64 connections for 60 s across 4 accounts (send, list, react, open,
edit, delete), against the release binary on 127.0.0.1.

    bench/soak.py                    # the full run: 60 s, 64 connections
    bench/soak.py --seconds 15       # what CI runs
    tests/with_postgres.sh bench/soak.py --seconds 15   # on a throwaway PostgreSQL

--database (default: $PROTOCOL_DATABASE, else a fresh SQLite file) picks the storage; a
postgres:// URL must name an empty database.

Prints the request counts per operation, every response the traffic did not ask for (anything
but the expected 2xx: a delete of a message this run just sent must be a 204), whether the server
logged "database is locked", and its memory over time (RSS sampled every second). Exits 1 on any
unexpected response, a lock error, or memory that keeps growing: after the warm-up (the first
quarter of the run, at least 3 s), RSS may not both grow by more than --max-growth-mib (8 MiB)
and climb faster than --max-growth-mib-per-minute (24 MiB/min, the least-squares slope). SQLite's
page caches and the allocator settle during the warm-up (a 60 s release run grows about 2 MiB
after it, 3 MiB/min); a leak of 4 KiB per request climbs at over 100 MiB/min.
"""
import argparse, asyncio, json, os, random, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCOUNTS = ["kevin", "kate", "peter", "buzz"]


class Connection:
    def __init__(self, host, port):
        self.host, self.port, self.reader, self.writer = host, port, None, None

    async def request(self, method, path, token, form=None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = form.encode() if form is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n"
        if form is not None:
            head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            if name.lower() == "connection" and "close" in value.lower():
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.writer.close()
            self.writer = None
        return status, (json.loads(data) if data else None)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/protocol"))
    ap.add_argument("--database", default=os.environ.get("PROTOCOL_DATABASE"),
                    help="a postgres:// URL of an empty database, or a SQLite path "
                         "(default: $PROTOCOL_DATABASE, else soak.db in a fresh folder)")
    ap.add_argument("--max-growth-mib", type=float, default=8.0,
                    help="RSS growth after the warm-up that never fails the run, in MiB")
    ap.add_argument("--max-growth-mib-per-minute", type=float, default=24.0,
                    help="RSS growth rate after the warm-up beyond that, in MiB per minute")
    args = ap.parse_args()
    if args.binary.endswith("target/release/protocol"):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)

    work = tempfile.mkdtemp(prefix="protocol-soak-")
    config = os.path.join(work, "protocol.toml")
    database = args.database or os.path.join(work, "soak.db")
    postgres = database.startswith(("postgres://", "postgresql://"))
    print(f"storage: {'PostgreSQL' if postgres else 'SQLite ' + database}")
    with open(config, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:0"\ndatabase = "{database}"\n')
        for name in ACCOUNTS:
            f.write(f'[[accounts]]\nusername = "{name}"\nphone_number = "1"\ntoken = "token-{name}"\n')
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([args.binary, "--config", config], stdout=subprocess.PIPE, stderr=log,
                              env={**{k: v for k, v in os.environ.items() if k != "PROTOCOL_DATABASE"},
                                   "RUST_LOG": "warn"})
    try:
        base = server.stdout.readline().decode().strip().removeprefix("listening on http://")
        host, port = base.split(":")
        port = int(port)

        # Everyone knows everyone; collect the conversations each account is in.
        setup = Connection(host, port)
        conversations = {name: [] for name in ACCOUNTS}
        for i, a in enumerate(ACCOUNTS):
            for b in ACCOUNTS[i + 1:]:
                status, contact = await setup.request("POST", "/v1/contacts", f"token-{a}",
                                                      f"username={b}&phone_number=1")
                assert status == 201, (status, contact)
                conversations[a].append(contact["conversation_id"])
                conversations[b].append(contact["conversation_id"])

        counts, unexpected = {}, []
        mine = {name: [] for name in ACCOUNTS}  # message ids each account sent
        deadline = time.monotonic() + args.seconds

        async def worker(n):
            conn = Connection(host, port)
            rng = random.Random(n)
            while time.monotonic() < deadline:
                me = rng.choice(ACCOUNTS)
                token = f"token-{me}"
                conversation = rng.choice(conversations[me])
                op = rng.choices(["send", "list", "react", "open", "edit", "delete"],
                                 [40, 30, 10, 10, 5, 5])[0]
                if op in ("react", "edit", "delete") and not mine[me]:
                    op = "send"
                if op == "send":
                    status, body = await conn.request("POST", "/v1/messages", token,
                                                      f"conversation_id={conversation}&message=soak+{n}")
                    ok = status == 201
                    if ok:
                        mine[me].append(body["id"])
                elif op == "list":
                    status, _ = await conn.request("GET", f"/v1/messages?conversation_id={conversation}&limit=10", token)
                    ok = status == 200
                elif op == "open":
                    status, _ = await conn.request("GET", f"/v1/conversations/{conversation}", token)
                    ok = status == 200
                elif op == "react":
                    message = rng.choice(mine[me])
                    status, _ = await conn.request("PUT", f"/v1/messages/{message}", token,
                                                   f"reactions[thumbs_up][]={me}")
                    ok = status == 200 or (status == 404 and message not in mine[me])
                elif op == "edit":
                    message = rng.choice(mine[me])
                    status, _ = await conn.request("PUT", f"/v1/messages/{message}", token, "message=edited")
                    ok = status == 200 or (status == 404 and message not in mine[me])
                else:
                    message = mine[me].pop(rng.randrange(len(mine[me])))
                    status, _ = await conn.request("DELETE", f"/v1/messages/{message}", token)
                    # Taken out of `mine` before the request: nobody else deletes it.
                    ok = status == 204
                counts[op] = counts.get(op, 0) + 1
                if not ok:
                    unexpected.append((op, status))

        memory, anonymous, sampled_at = [], [], []

        async def sample():
            while time.monotonic() < deadline:
                with open(f"/proc/{server.pid}/status") as f:
                    fields = {l.split(":")[0]: l.split()[1] for l in f if l.startswith(("VmRSS", "RssAnon"))}
                memory.append(int(fields["VmRSS"]))
                anonymous.append(int(fields["RssAnon"]))
                sampled_at.append(time.monotonic() - started)
                await asyncio.sleep(1)

        started = time.monotonic()
        await asyncio.gather(sample(), *[worker(n) for n in range(args.connections)])
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    server_log = open(os.path.join(work, "server.log")).read()
    # SQLite's busy error, or any PostgreSQL error the server had to log.
    locked = "database is locked" in server_log or (postgres and "ERROR" in server_log)
    if not postgres:
        wal = database + "-wal"
        print(f"database {os.path.getsize(database) / 2**20:.1f} MiB, "
              f"WAL {os.path.getsize(wal) / 2**20 if os.path.exists(wal) else 0:.1f} MiB at the end")
    total = sum(counts.values())
    print(f"{total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s) on {args.connections} connections")
    print("  " + ", ".join(f"{op} {n}" for op, n in sorted(counts.items())))
    print(f"unexpected responses: {len(unexpected)} {unexpected[:10]}")
    trouble = "an ERROR" if postgres else "'database is locked'"
    print(f"{trouble} in the log: {'yes' if locked else 'no'}")
    warm_up = max(3.0, elapsed / 4)
    during = [m for m, t in zip(memory, sampled_at) if t < warm_up] or memory[:1]
    later = [(t, m / 1024) for m, t in zip(memory, sampled_at) if t >= warm_up]
    after = [m for _, m in later] or [memory[-1] / 1024]
    growth = max(after) - max(during) / 1024
    slope = 0.0  # MiB per minute, least squares over the samples after the warm-up
    if len(later) >= 2:
        mean_t = sum(t for t, _ in later) / len(later)
        mean_m = sum(m for _, m in later) / len(later)
        spread = sum((t - mean_t) ** 2 for t, _ in later)
        slope = 60 * sum((t - mean_t) * (m - mean_m) for t, m in later) / spread if spread else 0.0
    print(f"RSS (MiB) every second: {' '.join(f'{m / 1024:.0f}' for m in memory)}")
    print(f"of which heap (RssAnon): {' '.join(f'{m / 1024:.0f}' for m in anonymous)}")
    print(f"warm-up ({warm_up:.0f} s) peak {max(during) / 1024:.1f} MiB; after it: min {min(after):.1f} MiB, "
          f"max {max(after):.1f} MiB, last {after[-1]:.1f} MiB; growth {growth:+.1f} MiB, "
          f"{slope:+.1f} MiB/min (fails beyond {args.max_growth_mib:.0f} MiB and "
          f"{args.max_growth_mib_per_minute:.0f} MiB/min)")
    grew = growth > args.max_growth_mib and slope > args.max_growth_mib_per_minute
    if grew:
        print("FAIL: memory kept growing after the warm-up")
    sys.exit(1 if unexpected or locked or grew else 0)


asyncio.run(main())
