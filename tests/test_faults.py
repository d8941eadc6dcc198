"""Faults of the services behind the API, each answered with the contract's code and nothing leaked.

Replicate (real client, loopback fake): rows not already in
tests/test_pipeline_on_replicate.py::test_upstream_failures_map_to_the_contract_and_leave_nothing (401, 402,
429, 500, 422, failed, garbage, never finishing) — each row checks the code, a body free of upstream
text, the upload deleted and the free image given back. Redis down: the quota and limits count in
the instance's memory (docs/api.md, "Quota and limits"), with a real redis-server stopped mid-test. Stripe (real client, loopback fake) 5xx and
unreachable during verify_pro and the webhook: 503, so Stripe retries the delivery.
"""

import io
import json
import shutil
import threading

import pytest
from PIL import Image

from lib import config, engines, quota
from lib.engines.replicate import ReplicateEngine
from tests.support.env import free_port, need
from tests.support.images import encode, photo
from tests.support.fake_stripe import FakeStripe, event_json, post_event, serving
from tests.support.fake_replicate import MODEL_ERROR
from tests.support.stores import start_redis

JPEG = encode(photo("chelsea", (80, 60)))
MASK = encode(Image.new("L", (80, 60), 255), "PNG")
LIMIT = 3


def post(api, tool="remove_bg", headers=None):
    data = {"image": (io.BytesIO(JPEG), "p.jpg")}
    if tool == "remove_watermark":  # a user's mask: a photo with no watermark found is a 422 before any upload
        data["mask"] = (io.BytesIO(MASK), "mask.png")
    return api(tool).post(data=data, content_type="multipart/form-data", headers=headers or {})


def free_remaining(api):
    return json.loads(api("config").get().get_data())["free_remaining"]


@pytest.fixture
def on_replicate(replicate_env, monkeypatch):
    """The app on the fake Replicate with a free limit of 3 and a roomy deadline (a loaded CI box
    must not turn a 503 row into a 504); rows that test the deadline shorten it with `short_deadline`."""
    monkeypatch.setattr(config, "REPLICATE_DEADLINE_S", 30.0)
    monkeypatch.setenv("FREE_DAILY_LIMIT", str(LIMIT))
    # The production engine with quicker polling, so slow-prediction rows take a fraction of a second.
    with engines.use(ReplicateEngine(poll_interval_s=(0.02, 0.1))):
        yield replicate_env


def short_deadline(monkeypatch):
    """A 2 s deadline: enough for the upload and create, quick to pass."""
    monkeypatch.setattr(config, "REPLICATE_DEADLINE_S", 2.0)


def assert_nothing_upstream_in(text, fake):
    """No model error text, URL, host, token or file id in what the client sees."""
    for needle in ["CUDA", "predict.py", MODEL_ERROR, "://", "127.0.0.1", fake.token, "Traceback",
                   "Insufficient credit", "throttled", "Internal Server Error", "delivery", *fake.uploaded]:
        assert needle not in text, needle


def script(**fields):
    return lambda fake: [setattr(fake.script, k, v) for k, v in fields.items()]


# name: (setup(fake), tool, status, code, uploads made, prediction cancelled)
REPLICATE_FAULTS = {
    "canceled by Replicate": (script(outcome="canceled"), "remove_bg", 502, "upstream_error", 1, False),
    "canceled after polls": (script(outcome="canceled", polls=2), "denoise", 502, "upstream_error", 1, False),
    "output URL 404": (script(output="not_found"), "remove_bg", 502, "upstream_error", 1, False),
    "no output": (script(output="missing"), "denoise", 502, "upstream_error", 1, False),
    "failed, watermark (two uploads)": (script(outcome="failed"), "remove_watermark", 502, "upstream_error", 2, False),
    "403 on create": (lambda f: f.fail("create", 403), "remove_bg", 503, "upstream_unavailable", 1, False),
    "500 on upload": (lambda f: f.fail("upload", 500), "remove_bg", 503, "upstream_unavailable", 0, False),
    "reset on upload": (lambda f: f.disconnect("upload"), "remove_bg", 503, "upstream_unavailable", 0, False),
    "reset on create": (lambda f: f.disconnect("create"), "remove_bg", 503, "upstream_unavailable", 1, False),
    "reset on output download": (lambda f: f.disconnect("output"), "remove_bg", 503, "upstream_unavailable", 1, False),
    "reset on every poll": (
        lambda f: (setattr(f.script, "polls", 1), f.disconnect("get")),
        "remove_bg", 504, "upstream_timeout", 1, True,
    ),
    "slow: 500 on every poll": (
        lambda f: (setattr(f.script, "polls", 1), f.fail("get", 500)),
        "denoise", 504, "upstream_timeout", 1, True,
    ),
}


@pytest.mark.parametrize("case", list(REPLICATE_FAULTS))
def test_replicate_fault_gives_the_contract_code_and_leaves_nothing(api, on_replicate, monkeypatch, case):
    fake = on_replicate
    setup, tool, status, code, uploads, cancelled = REPLICATE_FAULTS[case]
    if code == "upstream_timeout":
        short_deadline(monkeypatch)
    setup(fake)
    response = post(api, tool)
    body = response.get_data(as_text=True)
    assert (response.status_code, json.loads(body)["error"]["code"]) == (status, code)
    assert_nothing_upstream_in(body + json.dumps(dict(response.headers)), fake)
    assert len(fake.uploaded) == uploads and fake.live_files() == []  # deleted on this path too
    assert bool(fake.cancelled) == cancelled
    assert free_remaining(api) == LIMIT  # the failed run was free


# Transient faults the engine rides out: the image comes back and counts.
RECOVERED = {
    "slow: three polls": lambda f: setattr(f.script, "polls", 3),
    "reset on one poll": lambda f: (setattr(f.script, "polls", 1), f.disconnect("get", times=1)),
    "429 on one poll": lambda f: (setattr(f.script, "polls", 1), f.fail("get", 429, times=1)),
    "reset on the first delete": lambda f: f.disconnect("delete", times=1),
}


@pytest.mark.parametrize("case", list(RECOVERED))
def test_transient_replicate_fault_is_ridden_out(api, on_replicate, case):
    fake = on_replicate
    RECOVERED[case](fake)
    response = post(api)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert len(fake.uploaded) == 1 and fake.live_files() == []
    assert response.headers["X-Quota-Remaining"] == str(LIMIT - 1)


def test_create_hanging_past_the_deadline_is_504_and_the_upload_deleted(api, on_replicate, monkeypatch):
    fake = on_replicate
    short_deadline(monkeypatch)
    release = threading.Event()
    original = fake._route_create

    def hanging_create(*args, **kwargs):
        release.wait(10)  # longer than the request may take: the engine must give up first
        return original(*args, **kwargs)

    fake._route_create = hanging_create
    try:
        response = post(api)
    finally:
        release.set()
    assert (response.status_code, response.get_json()["error"]["code"]) == (504, "upstream_timeout")
    assert len(fake.uploaded) == 1 and fake.live_files() == []
    assert free_remaining(api) == LIMIT


# --- Redis down: counted in the instance's memory ---------------------------------------------------------------------------


@pytest.fixture
def own_redis(monkeypatch):
    """A redis-server of this test's own (the session one must stay up); yields a stop() function."""
    if not shutil.which("redis-server"):
        need("redis-server is not installed (apt-get install redis-server)")
    proc, _, port = start_redis()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setenv("FREE_DAILY_LIMIT", str(LIMIT))
    quota.reset()

    def stop():
        proc.terminate()
        proc.wait(timeout=10)

    yield stop
    if proc.poll() is None:
        stop()
    quota.reset()


def test_redis_stopping_mid_test_keeps_the_quota_per_instance(api, own_redis, monkeypatch, caplog):
    # Was "fails open" (served without counting, for everyone): now this instance's memory counts.
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    assert post(api).headers["X-Quota-Remaining"] == "0"  # counted in Redis: the next one is refused
    assert post(api).status_code == 402
    own_redis()
    response = post(api)  # Redis is gone: the same key and limit, counted in this instance's memory
    assert response.status_code == 200 and response.headers["X-Quota-Remaining"] == "0"
    assert post(api).status_code == 402
    assert free_remaining(api) == 0  # /api/config still answers, from memory
    health = api("health").get("/api/health")
    assert health.status_code == 503 and health.get_json()["error"]["counters"] == "memory-fallback"
    warnings = [r for r in caplog.records if "counter store unavailable" in r.getMessage()]
    assert len(warnings) == 1  # one a minute per instance, however many requests


def test_redis_dying_during_a_failed_run_still_gives_the_runs_error(api, own_redis, on_replicate, caplog):
    fake = on_replicate
    fake.script.outcome = "failed"
    engine = engines.get_engine()
    run = engine.run

    def run_after_redis_dies(*args, **kwargs):
        own_redis()  # the reservation is made; the refund will find Redis gone
        return run(*args, **kwargs)

    engine.run = run_after_redis_dies
    response = post(api)
    assert (response.status_code, response.get_json()["error"]["code"]) == (502, "upstream_error")
    assert fake.live_files() == []
    assert "during release" in caplog.text


def test_pro_verification_rate_limit_holds_in_memory_too(api, own_redis):
    # Was "fails open too": the malformed key is still answered 400, and now the limit still holds.
    own_redis()
    response = api("verify_pro").post(json={"pro_key": "not-a-key"}, headers={"X-Real-IP": "198.51.100.9"})
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, "invalid_request")
    codes = [api("verify_pro").post(json={"pro_key": "not-a-key"}, headers={"X-Real-IP": "198.51.100.9"}).status_code
             for _ in range(20)]
    assert codes == [400] * 19 + [429]


# --- Stripe 5xx and unreachable during verify_pro and the webhook ------------------------------------------

WEBHOOK_SECRET = "whsec_faults_test"
EMAIL = "faults-buyer@example.com"


@pytest.fixture
def stripe_fake(monkeypatch):
    """A FakeStripe served on loopback, the app configured for it; one paid one-time purchase."""
    fake = FakeStripe()
    with serving(fake, monkeypatch, STRIPE_SECRET_KEY="sk_test_faultsKey0123456789",
                 STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET):
        fake.customer = fake.add_customer(email=EMAIL)
        fake.session = fake.add_session(fake.customer, mode="payment")
        yield fake


def verify_session(api, fake):
    return api("verify_pro").post(json={"session_id": fake.session})


def verify_key(api, fake):
    return api("verify_pro").post(json={"pro_key": fake.customer})


def deliver(api, fake):
    payload = event_json("checkout.session.completed", fake.sessions[fake.session], "evt_faults")
    return post_event(api("stripe_webhook"), payload, WEBHOOK_SECRET)


# name: (call, failing status, requests answered before the failure)
# verify by session: sessions.retrieve, customers.retrieve, sessions.list, payment_intents, customers.update, ...
# webhook: customers.retrieve, sessions.list, payment_intents, customers.update
STRIPE_FAULTS = {
    "verify by key, 502": (verify_key, 502, 0),
    "verify by key, 503": (verify_key, 503, 0),
    "verify by session, 500 on the first call": (verify_session, 500, 0),
    "verify by session, 500 on the metadata write": (verify_session, 500, 4),
    "webhook, 503 on the first call": (deliver, 503, 0),
    "webhook, 500 on the metadata write": (deliver, 500, 3),
}


@pytest.mark.parametrize("case", list(STRIPE_FAULTS))
def test_stripe_5xx_is_503_and_leaks_nothing(api, stripe_fake, case):
    call, status, skip = STRIPE_FAULTS[case]
    stripe_fake.fail_with, stripe_fake.fail_skip = (status, "api_error"), skip
    response = call(api, stripe_fake)
    body = response.get_data(as_text=True)
    assert (response.status_code, json.loads(body)["error"]["code"]) == (503, "upstream_unavailable")
    for needle in ["Fake Stripe", "api_error", stripe_fake.customer, EMAIL, "sk_test_", "127.0.0.1", "token"]:
        assert needle not in body, needle
    assert "imgmend_pro" not in stripe_fake.customers[stripe_fake.customer]["metadata"]


def test_a_webhook_failed_by_stripe_succeeds_when_stripe_redelivers(api, stripe_fake):
    stripe_fake.fail_with, stripe_fake.fail_skip = (500, "api_error"), 3
    assert deliver(api, stripe_fake).status_code == 503  # non-2xx: Stripe will retry
    stripe_fake.fail_with = None
    assert deliver(api, stripe_fake).status_code == 200  # the retry records the purchase
    assert stripe_fake.customers[stripe_fake.customer]["metadata"]["imgmend_pro"] == "lifetime"


@pytest.mark.parametrize("call", [verify_key, deliver], ids=["verify", "webhook"])
def test_stripe_unreachable_is_503(api, stripe_fake, monkeypatch, call):
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{free_port()}")  # nothing listens
    response = call(api, stripe_fake)
    assert (response.status_code, response.get_json()["error"]["code"]) == (503, "upstream_unavailable")
    assert stripe_fake.customer not in response.get_data(as_text=True)
