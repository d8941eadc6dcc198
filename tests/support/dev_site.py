"""A throwaway project for the dev server tests: vercel.json, public/, api/ and lib/ of its own."""

import json

VERCEL_JSON = {
    "cleanUrls": True,
    "trailingSlash": False,
    "headers": [
        {"source": "/(.*)", "headers": [
            {"key": "X-Frame-Options", "value": "DENY"},
            {"key": "Cache-Control", "value": "public, max-age=60"},
            {"key": "X-Layer", "value": "all"},
        ]},
        {"source": "/api/(.*)", "headers": [
            {"key": "Cache-Control", "value": "no-store"},
            {"key": "X-From-Config", "value": "config"},
        ]},
        {"source": "/about", "headers": [{"key": "x-layer", "value": "about"}]},
        {"source": "/blog/:slug", "headers": [{"key": "X-Slug", "value": "post-:slug"}]},
    ],
}

HELLO = '''
import json

def app(environ, start_response):
    """Echo what a function sees; PUT is refused the way lib.http refuses methods."""
    if environ["REQUEST_METHOD"] == "PUT":
        body = json.dumps({"error": {"code": "method_not_allowed", "message": "No."}}).encode()
        headers = [("Content-Type", "application/json"), ("Allow", "GET, POST")]
        start_response("405 METHOD NOT ALLOWED", headers)
        return [body]
    seen = {k: environ.get(k) for k in (
        "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_FOR", "HTTP_X_VERCEL_FORWARDED_FOR", "HTTP_X_VERCEL_IP_COUNTRY")}
    seen["version"] = 1
    seen["body"] = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
    start_response("200 OK", [("Content-Type", "application/json"), ("X-From-Config", "function")])
    return [json.dumps(seen).encode()]
'''


def write(path, text):
    """Write a file of the throwaway project, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def header(response, name):
    """One header of a test response."""
    return response.headers.get(name)


def make_site(root):
    """Write the throwaway project under `root`; returns `root`."""
    write(root / "vercel.json", json.dumps(VERCEL_JSON))
    write(root / "public" / "index.html", "<h1>home</h1>")
    write(root / "public" / "about.html", "<h1>about</h1>")
    write(root / "public" / "style.css", "body{}")
    write(root / "public" / "app.js", "1;")
    write(root / "public" / "docs" / "index.html", "<h1>docs</h1>")
    write(root / "public" / "blog" / "first.html", "<h1>first</h1>")
    write(root / "public" / "404.html", "<h1>lost</h1>")
    write(root / "secret.txt", "do not serve")
    write(root / "api" / "hello.py", HELLO)
    write(root / "api" / "_private.py", HELLO)
    write(root / "api" / "noapp.py", "handler_for_something_else = None\n")
    write(root / "lib" / "helper.py", "VALUE = 1\n")
    return root
