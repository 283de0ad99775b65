#!/usr/bin/env python3
"""The web app's budgets, measured in Debian's Chromium through Playwright against the real
binary (release build by default) on the shipped config with its demo data:

- all JS and CSS the first screen loads, gzipped (budget: 60 KB);
- the conversation list painted after navigation, signed in (budget: 300 ms);
- a conversation of 10,000 messages opened (budget: 300 ms), one page per request, and one
  more page per scroll up.

    cargo build --release && python3 bench/webapp.py [--binary target/release/protocol] [--runs 15]

Times are from the navigation start (or the click) to the first frame painted after the
elements appeared (a MutationObserver, then requestAnimationFrame), taken inside the page.
"""

import argparse
import gzip
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from harness import REPO, TOKENS, Server, launch  # noqa: E402

from playwright.sync_api import sync_playwright  # noqa: E402

BIG = 10_000

# Records, inside the page, when a selector first shows and the frame after it is painted.
PAINT_PROBE = """
window.__paintedAt = {};
window.__watchPaint = (name, selector) => {
  const seen = () => document.querySelector(selector);
  const mark = () => requestAnimationFrame(() => { window.__paintedAt[name] = performance.now(); });
  if (seen()) { mark(); return; }
  const observer = new MutationObserver(() => { if (seen()) { observer.disconnect(); mark(); } });
  observer.observe(document, { childList: true, subtree: true });
};
document.addEventListener('DOMContentLoaded', () => window.__watchPaint('list', '.conv-list .conv'));
"""


def seed_big(server):
    """A group of Kate and Kevin with 10,000 messages, sent from 8 threads."""
    contacts = server.api("GET", "/v1/contacts?limit=100", "KateMcCallister")["data"]
    kevin = next(c for c in contacts if c["username"] == "KevinMcCallister")
    group = server.api("POST", "/v1/groups", "KateMcCallister", {"name": "Ten thousand", "contacts": [kevin["id"]]})
    conversation = group["conversation_id"]
    counter = iter(range(BIG))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            who = "KateMcCallister" if i % 3 else "KevinMcCallister"
            server.api("POST", "/v1/messages", who, {"conversation_id": conversation, "message": f"Message {i} of {BIG}"})

    started = time.time()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"seeded {BIG} messages in {time.time() - started:.1f} s")
    return conversation


def first_screen_bytes(browser, base):
    context = browser.new_context()
    page = context.new_page()
    loaded = []
    page.on("response", lambda r: loaded.append(r))
    page.goto(base + "/", wait_until="networkidle")
    page.get_by_role("heading", name="Demo accounts").wait_for()
    raw = gz = 0
    for response in loaded:
        kind = response.request.resource_type
        if kind in ("script", "stylesheet") and response.status == 200:
            body = response.body()
            raw += len(body)
            gz += len(gzip.compress(body, 9))
    context.close()
    return raw, gz


def signed_in_context(browser, base):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(PAINT_PROBE)
    page = context.new_page()
    page.goto(base + "/")
    page.evaluate(f"localStorage.setItem('protocol.token', {json.dumps(TOKENS['KateMcCallister'])})")
    return context, page


def list_paint_times(browser, base, runs):
    context, page = signed_in_context(browser, base)
    times = []
    for _ in range(runs + 1):
        page.goto(base + "/")
        poll(page, "window.__paintedAt && window.__paintedAt.list")
        times.append(page.evaluate("window.__paintedAt.list"))
    context.close()
    return times[1:]  # the first run warms the caches


def open_big_times(browser, base, conversation, runs):
    context, page = signed_in_context(browser, base)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    times, pages_per_open = [], []
    for _ in range(runs + 1):
        page.goto(base + "/")
        item = page.locator(f'.conv[data-id="{conversation}"]')
        item.wait_for(timeout=30000)
        page.wait_for_timeout(300)  # let the list's previews settle
        before = len(requests)
        took = page.evaluate(
            """(id) => new Promise((resolve) => {
                const start = performance.now();
                window.__watchPaint('big-' + start, '.messages .msg');
                document.querySelector(`.conv[data-id="${id}"]`).click();
                const poll = () => window.__paintedAt['big-' + start]
                    ? resolve(window.__paintedAt['big-' + start] - start) : setTimeout(poll, 5);
                poll();
            })""",
            conversation,
        )
        page.wait_for_timeout(300)
        pages_per_open.append(sum(1 for u in requests[before:] if is_page(u, conversation)))
        times.append(took)
    # One scroll up: exactly one more page.
    before = len(requests)
    count = page.locator(".messages .msg").count()
    page.locator(".messages").evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    poll(page, f"document.querySelectorAll('.messages .msg').length > {count}")
    page.wait_for_timeout(300)
    scroll_pages = sum(1 for u in requests[before:] if is_page(u, conversation))
    shown = page.locator(".messages .msg").count()
    context.close()
    return times[1:], pages_per_open[1:], scroll_pages, count, shown


def poll(page, expression, timeout=30.0):
    """Waits for an expression to be true (page.wait_for_function would evaluate it through
    eval, which the app's CSP forbids)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if page.evaluate(expression):
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {expression}")


def is_page(url, conversation):
    parsed = urlparse(url)
    return parsed.path == "/v1/messages" and f"conversation_id={conversation}" in url and "limit=50" in url


def summary(values):
    ordered = sorted(values)
    return f"median {statistics.median(ordered):.0f} ms, max {ordered[-1]:.0f} ms ({len(ordered)} runs)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / "target" / "release" / "protocol"))
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    server = Server(args.binary)
    try:
        server.start()
        conversation = seed_big(server)
        with sync_playwright() as p:
            browser = launch(p)
            raw, gz = first_screen_bytes(browser, server.base)
            print(f"first screen JS+CSS: {raw / 1024:.1f} KB, {gz / 1024:.1f} KB gzipped (budget 60 KB)")
            times = list_paint_times(browser, server.base, args.runs)
            print(f"conversation list painted after navigation: {summary(times)} (budget 300 ms)")
            times, pages, scroll_pages, first, after = open_big_times(browser, server.base, conversation, args.runs)
            print(f"10,000-message conversation painted after the click: {summary(times)} (budget 300 ms)")
            print(f"  page requests per open: {sorted(set(pages))}; messages shown: {first}; "
                  f"one scroll up: {scroll_pages} more page ({after} shown)")
            browser.close()
    finally:
        server.close()


if __name__ == "__main__":
    main()
