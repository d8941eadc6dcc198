"""A small in-memory Stripe API for tests, built from Stripe's own fixture objects.

The real `stripe` client talks HTTP to it, either through `responses` stubs (install_responses) or
over loopback (serve). Objects are copies of `tests/fixtures/stripe/fixtures3.json` (vendored; see its README) with the
fields a test cares about patched, so every payload keeps real Stripe field names and nesting.
"""

import contextlib
import copy
import functools
import json
import pathlib
import re
import threading
import time
from urllib.parse import parse_qsl, urlsplit

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "stripe" / "fixtures3.json"


@functools.cache
def _resources():
    return json.loads(FIXTURES.read_text())["resources"]


def fixture(kind):
    """A deep copy of Stripe's example object of this kind (e.g. 'checkout.session')."""
    return copy.deepcopy(_resources()[kind])


def event_json(kind, obj, event_id=None):
    """A Stripe event of `kind` around `obj`, as the JSON text Stripe delivers (the fixture event's shape)."""
    evt = fixture("event")
    evt.update(id=event_id or f"evt_{kind.replace('.', '_')}_{time.time_ns() // 1000}", type=kind, data={"object": obj})
    return json.dumps(evt)


def post_event(client, payload, secret, header=None, timestamp=None):
    """POST a webhook delivery to /api/stripe_webhook through a WSGI test client, signed with `secret`.

    `header` replaces the Stripe-Signature header (an empty string sends none).
    """
    import stripe

    if header is None:
        header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=int(timestamp or time.time()))
    headers = {"Stripe-Signature": header} if header != "" else {}
    return client.post("/api/stripe_webhook", data=payload, content_type="application/json", headers=headers)


def _list(url, data):
    return {"object": "list", "data": data, "has_more": False, "url": url}


def _error(status, code, message, kind="invalid_request_error"):
    return status, {"error": {"type": kind, "code": code, "message": message}}


def _unflatten(pairs):
    """Stripe's form encoding (metadata[key]=v, line_items[0][price]=p) into nested dicts."""
    out = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class FakeStripe:
    """Stripe's objects for one test, and the routes the project calls."""

    def __init__(self):
        self.customers, self.sessions, self.subscriptions = {}, {}, {}
        self.intents, self.charges, self.prices = {}, {}, {}
        self.requests = []  # (method, path, params) of every call
        self.fail_with = None  # (status, code) to answer every request with, e.g. (500, "api_error")
        self.fail_skip = 0  # with fail_with: this many requests are still answered first
        self.lock = threading.Lock()
        self._n = 0
        self._pauses = []  # [method, path regex, reached Event, release Event], each used once

    def _id(self, prefix):
        self._n += 1
        return f"{prefix}_{'T' * 6}{self._n:08d}"

    # --- building state -------------------------------------------------------------------------

    def add_price(self, recurring=True):
        price = fixture("price")
        price["id"] = self._id("price")
        price["type"] = "recurring" if recurring else "one_time"
        if not recurring:
            price["recurring"] = None
        elif not price.get("recurring"):
            price["recurring"] = {"interval": "month", "interval_count": 1, "usage_type": "licensed"}
        self.prices[price["id"]] = price
        return price["id"]

    def add_customer(self, metadata=None, email="buyer@example.com"):
        customer = fixture("customer")
        customer.update(id=self._id("cus"), metadata=metadata or {}, email=email, discount=None)
        self.customers[customer["id"]] = customer
        return customer["id"]

    def add_subscription(self, customer, status="active", period_end=None):
        sub = fixture("subscription")
        sub.update(id=self._id("sub"), customer=customer, status=status)
        sub["items"]["data"][0]["current_period_end"] = period_end or int(time.time()) + 30 * 86400
        self.subscriptions[sub["id"]] = sub
        return sub["id"]

    def add_session(self, customer, mode="payment", status="complete", payment_status="paid",
                    refunded=False, disputed=False):
        """A Checkout Session; one-time ones get a payment intent and a charge."""
        session = fixture("checkout.session")
        session.update(
            id="cs_test_" + self._id("x").replace("_", ""), customer=customer, mode=mode,
            status=status, payment_status=payment_status, url="https://checkout.stripe.com/c/pay/fake",
            created=int(time.time()),  # the fixture's is from 2019: a session made now is made now
        )
        if mode == "payment":
            charge = fixture("charge")
            charge.update(id=self._id("ch"), customer=customer, paid=payment_status == "paid",
                          refunded=refunded, disputed=disputed, amount_refunded=charge["amount"] if refunded else 0)
            intent = fixture("payment_intent")
            intent.update(id=self._id("pi"), customer=customer, latest_charge=charge["id"])
            charge["payment_intent"] = intent["id"]
            self.charges[charge["id"]] = charge
            self.intents[intent["id"]] = intent
            session["payment_intent"] = intent["id"]
        else:
            session["subscription"] = self.add_subscription(customer) if payment_status == "paid" else None
            session["payment_intent"] = None
        self.sessions[session["id"]] = session
        return session["id"]

    def charge_of(self, session_id):
        return self.charges[self.intents[self.sessions[session_id]["payment_intent"]]["latest_charge"]]

    # --- the API ----------------------------------------------------------------------------------

    def pause(self, method, path_pattern):
        """Hold the next `method` call on a path matching `path_pattern` until released.

        Returns (reached, release): `reached` is set when the call arrives, the call is answered once
        `release` is set (or after 10 s). Other calls go on meanwhile, as they would at Stripe.
        """
        reached, release = threading.Event(), threading.Event()
        with self.lock:
            self._pauses.append([method, re.compile(path_pattern), reached, release])
        return reached, release

    def _held(self, method, path):
        with self.lock:
            for pause in self._pauses:
                if pause[0] == method and pause[1].fullmatch(path):
                    self._pauses.remove(pause)
                    return pause
        return None

    def handle(self, method, url, body=b""):
        """Answer one API call: returns (status, JSON object)."""
        parts = urlsplit(url)
        held = self._held(method, parts.path)
        if held is not None:
            held[2].set()
            held[3].wait(10)
        params = _unflatten(parse_qsl(parts.query, keep_blank_values=True)) if method == "GET" else _unflatten(parse_qsl(body.decode(), keep_blank_values=True))
        with self.lock:
            self.requests.append((method, parts.path, params))
            if self.fail_with and self.fail_skip > 0:
                self.fail_skip -= 1
            elif self.fail_with:
                status, code = self.fail_with
                return _error(status, code, "Fake Stripe failure.", kind="api_error")
            return self._route(method, parts.path, params)

    def _route(self, method, path, params):
        m = re.fullmatch(r"/v1/(checkout/sessions|customers|subscriptions|payment_intents|charges|prices|billing_portal/sessions)(?:/([^/]+))?", path)
        if not m:
            return _error(404, "resource_missing", "Unrecognized request URL.")
        kind, oid = m.groups()
        if kind == "checkout/sessions":
            if method == "POST" and oid is None:
                return self._create_session(params)
            if oid is None:
                found = [s for s in self.sessions.values()
                         if s["customer"] == params.get("customer") and s["status"] == params.get("status", s["status"])]
                return 200, _list("/v1/checkout/sessions", found)
            return self._get(self.sessions, oid, "checkout.session")
        if kind == "customers":
            if method == "POST" and oid in self.customers:
                for key, value in params.get("metadata", {}).items():
                    if value == "":
                        self.customers[oid]["metadata"].pop(key, None)  # Stripe: empty string unsets
                    else:
                        self.customers[oid]["metadata"][key] = value
            return self._get(self.customers, oid, "customer")
        if kind == "subscriptions":
            found = [s for s in self.subscriptions.values() if s["customer"] == params.get("customer")]
            return 200, _list("/v1/subscriptions", found)
        if kind == "payment_intents":
            status, intent = self._get(self.intents, oid, "payment_intent")
            if status == 200 and "latest_charge" in params.get("expand", {}).values():
                intent = dict(intent, latest_charge=copy.deepcopy(self.charges[intent["latest_charge"]]))
            return status, intent
        if kind == "charges":
            return self._get(self.charges, oid, "charge")
        if kind == "prices":
            return self._get(self.prices, oid, "price")
        portal = fixture("billing_portal.session")
        portal.update(customer=params.get("customer"), url="https://billing.stripe.com/p/session/fake",
                      return_url=params.get("return_url"))
        return 200, portal

    def _get(self, store, oid, kind):
        if oid not in store:
            return _error(404, "resource_missing", f"No such {kind}: '{oid}'")
        return 200, copy.deepcopy(store[oid])

    def _create_session(self, params):
        price = self.prices.get(params.get("line_items", {}).get("0", {}).get("price"))
        if price is None:
            return _error(400, "resource_missing", "No such price")
        session = fixture("checkout.session")
        session.update(id="cs_test_" + self._id("n").replace("_", ""), mode=params.get("mode"),
                       status="open", payment_status="unpaid", customer=None,
                       success_url=params.get("success_url"), cancel_url=params.get("cancel_url"),
                       locale=params.get("locale"), customer_creation=params.get("customer_creation"),
                       created=int(time.time()))
        session["url"] = "https://checkout.stripe.com/c/pay/" + session["id"]
        self.sessions[session["id"]] = session
        return 200, copy.deepcopy(session)

    def complete(self, session_id):
        """What Stripe does when the buyer pays: a customer, a paid session (and charge or sub)."""
        session = self.sessions[session_id]
        customer = self.add_customer()
        paid_id = self.add_session(customer, mode=session["mode"])
        paid = self.sessions.pop(paid_id)
        paid.update(id=session_id, created=session["created"])
        self.sessions[session_id] = paid
        return customer

    # --- transports ------------------------------------------------------------------------------

    def install_responses(self, rsps, base="https://api.stripe.com"):
        """Route every Stripe call made through `requests` to this fake (a responses.RequestsMock)."""

        def callback(request):
            body = request.body or b""
            status, payload = self.handle(request.method, request.url, body if isinstance(body, bytes) else body.encode())
            return status, {"Content-Type": "application/json", "Request-Id": "req_fake"}, json.dumps(payload)

        for method in ("GET", "POST", "DELETE"):
            rsps.add_callback(method, re.compile(re.escape(base) + r"/v1/.*"), callback=callback)

    def wsgi(self, environ, start_response):
        """The same API as a WSGI app, for a loopback server."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        url = environ["PATH_INFO"] + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        status, payload = self.handle(environ["REQUEST_METHOD"], url, body)
        data = json.dumps(payload).encode()
        start_response(f"{status} X", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


class _QuietHandler:
    """Mixed into werkzeug's handler below: no access log (its URLs carry customer ids)."""

    def log_request(self, *args, **kwargs):
        pass


@contextlib.contextmanager
def serving(fake, monkeypatch, **settings):
    """Serve `fake` on a loopback port and point the app at it (STRIPE_API_BASE + `settings` as env)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    handler = type("QuietHandler", (_QuietHandler, WSGIRequestHandler), {})
    server = make_server("127.0.0.1", 0, fake.wsgi, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{server.server_port}")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
