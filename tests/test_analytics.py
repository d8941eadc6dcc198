"""Aggregate-only analytics: page views (/api/event), tool runs and latency, /api/stats, the browser side."""

import json
import pathlib

import pytest

from lib import analytics, quota, tokens
from tests.support.agents import ANDROID_TABLET, CHROME_MAC, CHROME_WIN, FIREFOX, GOOGLEBOT, IPAD, IPHONE
from tests.support.clients import post_image
from tests.support.images import encode, photo
from tests.support.stores import dump

ROOT = pathlib.Path(__file__).resolve().parents[1]
JPEG = encode(photo("chelsea", (64, 48)))
ADMIN = "admin-token-for-tests-0123456789"
EMAIL = "buyer@example.com"
BROKEN = JPEG[:300]  # a truncated JPEG: invalid_image, found before the engine runs


@pytest.fixture(params=["memory", "redis"])
def store(request):
    """Run the test once on each counter store."""
    if request.param == "redis":
        return request.getfixturevalue("redis_env")
    return None


def view(api, path="/", ua=CHROME_WIN, ip="203.0.113.7", country="DE", body=None, **headers):
    payload = body if body is not None else json.dumps({"path": path})
    return api("event").post(
        "/api/event", data=payload, content_type="text/plain;charset=UTF-8",
        headers={"User-Agent": ua, "X-Real-IP": ip, "X-Vercel-IP-Country": country, **headers},
    )


def run(api, tool="denoise", data=JPEG, ip="203.0.113.7", **headers):
    return post_image(api, tool, data, ip=ip, **headers)


def stats(api, token=ADMIN, days=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return api("stats").get("/api/stats" + (f"?days={days}" if days else ""), headers=headers)


def totals(api, monkeypatch):
    monkeypatch.setenv("IMGMEND_ADMIN_TOKEN", ADMIN)
    response = stats(api)
    assert response.status_code == 200
    return response.get_json()["totals"]


# --- page views ---------------------------------------------------------------------------------

def test_views_are_counted_by_known_path_browser_device_and_country(api, store, monkeypatch):
    for path in ("/", "/denoise/", "/DENOISE.html", "/index.html", "/users/alice?x=1", "/a@b.example"):
        assert view(api, path).status_code == 204
    assert view(api, "/remove-background", ua=IPHONE, country="").status_code == 204
    t = totals(api, monkeypatch)
    assert t["views"] == {"/": 2, "/denoise": 2, "other": 2, "/remove-background": 1}
    assert t["browsers"] == {"Chrome 131": 6, "Mobile Safari 17": 1}
    assert t["devices"] == {"desktop": 6, "mobile": 1}
    assert t["countries"] == {"DE": 6, "unknown": 1}


def test_known_paths_are_exactly_the_site_pages():
    pages = {"/" if p.stem == "index" else "/" + p.stem for p in (ROOT / "public").glob("*.html")}
    assert analytics.KNOWN_PATHS == pages


@pytest.mark.parametrize("headers", [{"Sec-GPC": "1"}, {"DNT": "1"}], ids=["gpc", "dnt"])
def test_privacy_signals_are_not_counted(api, store, monkeypatch, headers):
    assert view(api, "/", **headers).status_code == 204
    assert totals(api, monkeypatch)["views"] == {}


@pytest.mark.parametrize("ua", [GOOGLEBOT, "curl/8.5.0", "python-requests/2.32", ""])
def test_bots_are_not_counted_as_views(api, store, monkeypatch, ua):
    assert view(api, "/", ua=ua).status_code == 204
    assert totals(api, monkeypatch)["views"] == {}


def test_cross_site_beacons_are_ignored(api, monkeypatch):
    # Was answered 204 and not counted; now refused at the boundary like every cross-site post.
    response = view(api, "/", **{"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "cross_site"
    assert totals(api, monkeypatch)["views"] == {}


@pytest.mark.parametrize("ua, device", [
    (CHROME_WIN, "desktop"), (FIREFOX, "desktop"), (IPHONE, "mobile"), (IPAD, "tablet"),
    (ANDROID_TABLET, "tablet"), (GOOGLEBOT, "bot"), ("", "bot"),
])
def test_device_classes(ua, device):
    assert analytics.device_class(ua) == device


def test_browser_is_family_and_major_only():
    assert analytics.browser(CHROME_MAC) == "Chrome 131"
    assert analytics.browser(FIREFOX) == "Firefox 133"
    assert analytics.browser("SomethingNew/1.0 (unique-id-123)") == "Other"


def test_event_body_is_capped_and_must_be_json(api):
    assert view(api, body=json.dumps({"path": "/" + "a" * 2000})).status_code == 413
    bad = view(api, body="not json")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_request"
    assert view(api, body=json.dumps({"path": 3})).status_code == 400
    assert api("event").get("/api/event").status_code == 405


# --- nothing personal is stored -----------------------------------------------------------------

@pytest.mark.redis
def test_redis_holds_no_ip_ua_email_or_token(api, redis_env, monkeypatch):
    pro, _ = tokens.issue_token("cus_Secret123")
    for path, ua, ip in [("/", CHROME_MAC, "198.51.100.23"), ("/denoise?email=" + EMAIL, IPHONE, "2001:db8::42"),
                         ("/" + EMAIL, CHROME_WIN + " " + EMAIL, "192.0.2.200")]:
        assert view(api, path, ua=ua, ip=ip).status_code == 204
    assert run(api, ip="198.51.100.23", **{"User-Agent": CHROME_MAC}).status_code == 200
    assert run(api, data=BROKEN, ip="192.0.2.200").status_code == 400
    assert run(api, "remove_bg", ip="2001:db8::42", Authorization=f"Bearer {pro}").status_code == 200
    assert run(api, ip="192.0.2.200", Authorization="Bearer forged.token.value").status_code == 401
    keys, blob = dump(redis_env["client"])
    assert any(k.startswith("imgmend:stats:") for k in keys)
    for secret in ("198.51.100.23", "2001:db8::42", "192.0.2.200", "uniq-7f3a9c", "Mozilla", "AppleWebKit",
                   EMAIL, "cus_Secret123", pro, "forged.token.value", ADMIN):
        assert secret.encode() not in blob, secret


def _analytics_only(snapshot):
    """A store dump without the per-client view-limit counter (a keyed hash of the network, 2 min)."""
    keys, blob = snapshot
    lines = sorted(line for line in blob.splitlines() if not line.startswith(b"imgmend:rate:views:"))
    return {k for k in keys if not k.startswith("imgmend:rate:views:")}, lines


@pytest.mark.redis
def test_visits_differing_only_in_ip_and_ua_store_the_same_keys(api, redis_env):
    client = redis_env["client"]
    view(api, "/pro", ua=CHROME_WIN, ip="203.0.113.1")
    first = dump(client)
    client.flushall()
    view(api, "/pro", ua=CHROME_MAC, ip="198.51.100.99")
    assert _analytics_only(dump(client)) == _analytics_only(first)
    # The only other key: each client's view-limit counter, named by a keyed hash, gone in 2 minutes.
    (limit_key,) = [k for k in dump(client)[0] if k.startswith("imgmend:rate:views:")]
    assert "198.51.100.99" not in limit_key and 0 < client.ttl(limit_key) <= 120


def test_counter_ttls_are_at_most_365_days(api, store, monkeypatch):
    view(api, "/")
    run(api)
    run(api, data=BROKEN)
    counters = quota.counters()
    keys = [k for k in counters.keys() if k.startswith("imgmend:stats:")]
    assert len(keys) >= 6  # views, browser, device, country, runs, latency
    for key in keys:
        assert 0 < counters.ttl(key) <= 365 * 24 * 3600


# --- tool runs and latency ----------------------------------------------------------------------

def test_tool_runs_are_counted_by_outcome_including_early_errors(api, store, monkeypatch):
    assert run(api).status_code == 200
    assert run(api).status_code == 200
    assert run(api, data=BROKEN).status_code == 400
    assert run(api, "remove_bg").status_code == 200
    assert run(api, Authorization="Bearer nope").status_code == 401
    t = totals(api, monkeypatch)
    assert t["runs"] == {"denoise": {"ok": 2, "invalid_image": 1, "invalid_token": 1}, "remove_bg": {"ok": 1}}
    assert t["latency"]["denoise"]["local"]["count"] == 2  # successful runs only
    assert t["latency"]["remove_bg"]["local"]["count"] == 1


def test_percentiles_from_a_known_sample(api, store, monkeypatch):
    for ms in (50, 80, 120, 300, 300, 700, 1500, 4000, 9000, 50000):
        analytics.record_run("denoise", "replicate", "ok", ms)
    analytics.record_run("denoise", "replicate", "upstream_timeout", 75000)  # not in the histogram
    summary = totals(api, monkeypatch)["latency"]["denoise"]["replicate"]
    # buckets: 100:2, 250:1, 500:2, 1000:1, 2000:1, 5000:1, 10000:1, 60000:1 -> rank 5 and rank 10
    assert summary["count"] == 10 and summary["p50_ms"] == 500 and summary["p95_ms"] == 60000
    assert summary["histogram"]["100"] == 2 and summary["histogram"]["3000"] == 0


def test_percentile_edges():
    assert analytics.percentile({}, 0.5) is None
    assert analytics.percentile({100: 1, 1000: 99}, 0.01) == 100
    assert analytics.percentile({100: 1, 1000: 99}, 0.5) == 1000
    assert analytics.bucket(0) == 100 and analytics.bucket(100) == 100 and analytics.bucket(10**7) == 120000


def test_analytics_failure_never_breaks_a_request(api, monkeypatch, caplog):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens
    assert view(api, "/").status_code == 204
    assert run(api).status_code == 200
    assert "not counted" in caplog.text


# --- /api/stats ---------------------------------------------------------------------------------

def test_stats_requires_the_admin_token(api, monkeypatch):
    assert stats(api).get_json()["error"]["code"] == "not_configured"
    monkeypatch.setenv("IMGMEND_ADMIN_TOKEN", ADMIN)
    for token in (None, "wrong", ADMIN + "x"):
        response = stats(api, token)
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "invalid_token"
    assert stats(api).status_code == 200
    assert stats(api, days=91).status_code == 400 and stats(api, days="x").status_code == 400


def test_stats_report_shape_and_days(api, monkeypatch):
    monkeypatch.setenv("IMGMEND_ADMIN_TOKEN", ADMIN)
    view(api, "/faq")
    body = stats(api, days=3).get_json()
    assert [d["date"] for d in body["days"]][0] == body["to"] and len(body["days"]) == 3
    assert body["days"][0]["views"] == {"/faq": 1} and body["retention_days"] == 365


# --- the browser side ---------------------------------------------------------------------------

def test_beacon_sends_only_the_path_and_respects_gpc_and_dnt():
    js = (ROOT / "public/beacon.js").read_text()
    assert "globalPrivacyControl" in js and "doNotTrack" in js and "sendBeacon" in js
    assert "location.pathname" in js
    for banned in ("cookie", "localStorage", "sessionStorage", "location.href", "referrer", "userAgent", "http"):
        assert banned not in js


def test_admin_page_fits_the_csp_and_keeps_the_token_in_memory():
    html = (ROOT / "public/admin/stats.html").read_text()
    js = (ROOT / "public/admin/stats.js").read_text()
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert "http://" not in html and "https://" not in html
    assert "innerHTML" not in js and "outerHTML" not in js and "insertAdjacentHTML" not in js
    assert "localStorage" not in js and "sessionStorage" not in js and "cookie" not in js
    assert "createElementNS" in js and "textContent" in js
