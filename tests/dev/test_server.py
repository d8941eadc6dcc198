"""dev.server: Vercel-like routing, static files, api functions, IP headers, the log line, real HTTP."""

import json
import re
import sys
import threading
import http.client
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from dev import server as devserver
from tests.support.dev_site import HELLO, header, write

REPO = Path(__file__).resolve().parents[2]


# --- static files and clean URLs ------------------------------------------------------------------

def test_index_and_clean_urls(client):
    home = client.get("/")
    assert home.status_code == 200 and home.data == b"<h1>home</h1>"
    assert header(home, "Content-Type") == "text/html; charset=utf-8"
    about = client.get("/about")
    assert about.status_code == 200 and about.data == b"<h1>about</h1>"
    assert client.get("/blog/first").data == b"<h1>first</h1>"
    assert client.get("/docs").data == b"<h1>docs</h1>"


@pytest.mark.parametrize("path, location", [
    ("/about.html", "/about"),
    ("/index.html", "/"),
    ("/index", "/"),
    ("/docs/index.html", "/docs"),
    ("/blog/first.html", "/blog/first"),
    ("/about/", "/about"),
    ("/docs/", "/docs"),
])
def test_html_and_trailing_slash_redirect_308(client, path, location):
    response = client.get(path)
    assert response.status_code == 308
    assert header(response, "Location") == location


def test_redirect_keeps_the_query_string(client):
    assert header(client.get("/about.html?x=1"), "Location") == "/about?x=1"


def test_content_types(client):
    assert header(client.get("/style.css"), "Content-Type") == "text/css; charset=utf-8"
    assert header(client.get("/app.js"), "Content-Type") == "text/javascript; charset=utf-8"


def test_unknown_page_serves_404_html(client):
    response = client.get("/nope")
    assert response.status_code == 404 and response.data == b"<h1>lost</h1>"
    assert header(response, "Content-Type").startswith("text/html")


def test_plain_404_without_404_html(site, client):
    (site / "public" / "404.html").unlink()
    response = client.get("/nope")
    assert response.status_code == 404 and b"NOT_FOUND" in response.data


def test_no_directory_listing(site, client):
    write(site / "public" / "img" / "a.png", "x")
    assert client.get("/img").status_code == 404


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/docs/../../secret.txt", "/..%2fsecret.txt",
    "/..\\secret.txt", "/%2e%2e%5csecret.txt", "/../vercel.json", "/docs/%2e%2e/%2e%2e/secret",
])
def test_path_traversal_is_blocked(client, path):
    response = client.get(path)
    assert response.status_code in (404, 308)
    assert b"do not serve" not in response.data and b"cleanUrls" not in response.data


def test_symlink_out_of_public_is_not_served(site, client):
    (site / "public" / "leak.txt").symlink_to(site / "secret.txt")
    assert client.get("/leak.txt").status_code == 404


def test_static_file_helper_stays_inside_public(site):
    public = site / "public"
    assert devserver.static_file(public, "/about") == (public / "about.html").resolve()
    for path in ("/../secret.txt", "/a/../../secret.txt", "//etc/passwd", "/docs/\0"):
        assert devserver.static_file(public, path) is None


# --- api functions --------------------------------------------------------------------------------

def test_api_module_is_called(client):
    response = client.post("/api/hello", data=b"ping")
    assert response.status_code == 200
    assert response.json["body"] == "ping" and response.json["version"] == 1


@pytest.mark.parametrize("path", [
    "/api/missing", "/api/_private", "/api/noapp", "/api/hello.py", "/api/hello/extra",
    "/api/Hello", "/api/1abc", "/api/..", "/api/h%C3%A9llo",
])
def test_unknown_api_paths_are_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404, path
    assert response.json == {"error": {"code": "not_found", "message": "There is nothing at this address."}}
    assert header(response, "Cache-Control") == "no-store"  # vercel.json headers apply to misses too


def test_method_rejected_by_the_module_passes_through(client):
    response = client.put("/api/hello", data=b"x")
    assert response.status_code == 405
    assert header(response, "Allow") == "GET, POST"
    assert response.json["error"]["code"] == "method_not_allowed"


def test_import_error_is_a_json_500_and_the_next_fix_is_seen(site, client, capsys):
    write(site / "api" / "broken.py", "def app(:\n")
    response = client.get("/api/broken")
    assert response.status_code == 500 and response.json["error"]["code"] == "internal_error"
    assert "SyntaxError" in capsys.readouterr().err
    write(site / "api" / "broken.py", HELLO + "\n# fixed\n")
    assert client.get("/api/broken").status_code == 200


def test_request_body_over_the_vercel_limit_is_413(client):
    response = client.post("/api/hello", data=b"x" * (devserver.FUNCTION_BODY_LIMIT + 1))
    assert response.status_code == 413 and b"FUNCTION_PAYLOAD_TOO_LARGE" in response.data


# --- client IP headers ----------------------------------------------------------------------------

def test_ip_headers_are_overwritten_with_the_peer(client):
    response = client.get("/api/hello", headers={
        "X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.6, 7.7.7.7",
        "X-Vercel-Forwarded-For": "6.6.6.6", "X-Vercel-IP-Country": "ZZ",
    }, environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    seen = response.json
    assert seen["HTTP_X_REAL_IP"] == seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
    assert seen["HTTP_X_VERCEL_FORWARDED_FOR"] == "203.0.113.9"
    assert seen["HTTP_X_VERCEL_IP_COUNTRY"] is None


# --- the log line ---------------------------------------------------------------------------------

def test_one_log_line_per_request_without_query_or_body(client, capsys):
    capsys.readouterr()
    client.post("/api/hello?token=SECRETQUERY", data=b"SECRETBODY", headers={"X-Secret": "SECRETHEADER"})
    client.get("/about?q=SECRETQUERY")
    client.get("/nope")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    for line, (method, path, status) in zip(lines, [
        ("POST", "/api/hello", "200"), ("GET", "/about", "200"), ("GET", "/nope", "404"),
    ]):
        parts = line.split(" ")
        assert parts[:3] == [method, path, status], line
        assert parts[3].endswith("ms") and parts[3][:-2].isdigit(), line
        assert len(parts) == 4
    assert "SECRET" not in "\n".join(lines)


def test_log_line_cannot_be_split(client, capsys):
    capsys.readouterr()
    client.get("/a%0Afake%20200")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [lines[0]] and lines[0].startswith("GET /a%0Afake%20200 404 ")


# --- over real HTTP -------------------------------------------------------------------------------

def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=devserver.QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def fetch(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_fake_site_over_http(site, capsys):
    server = serve(devserver.create_app(site))
    try:
        status, headers, body = fetch(server, "POST", "/api/hello?x=1", b"hi", {"X-Real-IP": "6.6.6.6"})
        assert status == 200 and json.loads(body)["HTTP_X_REAL_IP"] == "127.0.0.1"
        assert headers["X-Frame-Options"] == "DENY"
        status, headers, body = fetch(server, "GET", "/../secret.txt")
        assert status == 404 and b"do not serve" not in body
        status, headers, _ = fetch(server, "HEAD", "/about")
        assert status == 200 and headers["Content-Length"] == str(len("<h1>about</h1>"))
    finally:
        server.shutdown()
        server.server_close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.rsplit(" ", 1)[0] for line in lines] == [
        "POST /api/hello 200", "GET /../secret.txt 404", "HEAD /about 200"]


def test_real_repository_serves_its_page(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    server = serve(devserver.create_app())
    try:
        status, headers, body = fetch(server, "GET", "/")
        assert status == 200 and b'<script src="/app.js" defer>' in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]  # from the real vercel.json
        status, headers, _ = fetch(server, "GET", "/app.js")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        status, _, body = fetch(server, "GET", "/no-such-page")
        assert status == 404 and b"Page not found" in body
    finally:
        server.shutdown()
        server.server_close()


def test_main_prints_url_and_engine(monkeypatch, capsys):
    started = {}

    class FakeServer:
        port = 4321

        def serve_forever(self):
            started["served"] = True

        def server_close(self):
            started["closed"] = True

    monkeypatch.setattr(devserver, "make_server", lambda *a, **k: FakeServer())
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)  # main() turns it on
    monkeypatch.setenv("IMGMEND_ENGINE", "")
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_test")
    devserver.main(["--port", "4321"])
    err = capsys.readouterr().err
    assert "http://127.0.0.1:4321" in err and "engine: replicate" in err
    assert started == {"served": True, "closed": True}


def test_front_end_rules():
    """The home page obeys the CSP: no inline script or style, deferred local scripts, textContent only.
    (Every page and script is checked the same way in tests/browser/test_site_files.py.)"""
    html = (REPO / "public" / "index.html").read_text()
    js = "".join(p.read_text() for p in (REPO / "public").glob("*.js"))
    assert "<style" not in html and "style=" not in html
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html, re.IGNORECASE)  # no inline event handlers
    assert all(re.fullmatch(r'<script src="/[a-z0-9-]+\.js" defer></script>', tag)
               for tag in re.findall(r"<script.*?</script>", html)) and '<script src="/app.js" defer></script>' in html
    assert "http://" not in html + js and "https://" not in html + js
    assert "innerHTML" not in js and "revokeObjectURL" in js
    assert "X-Quota-Remaining" in js and "/api/config" in js
