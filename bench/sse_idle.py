#!/usr/bin/env python3
"""Memory of idle Server-Sent Event streams.

    bench/sse_idle.py [--streams 1000]

Starts the release binary on 127.0.0.1 with a fresh database, opens N idle `GET /v1/events`
streams (each waits for its greeting), and reports the server's resident memory before and with
them open, and per stream. Then checks that an event still reaches every stream.
"""
import argparse, asyncio, json, os, resource, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def open_stream(host, port, token):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()
    data = b""
    while b": connected" not in data:
        chunk = await reader.read(4096)
        if not chunk:
            raise RuntimeError("stream closed")
        data += chunk
    return reader, writer


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=1000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.streams * 2 + 100)), hard))

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp()
    config = os.path.join(work, "protocol.toml")
    with open(config, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:0"\ndatabase = "{work}/bench.db"\n'
                f'max_event_streams_per_account = {args.streams + 10}\n'
                '[[accounts]]\nusername = "a"\nphone_number = "1"\ntoken = "ta"\n'
                '[[accounts]]\nusername = "b"\nphone_number = "2"\ntoken = "tb"\n')
    server = subprocess.Popen([os.path.join(ROOT, "target/release/protocol"), "--config", config],
                              stdout=subprocess.PIPE, env={**os.environ, "RUST_LOG": "warn"})
    try:
        line = server.stdout.readline().decode()
        base = line.strip().removeprefix("listening on ")
        host, port = base.removeprefix("http://").split(":")

        def call(method, path, token, form=None):
            data = None if form is None else form.encode()
            req = urllib.request.Request(base + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req) as r:
                return json.load(r)

        conversation = call("POST", "/v1/contacts", "ta", "username=b&phone_number=2")["conversation_id"]
        call("POST", "/v1/messages", "ta", f"conversation_id={conversation}&message=warm+up")
        time.sleep(0.5)
        before = rss_kib(server.pid)
        streams = []
        for i in range(0, args.streams, 100):
            streams += await asyncio.gather(*[open_stream(host, int(port), "tb")
                                              for _ in range(min(100, args.streams - i))])
        time.sleep(1.0)
        during = rss_kib(server.pid)

        call("POST", "/v1/messages", "ta", f"conversation_id={conversation}&message=to+everyone")
        started = time.monotonic()

        async def got_event(reader):
            data = b""
            while b"event: message.created" not in data:
                data += await reader.read(4096)
        await asyncio.wait_for(asyncio.gather(*[got_event(r) for r, _ in streams]), 30)
        fanout = time.monotonic() - started

        print(f"idle streams            {len(streams):>8}")
        print(f"RSS before              {before:>8} KiB")
        print(f"RSS with streams open   {during:>8} KiB")
        print(f"per stream              {(during - before) / len(streams):>8.1f} KiB")
        print(f"one message reached all {fanout * 1000:>8.0f} ms")
        for _, w in streams:
            w.close()
    finally:
        server.terminate()
        server.wait(10)


asyncio.run(main())
