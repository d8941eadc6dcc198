"""What each attack of the abuse issue costs: Redis commands, Stripe sessions, free images, Pro runs.

Run from the repo root with the dev venv:  .venv/bin/python bench/abuse.py
It starts its own redis-server on a loopback port and drives the api/ WSGI apps in process (local
engine, the real stripe client on tests.support.fake_stripe through `responses`). It uses the HTTP
surface only, so the same file runs on an older checkout and prints that code's figures (the
"before" column of bench/abuse-results.txt). Redis commands are Redis's own count (INFO
commandstats, scripts' and MULTI/EXEC's included), not ours.
"""

import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import responses  # noqa: E402
from werkzeug.test import Client  # noqa: E402

from tests.support.fake_stripe import FakeStripe, event_json, post_event  # noqa: E402
from tests.support.images import encode, photo  # noqa: E402
from tests.support.stores import start_redis  # noqa: E402

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
ATTACKER = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Origin": "https://evil.example"}
WEBHOOK_SECRET = "whsec_bench_abuse"
JPEG = encode(photo("chelsea", (64, 48)))


def app(name):
    import importlib

    return Client(importlib.import_module(f"api.{name}").app)


def image(ip="203.0.113.7", tool="denoise", **headers):
    return app(tool).post(f"/api/{tool}", data={"image": (io.BytesIO(JPEG), "a.jpg")},
                          content_type="multipart/form-data", headers={"X-Real-IP": ip, **headers})


def post_json(name, body, ip="203.0.113.7", **headers):
    return app(name).post(f"/api/{name}", data=json.dumps(body), content_type="application/json",
                          headers={"X-Real-IP": ip, **headers})


def commands(client):
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if not k.startswith(("cmdstat_info", "cmdstat_config")))


def fresh(client, **env):
    """Empty Redis, new stores, the settings of one row."""
    from lib import quota

    client.flushall()
    for name, value in env.items():
        os.environ[name] = value
    quota.reset()


def deliver(kind, obj):
    return post_event(app("stripe_webhook"), event_json(kind, obj, f"evt_bench_{time.time_ns()}"), WEBHOOK_SECRET)


def main():
    import logging

    logging.disable(logging.WARNING)  # one line per request otherwise; the figures are the output
    proc, client, port = start_redis()
    url = f"redis://127.0.0.1:{port}/0"
    os.environ.update(IMGMEND_ENGINE="local", IMGMEND_SECRET="bench-abuse-secret", REDIS_URL=url,
                      FREE_DAILY_LIMIT="5", RATE_LIMIT_PER_MINUTE="1000", PUBLIC_BASE_URL="https://imgmend.example",
                      STRIPE_SECRET_KEY="sk_test_bench", STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                      STRIPE_PORTAL_LOGIN_URL="https://billing.stripe.com/p/login/test_bench")
    fake = FakeStripe()
    os.environ["STRIPE_PRICE_ID"] = fake.add_price(recurring=False)
    rows = []
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            fake.install_responses(rsps)

            # 1. A page on another site spends the visitor's free images (no-cors multipart POST).
            fresh(client)
            statuses = [image(**ATTACKER).status_code for _ in range(6)]
            left = app("config").get("/api/config", headers={"X-Real-IP": "203.0.113.7"}).get_json()["free_remaining"]
            rows.append(("cross-site no-cors POST x6 to /api/denoise", f"free images 5 -> {left}",
                         f"statuses {sorted(set(statuses))}"))

            # 2. Redis answering errors (a plan past its command allowance): how many images does one client get?
            fresh(client)
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", "1")
            served = sum(image().status_code == 200 for _ in range(20))
            client.config_set("maxmemory", "0")
            rows.append(("Redis refusing commands, 20 image requests, limit 5", f"{served} images served", ""))

            # 3. Page views: 1000 posts from one client in a minute.
            while time.time() % 60 > 40:
                time.sleep(0.5)
            fresh(client)
            client.config_resetstat()
            for _ in range(1000):
                app("event").post("/api/event", data=json.dumps({"path": "/"}), content_type="text/plain",
                                  headers={"User-Agent": CHROME, "X-Real-IP": "203.0.113.7", "Sec-Fetch-Site": "same-origin"})
            used = commands(client)
            views = sum(int(v) for v in client.hgetall(next(iter(client.keys("imgmend:stats:*:views")))).values())
            rows.append(("1000 page views from one client", f"{used} Redis commands", f"{views} counted"))

            # 4. create_checkout flooded: Checkout Sessions created at Stripe by 60 posts.
            fresh(client)
            before = len([r for r in fake.requests if r[1] == "/v1/checkout/sessions" and r[0] == "POST"])
            statuses = [post_json("create_checkout", {"lang": "en"}).status_code for _ in range(60)]
            made = len([r for r in fake.requests if r[1] == "/v1/checkout/sessions" and r[0] == "POST"]) - before
            rows.append(("60 POST /api/create_checkout", f"{made} Checkout Sessions", f"{statuses.count(429)} x 429"))

            # 5. A Pro key posted online: runs accepted in a minute from 60 addresses; the portal.
            fresh(client)
            customer = fake.add_customer(metadata={"imgmend_pro": "lifetime"})
            token = post_json("verify_pro", {"pro_key": customer}).get_json()["token"]
            runs = sum(image(ip=f"198.51.100.{n}", Authorization=f"Bearer {token}").status_code == 200 for n in range(60))
            rows.append(("posted Pro key: 60 runs from 60 addresses in a minute", f"{runs} runs served", ""))
            before = len([r for r in fake.requests if r[1] == "/v1/billing_portal/sessions"])
            reply = app("billing_portal").post("/api/billing_portal", headers={"Authorization": f"Bearer {token}"})
            made = len([r for r in fake.requests if r[1] == "/v1/billing_portal/sessions"]) - before
            rows.append(("posted Pro key: Manage subscription", f"{made} portal sessions",
                         "login link" if "login" in reply.get_data(as_text=True) else "billing data opened"))

            # 6. A refund: image requests the refunded token still gets; Redis commands per Pro request.
            fresh(client)
            buyer = fake.add_customer()
            session = fake.add_session(buyer, mode="payment")
            token = post_json("verify_pro", {"session_id": session}).get_json()["token"]
            client.config_resetstat()
            image(Authorization=f"Bearer {token}")
            per_pro = commands(client)
            charge = fake.charge_of(session)
            charge.update(refunded=True, amount_refunded=charge["amount"])
            deliver("charge.refunded", charge)
            after = sum(image(Authorization=f"Bearer {token}").status_code == 200 for _ in range(5))
            rows.append(("refunded one-time pass: 5 runs with its token", f"{after} runs served",
                         f"a Pro run costs {per_pro} Redis commands"))

            # 7. IPv6: free images for 20 addresses in one /64.
            fresh(client)
            served = sum(image(ip=f"2001:db8:1:2::{n + 1:x}").status_code == 200 for n in range(20))
            rows.append(("20 addresses of one IPv6 /64", f"{served} free images", ""))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    width = max(len(r[0]) for r in rows)
    for attack, figure, note in rows:
        print(f"{attack:<{width}}  {figure:<26} {note}")


if __name__ == "__main__":
    main()
