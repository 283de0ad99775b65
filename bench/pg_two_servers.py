#!/usr/bin/env python3
"""Sends per second from two servers sharing one PostgreSQL database, on 127.0.0.1.

    tests/with_postgres.sh bench/pg_two_servers.py                 # 2 servers, 10 s
    tests/with_postgres.sh bench/pg_two_servers.py --servers 1     # the same load on one

--connections clients (default 32, split evenly over the servers) send messages into 8
conversations as fast as they are answered; prints sends/s and the latency percentiles. Used to
measure what the writers' advisory lock (src/db/sql.rs `Sql::begin_write`) costs: see the note in
bench/README.md. Needs an empty database in --database (default $PROTOCOL_DATABASE).
"""
import argparse, asyncio, json, os, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEOPLE = ["kevin", "kate", "peter", "buzz"]


async def request(reader, writer, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    writer.write(head.encode() + b"\r\n" + data)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    payload = await reader.readexactly(length) if length else b""
    return status, (json.loads(payload) if payload else None)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/protocol"))
    ap.add_argument("--database", default=os.environ.get("PROTOCOL_DATABASE"))
    args = ap.parse_args()
    if not args.database:
        sys.exit("no --database (or PROTOCOL_DATABASE): run it under tests/with_postgres.sh")
    env = {k: v for k, v in os.environ.items() if k != "PROTOCOL_DATABASE"}
    env["RUST_LOG"] = "warn"
    servers, addresses, folders = [], [], []
    try:
        for n in range(args.servers):
            work = tempfile.mkdtemp(prefix="protocol-pg-bench-")
            folders.append(work)
            config = os.path.join(work, "protocol.toml")
            with open(config, "w") as f:
                f.write(f'[server]\nlisten = "127.0.0.1:0"\ndatabase = "{args.database}"\n')
                for name in PEOPLE:
                    f.write(f'[[accounts]]\nusername = "{name}"\nphone_number = "1"\ntoken = "token-{name}"\n')
            server = subprocess.Popen([args.binary, "--config", config], stdout=subprocess.PIPE,
                                      stderr=open(os.path.join(work, "server.log"), "w"), env=env)
            servers.append(server)
            host, port = server.stdout.readline().decode().strip().removeprefix("listening on http://").split(":")
            addresses.append((host, int(port)))

        # Everyone knows everyone: six conversations, each person in three.
        reader, writer = await asyncio.open_connection(*addresses[0])
        conversations = []
        for i, a in enumerate(PEOPLE):
            for b in PEOPLE[i + 1:]:
                status, contact = await request(reader, writer, "POST", "/v1/contacts", f"token-{a}",
                                                {"username": b, "phone_number": "1"})
                assert status == 201, (status, contact)
                conversations.append((a, contact["conversation_id"]))
        writer.close()

        latencies = []
        deadline = time.monotonic() + args.seconds

        async def client(n):
            reader, writer = await asyncio.open_connection(*addresses[n % len(addresses)])
            person, conversation = conversations[n % len(conversations)]
            while time.monotonic() < deadline:
                started = time.monotonic()
                status, body = await request(reader, writer, "POST", "/v1/messages", f"token-{person}",
                                             {"conversation_id": conversation, "message": f"bench {n}"})
                assert status == 201, (status, body)
                latencies.append(time.monotonic() - started)
            writer.close()

        started = time.monotonic()
        await asyncio.gather(*[client(n) for n in range(args.connections)])
        elapsed = time.monotonic() - started
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
        for work in folders:
            shutil.rmtree(work, ignore_errors=True)
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000
    print(f"{args.servers} server(s), {args.connections} connections, {elapsed:.0f} s: "
          f"{len(latencies) / elapsed:.0f} sends/s; latency p50 {pct(50):.1f} ms, "
          f"p99 {pct(99):.1f} ms")


asyncio.run(main())
