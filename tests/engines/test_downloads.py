"""lib.engines.downloads: model outputs come only over https from Replicate's delivery hosts (or the
API's own origin, or inline), redirects checked hop by hop, and nothing is ever sent anywhere else."""

import io
import threading

import httpx
import pytest
from PIL import Image
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from lib.engines import downloads
from lib.engines.replicate import ReplicateEngine, make_downloads
from lib.errors import UpstreamError

BASE = "http://127.0.0.1:5555"
HOSTS = ("replicate.delivery",)

GOOD = [
    "https://replicate.delivery/yhqm/abc/out-0.jpg",
    "https://pbxt.replicate.delivery/abc/out-0.png",
    "https://a.b.replicate.delivery/x.png",
    "https://REPLICATE.DELIVERY/x.png",
    "https://replicate.delivery:443/x.png",
    f"{BASE}/delivery/abc/out.png",  # the API's own origin (the loopback fake)
]
BAD = [
    "http://replicate.delivery/x.png",  # http on an allowed name
    "http://pbxt.replicate.delivery/x.png",
    "https://evil.example/x.png",  # another host
    "https://replicate.delivery.evil.com/x.png",  # the allowed name as a prefix
    "https://evilreplicate.delivery/x.png",  # ... as a suffix without a dot
    "https://replicate.delivery@evil.example/x.png",  # userinfo tricks
    "https://user:pass@replicate.delivery/x.png",
    "https://replicate.delivery%40evil.example/x.png",
    "https://replicate.delivery\\@evil.example/x.png",
    "https://replicate.delivery:8443/x.png",  # another port
    "https://1.2.3.4/x.png",  # IP literals
    "https://127.0.0.1/x.png",
    "https://[::1]/x.png",
    "https://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:5556/x.png",  # loopback, but not the API's port
    "https://127.0.0.1:5555/x.png",  # the API's host and port, other scheme
    "file:///etc/passwd",  # other schemes
    "ftp://replicate.delivery/x.png",
    "gopher://replicate.delivery/x",
    "javascript:alert(1)",
    "//replicate.delivery/x.png",
    "replicate.delivery/x.png",
    " https://replicate.delivery/x.png",
    "https://replicate.delivery/x.png\n",
    "",
    None,
    ["https://replicate.delivery/x.png"],
]


@pytest.mark.parametrize("url", GOOD)
def test_allowed_outputs(url):
    assert downloads.allowed(url, HOSTS, BASE)


@pytest.mark.parametrize("url", BAD, ids=[repr(u) for u in BAD])
def test_refused_outputs(url):
    assert not downloads.allowed(url, HOSTS, BASE)


def test_the_allowed_hosts_come_from_the_setting(monkeypatch):
    monkeypatch.setenv("REPLICATE_OUTPUT_HOSTS", " cdn.example ,*.files.example, ")
    monkeypatch.setenv("REPLICATE_BASE_URL", BASE)
    assert downloads.allowed("https://cdn.example/x.png") and downloads.allowed("https://a.files.example/x")
    assert downloads.allowed(f"{BASE}/delivery/x.png")
    assert not downloads.allowed("https://replicate.delivery/x.png")  # replaced, not added to
    monkeypatch.delenv("REPLICATE_OUTPUT_HOSTS")
    assert downloads.allowed("https://replicate.delivery/x.png")


# --- through the engine: nothing is fetched from a refused URL ------------------------------------------


class Recorder:
    """A second loopback server that serves a PNG to anyone and counts every hit."""

    def __init__(self):
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (1, 2, 3)).save(buf, "PNG")
        self.png, self.hits = buf.getvalue(), []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def app(self, environ, start_response):
        self.hits.append(environ["PATH_INFO"])
        return Response(self.png, mimetype="image/png")(environ, start_response)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.stop()


def photo():
    return Image.new("RGB", (64, 48), (120, 80, 40))


@pytest.fixture
def counted(monkeypatch):
    """Engine downloads through a transport that records any request reaching the network layer."""
    seen = []
    transport = httpx.HTTPTransport()

    def handler(request):
        seen.append(str(request.url))
        return transport.handle_request(request)

    return seen, make_downloads(httpx.MockTransport(handler))


@pytest.mark.parametrize("url", [u for u in BAD if isinstance(u, str) and u], ids=[repr(u) for u in BAD if isinstance(u, str) and u])
def test_a_refused_output_url_is_a_502_and_is_never_requested(replicate_env, counted, url):
    fake = replicate_env
    seen, http = counted
    fake.script.output_url = url
    with pytest.raises(UpstreamError) as caught:
        ReplicateEngine(downloads=http, deadline_s=5).run("remove_bg", photo())
    assert caught.value.status == 502 and caught.value.code == "upstream_error"
    assert seen == [] and fake.calls("output") == []
    assert fake.live_files() == []


def test_another_loopback_server_gets_zero_requests(replicate_env, recorder):
    fake = replicate_env
    for url in (f"{recorder.url}/out.png", f"{recorder.url.replace('http:', 'https:')}/out.png"):
        fake.script.output_url = url
        with pytest.raises(UpstreamError):
            ReplicateEngine(deadline_s=5).run("remove_bg", photo())
    assert recorder.hits == []
    fake.script.output_url = None
    assert ReplicateEngine(deadline_s=5).run("remove_bg", photo()).mode == "RGBA"  # the fake's own origin works


def test_a_redirect_to_another_host_is_not_followed(replicate_env, recorder):
    fake = replicate_env
    fake.script.redirect_to = f"{recorder.url}/stolen.png"
    with pytest.raises(UpstreamError) as caught:
        ReplicateEngine(deadline_s=5).run("remove_bg", photo())
    assert caught.value.code == "upstream_error"
    assert len(fake.calls("output")) == 1 and recorder.hits == []  # the first hop only
    assert fake.live_files() == []


def test_redirects_between_allowed_hosts_are_followed_and_counted(replicate_env):
    png = io.BytesIO()
    Image.new("RGBA", (64, 48), (9, 9, 9, 200)).save(png, "PNG")
    hops = {
        "https://replicate.delivery/a/out.png": httpx.Response(302, headers={"Location": "/b/out.png"}),
        "https://replicate.delivery/b/out.png": httpx.Response(307, headers={"Location": "https://pbxt.replicate.delivery/c.png"}),
        "https://pbxt.replicate.delivery/c.png": httpx.Response(200, content=png.getvalue()),
        "https://replicate.delivery/loop.png": httpx.Response(302, headers={"Location": "https://replicate.delivery/loop.png"}),
        "https://replicate.delivery/out.png": httpx.Response(302, headers={"Location": "https://evil.example/x.png"}),
    }
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return hops.get(str(request.url), httpx.Response(404))

    http = make_downloads(httpx.MockTransport(handler))
    fake = replicate_env
    fake.script.output_url = "https://replicate.delivery/a/out.png"
    assert ReplicateEngine(downloads=http, deadline_s=5).run("remove_bg", photo()).size == (64, 48)
    assert seen == ["https://replicate.delivery/a/out.png", "https://replicate.delivery/b/out.png",
                    "https://pbxt.replicate.delivery/c.png"]
    for url, requests in (("https://replicate.delivery/loop.png", downloads.MAX_REDIRECTS + 1),
                          ("https://replicate.delivery/out.png", 1)):
        seen.clear()
        fake.script.output_url = url
        with pytest.raises(UpstreamError):
            ReplicateEngine(downloads=http, deadline_s=5).run("remove_bg", photo())
        assert len(seen) == requests and "evil" not in " ".join(seen)


def test_data_urls_stay_accepted(replicate_env):
    replicate_env.script.output = "data_url"
    assert ReplicateEngine(deadline_s=5).run("remove_bg", photo()).mode == "RGBA"
    assert replicate_env.calls("output") == []
