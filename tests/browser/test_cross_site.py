"""Another site cannot spend a visitor's free images or start payments, in a real Chromium.

The site runs on http://127.0.0.1:PORT; the attacker's page on http://localhost:PORT2, which
Chromium treats as another site (another host; a port alone would be the same site). The page does
what any page on the web can do without a CORS preflight: a no-cors multipart fetch, a multipart
form posted into a hidden frame, text/plain JSON to the Pro endpoints, and a beacon.
"""

import base64
import json
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from lib import analytics
from tests.support.agents import CHROME_WIN
from tests.support.fake_stripe import FakeStripe, serving
from tests.support.images import encode, photo

ATTACK = """<!doctype html><title>Free stuff</title>
<iframe name="sink"></iframe>
<form id="f" method="post" enctype="multipart/form-data" target="sink"><input type="file" name="image" id="i"></form>
<script>
const SITE = %(site)s;
const bytes = Uint8Array.from(atob(%(jpeg)s), (c) => c.charCodeAt(0));
const photo = () => new Blob([bytes], {type: "image/jpeg"});
// Our API answers with Cross-Origin-Resource-Policy: same-origin, so each fetch rejects once sent.
const send = (path, options) => fetch(SITE + path, {method: "POST", mode: "no-cors", ...options}).catch(() => null);
window.done = (async () => {
  for (let n = 0; n < 3; n++) {
    const form = new FormData();
    form.append("image", photo(), "cat.jpg");
    await send("/api/denoise", {body: form});
  }
  await send("/api/create_checkout", {headers: {"Content-Type": "text/plain"}, body: JSON.stringify({lang: "en"})});
  await send("/api/verify_pro", {headers: {"Content-Type": "text/plain"}, body: JSON.stringify({pro_key: "cus_StolenKey12345"})});
  navigator.sendBeacon(SITE + "/api/event", JSON.stringify({path: "/"}));
  const files = new DataTransfer();
  files.items.add(new File([photo()], "cat.jpg", {type: "image/jpeg"}));
  const form = document.getElementById("f");
  form.action = SITE + "/api/remove_bg";
  document.getElementById("i").files = files.files;
  const posted = new Promise((resolve) => document.querySelector("iframe").addEventListener("load", resolve));
  form.submit();
  await posted;
  return "sent";
})();
</script>"""


@pytest.fixture
def attacker(site):
    """The attacker's page on another site; yields its URL."""
    jpeg = base64.b64encode(encode(photo("chelsea", (80, 60)), "JPEG")).decode()
    page = ATTACK % {"site": json.dumps(site), "jpeg": json.dumps(jpeg)}
    server = make_server("127.0.0.1", 0, lambda environ, start: Response(page, mimetype="text/html")(environ, start),
                         threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_port}/attack.html"
    server.shutdown()
    server.server_close()


@pytest.fixture
def stripe_fake(site, monkeypatch):
    fake = FakeStripe()
    with serving(fake, monkeypatch, STRIPE_SECRET_KEY="sk_test_fake", STRIPE_PRICE_ID=fake.add_price(recurring=False),
                 PUBLIC_BASE_URL=site, FREE_DAILY_LIMIT="5"):
        yield fake


def free_remaining(visit):
    page = visit().goto("/denoise")
    return page.evaluate("fetch('/api/config').then((r) => r.json()).then((c) => c.free_remaining)")


def test_a_page_on_another_site_spends_nothing(browser, site, attacker, stripe_fake, visit, caplog):
    caplog.set_level("INFO", logger="imgmend")
    assert free_remaining(visit) == 5
    context = browser.new_context(user_agent=CHROME_WIN)  # a visitor, not a bot: its beacon would count
    seen = []
    context.on("response", lambda r: seen.append((r.url.split("/api/")[-1], r.status)) if "/api/" in r.url else None)
    page = context.new_page()
    page.goto(attacker)
    assert page.evaluate("window.done") == "sent"
    context.close()
    # Chromium sent every request (no preflight stopped them); the server refused each one unread.
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imgmend" and r.getMessage().startswith("{")]
    refused = sorted(line["endpoint"] for line in lines if (line["status"], line["error"]) == (403, "cross_site"))
    assert refused == ["/api/create_checkout", "/api/denoise", "/api/denoise", "/api/denoise", "/api/event",
                       "/api/remove_bg", "/api/verify_pro"]
    # The browser shows only the form's answer (in the frame); CORP withholds the fetches' answers.
    assert ("remove_bg", 403) in seen and all(status == 403 for _, status in seen)
    assert free_remaining(visit) == 5  # was 5 -> 1: three fetches and the form spent four images
    assert [r for r in stripe_fake.requests if r[0] == "POST"] == []  # no Checkout Session
    assert analytics.report(1)["totals"]["views"] == {}  # the beacon was refused (our own loads are headless)
