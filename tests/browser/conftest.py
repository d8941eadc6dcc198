"""Browser fixtures: the real site on the dev server (local engine) in a thread, and Debian's chromium
driven by Playwright. Missing chromium/playwright/axe-core: a loud skip locally, a failure in CI."""

import os
import threading

import pytest
from werkzeug.serving import make_server

from tests.support.browser import ROOT
from tests.support.env import need
from tests.support.images import encode, photo

CHROMIUM = os.environ.get("IMGMEND_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def site():
    """The whole site (public/ and api/) on a loopback port; yields its origin."""
    from dev import server as devserver

    server = make_server("127.0.0.1", 0, devserver.create_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("the playwright package is not installed (pip install -r requirements-dev.txt)")
    if not os.access(CHROMIUM, os.X_OK):
        need(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe_path():
    if not AXE.is_file():
        need("node_modules/axe-core is missing (npm ci)")
    return str(AXE)


class Visit:
    """One browser context on the site, recording every request the page makes."""

    def __init__(self, browser, site, **options):
        self.site = site
        self.context = browser.new_context(accept_downloads=True, **options)
        self.requests = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.errors = []  # script errors and CSP violations surface here
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.set_default_timeout(30_000)

    def goto(self, path):
        self.page.goto(self.site + path)
        self.page.evaluate("window.imgmend.ready")
        return self.page

    def foreign_requests(self):
        return [u for u in self.requests if not (u.startswith(self.site + "/") or u.startswith(("blob:", "data:")))]


@pytest.fixture
def visit(browser, site):
    made = []

    def open_(**options):
        options.setdefault("locale", "en-US")
        made.append(Visit(browser, site, **options))
        return made[-1]

    yield open_
    for v in made:
        v.context.close()


@pytest.fixture(scope="session")
def photo_file(tmp_path_factory):
    """A small real photo (scikit-image's chelsea) as a JPEG file."""
    path = tmp_path_factory.mktemp("photos") / "chelsea.jpg"
    path.write_bytes(encode(photo("chelsea", (240, 180)), "JPEG", quality=90))
    return path
