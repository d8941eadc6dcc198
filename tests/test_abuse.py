"""The attack table: each row is something a hostile internet does to the free quota, Pro or the
payments, and what the site answers now. Every row failed on the code before this table existed
(see docs/operations.md "Abuse"): measured against the real redis-server (INFO commandstats) and
the real stripe client on a fake Stripe.
"""

import io
import json
import threading
import time

import pytest
import redis
import responses
import stripe

from lib import quota, tokens
from tests.support.agents import CHROME_WIN
from tests.support.fake_stripe import FakeStripe, event_json, fixture, post_event
from tests.support.images import encode, photo

JPEG = encode(photo("chelsea", (64, 48)))
WEBHOOK_SECRET = "whsec_abuse_test"
SITE = "https://imgmend.example"
LOGIN = "https://billing.stripe.com/p/login/test_abuse"
ATTACKER = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Origin": "https://evil.example"}


@pytest.fixture(autouse=True)
def site_origin(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", SITE)
    monkeypatch.setenv("FREE_DAILY_LIMIT", "5")


@pytest.fixture
def fake(monkeypatch):
    """A fake Stripe reached through `responses`, with a portal login link configured."""
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_abuse")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_PORTAL_LOGIN_URL", LOGIN)
    state = FakeStripe()
    monkeypatch.setenv("STRIPE_PRICE_ID", state.add_price(recurring=False))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        state.install_responses(rsps)
        yield state


def image(api, tool="denoise", ip="203.0.113.7", **headers):
    return api(tool).post(f"/api/{tool}", data={"image": (io.BytesIO(JPEG), "a.jpg")},
                          content_type="multipart/form-data", headers={"X-Real-IP": ip, **headers})


def post_json(api, name, body, ip="203.0.113.7", content_type="application/json", **headers):
    return api(name).post(f"/api/{name}", data=json.dumps(body), content_type=content_type,
                          headers={"X-Real-IP": ip, **headers})


def free_left(api, ip="203.0.113.7"):
    return api("config").get("/api/config", headers={"X-Real-IP": ip}).get_json()["free_remaining"]


def stripe_posts(fake, path):
    return [r for r in fake.requests if r[0] == "POST" and r[1] == path]


def deliver(api, kind, obj):
    return post_event(api("stripe_webhook"), event_json(kind, obj, f"evt_abuse_{time.time_ns()}"), WEBHOOK_SECRET)


class NoReading:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


# --- 1. Same-site only for anything that spends ---------------------------------------------------------

CROSS_SITE = {
    "Sec-Fetch-Site: cross-site": {"Sec-Fetch-Site": "cross-site"},
    "a foreign Origin, no Fetch Metadata (older browser)": {"Origin": "https://evil.example"},
    "Origin: null (sandboxed frame, data: URL)": {"Origin": "null"},
    "an unknown Sec-Fetch-Site and a foreign Origin": {"Sec-Fetch-Site": "bogus", "Origin": "http://localhost:9"},
    "a sibling origin on another port": {"Origin": "https://imgmend.example:8443"},
}


@pytest.mark.parametrize("case", list(CROSS_SITE))
def test_cross_site_image_post_is_refused_before_the_body_or_any_counter(api, redis_env, case):
    environ = {"wsgi.input": NoReading(), "CONTENT_LENGTH": str(len(JPEG)), "CONTENT_TYPE": "image/jpeg"}
    response = api("denoise").post("/api/denoise", environ_overrides=environ,
                                   headers={"X-Real-IP": "203.0.113.7", **CROSS_SITE[case]})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "cross_site"
    assert redis_env["client"].keys("*") == []  # no quota, rate or statistics counter was touched
    assert free_left(api) == 5


def test_no_cors_multipart_spend_from_another_site_spends_nothing(api):
    # What `fetch(url, {method: "POST", mode: "no-cors", body: formData})` on evil.example sends.
    statuses = [image(api, **ATTACKER).status_code for _ in range(6)]
    assert statuses == [403] * 6 and free_left(api) == 5  # was 200 x5 then 402: 5 -> 0


@pytest.mark.parametrize("name", ["denoise", "remove_bg", "remove_watermark", "watermark_mask", "event",
                                  "create_checkout", "verify_pro", "billing_portal"])
def test_every_non_get_endpoint_refuses_other_sites(api, name):
    response = api(name).post(f"/api/{name}", data="{}", content_type="text/plain", headers=ATTACKER)
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "cross_site")


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "none"},
    {"Origin": SITE}, {"Origin": SITE + ":443"}, {"Origin": "HTTPS://IMGMEND.EXAMPLE"}, {},
    # A script that forges the header gains nothing: it has no visitor's quota or Pro to spend.
    {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"},
], ids=["same-origin", "same-site", "none", "our origin", "our origin :443", "our origin in capitals",
        "no browser headers (curl)", "forged by a non-browser"])
def test_our_own_pages_and_non_browsers_pass(api, headers):
    response = image(api, **headers)
    assert response.status_code == 200 and response.headers["X-Quota-Remaining"] == "4"


def test_gets_and_the_signed_webhook_are_not_same_site_checked(api, fake):
    assert api("config").get("/api/config", headers=ATTACKER).status_code == 200
    customer = fake.add_customer()
    session = fake.add_session(customer, mode="payment")
    evt = fixture("event")
    evt.update(id="evt_abuse_cross", type="checkout.session.completed", data={"object": fake.sessions[session]})
    payload = json.dumps(evt)
    header = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
    response = api("stripe_webhook").post("/api/stripe_webhook", data=payload, content_type="application/json",
                                          headers={"Stripe-Signature": header, **ATTACKER})
    assert response.status_code == 200


@pytest.mark.parametrize("name,body", [("create_checkout", {"lang": "en"}), ("verify_pro", {"pro_key": "cus_Abuse12345678"})])
def test_text_plain_json_is_refused_cross_site_and_same_site(api, fake, name, body):
    cross = post_json(api, name, body, content_type="text/plain", **ATTACKER)
    assert cross.status_code == 403 and cross.get_json()["error"]["code"] == "cross_site"
    same = post_json(api, name, body, content_type="text/plain", **{"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 400 and same.get_json()["error"]["code"] == "invalid_request"
    assert fake.requests == []  # no Checkout Session, no customer lookup


# --- 2. Never unlimited ---------------------------------------------------------------------------------

@pytest.fixture
def refusing_redis(redis_env):
    """The real Redis refusing writes, as a plan past its command allowance refuses every command
    (Upstash: "ERR max requests limit exceeded"): maxmemory 1 with noeviction answers OOM errors."""
    client = redis_env["client"]
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")
    yield client
    client.config_set("maxmemory", "0")


def test_redis_answering_errors_keeps_quota_and_burst_limit(api, refusing_redis, monkeypatch, caplog):
    with pytest.raises(redis.ResponseError):
        refusing_redis.incr("probe")
    statuses = [image(api).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [402] * 2  # was 200 x7: unlimited for everyone
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "3")
    quota.reset()
    assert [image(api, "watermark_mask", ip="192.0.2.9").status_code for _ in range(4)] == [200, 200, 200, 429]
    health = api("health").get("/api/health").get_json()
    assert health["counters"] == "memory-fallback"  # PING answers; the counting does not
    assert sum("counter store unavailable" in r.getMessage() for r in caplog.records) == 2  # one per instance


def test_redis_coming_back_is_used_again(api, redis_env, refusing_redis, monkeypatch):
    monkeypatch.setattr(quota, "RETRY_S", 0.2, raising=False)
    assert image(api).headers["X-Quota-Remaining"] == "4"  # counted in memory
    refusing_redis.config_set("maxmemory", "0")
    time.sleep(0.3)
    assert image(api).headers["X-Quota-Remaining"] == "4"  # Redis again: it never saw the first one
    assert api("health").get("/api/health").get_json()["counters"] == "redis"
    assert any(k.startswith(b"imgmend:quota:") for k in redis_env["client"].keys("*"))


# --- 3. Page views cannot drain Redis ---------------------------------------------------------------------

def view(api, ip="203.0.113.7", path="/"):
    return api("event").post("/api/event", data=json.dumps({"path": path}), content_type="text/plain;charset=UTF-8",
                             headers={"User-Agent": CHROME_WIN, "X-Real-IP": ip, "Sec-Fetch-Site": "same-origin"})


def commands(client):
    """Redis's own count of commands run since the last CONFIG RESETSTAT, without the test's own."""
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if not k.startswith(("cmdstat_info", "cmdstat_config")))


def _start_of_a_minute():
    """Wait until a fresh minute has at least 20 s left (the limit counts per clock minute)."""
    while time.time() % 60 > 40:
        time.sleep(0.5)


@pytest.mark.redis
def test_a_thousand_views_from_one_client_cost_at_most_300_commands(api, redis_env, monkeypatch):
    client = redis_env["client"]
    monkeypatch.setenv("IMGMEND_ADMIN_TOKEN", "admin-token-abuse-0123456789")
    _start_of_a_minute()
    client.config_resetstat()
    assert all(view(api).status_code == 204 for _ in range(1000))
    used = commands(client)
    counted = api("stats").get("/api/stats", headers={"Authorization": "Bearer admin-token-abuse-0123456789"})
    assert counted.get_json()["totals"]["views"] == {"/": 60}  # the rest answered 204, not counted
    print(f"\n1000 views from one client: {used} Redis commands (was 8 per view: 8000)")
    assert used <= 300
    assert view(api, ip="198.51.100.3").status_code == 204  # another client is counted on its own
    assert api("stats").get("/api/stats", headers={"Authorization": "Bearer admin-token-abuse-0123456789"}
                            ).get_json()["totals"]["views"] == {"/": 61}


@pytest.mark.redis
def test_a_counted_view_costs_at_most_two_round_trips(api, redis_env, monkeypatch):
    trips = []
    original_command, original_pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute

    def command(self, *args, **kwargs):
        if not isinstance(self, redis.client.Pipeline):
            trips.append(args[0])
        return original_command(self, *args, **kwargs)

    def pipeline(self, *args, **kwargs):
        trips.append("pipeline")
        return original_pipeline(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline)
    _start_of_a_minute()
    per_view = []
    for n in range(70):
        before = len(trips)
        view(api, path=["/", "/denoise", "/pro"][n % 3])
        per_view.append(len(trips) - before)
    assert max(per_view) <= 2 and per_view[60:] == [0] * 10  # past the limit: no round trip at all
    assert len(redis_env["client"].keys("imgmend:stats:*")) == 4
    for key in redis_env["client"].keys("imgmend:stats:*"):
        assert 0 < redis_env["client"].ttl(key) <= 365 * 86400  # no key left without its expiry


def test_views_are_limited_per_client_in_memory_too(api, monkeypatch):
    monkeypatch.setenv("IMGMEND_ADMIN_TOKEN", "admin-token-abuse-0123456789")
    _start_of_a_minute()
    for _ in range(100):
        view(api)
    report = api("stats").get("/api/stats", headers={"Authorization": "Bearer admin-token-abuse-0123456789"})
    assert report.get_json()["totals"]["views"] == {"/": 60}


# --- 4. Rate limits on Stripe calls and on Pro runs ----------------------------------------------------------

def test_create_checkout_is_limited_to_10_per_client_per_10_minutes(api, fake):
    statuses = [post_json(api, "create_checkout", {"lang": "en"}).status_code for _ in range(12)]
    assert statuses == [200] * 10 + [429] * 2
    assert len(stripe_posts(fake, "/v1/checkout/sessions")) == 10  # was one Checkout Session per post
    assert post_json(api, "create_checkout", {"lang": "en"}, ip="198.51.100.4").status_code == 200


def test_billing_portal_is_limited_per_client(api, fake):
    _, _, token = buy_one_time(api, fake)
    statuses = [api("billing_portal").post("/api/billing_portal", headers={
        "Authorization": f"Bearer {token}", "X-Real-IP": "203.0.113.7"}).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    assert len(stripe_posts(fake, "/v1/billing_portal/sessions")) == 10


def test_pro_runs_are_limited_per_customer_across_addresses(api, monkeypatch):
    monkeypatch.setenv("PRO_RATE_LIMIT_PER_MINUTE", "4")
    token, _ = tokens.issue_token("cus_PostedOnline1234")
    auth = {"Authorization": f"Bearer {token}"}
    statuses = [image(api, ip=f"198.51.100.{n}", **auth).status_code for n in range(6)]  # a key posted online
    assert statuses == [200] * 4 + [429] * 2  # was 200 x6: unlimited runs on our bill
    other, _ = tokens.issue_token("cus_SomeoneElse1234")
    assert image(api, ip="198.51.100.1", Authorization=f"Bearer {other}").status_code == 200


# --- 5. Revocation --------------------------------------------------------------------------------------

def buy_one_time(api, fake):
    """A paid one-time pass verified from its Checkout Session: (customer, session id, token)."""
    customer = fake.add_customer()
    session = fake.add_session(customer, mode="payment")
    reply = post_json(api, "verify_pro", {"session_id": session})
    assert reply.status_code == 200
    return customer, session, reply.get_json()["token"]


def refund(api, fake, session):
    charge = fake.charge_of(session)
    charge.update(refunded=True, amount_refunded=charge["amount"])
    return deliver(api, "charge.refunded", charge)


def assert_revoked(response):
    assert response.status_code == 401, response.status_code
    error = response.get_json()["error"]
    assert (response.status_code, error["code"], error.get("reason")) == (401, "invalid_token", "revoked")


def test_a_refund_revokes_the_token_on_its_next_use(api, fake, redis_env):
    customer, session, token = buy_one_time(api, fake)
    auth = {"Authorization": f"Bearer {token}"}
    assert image(api, **auth).status_code == 200
    assert refund(api, fake, session).status_code == 200
    assert_revoked(image(api, **auth))  # was 200 until the token expired, up to 12 h later
    assert_revoked(api("billing_portal").post("/api/billing_portal", headers=auth))
    assert_revoked(image(api, "watermark_mask", **auth))
    assert image(api).status_code == 200  # the same visitor, free, is fine
    keys = [k.decode() for k in redis_env["client"].keys("imgmend:revoked:*")]
    assert len(keys) == 1 and customer not in keys[0]  # a keyed hash, never the customer id
    assert 12 * 3600 < redis_env["client"].ttl(keys[0]) <= 13 * 3600
    assert customer.encode() not in redis_env["client"].get(keys[0])


def test_buying_again_after_a_revocation_works(api, fake):
    customer, session, token = buy_one_time(api, fake)
    refund(api, fake, session)
    time.sleep(1.05)  # revocations are to the second
    again = fake.add_session(customer, mode="payment")
    reply = post_json(api, "verify_pro", {"session_id": again})
    assert reply.status_code == 200
    assert image(api, Authorization=f"Bearer {reply.get_json()['token']}").status_code == 200
    assert_revoked(image(api, Authorization=f"Bearer {token}"))


@pytest.mark.parametrize("ending", ["customer.subscription.deleted", "unpaid", "charge.dispute.created"])
def test_every_end_of_pro_revokes(api, fake, ending):
    customer = fake.add_customer()
    if ending == "charge.dispute.created":
        session = fake.add_session(customer, mode="payment")
        token = post_json(api, "verify_pro", {"session_id": session}).get_json()["token"]
        charge = fake.charge_of(session)
        charge["disputed"] = True
        obj, kind = fixture("dispute"), ending
        obj.update(charge=charge["id"])
    else:
        sub = fake.add_subscription(customer, status="active")
        token = post_json(api, "verify_pro", {"pro_key": customer}).get_json()["token"]
        fake.subscriptions[sub]["status"] = "canceled" if ending == "customer.subscription.deleted" else "unpaid"
        obj, kind = fake.subscriptions[sub], ("customer.subscription.updated" if ending == "unpaid" else ending)
    assert image(api, Authorization=f"Bearer {token}").status_code == 200
    assert deliver(api, kind, obj).status_code == 200
    assert_revoked(image(api, Authorization=f"Bearer {token}"))


def test_an_event_that_leaves_pro_active_revokes_nothing(api, fake):
    customer = fake.add_customer()
    sub = fake.add_subscription(customer, status="active")
    token = post_json(api, "verify_pro", {"pro_key": customer}).get_json()["token"]
    assert deliver(api, "invoice.paid", dict(fixture("invoice"), customer=customer, subscription=sub)).status_code == 200
    assert image(api, Authorization=f"Bearer {token}").status_code == 200


def test_parallel_deliveries_end_revoked(api, fake):
    customer, session, token = buy_one_time(api, fake)
    charge = fake.charge_of(session)
    charge.update(refunded=True, amount_refunded=charge["amount"])
    dispute = dict(fixture("dispute"), charge=charge["id"])
    jobs = [("charge.refunded", charge), ("checkout.session.completed", fake.sessions[session]),
            ("charge.dispute.created", dispute)] * 3
    statuses, lock = [], threading.Lock()

    def send(kind, obj):
        status = deliver(api, kind, obj).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * len(jobs)
    assert_revoked(image(api, Authorization=f"Bearer {token}"))
    assert post_json(api, "verify_pro", {"pro_key": customer}).status_code == 404


def test_a_revocation_that_cannot_be_written_is_a_503_so_stripe_retries(api, fake, refusing_redis):
    customer, session, token = buy_one_time(api, fake)
    response = refund(api, fake, session)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "upstream_unavailable"


# --- 6. The portal needs more than the key -------------------------------------------------------------------

def manage(api, token):
    return api("billing_portal").post("/api/billing_portal", headers={"Authorization": f"Bearer {token}"})


def test_a_bare_pro_key_never_opens_a_portal_session(api, fake):
    customer = fake.add_customer(metadata={"imgmend_pro": "lifetime"})
    token = post_json(api, "verify_pro", {"pro_key": customer}).get_json()["token"]
    response = manage(api, token)
    assert response.status_code == 200 and response.get_json() == {"url": LOGIN, "kind": "login"}
    assert stripe_posts(fake, "/v1/billing_portal/sessions") == []  # was a session: email, card, cancel


def test_a_checkout_token_opens_the_portal_for_an_hour_only(api, fake, monkeypatch):
    customer, session, token = buy_one_time(api, fake)
    opened = manage(api, token).get_json()
    assert opened.get("kind") == "session" and opened["url"].startswith("https://billing.stripe.com/p/session/")
    later = time.time() + 3601
    monkeypatch.setattr(time, "time", lambda: later)
    assert manage(api, token).get_json() == {"url": LOGIN, "kind": "login"}
    assert len(stripe_posts(fake, "/v1/billing_portal/sessions")) == 1


def test_an_old_checkout_session_verifies_as_a_key(api, fake):
    # A success URL found in someone's history a week later: Pro, but not their billing data.
    customer = fake.add_customer()
    session = fake.add_session(customer, mode="payment")
    fake.sessions[session]["created"] = int(time.time()) - 7 * 86400
    token = post_json(api, "verify_pro", {"session_id": session}).get_json()["token"]
    assert manage(api, token).get_json() == {"url": LOGIN, "kind": "login"}


def test_without_a_login_link_a_key_token_gets_not_configured(api, fake, monkeypatch):
    monkeypatch.delenv("STRIPE_PORTAL_LOGIN_URL")
    token, _ = tokens.issue_token(fake.add_customer())
    response = manage(api, token)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "not_configured"
    assert fake.requests == []


# --- 7. Clients by network -----------------------------------------------------------------------------------

def test_an_ipv6_64_is_one_client(api):
    for n in range(5):
        assert image(api, ip=f"2001:db8:aa:bb:{n}::{n + 1}").status_code == 200
    assert image(api, ip="2001:db8:aa:bb:ffff:ffff:ffff:fffe").status_code == 402  # was a fresh quota
    assert image(api, ip="2001:db8:aa:bc::1").status_code == 200  # the next /64 is someone else


def test_ipv4_mapped_ipv6_is_the_ipv4_client(api, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    assert image(api, ip="192.0.2.77").status_code == 200
    assert image(api, ip="::ffff:192.0.2.77").status_code == 402


def test_vercel_forwarded_for_wins_over_x_real_ip(api, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    assert image(api, ip="10.0.0.1", **{"X-Vercel-Forwarded-For": "192.0.2.80"}).status_code == 200
    assert image(api, ip="10.0.0.2", **{"X-Vercel-Forwarded-For": "192.0.2.80"}).status_code == 402


@pytest.mark.parametrize("value", ["not-an-ip", "999.1.1.1", "2001:db8::zz", "", " , ", "[", "\x00", "1" * 5000])
def test_malformed_client_addresses_do_not_crash(api, value):
    response = image(api, ip=value, **{"X-Vercel-Forwarded-For": value})
    assert response.status_code == 200


# --- 8. Odd inputs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [2_000, 60_000])
def test_a_huge_authorization_header_is_a_quick_401(api, size):
    genuine, _ = tokens.issue_token("cus_Huge12345678")
    started = time.perf_counter()
    response = image(api, Authorization="Bearer " + genuine + "A" * size)
    assert (response.status_code, response.get_json()["error"]["code"]) == (401, "invalid_token")
    assert time.perf_counter() - started < 2
