"""dev.vercel_config: vercel.json headers on static files and functions, re-read per request, path patterns."""

import json


from dev import vercel_config
from tests.support.dev_site import header, write


# --- vercel.json headers --------------------------------------------------------------------------

def test_vercel_json_headers_on_static(client):
    response = client.get("/style.css")
    assert header(response, "X-Frame-Options") == "DENY"
    assert header(response, "Cache-Control") == "public, max-age=60"  # config beats the static default
    assert header(response, "X-Layer") == "all"
    assert header(client.get("/about"), "X-Layer") == "about"  # a later entry overrides, any case
    assert len(client.get("/about").headers.getlist("X-Layer")) == 1
    assert header(client.get("/blog/first"), "X-Slug") == "post-first"
    assert header(client.get("/nope"), "X-Frame-Options") == "DENY"


def test_vercel_json_headers_on_api_and_function_headers_win(client):
    response = client.get("/api/hello")
    assert header(response, "X-Frame-Options") == "DENY"
    assert header(response, "Cache-Control") == "no-store"  # /api/(.*) overrides /(.*)
    assert response.headers.getlist("X-From-Config") == ["function"]


def test_vercel_json_is_read_per_request(site, client):
    settings = json.loads((site / "vercel.json").read_text())
    settings["headers"][0]["headers"][0]["value"] = "SAMEORIGIN"
    write(site / "vercel.json", json.dumps(settings) + " ")
    assert header(client.get("/"), "X-Frame-Options") == "SAMEORIGIN"


def test_broken_vercel_json_is_a_loud_500(site, client, capsys):
    write(site / "vercel.json", json.dumps({"headers": [{"source": "/{x}", "headers": []}]}))
    assert client.get("/").status_code == 500
    assert "vercel.json" in capsys.readouterr().err


def test_source_patterns():
    cases = {
        "/(.*)": {"/": True, "/a/b": True},
        "/api/(.*)": {"/api/x": True, "/api": False, "/apix": False},
        "/about": {"/about": True, "/About": False, "/about/": False},
        "/blog/:slug": {"/blog/a": True, "/blog/a/b": False, "/blog": False},
        "/docs/:path*": {"/docs": True, "/docs/a/b": True},
        "/x/:id(\\d+)": {"/x/12": True, "/x/ab": False},
    }
    for source, paths in cases.items():
        regex, _ = vercel_config.source_to_regex(source)
        for path, expected in paths.items():
            assert bool(regex.fullmatch(path)) is expected, (source, path)
