"""Pro end to end over HTTP: the dev server on loopback, a loopback fake Stripe, a real HTTP client.

create checkout -> (the buyer pays at Stripe) -> verify with the session id -> images past the free
limit with the token -> open the billing portal.
"""

import threading

import httpx
import pytest
from werkzeug.serving import make_server

from dev.server import create_app
from tests.support.images import encode, photo
from tests.support.fake_stripe import FakeStripe, serving


def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def stack(monkeypatch):
    stripe_fake = FakeStripe()
    site_server, site_url = serve(create_app())
    with serving(stripe_fake, monkeypatch, STRIPE_SECRET_KEY="sk_test_fake",
                 STRIPE_PRICE_ID=stripe_fake.add_price(recurring=True), PUBLIC_BASE_URL=site_url,
                 FREE_DAILY_LIMIT="1"):
        with httpx.Client(base_url=site_url, timeout=60) as client:
            yield client, stripe_fake
    site_server.shutdown()


def test_buy_verify_use_and_manage_pro(stack):
    client, stripe_fake = stack
    checkout = client.post("/api/create_checkout", json={"lang": "zh"})
    assert checkout.status_code == 200
    session_id = checkout.json()["url"].rsplit("/", 1)[1]
    assert stripe_fake.sessions[session_id]["locale"] == "zh"

    unpaid = client.post("/api/verify_pro", json={"session_id": session_id})
    assert unpaid.status_code == 404 and unpaid.json()["error"]["code"] == "not_pro"

    customer = stripe_fake.complete(session_id)  # the buyer pays on Stripe's page
    verified = client.post("/api/verify_pro", json={"session_id": session_id}).json()
    assert verified["pro"] is True and verified["pro_key"] == customer
    auth = {"Authorization": f"Bearer {verified['token']}"}

    jpeg = encode(photo("chelsea", (96, 64)))
    for _ in range(3):  # past the free limit of 1
        response = client.post("/api/denoise", files={"image": ("cat.jpg", jpeg, "image/jpeg")}, headers=auth)
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert "x-quota-remaining" not in response.headers
    free = [client.post("/api/denoise", files={"image": ("cat.jpg", jpeg, "image/jpeg")}).status_code for _ in range(2)]
    assert free == [200, 402]

    again = client.post("/api/verify_pro", json={"pro_key": customer})
    assert again.status_code == 200 and again.json()["pro_key"] == customer

    portal = client.post("/api/billing_portal", headers=auth)
    assert portal.status_code == 200 and portal.json()["url"].startswith("https://billing.stripe.com/")
    assert ("POST", "/v1/billing_portal/sessions", {"customer": customer, "return_url": client.base_url.__str__().rstrip("/") + "/pro"}) in stripe_fake.requests
