"""Pro in a real browser against a loopback fake Stripe: buy, come back from Checkout, keep the key,
restore Pro on a new visit with the key, and process a batch as Pro (downloaded as one ZIP);
"Manage subscription" (a portal session right after Checkout, Stripe's email login with a key), and
a refund ending Pro in the open tab."""

import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest
import stripe
from PIL import Image

from tests.support.browser import ARTIFACTS, EN, ZH, run_tool, upload
from tests.support.images import encode, photo
from tests.support.fake_stripe import FakeStripe, fixture, serving

CHECKOUT = "https://checkout.stripe.com/"
PORTAL = "https://billing.stripe.com/"
LOGIN = PORTAL + "p/login/test_flows"
WEBHOOK_SECRET = "whsec_flows"


@pytest.fixture
def stripe_fake(site, monkeypatch):
    """The fake Stripe on loopback; the site (already serving) reads these settings per request."""
    fake = FakeStripe()
    with serving(fake, monkeypatch, STRIPE_SECRET_KEY="sk_test_fake", STRIPE_PRICE_ID=fake.add_price(recurring=False),
                 PRO_DISPLAY_PRICE="$9 once", PUBLIC_BASE_URL=site, FREE_DAILY_LIMIT="1",
                 STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_PORTAL_LOGIN_URL=LOGIN):
        yield fake


def storage(page):
    return page.evaluate("[Object.keys(localStorage), Object.keys(sessionStorage), document.cookie]")


def buy_and_return(v, stripe_fake, lang="en"):
    """Click buy on /pro, land on (a stand-in for) Stripe's page, pay there, follow the success URL."""
    page = v.goto("/pro")
    if lang == "zh":
        page.click("#lang-switch")
        page.locator("html[lang='zh-CN']").wait_for()
    landed = []
    # Stripe's hosted page is another origin: the test answers it instead of the network.
    page.route(CHECKOUT + "**", lambda route: (landed.append(route.request.url),
                                               route.fulfill(body="<title>Stripe Checkout</title>",
                                                             content_type="text/html")))
    page.click("#buy")
    page.wait_for_url(CHECKOUT + "**")
    session_id = landed[0].rsplit("/", 1)[1]
    session = stripe_fake.sessions[session_id]
    assert session["locale"] == lang and session["mode"] == "payment"
    customer = stripe_fake.complete(session_id)  # the buyer pays on Stripe's page
    page.goto(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
    return page, customer


def test_buy_then_return_from_checkout_shows_the_key_and_unlocks_pro(visit, stripe_fake):
    v = visit()
    page, customer = buy_and_return(v, stripe_fake)
    page.locator("#welcome-key").wait_for(state="visible")
    assert page.text_content("#welcome-key-value") == customer
    assert "session_id" not in page.url  # dropped from the address bar once verified
    assert page.is_visible("#pro-badge")
    local, session, cookies = storage(page)
    assert local == [] and session == ["imgmend.pro"] and cookies == ""
    v.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#welcome-copy")
    page.locator("#welcome-copy[data-i18n='welcome.copied']").wait_for()  # the clipboard write is async
    assert page.text_content("#welcome-copy") == EN["welcome.copied"]
    assert page.evaluate("navigator.clipboard.readText()") == customer
    page.goto(v.site + "/denoise")
    page.evaluate("window.imgmend.ready")
    page.locator("#quota[data-i18n='tool.quota.pro']").wait_for()
    assert page.text_content("#quota") == EN["tool.quota.pro"]
    # The only other origin the browser saw is Stripe's checkout page the buyer was sent to.
    assert {u.split("/c/pay/")[0] for u in v.foreign_requests()} == {"https://checkout.stripe.com"}


def test_checkout_in_chinese_and_an_unpaid_return(visit, stripe_fake):
    v = visit(locale="zh-CN")
    page = v.goto("/pro")
    page.route(CHECKOUT + "**", lambda route: route.fulfill(body="<title>Stripe</title>", content_type="text/html"))
    page.click("#buy")
    page.wait_for_url(CHECKOUT + "**")
    session_id = page.url.rsplit("/", 1)[1]
    assert stripe_fake.sessions[session_id]["locale"] == "zh"
    page.goto(v.site + "/?session_id=" + session_id)  # came back without paying
    page.locator("#welcome-status[data-i18n='welcome.failed']").wait_for()
    assert page.text_content("#welcome-status") == ZH["welcome.failed"]
    assert storage(page)[1] == [] and not page.is_visible("#pro-badge")


def test_pro_key_restores_pro_on_a_new_visit(visit, stripe_fake):
    customer = stripe_fake.add_customer(metadata={"imgmend_pro": "lifetime"})
    first = visit()
    page = first.goto("/pro")
    page.fill("#pro-key", "cus_doesNotExist")
    page.press("#pro-key", "Enter")
    page.locator("#key-status[data-i18n='err.not_pro']").wait_for()
    assert storage(page)[1] == []
    page.fill("#pro-key", customer)
    page.press("#pro-key", "Enter")
    page.locator("#key-status[data-i18n='pro.key.ok']").wait_for()
    assert page.is_visible("#pro-badge") and storage(page)[1] == ["imgmend.pro"]
    first.context.close()
    # A new visit (the tab was closed): nothing kept, the key brings Pro back.
    second = visit()
    page = second.goto("/pro")
    assert storage(page) == [[], [], ""] and not page.is_visible("#pro-badge")
    page.fill("#pro-key", customer)
    page.click("#key-form button[type=submit]")
    page.locator("#key-status[data-i18n='pro.key.ok']").wait_for()
    assert page.is_visible("#pro-badge")
    assert second.foreign_requests() == [] and second.errors == []


def test_pro_batch_processes_several_photos_and_downloads_one_zip(visit, stripe_fake, tmp_path):
    customer = stripe_fake.add_customer(metadata={"imgmend_pro": "lifetime"})
    files = []
    for folder, name, width in (("a", "chelsea", 200), ("b", "coffee", 210), ("c", "astronaut", 220)):
        path = tmp_path / folder / ("coffee.jpg" if name == "coffee" else "chelsea.jpg")  # two share a name
        path.parent.mkdir()
        path.write_bytes(encode(photo(name, (width, 150)), "JPEG", quality=90))
        files.append(path)
    v = visit()
    page = v.goto("/pro")
    page.fill("#pro-key", customer)
    page.press("#pro-key", "Enter")
    page.locator("#key-status[data-i18n='pro.key.ok']").wait_for()
    page.goto(v.site + "/denoise")
    page.evaluate("window.imgmend.ready")
    assert page.evaluate("document.getElementById('file').multiple")
    page.set_input_files("#file", [str(p) for p in files])
    page.locator("#batch-go").wait_for(state="visible")
    assert page.locator("#batch-list li").count() == 3
    page.click("#batch-go")
    page.locator("#batch-zip").wait_for(state="visible", timeout=120_000)
    assert page.locator("#batch-list .state").all_text_contents() == [EN["batch.done"]] * 3
    assert page.text_content("#batch-status") == "3 of 3 done"  # past the free limit of 1: Pro
    (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "flow-pro-batch.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#batch-zip")
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == ["chelsea-denoised.jpg", "coffee-denoised.jpg", "chelsea-denoised-2.jpg"]
    sizes = [Image.open(io.BytesIO(archive.read(n))).size for n in names]
    assert sizes == [(200, 150), (210, 150), (220, 150)]
    with page.expect_download() as one:
        page.get_by_role("link", name="Download coffee-denoised.jpg").click()
    assert one.value.suggested_filename == "coffee-denoised.jpg"
    page.click("#batch-again")
    assert page.is_visible("#choose") and not page.is_visible("#batch")
    assert v.foreign_requests() == [] and v.errors == []


def test_free_users_pick_one_photo_at_a_time(visit):
    page = visit().goto("/denoise")
    assert page.evaluate("document.getElementById('file').multiple") is False
    assert not page.is_visible("#batch")


def open_manage(page):
    """Click "Manage subscription" on /pro; returns the Stripe URL the tab was sent to."""
    landed = []
    page.route(PORTAL + "**", lambda route: (landed.append(route.request.url),
                                              route.fulfill(body="<title>Stripe</title>", content_type="text/html")))
    page.locator("#manage").wait_for(state="visible")
    page.click("#manage")
    page.wait_for_url(PORTAL + "**")
    return landed[0]


def test_manage_right_after_checkout_opens_the_portal(visit, stripe_fake):
    v = visit()
    page, customer = buy_and_return(v, stripe_fake)
    page.locator("#welcome-key").wait_for(state="visible")
    page.goto(v.site + "/pro")
    page.evaluate("window.imgmend.ready")
    assert page.text_content("#manage") == EN["pro.manage"] and page.is_visible("#manage-note")
    assert open_manage(page) == "https://billing.stripe.com/p/session/fake"
    sessions = [r for r in stripe_fake.requests if r[1] == "/v1/billing_portal/sessions"]
    assert [r[2]["customer"] for r in sessions] == [customer]
    assert v.errors == []


def test_manage_with_a_pro_key_goes_to_stripes_email_login(visit, stripe_fake):
    customer = stripe_fake.add_customer(metadata={"imgmend_pro": "lifetime"})
    v = visit(locale="zh-CN")
    page = v.goto("/pro")
    assert not page.is_visible("#manage") and page.text_content("#manage-note") == ZH["pro.manage.note"]
    page.fill("#pro-key", customer)
    page.press("#pro-key", "Enter")
    page.locator("#key-status[data-i18n='pro.key.ok']").wait_for()
    assert page.text_content("#manage") == ZH["pro.manage"]
    assert open_manage(page) == LOGIN
    assert [r for r in stripe_fake.requests if r[1] == "/v1/billing_portal/sessions"] == []  # no billing data
    assert v.errors == []


def test_a_refund_ends_pro_in_the_open_tab(visit, stripe_fake, photo_file):
    v = visit()
    page, customer = buy_and_return(v, stripe_fake)
    page.locator("#welcome-key").wait_for(state="visible")
    session_id = next(s for s, obj in stripe_fake.sessions.items() if obj["customer"] == customer)
    charge = stripe_fake.charge_of(session_id)
    charge.update(refunded=True, amount_refunded=charge["amount"])
    evt = fixture("event")
    evt.update(id="evt_flows_refund", type="charge.refunded", data={"object": charge})
    payload = json.dumps(evt)
    signature = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
    delivered = httpx.post(v.site + "/api/stripe_webhook", content=payload,
                           headers={"Stripe-Signature": signature, "Content-Type": "application/json"})
    assert delivered.status_code == 200
    page.goto(v.site + "/denoise")
    page.evaluate("window.imgmend.ready")
    page.locator("#quota[data-i18n='tool.quota.pro']").wait_for()  # the tab still thinks it is Pro
    upload(page, photo_file)
    page.click("#go")
    page.locator("#error").wait_for(state="visible")
    assert page.text_content("#error-text") == EN["err.pro_revoked"]
    assert EN["next.pro_revoked"] in page.text_content("#error-next")
    page.locator("#quota[data-i18n='tool.quota']").wait_for()  # back to the free count
    assert page.text_content("#quota") == EN["tool.quota"].replace("{n}", "1")
    assert not page.is_visible("#pro-badge") and storage(page)[1] == []
    page.set_input_files("#file", [])  # the same file again: Chromium fires no change otherwise
    upload(page, photo_file)
    run_tool(page)  # the free image still works
    assert page.text_content("#quota") == EN["tool.quota"].replace("{n}", "0")
    assert all("401" in e for e in v.errors)  # only the browser's note of the refused request
