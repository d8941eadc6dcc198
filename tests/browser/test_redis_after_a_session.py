"""After real browser sessions across every page and tool, Redis holds nothing about the person.

Two visitors differ only in IP address and User-Agent (same browser family and major version, same
device class, same country). Every analytics key and count they leave must be identical; the only
per-visitor keys are the free-quota and burst-limit counters, named by a keyed hash of the IP that
expires within a day (the privacy page says so).
"""

import json
import re

import pytest

from tests.support.browser import PAGES, run_tool, upload
from tests.support.stores import dump

# Same family and major version ("Chrome 131"), both desktop: only the details differ.
VISITORS = [
    ("203.0.113.7", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/131.0.6778.85 Safari/537.36 uniq-visitor-A"),
    ("2001:db8::beef", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/131.0.6778.204 Safari/537.36 uniq-visitor-B"),
]
PER_VISITOR = re.compile(r"^imgmend:(quota|rate)[:/]")
HEX_CLIENT = re.compile(r"[0-9a-f]{32}")
VIEW_MINUTE = re.compile(r"views:\d+:")
LATENCY = "latency"


def browse_everything(browser, site, ip, ua, photo_file, token):
    """One visitor: every page, every tool, then a handful of API calls from the same browser."""
    context = browser.new_context(user_agent=ua, locale="en-US",
                                  extra_http_headers={"X-Real-IP": ip, "X-Vercel-IP-Country": "NL"})
    page = context.new_page()
    page.set_default_timeout(30_000)
    for path in PAGES + ["/denoise?email=someone@example.com"]:
        with page.expect_request(lambda r: r.url.endswith("/api/event")):
            page.goto(site + path)
    for path in ("/denoise", "/remove-background", "/remove-watermark"):
        page.goto(site + path)
        page.evaluate("window.imgmend.ready")
        upload(page, photo_file)
        if path == "/remove-watermark":
            page.click("#detect")
            page.locator("#mask-status[data-i18n='remove_watermark.detected']").wait_for()
            page.locator("#wm-canvas").click(position={"x": 10, "y": 10})
        run_tool(page)
    data = photo_file.read_bytes()
    calls = [
        ("/api/denoise", {"Authorization": f"Bearer {token}"}, data),
        ("/api/denoise", {"Authorization": "Bearer forged.token.value"}, data),
        ("/api/remove_bg", {}, b"not an image at all"),
        ("/api/event", {"Content-Type": "text/plain"}, json.dumps({"path": "/a@b.example"}).encode()),
    ]
    statuses = []
    for url, headers, body in calls:
        if url == "/api/event":
            reply = page.request.post(site + url, headers=headers, data=body)
        else:
            reply = page.request.post(site + url, headers=headers,
                                      multipart={"image": {"name": "p.jpg", "mimeType": "image/jpeg", "buffer": body}})
        statuses.append(reply.status)
    context.close()
    assert statuses == [200, 401, 415, 204]


def split(keys_and_blob, client):
    """(analytics part: key -> value without latency timings, per-visitor keys with the hash masked)."""
    keys, _ = keys_and_blob
    shared, personal = {}, set()
    for key in sorted(keys):
        if PER_VISITOR.match(key):
            # The page-view limit is keyed by the clock minute too, which may turn between visitors.
            personal.add(VIEW_MINUTE.sub("views:<minute>:", HEX_CLIENT.sub("<client>", key)))
            continue
        value = client.hgetall(key) if client.type(key) == b"hash" else {b"": client.get(key)}
        if LATENCY in key:  # which bucket a run lands in depends on the machine's load, not the person
            value = {b"runs": str(sum(int(v) for v in value.values())).encode()}
        shared[key] = value
    return shared, personal


@pytest.mark.redis
def test_two_visitors_leave_identical_analytics_and_nothing_personal(browser, site, redis_env, photo_file,
                                                                     monkeypatch):
    from lib import tokens

    monkeypatch.setenv("FREE_DAILY_LIMIT", "50")
    client = redis_env["client"]
    token, _ = tokens.issue_token("cus_PrivacyCheck42")
    seen = []
    for ip, ua in VISITORS:
        client.flushall()
        browse_everything(browser, site, ip, ua, photo_file, token)
        snapshot = dump(client)
        keys, blob = snapshot
        assert any(k.startswith("imgmend:stats:") for k in keys)
        for secret in [v[0] for v in VISITORS] + ["uniq-visitor", "Mozilla", "Windows", "Linux", "6778",
                                                  "someone@example.com", "a@b.example", "cus_PrivacyCheck42",
                                                  token, "forged.token.value"]:
            assert secret.encode() not in blob, secret
        for key in keys:
            ttl = client.ttl(key)
            assert 0 < ttl <= (86_400 if PER_VISITOR.match(key) else 365 * 86_400), (key, ttl)
        seen.append(split(snapshot, client))
    (shared_a, personal_a), (shared_b, personal_b) = seen
    assert shared_a == shared_b
    assert personal_a == personal_b  # same counters, named by a hash that differs per visitor
    assert any(k.startswith("imgmend:quota:") for k in personal_a)
