"""The real Vercel build of the project, and every built function answering real HTTP requests.

`vercel build` (npm vercel@58.10.0, @vercel/python, uv, Python 3.12) runs once on a temporary copy;
the tests read its Build Output (functions, static files, routes) against vercel.json and public/,
then start each function from its own bundle under vercel_runtime on a bare Python 3.12 (see
tests/support/vercel_local.py) and send it requests, with Replicate and Stripe as loopback fakes and a real
Redis shared by all functions as Upstash is in production. Costs 45-75 s on a busy 2-core machine:
the build 22-37 s (more with a cold uv cache), twelve function starts 4-26 s, the requests ~15 s.
"""

import base64
import fnmatch
import io
import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from types import SimpleNamespace

import httpx
import pytest
import redis
import stripe
from PIL import Image
from werkzeug.serving import make_server

from lib import config as app_config
from tests.support import vercel_local as vl
from tests.support.env import need
from tests.support.images import avif, encode, exif_bytes, heic, left_red, photo
from tests.support.fake_replicate import FakeReplicate
from tests.support.fake_stripe import FakeStripe, fixture

ROOT = vl.ROOT
API_NAMES = sorted(p.stem for p in (ROOT / "api").glob("*.py") if not p.name.startswith("_"))
WEBHOOK_SECRET = "whsec_vercel_build_test"
ADMIN_TOKEN = "admin-token-for-the-vercel-build-test"
# Packages of the local CPU engine (requirements-local.txt): none may reach a production bundle, except
# numpy, which production needs for the learned watermark detector (lib/watermark_detector.py).
ML_PACKAGES = ("cv2", "opencv", "onnx", "onnxruntime", "pyoidn", "rembg", "scipy", "skimage",
               "scikit_image", "torch", "pymatting", "numba")
DEV_DIRS = ("tests/", "bench/", "docs/", "public/", "pages/", "tools/", "dev/", ".ci/", "node_modules/", ".venv/", ".vercel/", ".git/")
# The production bundle is ~117 MiB (55 of them numpy and its OpenBLAS, 4 pi-heif's libheif and libde265);
# Vercel allows 250 MB uncompressed, and the rest of the ML stack would add ~300 MB.
MAX_BUNDLE_BYTES = 150 * 1024 * 1024


@pytest.fixture(scope="module")
def toolchain():
    """The vercel CLI, uv and a working Python 3.12 (skips locally when missing, fails in CI)."""
    vercel = vl.find_vercel()
    if not vercel:
        need("node and the vercel CLI (`npm ci` installs vercel@58.10.0 from package.json)")
    uv = vl.find_uv()
    if not uv:
        need("uv (requirements-dev.txt)")
    python = vl.find_python312(uv)
    if not python:
        need("Python 3.12 (pyenv 3.12.x, python3.12 on PATH, or IMGMEND_PYTHON312)")
    return SimpleNamespace(vercel=vercel, uv=uv, python=python)


@pytest.fixture(scope="module")
def built(toolchain, tmp_path_factory):
    """`vercel build` once, on a copy of the project; the output and what it was built from."""
    project = vl.copy_project(tmp_path_factory.mktemp("vercel") / "project")
    # The copy leaves node_modules out; put a real piece of it back to prove the bundles skip it.
    (project / "node_modules" / "axe-core").mkdir(parents=True)
    shutil.copy(ROOT / "package.json", project / "node_modules" / "axe-core" / "package.json")
    started = time.monotonic()
    output, log = vl.vercel_build(project, vercel=toolchain.vercel, uv=toolchain.uv, python=toolchain.python)
    print(f"\nvercel build: {time.monotonic() - started:.1f} s")
    yield SimpleNamespace(project=project, output=output, log=log,
                          vercel_json=json.loads((project / "vercel.json").read_text()))
    shutil.rmtree(project.parent, ignore_errors=True)  # ~80 MB of build tree and its Python 3.12 venv


def function_settings(vercel_json, name):
    """The `functions` entry of vercel.json that applies to api/NAME.py (the first matching glob)."""
    for pattern, settings in vercel_json.get("functions", {}).items():
        if fnmatch.fnmatch(f"api/{name}.py", pattern):
            return settings
    return {}


# --- the Build Output ------------------------------------------------------------------------------


def test_one_function_per_api_module_and_nothing_else(built):
    funcs = sorted(p.name[: -len(".func")] for p in (built.output / "functions" / "api").iterdir())
    assert API_NAMES and funcs == API_NAMES
    assert sorted(p.name for p in (built.output / "functions").iterdir()) == ["api"]


@pytest.mark.parametrize("name", API_NAMES)
def test_function_config_follows_vercel_json(built, name):
    config = vl.function_config(built.output, name)
    settings = function_settings(built.vercel_json, name)
    # The Replicate deadline must end inside the function's time, with room to cancel and clean up.
    assert settings["maxDuration"] >= app_config.REPLICATE_DEADLINE_S + 10
    assert config["runtime"] == "python3.12"
    assert config["handler"] == "vc__handler__python.vc_handler"
    assert config["maxDuration"] == settings["maxDuration"]
    assert config["memory"] == settings["memory"]
    bootstrap = (built.output / "functions" / "api" / f"{name}.func" / "vc__handler__python.py").read_text()
    assert f'"__VC_HANDLER_ENTRYPOINT": "api/{name}.py"' in bootstrap
    assert '"__VC_HANDLER_VARIABLE_NAME": "app"' in bootstrap  # the WSGI `app` each module defines


def test_static_is_exactly_public(built):
    public = built.project / "public"
    static = built.output / "static"
    files = sorted(p.relative_to(public).as_posix() for p in public.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file())
    for rel in files:
        assert (static / rel).read_bytes() == (public / rel).read_bytes(), rel


def _redirect(routes, path):
    """Where the first matching 308 route of config.json sends `path` (None: no redirect)."""
    for route in routes:
        match = route.get("status") == 308 and re.match(route["src"], path)
        if match:
            return re.sub(r"\$(\d)", lambda g: match.group(int(g.group(1))) or "", route["headers"]["Location"])
    return None


def test_clean_urls_and_no_trailing_slash(built):
    config = json.loads((built.output / "config.json").read_text())
    assert built.vercel_json["cleanUrls"] is True and built.vercel_json["trailingSlash"] is False
    pages = sorted(p.relative_to(built.project / "public").as_posix() for p in (built.project / "public").rglob("*.html"))
    assert "index.html" in pages and "privacy.html" in pages
    for page in pages:
        clean = page[: -len(".html")]
        assert config["overrides"][page] == {"path": clean}  # served at /about, not /about.html
        expected = "/" if clean == "index" else f"/{clean[: -len('/index')] if clean.endswith('/index') else clean}"
        assert _redirect(config["routes"], f"/{page}") == expected
    assert _redirect(config["routes"], "/privacy/") == "/privacy"
    assert _redirect(config["routes"], "/privacy") is None and _redirect(config["routes"], "/") is None


def test_config_json_sends_every_vercel_json_header(built):
    routes = json.loads((built.output / "config.json").read_text())["routes"]
    for rule in built.vercel_json["headers"]:
        wanted = {h["key"]: h["value"] for h in rule["headers"]}
        (route,) = [r for r in routes if r.get("headers") == wanted and r.get("continue") is True]
        assert re.match(route["src"], rule["source"].replace("(.*)", "some/page"))
        if rule["source"].startswith("/api/"):
            assert not re.match(route["src"], "/denoise")
    site = next(r["headers"] for r in routes if "Content-Security-Policy" in r.get("headers", {}))
    assert "frame-ancestors 'none'" in site["Content-Security-Policy"] and site["X-Frame-Options"] == "DENY"


def _vendored(files):
    """{normalized distribution name: version} of every package in a bundle's _vendor/."""
    found = {}
    for rel in files:
        m = re.match(r"_vendor/([^/]+)-([^/-]+)\.dist-info/METADATA$", rel)
        if m:
            found[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return found


def test_bundles_hold_the_app_and_pins_but_no_dev_files_or_ml_stack(built):
    pins = {}
    for line in (built.project / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("#")[0].strip().split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    sources = sorted(p.relative_to(built.project).as_posix() for d in ("api", "lib")
                     for p in (built.project / d).rglob("*.py"))
    sizes = {}
    for name in API_NAMES:
        files = vl.bundle_files(built.project, built.output, name)
        assert not [f for f in files if f.startswith(DEV_DIRS) or "/node_modules/" in f], name
        assert set(sources) <= set(files), name  # every api module and all of lib/, local engine code included
        vendored = _vendored(files)
        assert {n: vendored.get(n) for n in pins} == pins, name  # exactly the pinned production versions
        top = {f.split("/")[1].split("-")[0].lower() for f in files if f.startswith("_vendor/")}
        assert not [t for t in top if t.startswith(ML_PACKAGES)], name
        assert not [f for f in files if f.endswith(".onnx")], name  # local-engine weights: useless without onnxruntime
        assert "lib/models/watermark_detector.npz" in files, name  # the numpy detector's weights
        sizes[name] = (len(files), sum(p.stat().st_size for p in files.values()))
        assert sizes[name][1] < MAX_BUNDLE_BYTES, name
    for name, (count, size) in sizes.items():
        print(f"bundle api/{name}: {count} files, {size / 2**20:.1f} MiB uncompressed")


def test_numpy_watermark_detector_runs_from_the_bundle(built, toolchain, tmp_path):
    """lib/watermark_detector.py with the bundle's own numpy and weights, on a Python 3.12 with nothing installed."""
    python = vl.bare_python(toolchain.python, toolchain.uv, tmp_path / "python312")
    root = vl.lay_out(built.project, built.output, "watermark_mask", tmp_path / "watermark_mask.func")
    code = (
        "import sys, time; sys.path[:0] = ['_vendor', '.']\n"
        "from PIL import Image, ImageDraw, ImageFont\n"
        "t = time.perf_counter(); from lib.watermark_detector import detect_watermark\n"
        "imported = 'numpy' in sys.modules\n"
        "im = Image.new('RGB', (480, 320), (70, 110, 60))\n"
        "ImageDraw.Draw(im).text((60, 120), 'SAMPLE', fill=(200, 220, 190), font=ImageFont.load_default(size=64))\n"
        "m = detect_watermark(im)\n"
        "import numpy; from lib.watermark_detector import _serial_blas\n"
        "print(imported, m.mode, m.size, m.getbbox() is not None, '/_vendor/numpy/' in numpy.__file__,"
        " _serial_blas().available)\n"  # its OpenBLAS found: held at one thread while detecting
    )
    out = subprocess.run([python, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False L (480, 320) True True True"


# --- the functions, running ------------------------------------------------------------------------


def _serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def start_functions(built, toolchain, names, env, tmp_path):
    """Lay out and start api/NAME for each name (in parallel), all with `env`."""
    python = vl.bare_python(toolchain.python, toolchain.uv, tmp_path / "python312")
    functions = {}
    try:
        for name in names:
            root = vl.lay_out(built.project, built.output, name, tmp_path / f"{name}.func")
            functions[name] = vl.Function(name, root, vl.function_config(built.output, name), python, env)
        for fn in functions.values():
            fn.wait_started()
    except BaseException:
        stop_all(functions)
        raise
    return functions


def stop_all(functions):
    """Stop every function: signal them all first, then wait for each."""
    for fn in functions.values():
        fn.proc.terminate()
    for fn in functions.values():
        fn.stop()


@pytest.fixture(scope="module")
def stack(built, toolchain, redis_server, tmp_path_factory):
    """Every function running on production settings against fake Replicate/Stripe and a real Redis."""
    replicate_fake = FakeReplicate().start()
    stripe_fake = FakeStripe()
    stripe_server, stripe_url = _serve(stripe_fake.wsgi)
    store = redis.Redis(port=redis_server["port"], db=7)  # a database of its own: other tests flush db 0
    store.flushdb()
    env = {
        "REPLICATE_API_TOKEN": replicate_fake.token, "REPLICATE_BASE_URL": replicate_fake.base_url,
        "STRIPE_SECRET_KEY": "sk_test_fake", "STRIPE_API_BASE": stripe_url,
        "STRIPE_PRICE_ID": stripe_fake.add_price(recurring=True), "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PUBLIC_BASE_URL": "https://imgmend.example", "IMGMEND_SECRET": "vercel-build-test-secret",
        "REDIS_URL": f"redis://127.0.0.1:{redis_server['port']}/7", "IMGMEND_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    started = time.monotonic()
    roots = tmp_path_factory.mktemp("functions")
    functions = start_functions(built, toolchain, API_NAMES, env, roots)
    print(f"\n{len(functions)} functions started in {time.monotonic() - started:.1f} s")
    yield SimpleNamespace(functions=functions, replicate=replicate_fake, stripe=stripe_fake, store=store)
    stop_all(functions)
    replicate_fake.stop()
    stripe_server.shutdown()
    store.flushdb()
    shutil.rmtree(roots, ignore_errors=True)


def call(fn, method, *, ip="203.0.113.10", headers=None, **kwargs):
    """One request to a running function as the platform sends it; returns (response, log records)."""
    invocation = uuid.uuid4().hex
    sent = {"x-vercel-internal-invocation-id": invocation, "x-vercel-internal-request-id": "1",
            "X-Real-IP": ip, **(headers or {})}
    response = httpx.request(method, f"{fn.url}/api/{fn.name}", headers=sent, timeout=60, **kwargs)
    mine = lambda m: m.get("payload", {}).get("context", {}).get("invocationId") == invocation  # noqa: E731
    # The runtime closes every invocation with an `end` message; the platform waits for it.
    assert fn.wait_for(lambda m: m["type"] == "end" and mine(m), timeout=15), fn.stderr()
    assert fn.wait_for(lambda m: m["type"] == "handler-started" and mine(m), timeout=1)
    logs = [base64.b64decode(m["payload"]["message"]).decode() for m in list(fn.messages)
            if m["type"] == "log" and mine(m)]
    return response, logs


def request_line(logs):
    """The app's one JSON log line for the request (lib.http.log_request), parsed."""
    (line,) = [json.loads(text) for text in logs if text.startswith('{"endpoint"')]
    assert set(line) <= {"endpoint", "status", "error", "ms", "engine"}  # nothing about the user or the image
    return line


@pytest.mark.redis
@pytest.mark.parametrize("name", API_NAMES)
def test_every_function_runs_and_refuses_a_wrong_method(stack, name):
    response, logs = call(stack.functions[name], "DELETE")
    declared = re.search(r"@http\.endpoint\(([^)]*)\)", (ROOT / "api" / f"{name}.py").read_text()).group(1)
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == ", ".join(re.findall(r'"(\w+)"', declared))
    assert response.headers["cache-control"] == "no-store"
    line = request_line(logs)
    assert (line["endpoint"], line["status"], line["error"]) == (f"/api/{name}", 405, "method_not_allowed")


@pytest.mark.redis
def test_config_and_health(stack):
    response, _ = call(stack.functions["config"], "GET", ip="203.0.113.11")
    body = response.json()
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert body["engine"] == "replicate" and body["pro_available"] is True
    assert body["free_daily_limit"] == 5 and body["free_remaining"] == 5
    response, _ = call(stack.functions["health"], "GET")
    assert response.status_code == 200
    assert response.json()["checks"] == {"redis": True, "secret": True, "replicate": True, "stripe": True,
                                         "local_engine": False}  # the bundle has no onnxruntime/OpenCV


def upload(image, fmt="JPEG"):
    """httpx keyword arguments for a multipart upload of `image` (in memory)."""
    return {"files": {"image": ("photo." + fmt.lower(), encode(image, fmt), f"image/{fmt.lower()}")}}


@pytest.mark.redis
def test_image_tools_on_the_fake_replicate(stack):
    before = len(stack.replicate.calls("create"))
    picture = photo("chelsea", (96, 64))
    response, logs = call(stack.functions["denoise"], "POST", ip="203.0.113.12", **upload(picture))
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (96, 64)
    assert response.headers["x-quota-remaining"] == "4"
    assert request_line(logs)["engine"] == "replicate"

    response, _ = call(stack.functions["remove_bg"], "POST", ip="203.0.113.12", **upload(picture))
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    cutout = Image.open(io.BytesIO(response.content))
    assert cutout.mode == "RGBA" and cutout.size == (96, 64)
    assert response.headers["x-quota-remaining"] == "3"  # one Redis quota across separate functions

    response, _ = call(stack.functions["watermark_mask"], "POST", ip="203.0.113.12", **upload(picture, "PNG"))
    assert response.status_code == 200 and Image.open(io.BytesIO(response.content)).mode == "L"

    mask = Image.new("L", (96, 64))
    mask.paste(255, (60, 40, 90, 60))
    files = upload(picture)["files"] | {"mask": ("mask.png", encode(mask, "PNG"), "image/png")}
    response, _ = call(stack.functions["remove_watermark"], "POST", ip="203.0.113.12", files=files)
    assert response.status_code == 200 and Image.open(io.BytesIO(response.content)).size == (96, 64)

    assert len(stack.replicate.calls("create")) - before == 3  # mask suggestions run in the function itself
    assert stack.replicate.live_files() == []  # every upload deleted again

    response, _ = call(stack.functions["denoise"], "POST", ip="203.0.113.12", content=b"not an image",
                       headers={"Content-Type": "image/jpeg"})
    assert response.status_code in (400, 415) and response.json()["error"]["code"] in ("invalid_image", "unsupported_format")
    assert b"not an image" not in response.content


@pytest.mark.redis
def test_heic_and_avif_through_the_built_functions(stack):
    """pi-heif's libheif/libde265 and Pillow's libavif from the bundle, on the bare Python 3.12."""
    before = len(stack.replicate.calls("create"))
    iphone = heic(left_red((96, 64)), quality=90, exif=exif_bytes(orientation=6))
    response, logs = call(stack.functions["denoise"], "POST", ip="203.0.113.14", content=iphone,
                          headers={"Content-Type": "image/heic"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg", response.text[:300]
    out = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert out.size == (64, 96) and out.getpixel((32, 5))[0] > 180  # upright: red on top
    assert b"GPS" not in response.content and request_line(logs)["engine"] == "replicate"
    files = {"image": ("photo.avif", avif(photo("chelsea", (96, 64))), "image/avif")}
    response, _ = call(stack.functions["remove_bg"], "POST", ip="203.0.113.14", files=files, data={"background": "#ffffff"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/avif"
    assert Image.open(io.BytesIO(response.content)).size == (96, 64)
    response, _ = call(stack.functions["watermark_mask"], "POST", ip="203.0.113.14",
                       files={"image": ("IMG_0001.HEIC", iphone, "image/heic")})
    assert response.status_code == 200 and Image.open(io.BytesIO(response.content)).size == (64, 96)
    assert len(stack.replicate.calls("create")) - before == 2 and stack.replicate.live_files() == []
    response, _ = call(stack.functions["denoise"], "POST", ip="203.0.113.14", content=iphone[: len(iphone) // 2],
                       headers={"Content-Type": "image/heic"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_image")


def signed(payload, secret=WEBHOOK_SECRET):
    return {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, secret),
            "Content-Type": "application/json"}


@pytest.mark.redis
def test_signed_webhook_then_pro_across_functions(stack):
    fake = stack.stripe
    customer = fake.add_customer()
    session = fake.add_session(customer, mode="payment")
    event = fixture("event")
    event.update(id=f"evt_vercel_{uuid.uuid4().hex[:12]}", type="checkout.session.completed",
                 data={"object": fake.sessions[session]})
    payload = json.dumps(event)
    webhook = stack.functions["stripe_webhook"]

    response, _ = call(webhook, "POST", content=payload.encode(), headers=signed(payload, "whsec_wrong"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert "imgmend_pro" not in fake.customers[customer]["metadata"]

    response, logs = call(webhook, "POST", content=payload.encode(), headers=signed(payload))
    assert (response.status_code, response.json()) == (200, {"received": True})
    assert fake.customers[customer]["metadata"]["imgmend_pro"] == "lifetime"
    assert any(event["id"] in line for line in logs)  # the event id is logged, through the runtime

    response, _ = call(stack.functions["verify_pro"], "POST", ip="203.0.113.13", json={"pro_key": customer})
    assert response.status_code == 200 and response.json()["pro"] is True
    token = response.json()["token"]
    response, _ = call(stack.functions["denoise"], "POST", ip="203.0.113.13",
                       headers={"Authorization": f"Bearer {token}"}, **upload(photo("coffee", (64, 48))))
    assert response.status_code == 200 and "x-quota-remaining" not in response.headers


@pytest.mark.redis
def test_page_view_and_stats_share_redis(stack):
    response, _ = call(stack.functions["event"], "POST", json={"path": "/denoise"},
                       headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"})
    assert response.status_code == 204
    response, _ = call(stack.functions["stats"], "GET", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    response, _ = call(stack.functions["stats"], "GET", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200
    totals = response.json()["totals"]
    assert totals["views"].get("/denoise") == 1 and totals["browsers"].get("Firefox 128") == 1  # ua-parser runs
    assert totals["runs"]["denoise"]["ok"] >= 1  # image runs by other functions, counted in the same Redis


def test_without_a_replicate_token_the_bundle_says_not_configured(built, toolchain, tmp_path):
    functions = start_functions(built, toolchain, ["health", "denoise", "watermark_mask"],
                                {"IMGMEND_SECRET": "vercel-build-test-secret"}, tmp_path)
    try:
        response, _ = call(functions["health"], "GET")
        assert response.status_code == 503 and response.json()["error"]["failing"] == ["local_engine"]
        picture = photo("chelsea", (64, 48))
        response, _ = call(functions["denoise"], "POST", **upload(picture))
        assert (response.status_code, response.json()["error"]["code"]) == (503, "not_configured")
        response, _ = call(functions["watermark_mask"], "POST", **upload(picture))
        assert response.status_code == 200  # detection is Pillow only: it works on any engine
    finally:
        stop_all(functions)
