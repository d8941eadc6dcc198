"""The security headers of vercel.json, read as policy and checked on real responses of the dev server
(which applies vercel.json the way Vercel does): pages, static files, the 404 page and every API route."""

import json
import re
from pathlib import Path

import pytest
from werkzeug.test import Client

from dev import server as devserver

ROOT = Path(__file__).resolve().parents[1]
CONFIG = json.loads((ROOT / "vercel.json").read_text())
API_NAMES = sorted(p.stem for p in (ROOT / "api").glob("*.py") if not p.stem.startswith("_"))


def site_headers():
    (entry,) = [e for e in CONFIG["headers"] if e["source"] == "/(.*)"]
    return {h["key"].lower(): h["value"] for h in entry["headers"]}


def csp_directives(value):
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in value.split(";")) if part}


@pytest.fixture(scope="module")
def client():
    return Client(devserver.create_app())


def test_csp_allows_only_this_origin_and_no_inline_code():
    csp = csp_directives(site_headers()["content-security-policy"])
    for directive, sources in csp.items():
        for source in sources:
            assert source in ("'self'", "'none'", "blob:", "data:"), (directive, source)
            assert "unsafe" not in source and "*" not in source and "http" not in source
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert csp["connect-src"] == ["'self'"]  # the page can talk to its own API and nothing else


def test_transport_and_embedding_headers():
    headers = site_headers()
    max_age = int(re.search(r"max-age=(\d+)", headers["strict-transport-security"]).group(1))
    assert max_age >= 365 * 86400 and "includeSubDomains" in headers["strict-transport-security"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] in ("no-referrer", "strict-origin-when-cross-origin", "same-origin")
    for feature in ("camera", "microphone", "geolocation"):
        assert f"{feature}=()" in headers["permissions-policy"]
    assert headers["cross-origin-opener-policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/", "/denoise", "/pro", "/privacy", "/style.css", "/tool.js", "/i18n/zh.json",
                                  "/no-such-page"])
def test_every_static_response_carries_them(client, path):
    response = client.get(path)
    for key, value in site_headers().items():
        assert response.headers.get(key) == value, (path, key)
    assert "access-control-allow-origin" not in {k.lower() for k in response.headers.keys()}


@pytest.mark.parametrize("name", API_NAMES)
def test_api_is_same_origin_and_never_cached(client, name):
    # A cross-site caller's GET and its CORS preflight: no CORS grant, no caching, CORP same-origin.
    response = client.get(f"/api/{name}", headers={"Origin": "https://evil.example"})
    assert response.headers["Cache-Control"] == "no-store", name
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    preflight = client.open(f"/api/{name}", method="OPTIONS", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    grants = {k.lower() for k in list(response.headers.keys()) + list(preflight.headers.keys())}
    assert not any(k.startswith("access-control-allow") for k in grants), name
    assert preflight.status_code in (404, 405)
