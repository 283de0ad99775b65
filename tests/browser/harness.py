"""Shared pieces of the browser test and the web app benchmark: the server binary on a temp
config with a fixed free port (so that it can be restarted on the same address), a tiny API
client, and Debian's Chromium launched through Playwright (nothing downloaded)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-default-apps",
]

TOKENS = {
    "KateMcCallister": "kate-example-token-change-me",
    "KevinMcCallister": "kevin-example-token-change-me",
    "PeterMcCallister": "peter-example-token-change-me",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real binary on the shipped protocol.toml (demo data, example tokens), with its own
    port and database in a temp folder."""

    def __init__(self, binary, extra_server_config=""):
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="protocol-browser-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        text = (REPO / "protocol.toml").read_text()
        lines = []
        for line in text.splitlines():
            if line.startswith("listen = "):
                line = f'listen = "127.0.0.1:{self.port}"'
            elif line.startswith("database = "):
                line = f'database = "{self.dir / "chat.db"}"'
            elif line.startswith("requests_per_minute"):
                line = "requests_per_minute = 0"
            lines.append(line)
            if line == "[server]" and extra_server_config:
                lines.append(extra_server_config)
        (self.dir / "protocol.toml").write_text("\n".join(lines) + "\n")
        self.process = None

    def start(self):
        self.log = open(self.dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [self.binary, "--config", str(self.dir / "protocol.toml")],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {(self.dir / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not answer /health within 60 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, method, path, user, body=None, headers=None):
        data = None
        all_headers = {"Authorization": f"Bearer {TOKENS[user]}"}
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                raw = r.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path} as {user}: {e.code} {e.read()[:300]!r}") from None

    def upload(self, path, user, filename, data, content_type="application/octet-stream"):
        boundary = "----protocolbrowsertest"
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            self.base + path,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {TOKENS[user]}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read())


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def png(width, height, rgb):
    """A small PNG made here (no image files in the repo)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    def shade(y):  # a vertical gradient from rgb to white, like a winter sky
        t = y / max(1, height - 1)
        return bytes(round(c + (255 - c) * t) for c in rgb)

    rows = b"".join(b"\x00" + shade(y) * width for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
