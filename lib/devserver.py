"""A local server that behaves like Vercel for this project: `python -m lib.devserver [--host H] [--port P]`.

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
import importlib
import importlib.machinery
import importlib.util
import json
import mimetypes
import os
import re
import sys
import threading
import time
import traceback
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote

from werkzeug.serving import WSGIRequestHandler, make_server

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


# --- vercel.json -------------------------------------------------------------------------------

class VercelConfigError(ValueError):
    """vercel.json cannot be used (Vercel itself would refuse to deploy it)."""


def _lex(source):
    """path-to-regexp 6 tokens as (kind, value): CHAR, ESCAPED, NAME, PATTERN, MODIFIER, OPEN, CLOSE."""
    tokens, i = [], 0
    while i < len(source):
        char = source[i]
        if char in "*+?":
            tokens.append(("MODIFIER", char))
            i += 1
        elif char == "\\":
            if i + 1 >= len(source):
                raise VercelConfigError(f"dangling escape in {source!r}")
            tokens.append(("ESCAPED", source[i + 1]))
            i += 2
        elif char in "{}":
            tokens.append(("OPEN" if char == "{" else "CLOSE", char))
            i += 1
        elif char == ":":
            name = re.match(r"[A-Za-z0-9_]*", source[i + 1:]).group()
            if not name:
                raise VercelConfigError(f"missing parameter name at {i} in {source!r}")
            tokens.append(("NAME", name))
            i += 1 + len(name)
        elif char == "(":
            pattern, i = _lex_pattern(source, i)
            tokens.append(("PATTERN", pattern))
        else:
            tokens.append(("CHAR", char))
            i += 1
    return tokens


def _lex_pattern(source, start):
    """The regex inside balanced parentheses at `start`, and the index after them."""
    depth, i, pattern = 1, start + 1, ""
    if source[i:i + 1] == "?":
        raise VercelConfigError(f"pattern cannot start with '?' in {source!r}")
    while i < len(source):
        char = source[i]
        if char == "\\":
            pattern += source[i:i + 2]
            i += 2
            continue
        if char == ")":
            depth -= 1
            if depth == 0:
                if not pattern:
                    raise VercelConfigError(f"empty pattern in {source!r}")
                return pattern, i + 1
        elif char == "(":
            depth += 1
            if source[i + 1:i + 2] != "?":
                raise VercelConfigError(f"capturing groups are not allowed in a pattern: {source!r}")
        pattern += char
        i += 1
    raise VercelConfigError(f"unbalanced pattern in {source!r}")


def source_to_regex(source):
    """Compile a vercel.json `source` like @vercel/routing-utils (path-to-regexp 6, strict, case-sensitive).

    Returns (compiled regex for fullmatch, parameter names in group order; unnamed groups are None).
    Supports literals, `:name`, `:name(re)`, `(re)` and the `? * +` modifiers; not `{...}` groups.
    """
    tokens, i, names, literal, regex = _lex(source), 0, [], "", ""

    def take(kind):
        nonlocal i
        if i < len(tokens) and tokens[i][0] == kind:
            i += 1
            return tokens[i - 1][1]
        return None

    while i < len(tokens):
        char, name, pattern = take("CHAR"), take("NAME"), take("PATTERN")
        if name or pattern:
            prefix = char or ""
            if prefix not in ("", "/", "."):  # only these become an optional parameter's prefix
                literal, prefix = literal + prefix, ""
            regex, literal = regex + re.escape(literal), ""
            names.append(name)
            regex += _param_regex(prefix, pattern or r"[^\/]+?", take("MODIFIER") or "")
            continue
        value = char or take("ESCAPED")
        if value:
            literal += value
            continue
        raise VercelConfigError(f"unsupported syntax {tokens[i][1]!r} in source {source!r}")
    regex += re.escape(literal)
    try:
        return re.compile(regex), names
    except re.error as error:
        raise VercelConfigError(f"bad pattern in source {source!r}: {error}") from None


def _param_regex(prefix, pattern, modifier):
    prefix = re.escape(prefix)
    if not prefix:
        if modifier in ("+", "*"):
            return f"((?:{pattern}){modifier})"
        return f"({pattern}){modifier}"
    if modifier in ("+", "*"):
        optional = "?" if modifier == "*" else ""
        return f"(?:{prefix}((?:{pattern})(?:{prefix}(?:{pattern}))*)){optional}"
    return f"(?:{prefix}({pattern})){modifier}"


def _redirect_rules(settings):
    """The 308 routes Vercel generates for cleanUrls and trailingSlash (@vercel/routing-utils), in order."""
    rules = []
    trailing = settings.get("trailingSlash")
    if settings.get("cleanUrls"):
        location = "/$1/" if trailing else "/$1"
        rules.append((re.compile(r"/(?:(.+)/)?index(?:\.html)?/?"), location))
        rules.append((re.compile(r"/(.*)\.html/?"), location))
    if trailing is True:
        rules.append((re.compile(r"/\.well-known(?:/.*)?"), None))  # exempt: answered as is
        rules.append((re.compile(r"/((?:[^/]+/)*[^/.]+)"), "/$1/"))
        rules.append((re.compile(r"/((?:[^/]+/)*[^/]+\.\w+)/"), "/$1"))
    elif trailing is False:
        rules.append((re.compile(r"/(.*)/"), "/$1"))
    return rules


def _header_rules(settings):
    """(regex, names, [(key, value)]) per `headers` entry; entries with has/missing are skipped loudly."""
    rules = []
    for entry in settings.get("headers") or []:
        if entry.get("has") or entry.get("missing"):
            print(f"devserver: skipping headers entry {entry.get('source')!r}: has/missing not supported",
                  file=sys.stderr)
            continue
        regex, names = source_to_regex(entry["source"])
        rules.append((regex, names, [(h["key"], h["value"]) for h in entry.get("headers", [])]))
    return rules


class VercelConfig:
    """vercel.json, re-read whenever the file changes (checked on every request)."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = None
        self._parsed = ({}, [], [])

    def _load(self):
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}, [], []
        with self._lock:
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                try:
                    settings = json.loads(self.path.read_text(encoding="utf-8"))
                    parsed = (settings, _redirect_rules(settings), _header_rules(settings))
                except (ValueError, KeyError, TypeError, AttributeError) as error:
                    raise VercelConfigError(f"{self.path.name}: {error}") from None
                self._parsed, self._stamp = parsed, stamp
            return self._parsed

    @property
    def settings(self):
        """The parsed vercel.json object."""
        return self._load()[0]

    def redirect_for(self, path):
        """The Location a cleanUrls/trailingSlash rule sends `path` to, or None."""
        for regex, location in self._load()[1]:
            match = regex.fullmatch(path)
            if match:
                if location is None:
                    return None
                return re.sub(r"\$(\d)", lambda m: match.group(int(m.group(1))) or "", location)
        return None

    def headers_for(self, path):
        """The headers every matching `headers` entry declares; a later entry overrides an earlier key."""
        merged = {}
        for regex, names, headers in self._load()[2]:
            match = regex.fullmatch(path)
            if not match:
                continue
            params = {n: v or "" for n, v in zip(names, match.groups()) if n}
            for key, value in headers:
                if params:  # Vercel fills `:name` in keys and values only when the source names some
                    key, value = _fill(key, params), _fill(value, params)
                merged[key.lower()] = (key, value)
        return list(merged.values())


def _fill(text, params):
    return re.sub(r":([A-Za-z0-9_]+)", lambda m: params.get(m.group(1), m.group(0)), text)


# --- api/ modules ------------------------------------------------------------------------------

class ApiModules:
    """Loads `api/NAME.py` by path; when any .py under api/ or lib/ changes, reloads from source."""

    def __init__(self, root):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._stamp = self._fingerprint()  # so edits made before the first request count too
        self._modules = {}

    def _fingerprint(self):
        found = []
        for folder in ("api", "lib"):
            for dirpath, dirnames, filenames in os.walk(self.root / folder):
                dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
                for filename in filenames:
                    if filename.endswith(".py"):
                        path = os.path.join(dirpath, filename)
                        try:
                            stat = os.stat(path)
                        except FileNotFoundError:  # deleted while walking: the next request sees it
                            continue
                        found.append((path, stat.st_mtime_ns, stat.st_size))
        return tuple(sorted(found))

    def _forget_project_modules(self):
        # Drop every module loaded from this project's api/ or lib/ so the next import reads the
        # edited source; this file stays (it is the server now running, maybe as __main__).
        folders = [str((self.root / f).resolve()) + os.sep for f in ("api", "lib")]
        me = os.path.realpath(__file__)
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if not file or name == "__main__" or os.path.realpath(file) == me:
                continue
            if any(os.path.realpath(file).startswith(f) for f in folders):
                del sys.modules[name]
        for module in self._modules.values():
            sys.modules.pop(module.__name__, None)
        self._modules.clear()
        importlib.invalidate_caches()

    def app_for(self, name):
        """The WSGI `app` of api/NAME.py (current source), or None when there is none."""
        path = self.root / "api" / f"{name}.py"
        with self._lock:
            stamp = self._fingerprint()
            if stamp != self._stamp:
                self._forget_project_modules()
                self._stamp = stamp
            # Exact, case-sensitive name as on Vercel's Linux, even on a case-insensitive disk.
            if f"{name}.py" not in _listdir(path.parent):
                return None
            if name not in self._modules:
                self._modules[name] = self._import(name, path)
        return getattr(self._modules[name], "app", None)

    def _import(self, name, path):
        # Like Vercel's bridge: the file is loaded by path, with the project root on sys.path. The
        # private module name keeps it apart from `api.NAME` imported by tests in the same process.
        module_name = f"_devserver_api_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}_{name}"
        loader = _SourceOnlyLoader(module_name, str(path))
        spec = importlib.util.spec_from_file_location(module_name, path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        return module


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles from source every time: a .pyc records the source's mtime in whole seconds, so an
    edit of the same size within the same second would otherwise run the old code."""

    def get_code(self, fullname):
        return self.source_to_code(self.get_data(self.path), self.path)


def _listdir(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


# --- the server --------------------------------------------------------------------------------

class DevServer:
    """The WSGI app: redirects, api functions, static files, vercel.json headers, one log line."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        self.public = self.root / "public"
        self.vercel = VercelConfig(self.root / "vercel.json")
        self.api = ApiModules(self.root)

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        set_client_headers(environ)
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            reply = self.handle(environ, request_path(environ))
        except VercelConfigError as error:
            print(f"devserver: {error}", file=sys.stderr)
            reply = _text_reply(500, f"vercel.json cannot be used: {error}\n")
        except Exception as error:  # a bug here or an unreadable file: still one answer, one log line
            print(f"devserver: {type(error).__name__}\n" + "".join(traceback.format_tb(error.__traceback__)),
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
            print(f"devserver: api/{name}.py raised {type(error).__name__}\n"
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


def create_app(root=None):
    """The dev server as a WSGI app for the project at `root` (default: this repository)."""
    root = Path(root or ROOT).resolve()
    # Vercel puts the project root on sys.path, so `from lib import images` works in api/*.py.
    if not any(Path(p or ".").resolve() == root for p in sys.path):
        sys.path.insert(0, str(root))
    return DevServer(root)


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its own access log: DevServer writes the only line."""

    def log_request(self, code="-", size="-"):
        pass


def main(argv=None):
    """Run the dev server until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m lib.devserver", description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    main()
