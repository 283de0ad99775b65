#!/usr/bin/env python3
"""The web app in a real browser (Debian's Chromium through Playwright), against the real
binary on the shipped config (demo data, example tokens). Run by tests/browser.rs (inside a
network namespace with only loopback when it can), or by hand:

    python3 tests/browser/test_webapp.py --binary target/debug/protocol

Kate and Kevin chat in two browser contexts: live delivery, reactions, an upload downloaded
byte for byte, a 500-message conversation scrolled back page by page, unread marks, delete for
me, a server restart while both are open, hostile text and a hostile upload. Every request the
browser makes must go to the server, and no page may log a console error. Screenshots of each
screen, desktop and phone, light and dark, go to target/webapp-screenshots/.
"""

import argparse
import hashlib
import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO, Server, launch, png  # noqa: E402

from playwright.sync_api import sync_playwright, expect  # noqa: E402

KATE_KEVIN = "xgQQXg3hrtjh7AvZ"  # the demo data's conversation of Kate and Kevin
PLAZA = "ZYjVAbCE9g5XRlra"  # the demo data's Plaza Hotel group conversation
XSS = "<img src=x onerror=alert(1)> & <script>alert(2)</script>"
LONG_THREAD = 500
PAGE = 50
# Chromium reports a refused connection as a console error; allowed only while the server is
# down on purpose.
RESTART_NOISE = re.compile(r"net::ERR_(CONNECTION_REFUSED|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING|CONNECTION_RESET)")

SHOTS = REPO / "target" / "webapp-screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


STEP = ["start"]


def step(text):
    STEP[0] = text
    print(f"--- {text}", flush=True)


class Watch:
    """What every page of the test does that it must not: requests off the server, console
    errors, page errors, dialogs (an alert() would be an XSS)."""

    def __init__(self, base):
        self.origin = urlparse(base).netloc
        self.requests = []
        self.errors = []
        self.dialogs = []
        self.restarting = False
        # Ids whose deletion the test made while the app may still be asking about them: a
        # request racing a deletion by another client gets its 404, which the browser always
        # logs, and the app must simply carry on.
        self.deleted = set()

    def context(self, browser, **options):
        context = browser.new_context(**options)
        context.on("request", self.on_request)
        context.on("page", self.on_page)
        return context

    def on_page(self, page):
        page.on("console", lambda m: self.on_console(page, m))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("dialog", self.on_dialog)

    def on_request(self, request):
        self.requests.append(request)

    def on_console(self, page, message):
        if message.type != "error":
            return
        if self.restarting and RESTART_NOISE.search(message.text):
            return
        url = message.location.get("url", "")
        if "status of 404" in message.text and any(id in url for id in self.deleted):
            return
        # Which request it was (the console does not say) and where the test was.
        methods = [r.method for r in self.requests if r.url == url]
        self.errors.append(
            f"console error: {message.text} at {message.location} "
            f"(requests of that URL: {methods}; page {page.url}; step: {STEP[0]})"
        )

    def on_dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self):
        outside = []
        for request in self.requests:
            url = urlparse(request.url)
            if url.scheme in ("blob", "data"):
                continue
            if url.scheme != "http" or url.netloc != self.origin:
                outside.append(request.url)
        assert not outside, f"requests that left the server: {outside[:10]}"
        assert not self.dialogs, f"a page opened dialogs (script ran): {self.dialogs}"
        assert not self.errors, "\n".join(self.errors)


def sign_in_with_demo(page, base, username):
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Demo accounts")).to_be_visible()
    expect(page.get_by_text("public examples")).to_be_visible()
    page.get_by_role("button", name=f"Sign in as {username}").click()
    expect(page.locator(".conv-list").first).to_be_visible(timeout=15000)


def sign_in_with_token(page, base, token):
    page.goto(base + "/")
    page.get_by_label("Access token").fill(token)
    page.get_by_label("Access token").press("Enter")
    expect(page.locator(".conv-list").first).to_be_visible(timeout=15000)


def open_conversation(page, conversation_id):
    page.locator(f'.conv[data-id="{conversation_id}"]').click()
    expect(page.locator(".messages .msg").first).to_be_visible(timeout=15000)


def send(page, text):
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def message_with(page, text):
    return page.locator(".messages .msg").filter(has=page.locator(".text", has_text=text))


def wait_until(condition, what, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def all_pages(server, path, user):
    items, after = [], None
    while True:
        page = server.api("GET", f"{path}&limit=100" + (f"&starting_after={after}" if after else ""), user)
        items += page["data"]
        if not page["has_more"]:
            return items
        after = page["data"][-1]["id"]


def seed(server):
    """What the demo data lacks: a 500-message conversation (a new group of Kate and Peter), and
    a direct conversation of Kevin and Peter."""
    contacts = server.api("GET", "/v1/contacts?limit=100", "KateMcCallister")["data"]
    peter = next(c for c in contacts if c["username"] == "PeterMcCallister")
    group = server.api("POST", "/v1/groups", "KateMcCallister", {"name": "Long thread", "contacts": [peter["id"]]})
    long_id = group["conversation_id"]
    for i in range(LONG_THREAD):
        who = "KateMcCallister" if i % 2 else "PeterMcCallister"
        server.api("POST", "/v1/messages", who, {"conversation_id": long_id, "message": f"Long thread #{i:04}"})
    kevin_contacts = server.api("GET", "/v1/contacts?limit=100", "KevinMcCallister")["data"]
    peter_for_kevin = next((c for c in kevin_contacts if c["username"] == "PeterMcCallister"), None)
    if peter_for_kevin is None:
        peter_for_kevin = server.api(
            "POST", "/v1/contacts", "KevinMcCallister", {"username": "PeterMcCallister", "phone_number": "1-800-759-3002"}
        )
    kevin_peter = server.api("POST", "/v1/conversations", "KevinMcCallister", {"contact_id": peter_for_kevin["id"]})["id"]
    server.api("POST", "/v1/messages", "PeterMcCallister", {"conversation_id": kevin_peter, "message": "Kevin, it's Dad."})
    return long_id, kevin_peter


def scenario(server, browser, watch):
    base = server.base
    long_id, kevin_peter = seed(server)
    kate_context = watch.context(browser, viewport=DESKTOP, accept_downloads=True)
    kevin_context = watch.context(browser, viewport=DESKTOP, accept_downloads=True)
    kate = kate_context.new_page()
    kevin = kevin_context.new_page()

    step("sign in: Kate picks her demo account, Kevin types his token")
    sign_in_with_demo(kate, base, "KateMcCallister")
    sign_in_with_token(kevin, base, "kevin-example-token-change-me")
    assert "kevin-example-token" not in kevin.url and "kate-example" not in kate.url
    open_conversation(kate, KATE_KEVIN)
    open_conversation(kevin, KATE_KEVIN)
    for page in (kate, kevin):
        expect(page.locator(".connection")).to_have_text(re.compile("Live"), timeout=15000)

    step("Kate sends (with hostile text); Kevin sees it within 1 s, as text")
    text = f"Hello Kevin {XSS}"
    send(kate, text)
    sent = message_with(kate, "Hello Kevin")
    expect(sent.locator(".receipt")).to_be_visible(timeout=10000)  # the server acknowledged it
    acknowledged = time.monotonic()
    message_with(kevin, "Hello Kevin").wait_for(timeout=10000)
    latency = time.monotonic() - acknowledged
    print(f"    live delivery: {latency * 1000:.0f} ms after Kate's send was acknowledged")
    assert latency <= 1.0, f"Kevin saw Kate's message after {latency:.2f} s"
    for page in (kate, kevin):
        assert message_with(page, "Hello Kevin").locator(".text").inner_text() == text
        assert page.locator('.messages img[src="x"]').count() == 0
        assert page.locator(".messages script").count() == 0
    posts = [r for r in watch.requests if r.method == "POST" and urlparse(r.url).path == "/v1/messages"]
    assert posts and all(r.headers.get("idempotency-key") for r in posts), "a send without Idempotency-Key"

    step("Kevin opening the conversation shows Kate 'read'")
    expect(sent.locator(".receipt.read")).to_be_visible(timeout=10000)

    step("Kevin reacts; Kate sees it; Kevin takes it back")
    on_kevin = message_with(kevin, "Hello Kevin")
    on_kevin.hover()
    on_kevin.get_by_role("button", name="React").click()
    kevin.get_by_role("button", name="heart", exact=True).click()
    expect(sent.locator(".reactions .chip")).to_have_text(re.compile(r"1"), timeout=5000)
    expect(sent.locator(".reactions .chip")).to_have_attribute("title", re.compile("KevinMcCallister"))
    expect(on_kevin.locator(".reactions .chip")).to_have_attribute("aria-pressed", "true")
    on_kevin.locator(".reactions .chip").click()
    expect(sent.locator(".reactions .chip")).to_have_count(0, timeout=5000)
    on_kevin.hover()
    on_kevin.get_by_role("button", name="React").click()
    kevin.get_by_role("button", name="heart", exact=True).click()
    expect(sent.locator(".reactions .chip")).to_have_text(re.compile(r"1"), timeout=5000)

    step("Kate edits her message; Kevin sees the edit")
    sent.hover()
    sent.get_by_role("button", name="Edit").click()
    editor = kate.get_by_label("Edit message")
    editor.fill(text + " (edited)")
    editor.press("Enter")
    expect(message_with(kevin, "(edited)")).to_be_visible(timeout=5000)
    expect(message_with(kevin, "(edited)").get_by_text("edited", exact=True)).to_be_visible()

    step("Kate uploads a file and a picture; Kevin downloads the file byte for byte")
    payload = os.urandom(300_000)
    upload = SHOTS.parent / "webapp-upload.bin"
    upload.write_bytes(payload)
    picture = SHOTS.parent / "snow.png"
    picture.write_bytes(png(320, 200, (40, 120, 200)))
    kate.locator('input[type="file"]').set_input_files([str(upload), str(picture)])
    expect(kate.locator(".uploads li")).to_have_count(2)
    expect(kate.locator(".uploads progress")).to_have_count(0, timeout=15000)
    send(kate, "The invoice and a photo")
    on_kevin_file = message_with(kevin, "The invoice and a photo")
    expect(on_kevin_file.locator(".thumb img")).to_be_visible(timeout=10000)
    assert on_kevin_file.locator(".thumb img").get_attribute("src").startswith("blob:")
    with kevin.expect_download() as info:
        on_kevin_file.get_by_role("button", name=re.compile("Download webapp-upload.bin")).click()
    download = info.value
    assert download.suggested_filename == "webapp-upload.bin", download.suggested_filename
    got = Path(download.path()).read_bytes()
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest(), "the download differs"

    step("an uploaded evil.html, opened from the UI, runs nothing")
    evil = SHOTS.parent / "evil.html"
    evil.write_text(
        "<!doctype html><script>fetch('/pwned');document.title='PWNED';alert('pwned')</script>"
        "<img src=x onerror=\"fetch('/pwned-img')\">"
    )
    kate.locator('input[type="file"]').set_input_files([str(evil)])
    expect(kate.locator(".uploads progress")).to_have_count(0, timeout=15000)
    send(kate, "open me")
    on_kevin_evil = message_with(kevin, "open me")
    pages_before = len(kevin_context.pages)
    with kevin.expect_download() as info:
        on_kevin_evil.get_by_role("button", name=re.compile("Download evil.html")).click()
    assert info.value.suggested_filename == "evil.html"
    kevin.wait_for_timeout(500)
    assert len(kevin_context.pages) == pages_before, "evil.html opened a page"
    # Even navigated to directly (with the token), the browser downloads it, never renders it.
    evil_message_id = on_kevin_evil.get_attribute("data-id")
    evil_message = server.api("GET", f"/v1/messages/{evil_message_id}", "KevinMcCallister")
    content = f"{base}/v1/attachments/{evil_message['attachments'][0]['id']}/content"
    direct_context = watch.context(
        browser, extra_http_headers={"Authorization": "Bearer kevin-example-token-change-me"}, accept_downloads=True
    )
    direct = direct_context.new_page()
    with direct.expect_download() as info:
        try:
            direct.goto(content)
        except Exception as e:  # "Download is starting": the navigation became a download
            assert "Download is starting" in str(e), e
    assert info.value.suggested_filename == "evil.html"
    assert direct.title() != "PWNED"
    direct_context.close()
    assert not [r for r in watch.requests if "/pwned" in r.url], "evil.html ran"
    assert kevin.title() != "PWNED" and kate.title() != "PWNED"

    step(f"Kate scrolls a {LONG_THREAD}-message conversation back to its start, one page at a time")
    first_request = len(watch.requests)
    open_conversation(kate, long_id)
    messages = kate.locator(".messages")
    expect(kate.locator(".messages .msg")).to_have_count(PAGE, timeout=10000)
    for expected in range(2 * PAGE, LONG_THREAD + 1, PAGE):
        messages.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        expect(kate.locator(".messages .msg")).to_have_count(expected, timeout=10000)
    expect(kate.get_by_text("This is the beginning of the conversation.")).to_be_visible(timeout=10000)
    shown = kate.locator(".messages .msg").evaluate_all("els => els.map(e => e.dataset.id)")
    assert len(shown) == len(set(shown)) == LONG_THREAD, f"{len(shown)} shown, {len(set(shown))} distinct"
    texts = kate.locator(".messages .msg .text").all_inner_texts()
    assert texts == [f"Long thread #{i:04}" for i in range(LONG_THREAD)], "messages out of order"
    pages = [
        r for r in watch.requests[first_request:]
        if urlparse(r.url).path == "/v1/messages" and f"conversation_id={long_id}" in r.url and "limit=50" in r.url
    ]
    assert len(pages) == LONG_THREAD // PAGE, f"{len(pages)} page requests for {LONG_THREAD // PAGE} pages"

    step("unread: Kevin is elsewhere when Kate writes; the mark and the title count show, opening clears them")
    open_conversation(kevin, kevin_peter)
    open_conversation(kate, KATE_KEVIN)
    send(kate, "Are you there?")
    unread = kevin.locator(f'.conv.unread[data-id="{KATE_KEVIN}"]')
    expect(unread).to_be_visible(timeout=5000)
    expect(kevin).to_have_title(re.compile(r"^\(1\) "))
    kevin.locator(f'.conv[data-id="{KATE_KEVIN}"]').click()
    expect(unread).to_have_count(0)
    expect(kevin).to_have_title("Protocol chat")
    expect(message_with(kate, "Are you there?").locator(".receipt.read")).to_be_visible(timeout=10000)
    kevin.reload()
    expect(kevin.locator(f'.conv[data-id="{KATE_KEVIN}"]')).to_be_visible(timeout=15000)
    expect(kevin.locator(".conv.unread")).to_have_count(0)
    expect(kevin.locator(".connection")).to_have_text(re.compile("Live"), timeout=15000)

    step("the server restarts while both are open; neither misses a message")
    expect(kate.locator(".connection")).to_have_text(re.compile("Live"), timeout=15000)
    watch.restarting = True
    server.stop()
    for page in (kate, kevin):
        expect(page.locator(".connection")).to_have_text(re.compile("Offline|Connecting"), timeout=15000)
    # A send while the server is down shows at once, then fails with a retry.
    send(kate, "Written while the server was down")
    failed = kate.locator(".msg.pending.failed")
    expect(failed).to_be_visible(timeout=15000)
    expect(failed.get_by_text("Not sent")).to_be_visible()
    server.start()
    # Sent before the pages have reconnected: it comes to them by Last-Event-ID replay.
    server.api("POST", "/v1/messages", "KateMcCallister", {"conversation_id": KATE_KEVIN, "message": "Sent during the reconnect"})
    for page in (kate, kevin):
        expect(page.locator(".connection")).to_have_text(re.compile("Live"), timeout=30000)
    watch.restarting = False
    failed.get_by_role("button", name="Retry").click()
    expect(kate.locator(".msg.pending")).to_have_count(0, timeout=10000)
    expect(message_with(kevin, "Written while the server was down")).to_have_count(1, timeout=5000)
    expect(message_with(kate, "Written while the server was down")).to_have_count(1)
    expect(message_with(kevin, "Sent during the reconnect")).to_have_count(1, timeout=10000)
    expect(message_with(kate, "Sent during the reconnect")).to_have_count(1, timeout=10000)
    send(kevin, "Back online")
    expect(message_with(kate, "Back online")).to_have_count(1, timeout=5000)

    step("delete for me: gone for Kevin, still there for Kate")
    # Kate's last message had Kevin's app mark the conversation read a moment later: that GET
    # may still be on its way as the delete commits, and get its 404. Until the reload (which
    # drops whatever the old page had in flight) that 404 is expected.
    watch.deleted.add(KATE_KEVIN)
    kevin.get_by_role("button", name="Delete for me").click()
    kevin.get_by_role("dialog").get_by_role("button", name="Delete for me").click()
    expect(kevin.locator(f'.conv[data-id="{KATE_KEVIN}"]')).to_have_count(0, timeout=5000)
    kevin.reload()
    expect(kevin.locator(".conv-list").first).to_be_visible(timeout=15000)
    expect(kevin.locator(f'.conv[data-id="{KATE_KEVIN}"]')).to_have_count(0)
    watch.deleted.discard(KATE_KEVIN)
    kate.reload()
    expect(kate.locator(f'.conv[data-id="{KATE_KEVIN}"]')).to_be_visible(timeout=15000)
    expect(message_with(kate, "Back online")).to_have_count(1, timeout=10000)

    step("the conversation list loads more pages as it scrolls, and follows deletions live")
    extra = [server.api("POST", "/v1/groups", "KateMcCallister", {"name": f"Page test {i:02}"}) for i in range(40)]
    total = len(all_pages(server, "/v1/conversations?archived=false", "KateMcCallister"))
    kate.reload()
    conversations = kate.locator(".conv-list .conv")
    # The first page (30; the app may already be fetching the next one on a slow machine).
    expect(conversations.nth(29)).to_be_attached(timeout=15000)
    for _ in range(20):
        if conversations.count() >= total:
            break
        kate.locator(".conv-scroll").evaluate("el => el.scrollTop = el.scrollHeight")
        kate.wait_for_timeout(100)
    shown = conversations.evaluate_all("els => els.map(e => e.dataset.id)")
    assert len(shown) == len(set(shown)) == total, f"{len(shown)} shown, {len(set(shown))} distinct, {total} exist"
    for group in extra:
        watch.deleted.update((group["id"], group["conversation_id"]))
        server.api("DELETE", f"/v1/groups/{group['id']}", "KateMcCallister")
    expect(conversations).to_have_count(total - len(extra), timeout=10000)

    step("sign out forgets the token")
    kevin.get_by_role("button", name="Sign out").click()
    kevin.get_by_role("dialog").get_by_role("button", name="Sign out").click()
    expect(kevin.get_by_label("Access token")).to_be_visible()
    assert kevin.evaluate("localStorage.length + sessionStorage.length") == 0
    kate_context.close()
    kevin_context.close()


def keyboard_only(server, browser, watch):
    """Sign in, open a conversation, write two lines and react, with the keyboard alone."""
    context = watch.context(browser, viewport=DESKTOP)
    page = context.new_page()
    page.goto(server.base + "/")
    expect(page.get_by_label("Access token")).to_be_focused()
    page.keyboard.type("kate-example-token-change-me")
    page.keyboard.press("Enter")
    expect(page.locator(f'.conv[data-id="{KATE_KEVIN}"]')).to_be_visible(timeout=15000)
    tab_until(page, "Tab", f"document.activeElement?.dataset?.id === '{KATE_KEVIN}'")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Message", exact=True)).to_be_focused(timeout=10000)
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("on two lines")
    page.keyboard.press("Enter")
    sent = message_with(page, "Typed without a mouse")
    expect(sent.locator(".receipt")).to_be_visible(timeout=10000)
    assert sent.locator(".text").inner_text() == "Typed without a mouse\non two lines"
    tab_until(page, "Shift+Tab", "document.activeElement?.textContent === 'React'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="thumbs_up")).to_be_focused()
    page.keyboard.press("Enter")
    expect(sent.locator(".reactions .chip")).to_have_attribute("aria-pressed", "true", timeout=5000)
    context.close()


def tab_until(page, key, condition, limit=60):
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate(condition):
            return
    raise AssertionError(f"{key} never reached: {condition}")


UNNAMED_CONTROLS = """() => [...document.querySelectorAll('button, input, textarea, select, a[href]')]
  .filter((el) => {
    const name = el.getAttribute('aria-label')
      || [...(el.labels || [])].map((l) => l.textContent).join(' ')
      || (el.getAttribute('aria-labelledby') || '').split(' ').map((id) => document.getElementById(id)?.textContent || '').join(' ')
      || el.textContent || el.title || '';
    return !name.trim();
  })
  .map((el) => el.outerHTML.slice(0, 120))"""


def screenshots(server, browser, watch):
    """Each main screen as Kate sees it, at desktop and phone size, light and dark."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    # The group's conversation with a pinned message and a reaction, for its screenshot.
    plaza = server.api("GET", f"/v1/messages?conversation_id={PLAZA}&limit=20", "KateMcCallister")["data"]
    server.api("PUT", f"/v1/conversations/{PLAZA}", "KateMcCallister", {"pinned_message_id": plaza[-1]["id"]})
    server.api("PUT", f"/v1/messages/{plaza[0]['id']}", "KateMcCallister", {"reactions": {"thumbs_up": ["KateMcCallister"]}})
    screens = [
        ("signin", None),
        ("list", ""),
        ("conversation", f"#c={KATE_KEVIN}"),
        ("group", f"#c={PLAZA}"),
        ("contacts", "#contacts"),
        ("groups", "#groups"),
        ("developer", f"#c={KATE_KEVIN}"),
    ]
    written = []
    for size_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for scheme in ("light", "dark"):
            context = watch.context(browser, viewport=viewport, color_scheme=scheme, device_scale_factor=1)
            page = context.new_page()
            for name, hash_ in screens:
                if name == "signin":
                    page.goto(server.base + "/")
                    expect(page.get_by_role("heading", name="Demo accounts")).to_be_visible()
                elif name == "list":
                    page.get_by_role("button", name="Sign in as KateMcCallister").click()
                    expect(page.locator(".conv-list").first).to_be_visible(timeout=15000)
                    expect(page.locator(".conv-preview").first).not_to_be_empty(timeout=10000)
                else:
                    if name == "developer" and size_name == "phone":
                        hash_ = ""  # on a phone the drawer opens from the list
                    page.goto(server.base + "/" + hash_)
                    page.reload()
                    if hash_.startswith("#c="):
                        expect(page.locator(".messages .msg").first).to_be_visible(timeout=15000)
                    if hash_ == f"#c={KATE_KEVIN}":
                        expect(page.locator(".thumb img").first).to_be_visible(timeout=10000)
                    if name == "group":
                        expect(page.locator(".pinned-banner")).to_be_visible(timeout=10000)
                    if name == "developer":
                        page.get_by_role("button", name="Developer").click()
                        expect(page.locator(".drawer-list li").first).to_be_visible()
                    if name == "contacts":
                        expect(page.locator(".rows .row").first).to_be_visible(timeout=10000)
                    if name == "groups":
                        expect(page.locator(".rows .row").first).to_be_visible(timeout=10000)
                if name != "signin":
                    expect(page.locator(".connection")).to_have_text(re.compile("Live"), timeout=15000)
                unnamed = page.evaluate(UNNAMED_CONTROLS)
                assert not unnamed, f"{name}: controls without an accessible name: {unnamed}"
                if size_name == "phone":
                    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name} scrolls sideways"
                page.wait_for_timeout(150)
                path = SHOTS / f"{name}-{size_name}-{scheme}.png"
                page.screenshot(path=str(path))
                written.append(path)
            context.close()
    print(f"    {len(written)} screenshots in {SHOTS}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / "target" / "debug" / "protocol"))
    args = parser.parse_args()
    SHOTS.mkdir(parents=True, exist_ok=True)
    server = Server(args.binary)
    try:
        server.start()
        with sync_playwright() as p:
            browser = launch(p)
            watch = Watch(server.base)
            scenario(server, browser, watch)
            step("keyboard alone")
            keyboard_only(server, browser, watch)
            step("screenshots, accessible names, phone layout")
            screenshots(server, browser, watch)
            watch.check()
            browser.close()
    except BaseException:
        log = server.dir / "server.log"
        if log.exists():
            print("server log (tail):\n" + log.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        server.close()
    print("browser test passed")


if __name__ == "__main__":
    main()
