"""The dev server: `python -m dev [--host H] [--port P]`, the site and API as Vercel serves them.

What it mirrors (vercel.json is read on every request, so edits to it apply at once):
- `public/` as static files with `cleanUrls` / `trailingSlash` (the same 308 redirect rules that
  @vercel/routing-utils generates), directory `index.html`, `public/404.html` for misses;
- `/api/NAME` -> the top-level WSGI `app` of `api/NAME.py`, loaded by file path as Vercel's bridge does;
- the `headers` section (path-to-regexp `source` patterns, later entries override earlier ones);
- the client IP headers, set from the socket peer so a client cannot spoof them;
- the 4.5 MB request and response body limits of Vercel functions.
Edits under `api/` or `lib/` are picked up by the next request, without a restart.
"""

import argparse
import hashlib
import json
import mimetypes
import os
import re
import sys
import time
import traceback
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote

from werkzeug.serving import WSGIRequestHandler, make_server

from dev.reload import ApiModules
from dev.vercel_config import VercelConfig, VercelConfigError
from lib import config
from lib.errors import ImgmendError, NotFound

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_BODY_LIMIT = 4 * 1024 * 1024 + 512 * 1024  # Vercel: 4.5 MB each way, request and response
STATIC_CACHE_CONTROL = "public, max-age=0, must-revalidate"  # what Vercel sends for static files
# Python's table varies by platform (and may lack .webp/.mjs); the site's own types are fixed here.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
}


class Reply:
    """A finished response: status line, header list and the whole body."""

    def __init__(self, status, headers, body=b""):
        self.status = status if isinstance(status, str) else _status_line(status)
        self.headers = list(headers)
        self.body = body

    @property
    def code(self):
        """The numeric status."""
        return int(self.status.split(" ", 1)[0])


def _status_line(code):
    return f"{code} {HTTPStatus(code).phrase}"


def _json_reply(code, payload):
    return Reply(code, [("Content-Type", "application/json")], json.dumps(payload).encode())


def _text_reply(code, text, extra=()):
    return Reply(code, [("Content-Type", "text/plain; charset=utf-8"), *extra], text.encode())


class DevServer:
    """The WSGI app: redirects, api functions, static files, vercel.json headers, one log line."""

    def __init__(self, root, reload=True):
        self.root = Path(root).resolve()
        self.public = self.root / "public"
        self.vercel = VercelConfig(self.root / "vercel.json")
        self.api = ApiModules(self.root, reload=reload)

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        set_client_headers(environ)
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            reply = self.handle(environ, request_path(environ))
        except VercelConfigError as error:
            print(f"dev server: {error}", file=sys.stderr)
            reply = _text_reply(500, f"vercel.json cannot be used: {error}\n")
        except Exception as error:  # a bug here or an unreadable file: still one answer, one log line
            print(f"dev server: {type(error).__name__}\n" + "".join(traceback.format_tb(error.__traceback__)),
                  file=sys.stderr)
            reply = _text_reply(500, "500: INTERNAL_SERVER_ERROR\n")
        if method == "HEAD":
            reply.body = b""  # its Content-Length, if any, stays: that of the GET
        elif reply.code not in (204, 304):  # the body is whole by now, so its length is exact
            reply.headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
            reply.headers.append(("Content-Length", str(len(reply.body))))
        start_response(reply.status, reply.headers)
        log_request(method, environ, reply.code, (time.perf_counter() - started) * 1000)
        return [reply.body]

    def handle(self, environ, path):
        """Answer one request, as a Reply."""
        # Vercel's routes run in this order: cleanUrls and trailingSlash redirects (final: they
        # carry no vercel.json headers), then the `headers` entries, then the filesystem/functions.
        location = self.vercel.redirect_for(path)
        if location is not None:
            query = environ.get("QUERY_STRING")
            target = quote(location, safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")
            return Reply(308, [("Location", target), ("Content-Type", "text/plain; charset=utf-8")],
                         f"Redirecting to {target} (308)\n".encode())
        declared = self.vercel.headers_for(path)
        if path.startswith("/api/"):
            return self.call_function(environ, path[len("/api/"):], declared)
        return _override(self.static(environ, path), declared)

    def call_function(self, environ, name, declared):
        """Run api/NAME.py's app; its own headers win over vercel.json's (as on Vercel)."""
        if not (name.isascii() and name.isidentifier() and not name.startswith("_")):
            return _override(_json_reply(404, NotFound().to_dict()), declared)
        try:
            app = self.api.app_for(name)
        except Exception:  # a syntax or import error in the code being edited
            traceback.print_exc(file=sys.stderr)
            return _override(_json_reply(500, ImgmendError().to_dict()), declared)
        if app is None:  # Vercel makes no function of a file without `app`: a plain 404
            return _override(_json_reply(404, NotFound().to_dict()), declared)
        if _content_length(environ) > FUNCTION_BODY_LIMIT:
            return _override(_text_reply(413, "Request Entity Too Large\n\nFUNCTION_PAYLOAD_TOO_LARGE\n"),
                             declared)
        try:
            reply = run_wsgi(app, environ)
        except Exception as error:
            # Frames and type only: an exception message can quote request data.
            print(f"dev server: api/{name}.py raised {type(error).__name__}\n"
                  + "".join(traceback.format_tb(error.__traceback__)), file=sys.stderr)
            return _override(_json_reply(500, ImgmendError().to_dict()), declared)
        if len(reply.body) > FUNCTION_BODY_LIMIT:
            return _override(_text_reply(500, "Response Payload Too Large\n\n"
                                              "FUNCTION_RESPONSE_PAYLOAD_TOO_LARGE\n"), declared)
        return _underlay(reply, declared)

    def static(self, environ, path):
        """A file from public/, public/404.html, or a plain 404."""
        file = static_file(self.public, path, bool(self.vercel.settings.get("cleanUrls")))
        code = 200
        if file is None:
            missing = self.public / "404.html"
            if not missing.is_file():
                return _text_reply(404, "404: NOT_FOUND\n")
            file, code = missing, 404
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _text_reply(405, "405: METHOD_NOT_ALLOWED\n", [("Allow", "GET, HEAD")])
        body = file.read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        headers = [("Content-Type", content_type(file)), ("Cache-Control", STATIC_CACHE_CONTROL)]
        if code == 200:
            headers.append(("ETag", etag))
            if etag in environ.get("HTTP_IF_NONE_MATCH", ""):
                return Reply(304, headers)
        return Reply(code, headers + [("Content-Length", str(len(body)))], body)  # kept for HEAD


def _override(reply, declared):
    """vercel.json headers replace the server's own for static files and platform answers."""
    keys = {k.lower() for k, _ in declared}
    reply.headers = [(k, v) for k, v in reply.headers if k.lower() not in keys] + declared
    return reply


def _underlay(reply, declared):
    """vercel.json headers under a function's: the function's own value wins on a clash.

    Vercel's docs say so in two places: the CDN cache page (vercel.com/docs/caching, "Cache-Control
    headers": headers a Function returns override those vercel.json defines for the same route) and
    the guide "Set cache control headers for functions" (the function's value takes priority over
    config files). Among vercel.json entries, a later match overrides an earlier one (headers_for).
    """
    keys = {k.lower() for k, _ in reply.headers}
    reply.headers += [(k, v) for k, v in declared if k.lower() not in keys]
    return reply


def run_wsgi(app, environ):
    """Call a WSGI app and collect its whole response (status, headers, body) as a Reply."""
    started, chunks = {}, []

    def start_response(status, headers, exc_info=None):
        if exc_info and started.get("sent"):
            raise exc_info[1].with_traceback(exc_info[2])
        started.update(status=status, headers=list(headers))
        return chunks.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            chunks.append(chunk)
    finally:
        if hasattr(result, "close"):
            result.close()
    if "status" not in started:
        raise RuntimeError("the app did not call start_response")
    return Reply(started["status"], started["headers"], b"".join(chunks))


def static_file(public, path, clean_urls=True):
    """The file under `public` that `path` names, or None; never anything outside `public`."""
    segments = path.split("/")[1:]
    if segments and segments[-1] == "":  # "/" and, with trailingSlash: true, "/docs/"
        segments.pop()
    if any(s in ("", ".", "..") or "\\" in s or "\0" in s for s in segments):
        return None
    base = Path(public).resolve()
    relative = "/".join(segments)
    candidates = [base / relative / "index.html"]
    if relative:
        candidates[:0] = [base / relative] + ([base / f"{relative}.html"] if clean_urls else [])
    for candidate in candidates:
        real = Path(os.path.realpath(candidate))
        if real.is_file() and real.is_relative_to(base):  # a symlink out of public/ is a miss
            return real
    return None


def content_type(file):
    """The Content-Type for a static file."""
    suffix = file.suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def request_path(environ):
    """The decoded request path (WSGI carries it as latin-1 decoded bytes)."""
    raw = environ.get("PATH_INFO") or "/"
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")


def set_client_headers(environ):
    """Overwrite the client IP and forwarding headers with the socket peer, as Vercel's edge does."""
    for key in [k for k in environ if k.startswith("HTTP_X_VERCEL_")]:
        del environ[key]  # platform headers (geo, ids) cannot come from a client
    peer = environ.get("REMOTE_ADDR") or ""
    for key in ("HTTP_X_REAL_IP", "HTTP_X_FORWARDED_FOR", "HTTP_X_VERCEL_FORWARDED_FOR"):
        environ[key] = peer
    environ["HTTP_X_FORWARDED_PROTO"] = environ.get("wsgi.url_scheme", "http")
    if environ.get("HTTP_HOST"):
        environ["HTTP_X_FORWARDED_HOST"] = environ["HTTP_HOST"]


def _content_length(environ):
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def log_request(method, environ, status, ms):
    """One stderr line per request: method, path (no query string), status, milliseconds."""
    raw = (environ.get("PATH_INFO") or "/").encode("latin-1", "replace")
    # Percent-encoded so a crafted path cannot forge or split log lines.
    path = quote(raw, safe="/:@!$&'()*+,;=-._~")
    method = re.sub(r"[^A-Za-z0-9_-]", "?", method)[:16]
    print(f"{method} {path} {status} {ms:.0f}ms", file=sys.stderr, flush=True)


def create_app(root=None, reload=True):
    """The dev server as a WSGI app for the project at `root` (default: this repository).

    `reload=False` (the self-hosting server) loads each api/ module once and never re-reads it.
    """
    root = Path(root or ROOT).resolve()
    # Vercel puts the project root on sys.path, so `from lib import images` works in api/*.py.
    if not any(Path(p or ".").resolve() == root for p in sys.path):
        sys.path.insert(0, str(root))
    return DevServer(root, reload=reload)


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its own access log: DevServer writes the only line."""

    def log_request(self, code="-", size="-"):
        pass


def main(argv=None):
    """Run the dev server until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m dev", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    # lib/ modules are re-imported the normal way after an edit; without new .pyc files a stale one
    # (same size, same second) cannot shadow the edited source. api/ modules never use .pyc files.
    sys.dont_write_bytecode = True
    server = make_server(args.host, args.port, create_app(), threaded=True,
                         request_handler=QuietRequestHandler)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"imgmend dev server: http://{host}:{server.port}  engine: {config.engine_name()}",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

