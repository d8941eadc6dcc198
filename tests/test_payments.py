"""lib.payments and the Pro endpoints: checkout, verify_pro branches, the portal and the webhook (real stripe client)."""

import json
import threading
import time

import pytest
import responses
import stripe

from lib import tokens
from tests.support.fake_stripe import FakeStripe, event_json, fixture, post_event

WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture
def fake(monkeypatch):
    """A fake Stripe reached through `responses` (stripe's HTTP goes through requests)."""
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://imgmend.example")
    state = FakeStripe()
    monkeypatch.setenv("STRIPE_PRICE_ID", state.add_price(recurring=True))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        state.install_responses(rsps)
        yield state


def answer(response):
    return response.status_code, json.loads(response.get_data())


def verify(api, **body):
    return answer(api("verify_pro").post(json=body, headers={"X-Real-IP": "198.51.100.20"}))


# --- create_checkout ---------------------------------------------------------------------------


@pytest.mark.parametrize("recurring,mode", [(True, "subscription"), (False, "payment")])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_create_checkout(api, fake, monkeypatch, recurring, mode, lang):
    monkeypatch.setenv("STRIPE_PRICE_ID", fake.add_price(recurring=recurring))
    status, body = answer(api("create_checkout").post(json={"lang": lang}))
    assert status == 200 and body["url"].startswith("https://checkout.stripe.com/")
    _, path, params = [r for r in fake.requests if r[0] == "POST"][-1]
    assert path == "/v1/checkout/sessions" and params["mode"] == mode and params["locale"] == lang
    assert params["success_url"] == "https://imgmend.example/?session_id={CHECKOUT_SESSION_ID}"
    assert params["cancel_url"] == "https://imgmend.example/pro"
    assert params.get("customer_creation") == (None if recurring else "always")


@pytest.mark.parametrize("unset", ["STRIPE_SECRET_KEY", "STRIPE_PRICE_ID"])
def test_create_checkout_not_configured(api, fake, monkeypatch, unset):
    monkeypatch.delenv(unset)
    assert answer(api("create_checkout").post(json={"lang": "en"}))[1]["error"]["code"] == "not_configured"


@pytest.mark.parametrize("body", [{"lang": "fr"}, {"lang": 3}, [1, 2]])
def test_create_checkout_bad_lang(api, fake, body):
    status, payload = answer(api("create_checkout").post(json=body))
    assert (status, payload["error"]["code"]) == (400, "invalid_request")


# --- verify_pro: every branch -------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode,status,payment_status,granted",
    [
        ("payment", "complete", "paid", True),
        ("subscription", "complete", "paid", True),
        ("payment", "complete", "unpaid", False),  # async payment still processing
        ("payment", "open", "unpaid", False),
        ("payment", "expired", "unpaid", False),
    ],
)
def test_verify_by_session(api, fake, mode, status, payment_status, granted):
    customer = fake.add_customer()
    session = fake.add_session(customer, mode=mode, status=status, payment_status=payment_status)
    code, body = verify(api, session_id=session)
    if granted:
        assert code == 200 and body["pro"] is True and body["pro_key"] == customer
        assert tokens.verify_token(body["token"]) == customer
        assert body["expires_at"].endswith("Z")
    else:
        assert (code, body["error"]["code"]) == (404, "not_pro")


def test_one_time_purchase_is_recorded_for_the_pro_key(api, fake):
    customer = fake.add_customer()
    fake.add_session(customer, mode="payment")
    assert verify(api, pro_key=customer)[0] == 404  # nothing recorded yet (webhook not arrived)
    session = next(iter(fake.sessions))
    assert verify(api, session_id=session)[0] == 200
    assert fake.customers[customer]["metadata"]["imgmend_pro"] == "lifetime"
    assert verify(api, pro_key=customer)[0] == 200


@pytest.mark.parametrize(
    "status,granted", [("active", True), ("trialing", True), ("past_due", False), ("canceled", False), ("unpaid", False), ("incomplete", False)]
)
def test_verify_by_key_subscription_status(api, fake, status, granted):
    customer = fake.add_customer()
    end = int(time.time()) + 3600
    fake.add_subscription(customer, status=status, period_end=end)
    code, body = verify(api, pro_key=customer)
    assert code == (200 if granted else 404)
    if granted:  # the token never outlives the paid period
        assert body["expires_at"] <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))


@pytest.mark.parametrize("refunded,disputed", [(True, False), (False, True)])
def test_refunded_or_disputed_one_time_purchase_is_not_pro(api, fake, refunded, disputed):
    customer = fake.add_customer()
    session = fake.add_session(customer, mode="payment", refunded=refunded, disputed=disputed)
    assert verify(api, session_id=session)[0] == 404
    assert verify(api, pro_key=customer)[0] == 404
    assert "imgmend_pro" not in fake.customers[customer]["metadata"]


def test_unknown_key_is_not_pro(api, fake):
    assert verify(api, pro_key="cus_Unknown12345")[1]["error"]["code"] == "not_pro"


MALFORMED = [
    {"pro_key": "cus_"}, {"pro_key": "sk_live_123456789"}, {"pro_key": "cus_abc/../x"},
    {"session_id": "cs_test_"}, {"session_id": "pi_123456789012"}, {"session_id": 42},
    {"pro_key": "cus_abcdefgh12", "session_id": "cs_test_abcdefgh12"}, {}, {"pro_key": None},
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_ids_are_refused_before_any_stripe_call(api, fake, body):
    code, payload = verify(api, **body)
    assert (code, payload["error"]["code"]) == (400, "invalid_request")
    assert fake.requests == []


def test_stripe_5xx_is_503_without_stripe_text(api, fake):
    customer = fake.add_customer()
    fake.fail_with = (500, "api_error")
    code, body = verify(api, pro_key=customer)
    assert (code, body["error"]["code"]) == (503, "upstream_unavailable")
    assert "Fake Stripe" not in json.dumps(body)


def test_verify_has_its_own_limit_of_20_per_10_minutes(api, fake, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "1000")
    codes = [verify(api, pro_key=f"cus_Guess{n:08d}")[0] for n in range(21)]
    assert codes[:20] == [404] * 20 and codes[20] == 429
    other = api("verify_pro").post(json={"pro_key": "cus_Guess00000001"}, headers={"X-Real-IP": "198.51.100.21"})
    assert other.status_code == 404


# --- billing portal ----------------------------------------------------------------------------


def test_billing_portal(api, fake):
    customer = fake.add_customer()
    token, _ = tokens.issue_token(customer, source="checkout")  # a tab fresh from Checkout (issue: key tokens never)
    status, body = answer(api("billing_portal").post(headers={"Authorization": f"Bearer {token}"}))
    assert status == 200 and body["url"].startswith("https://billing.stripe.com/")
    assert ("POST", "/v1/billing_portal/sessions", {"customer": customer, "return_url": "https://imgmend.example/pro"}) in fake.requests


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
def test_billing_portal_needs_a_valid_token(api, fake, headers):
    status, body = answer(api("billing_portal").post(headers=headers))
    assert (status, body["error"]["code"]) == (401, "invalid_token")


# --- webhook -------------------------------------------------------------------------------------


event = event_json


def deliver(api, payload, secret=WEBHOOK_SECRET, header=None, timestamp=None):
    return answer(post_event(api("stripe_webhook"), payload, secret, header, timestamp))


def completed_session_event(fake, customer, **kwargs):
    session_id = fake.add_session(customer, mode="payment", **kwargs)
    return session_id, event("checkout.session.completed", fake.sessions[session_id])


def test_webhook_records_a_one_time_purchase(api, fake):
    customer = fake.add_customer()
    _, payload = completed_session_event(fake, customer)
    assert deliver(api, payload) == (200, {"received": True})
    assert fake.customers[customer]["metadata"]["imgmend_pro"] == "lifetime"
    assert verify(api, pro_key=customer)[0] == 200


@pytest.mark.parametrize(
    "case", ["tampered body", "wrong secret", "missing header", "garbage header", "older than 300 s"]
)
def test_webhook_rejects_bad_signatures(api, fake, case):
    customer = fake.add_customer()
    _, payload = completed_session_event(fake, customer)
    if case == "tampered body":
        header = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
        status, body = deliver(api, payload.replace('"paid"', '"unpaid"', 1), header=header)
    elif case == "wrong secret":
        status, body = deliver(api, payload, secret="whsec_other")
    elif case == "missing header":
        status, body = deliver(api, payload, header="")
    elif case == "garbage header":
        status, body = deliver(api, payload, header="t=abc,v1=zzz")
    else:
        status, body = deliver(api, payload, timestamp=time.time() - 301)
    assert (status, body["error"]["code"]) == (400, "invalid_request")
    assert "imgmend_pro" not in fake.customers[customer]["metadata"]
    assert not [r for r in fake.requests if r[0] == "POST"]


def test_webhook_without_secret_fails_closed_with_500(api, fake, monkeypatch):
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    customer = fake.add_customer()
    _, payload = completed_session_event(fake, customer)
    status, body = deliver(api, payload)
    assert (status, body["error"]["code"]) == (500, "not_configured")
    assert "imgmend_pro" not in fake.customers[customer]["metadata"]


def test_same_event_twice_is_idempotent(api, fake):
    customer = fake.add_customer()
    _, payload = completed_session_event(fake, customer)
    assert deliver(api, payload)[0] == 200
    writes = len([r for r in fake.requests if r[0] == "POST"])
    assert deliver(api, payload)[0] == 200
    assert len([r for r in fake.requests if r[0] == "POST"]) == writes == 1
    assert fake.customers[customer]["metadata"]["imgmend_pro"] == "lifetime"


@pytest.fixture(params=["memory", "redis"])
def store(request):
    """The counter store the webhook's lock and event records live in."""
    return request.getfixturevalue("redis_env") if request.param == "redis" else None


def in_parallel(*calls):
    """Run the calls on threads at once; their results in order."""
    results = [None] * len(calls)

    def run(i, call):
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    return threads, results


def test_the_same_event_delivered_twice_at_once_acts_once(api, fake, store):
    customer = fake.add_customer()
    _, payload = completed_session_event(fake, customer)
    reached, release = fake.pause("POST", rf"/v1/customers/{customer}")  # the first write waits
    threads, results = in_parallel(lambda: deliver(api, payload), lambda: deliver(api, payload))
    assert reached.wait(10)
    time.sleep(0.5)  # the second delivery arrives while the first is mid-write
    release.set()
    for thread in threads:
        thread.join(30)
    assert [status for status, _ in results] == [200, 200]
    writes = [r for r in fake.requests if r[0] == "POST" and r[1] == f"/v1/customers/{customer}"]
    assert len(writes) == 1  # no duplicate side effect
    assert fake.customers[customer]["metadata"]["imgmend_pro"] == "lifetime"


def test_a_purchase_and_its_refund_at_once_end_refunded(api, fake, store):
    """The purchase's delivery read Stripe before the refund and writes after the refund's delivery:
    without one delivery at a time per customer the stale write would win (a lifetime pass after a refund)."""
    customer = fake.add_customer()
    session_id, completed = completed_session_event(fake, customer)
    reached, release = fake.pause("POST", rf"/v1/customers/{customer}")  # its write of "lifetime" waits
    threads, results = in_parallel(lambda: deliver(api, completed))
    assert reached.wait(10)  # the purchase's delivery has read a paid, unrefunded charge
    charge = fake.charge_of(session_id)
    charge.update(refunded=True, amount_refunded=charge["amount"])
    refund_threads, refund_results = in_parallel(lambda: deliver(api, event("charge.refunded", charge)))
    time.sleep(0.5)
    release.set()
    for thread in threads + refund_threads:
        thread.join(30)
    assert results[0][0] == 200 and refund_results[0][0] == 200
    assert fake.customers[customer]["metadata"].get("imgmend_pro", "") == ""
    assert verify(api, pro_key=customer)[0] == 404


def test_a_delivery_that_cannot_take_the_lock_asks_stripe_to_retry(api, fake, monkeypatch):
    from lib import deliveries, quota

    monkeypatch.setattr(deliveries, "WAIT_S", 0.3)
    customer = fake.add_customer()
    _, payload = completed_session_event(fake, customer)
    key = deliveries._lock_key(customer)
    quota.counters().add(key, 7, 60)  # another instance holds this customer's lock
    status, body = deliver(api, payload)
    assert status == 503 and body["error"]["code"] == "upstream_unavailable"
    quota.counters().remove_if(key, 7)
    assert deliver(api, payload)[0] == 200  # Stripe's retry goes through


def test_events_in_reverse_order_end_in_the_true_state(api, fake):
    """A refund delivered before the purchase: both orders end with no Pro."""
    customer = fake.add_customer()
    session_id, completed = completed_session_event(fake, customer)
    charge = fake.charge_of(session_id)
    charge.update(refunded=True, amount_refunded=charge["amount"])
    refunded = event("charge.refunded", charge)
    assert deliver(api, refunded)[0] == 200
    assert deliver(api, completed)[0] == 200
    assert "imgmend_pro" not in fake.customers[customer]["metadata"]
    assert verify(api, pro_key=customer)[0] == 404


@pytest.mark.parametrize("kind", ["charge.refunded", "charge.dispute.created"])
def test_refund_or_dispute_revokes(api, fake, kind):
    customer = fake.add_customer()
    session_id, payload = completed_session_event(fake, customer)
    deliver(api, payload)
    charge = fake.charge_of(session_id)
    if kind == "charge.refunded":
        charge["refunded"] = True
        obj = charge
    else:
        charge["disputed"] = True
        obj = fixture("dispute")
        obj.update(charge=charge["id"])
    assert deliver(api, event(kind, obj))[0] == 200
    assert "imgmend_pro" not in fake.customers[customer]["metadata"]
    assert verify(api, pro_key=customer)[0] == 404


@pytest.mark.parametrize("kind", ["customer.subscription.updated", "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed", "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed"])
def test_other_handled_events_resync(api, fake, kind):
    customer = fake.add_customer(metadata={"imgmend_pro": "lifetime"})  # stale: no purchase behind it
    obj = fixture("subscription" if kind.startswith("customer.") else "invoice" if kind.startswith("invoice") else "checkout.session")
    obj["customer"] = customer
    assert deliver(api, event(kind, obj))[0] == 200
    assert "imgmend_pro" not in fake.customers[customer]["metadata"]


def test_ignored_event_types_get_200(api, fake):
    assert deliver(api, event("plan.created", fixture("plan")))[0] == 200
    assert fake.requests == []


def test_webhook_answers_non_2xx_when_stripe_fails(api, fake):
    customer = fake.add_customer()
    _, payload = completed_session_event(fake, customer)
    fake.fail_with = (500, "api_error")
    status, body = deliver(api, payload)
    assert status == 503 and body["error"]["code"] == "upstream_unavailable"


def test_webhook_logs_id_and_type_only(api, fake, caplog):
    caplog.set_level("DEBUG")
    customer = fake.add_customer()
    _, payload = completed_session_event(fake, customer)
    deliver(api, payload)
    assert "checkout.session.completed" in caplog.text
    assert "buyer@example.com" not in caplog.text and "example@example.com" not in caplog.text
    assert "4242" not in caplog.text
