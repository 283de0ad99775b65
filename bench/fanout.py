#!/usr/bin/env python3
"""Groups of 2, 100, 1,000 and 10,000 members: what a send, a list, a change of members and one
message's fan-out to every member's open event stream cost.

    bench/fanout.py [--sizes 2,100,1000,10000] [--sends 200] [--no-streams]

Starts the release binary on 127.0.0.1 with a fresh database and one account per member (so
each member can hold a stream of their own). For each size, the owner creates the group from
their address book, then:
  create     time to create the group (POST /v1/groups with every member)
  add one    time to add one member (POST /v1/groups/:id/contacts; the last one, taken out first)
  send p50   median latency of a send into the group, sequential on one keep-alive connection
             (and the same for a direct conversation, measured in the same run, for the ratio)
  list p50   median latency of a member's GET /v1/conversations
  event B    bytes the outbox holds for one message (body and audience)
  fan-out    one message to the group while every member has a stream open: time until each
             stream has it (p50 / p99 / last), and the server's RSS with those streams idle
"""
import argparse, http.client, json, os, resource, selectors, socket, sqlite3, statistics
import subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Client:
    """One keep-alive connection."""

    def __init__(self, host, port, token):
        self.conn = http.client.HTTPConnection(host, port, timeout=120)
        self.token = token

    def call(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            started = time.perf_counter()
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closes a keep-alive connection idle for 5 s.
            self.conn.close()
            started = time.perf_counter()
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        raw = response.read()
        took = time.perf_counter() - started
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {raw[:300]!r}")
        return (json.loads(raw) if raw else None), took


def fan_out(host, port, tokens, send):
    """Opens a stream per token, then sends one message and waits (epoll, raw sockets: cheap
    per stream, so the figure is the server's more than the client's) until each stream has it.
    Returns the server's RSS with the streams idle and the delays (p50, p99, last) in ms."""
    sockets = []
    for token in tokens:
        sock = socket.create_connection((host, port))
        sock.sendall(f"GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        data = b""
        while b": connected" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError("stream closed")
            data += chunk
        sock.setblocking(False)
        sockets.append(sock)
    time.sleep(1.0)
    rss = rss_mib(SERVER.pid)
    selector = selectors.EpollSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ, bytearray())
    sender = threading.Thread(target=send)
    started = time.perf_counter()
    sender.start()
    arrived = []
    while len(arrived) < len(sockets):
        for key, _ in selector.select(timeout=60):
            chunk = key.fileobj.recv(65536)
            key.data.extend(chunk)
            if b"event: message.created" in key.data:
                arrived.append(time.perf_counter())
                selector.unregister(key.fileobj)
            elif not chunk:
                raise RuntimeError("stream ended")
    sender.join()
    for sock in sockets:
        sock.close()
    delays = sorted(t - started for t in arrived)
    p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000
    return rss, p(0.5), p(0.99), delays[-1] * 1000


def main():
    global SERVER
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2,100,1000,10000")
    ap.add_argument("--sends", type=int, default=200)
    ap.add_argument("--no-streams", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    biggest = max(sizes)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, biggest * 2 + 200)), hard))

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp()
    config = os.path.join(work, "protocol.toml")
    with open(config, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:0"\ndatabase = "{work}/bench.db"\n'
                f'max_connections = {biggest * 2 + 500}\n')
        for i in range(biggest + 1):
            f.write(f'[[accounts]]\nusername = "m{i}"\nphone_number = "1"\ntoken = "tok{i}"\n')
    SERVER = subprocess.Popen([os.path.join(ROOT, "target/release/protocol"), "--config", config],
                              stdout=subprocess.PIPE, env={**os.environ, "RUST_LOG": "warn"})
    try:
        base = SERVER.stdout.readline().decode().strip().removeprefix("listening on http://")
        host, port = base.split(":")
        port = int(port)
        owner = Client(host, port, "tok0")
        print(f"adding {biggest} contacts...", file=sys.stderr)
        members = []
        direct = None
        for i in range(1, biggest + 1):
            contact, _ = owner.call("POST", "/v1/contacts", {"username": f"m{i}", "phone_number": "1"})
            members.append(contact["id"])
            direct = direct or contact["conversation_id"]

        def median_send(conversation):
            times = [owner.call("POST", "/v1/messages", {"conversation_id": conversation,
                                                         "message": f"m{k}"})[1]
                     for k in range(args.sends)]
            return statistics.median(times) * 1000

        rows = []
        for size in sizes:
            group, create = owner.call("POST", "/v1/groups",
                                       {"name": f"g{size}", "contacts": members[:size - 1]})
            conversation = group["conversation_id"]
            # One member out and back in (works at the cap too), five times: the median.
            last = members[size - 2]
            adds = []
            for _ in range(5):
                owner.call("DELETE", f"/v1/groups/{group['id']}/contacts/{last}")
                adds.append(owner.call("POST", f"/v1/groups/{group['id']}/contacts",
                                       {"contacts": [last]})[1])
            add_one = statistics.median(adds)
            send_direct = median_send(direct)
            send_group = median_send(conversation)
            member = Client(host, port, f"tok{size - 1}")
            lists = [member.call("GET", "/v1/conversations?limit=10")[1] for _ in range(100)]
            db = sqlite3.connect(f"{work}/bench.db")
            row = db.execute("SELECT length(body_tail) + length(audience) FROM events "
                             "WHERE type = 'message.created' ORDER BY seq DESC LIMIT 1").fetchone()
            db.close()
            fan = (float("nan"),) * 4
            if not args.no_streams:
                tokens = [f"tok{i}" for i in range(size)]
                sender = Client(host, port, "tok0")
                fan = fan_out(host, port, tokens, lambda: sender.call(
                    "POST", "/v1/messages", {"conversation_id": conversation, "message": "fan"}))
            rows.append((size, create * 1000, add_one * 1000, send_direct, send_group,
                         statistics.median(lists) * 1000, row[0], *fan))
            print(f"size {size} done", file=sys.stderr)

        print(f"{'members':>8} {'create ms':>10} {'add one ms':>10} {'direct p50':>10} "
              f"{'send p50':>9} {'ratio':>6} {'list p50':>9} {'event B':>8} {'RSS MiB':>8} "
              f"{'fan p50':>8} {'fan p99':>8} {'fan last':>8}")
        for (size, create, add, direct_ms, group_ms, list_ms, event, rss, p50, p99, last) in rows:
            print(f"{size:>8} {create:>10.1f} {add:>10.2f} {direct_ms:>10.3f} {group_ms:>9.3f} "
                  f"{group_ms / direct_ms:>6.2f} {list_ms:>9.3f} {event:>8} {rss:>8.1f} "
                  f"{p50:>8.0f} {p99:>8.0f} {last:>8.0f}")
    finally:
        SERVER.terminate()
        SERVER.wait(30)


if __name__ == "__main__":
    main()
