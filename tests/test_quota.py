"""Free quota and burst limit, in memory and against a real redis-server."""

import datetime as dt
import io
import json
import threading

import pytest

from lib import engines, quota
from lib.errors import UpstreamError
from tests.support.images import encode, photo

JPEG = encode(photo("chelsea", (64, 48)))


def send(client, tool="remove_bg", ip="203.0.113.7", **headers):
    return client.post(
        data={"image": (io.BytesIO(JPEG), "a.jpg")},
        content_type="multipart/form-data",
        headers={"X-Real-IP": ip, **headers},
    )


@pytest.fixture(params=["memory", "redis"])
def store(request, monkeypatch):
    """Run the test once on each counter store."""
    if request.param == "redis":
        return request.getfixturevalue("redis_env")
    return None


def test_free_limit_then_402(api, store, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "3")
    client = api("remove_bg")
    remaining = [send(client).headers.get("X-Quota-Remaining") for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    response = send(client)
    body = json.loads(response.get_data())["error"]
    assert response.status_code == 402 and body["code"] == "quota_exceeded"
    assert body["limit"] == 3 and body["resets_at"].endswith("T00:00:00Z")
    assert send(client, ip="198.51.100.1").status_code == 200  # another client has its own quota


def band_mask(image):
    """A detector that finds a watermark band (a photo with none is a 422 that spends nothing)."""
    from PIL import Image

    mask = Image.new("L", image.size, 0)
    mask.paste(255, (0, image.height * 3 // 4, image.width, image.height))
    return mask


def test_quota_is_shared_across_tools(api, store, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "2")
    monkeypatch.setattr(engines.get_engine(), "detect_watermark", band_mask)
    assert send(api("denoise")).status_code == 200
    assert send(api("remove_watermark")).status_code == 200
    assert send(api("remove_bg")).status_code == 402


def test_failed_runs_do_not_count(api, store, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    engine = engines.get_engine()

    def broken(*args, **kwargs):
        raise UpstreamError()

    with monkeypatch.context() as patch:
        patch.setattr(engine, "run", broken)
        for _ in range(3):
            assert send(api("remove_bg")).status_code == 502
    assert send(api("remove_bg")).headers["X-Quota-Remaining"] == "0"


def test_invalid_uploads_do_not_count(api, store, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    bad = api("denoise").post(data=b"\xff\xd8\xff broken", content_type="image/jpeg")
    assert bad.status_code == 400
    assert send(api("denoise")).status_code == 200


def test_quota_resets_the_next_utc_day(api, store, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    assert send(api("remove_bg")).status_code == 200
    assert send(api("remove_bg")).status_code == 402
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    monkeypatch.setattr(quota, "_today", lambda: tomorrow)
    assert send(api("remove_bg")).status_code == 200


def test_no_double_spend_under_parallel_requests(api, store, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "4")
    client_app = api("denoise")
    statuses = []
    lock = threading.Lock()

    def worker():
        from werkzeug.test import Client

        status = send(Client(client_app.application)).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 4 + [402] * 8


def test_burst_limit_answers_429_with_retry_after(api, store, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "3")
    client = api("watermark_mask")
    assert [send(client).status_code for _ in range(3)] == [200, 200, 200]
    response = send(client)
    assert response.status_code == 429
    assert json.loads(response.get_data())["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert send(client, ip="192.0.2.55").status_code == 200


def test_spoofed_forwarded_for_does_not_change_the_client(api, store, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    assert send(api("denoise")).status_code == 200
    for fake in ("1.2.3.4", "5.6.7.8, 203.0.113.7"):
        assert send(api("denoise"), **{"X-Forwarded-For": fake}).status_code == 402


def test_vercel_forwarded_for_is_used_without_real_ip(api, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    client = api("denoise")

    def via_vercel(ip):
        return client.post(data=JPEG, content_type="image/jpeg", headers={"X-Vercel-Forwarded-For": ip})

    assert via_vercel("192.0.2.1").status_code == 200
    assert via_vercel("192.0.2.1").status_code == 402
    assert via_vercel("192.0.2.2").status_code == 200


@pytest.mark.redis
def test_redis_keys_hold_no_ip_and_expire_within_a_day(api, redis_env, monkeypatch):
    send(api("remove_bg"), ip="203.0.113.99")
    client = redis_env["client"]
    keys = [k.decode() for k in client.keys("*")]
    assert keys and all("203.0.113.99" not in k for k in keys)
    for key in keys:
        # The anonymous daily aggregates keep up to 365 days (tests/test_analytics.py checks them).
        limit = 365 * 24 * 3600 if key.startswith("imgmend:stats:") else 24 * 3600
        assert 0 < client.ttl(key) <= limit
        assert b"203.0.113.99" not in client.dump(key)


@pytest.mark.redis
def test_quota_counters_are_shared_between_processes(api, redis_env, monkeypatch):
    """Two 'function instances' (fresh store objects) see one counter."""
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    assert send(api("denoise")).status_code == 200
    quota.reset()  # a new instance: new connections, same Redis
    assert send(api("denoise")).status_code == 402


def test_redis_down_counts_in_this_instances_memory(api, monkeypatch, caplog):
    # Was "fails open" (200 without a count, for everyone): now the quota holds per instance.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # the discard port: nothing listens
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    first = send(api("denoise"))
    assert first.status_code == 200 and first.headers["X-Quota-Remaining"] == "0"
    assert send(api("denoise")).status_code == 402
    assert send(api("denoise"), ip="198.51.100.1").status_code == 200  # per client, as in Redis
    warnings = [r for r in caplog.records if "counter store unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "this instance's memory" in warnings[0].getMessage()


def test_redis_without_a_secret_is_not_configured(api, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    monkeypatch.delenv("IMGMEND_SECRET")
    response = send(api("denoise"))
    assert response.status_code == 503
    assert json.loads(response.get_data())["error"]["code"] == "not_configured"


def test_client_id_is_a_keyed_hash(monkeypatch):
    a = quota.client_id("203.0.113.7")
    assert a != quota.client_id("203.0.113.8") and "203" not in a and len(a) == 32
    monkeypatch.setenv("IMGMEND_SECRET", "another-secret")
    assert quota.client_id("203.0.113.7") != a
