"""Privacy invariants of the image endpoints, on both engines (local, and Replicate via the loopback fake).

(a) no file is opened for writing and no temporary file is made while a request runs (audit hook);
(b) no image bytes, EXIF GPS, Pro token, Stripe customer id or email reach any log or stdout/stderr;
(c) the Replicate upload is deleted even when the browser goes away mid-request (the failure paths
    are rows of tests/test_faults.py, each of which asserts the deletion too);
(d) EXIF GPS never leaves: not in what Replicate receives, not in the response;
(e) browser storage keys: tests/browser/test_site.py::test_language_switch_survives_reload_and_storage_is_minimal
    (localStorage == ["imgmend.lang"], sessionStorage empty, no cookies) and
    ::test_bad_pro_token_is_sent_then_cleared (the Pro keys leave sessionStorage) already cover it.
"""

import base64
import contextlib
import io
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import stripe
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from lib import config, engines
from lib.engines.replicate import ReplicateEngine
from tests.support.env import free_port
from tests.support.images import avif, encode, heic, photo
from tests.support.fake_stripe import FakeStripe, fixture, serving

ROOT = Path(__file__).resolve().parent.parent
IMAGE_ENDPOINTS = ("denoise", "remove_bg", "remove_watermark", "watermark_mask")
WERKZEUG_SPOOL_BYTES = 1024 * 500  # werkzeug's default_stream_factory spools bodies above this to disk

# Distinctive EXIF values: any of them in a log, an upload or a response is a leak.
GPS_DATUM = "WGS-84-imgmend-privacy-7Q"
GPS_AREA = "Kitchen-of-Flat-7Q"
MAKER, MODEL = "PhoneMaker-7Q", "PocketCam-7Q"
DESCRIPTION, COMMENT = "secret-description-7Q", b"my-secret-comment-7Q"
LATITUDE = (47.0, 13.0, 41.6789)
GPS_STRINGS = (GPS_DATUM, GPS_AREA, MAKER, MODEL, DESCRIPTION, COMMENT.decode(), "41.6789", "GPSInfo")
STRIPE_EMAIL = "privacy-buyer-7q@example.com"
WEBHOOK_SECRET = "whsec_privacy_test_secret"


def gps_exif():
    """EXIF as a phone writes it: orientation, maker/model, description and a GPS IFD with strings."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the decoder must read EXIF, so it is really parsed
    exif[0x010F], exif[0x0110], exif[0x010E] = MAKER, MODEL, DESCRIPTION
    exif[0x8825] = {
        1: "N", 2: LATITUDE, 3: "E", 4: (11.0, 34.0, 56.789),
        0x12: GPS_DATUM, 0x1C: b"ASCII\0\0\0" + GPS_AREA.encode(),
    }
    return exif.tobytes()


def gps_jpeg(size=(120, 90)):
    """A small real photo with GPS EXIF and a comment."""
    return encode(photo("coffee", size), "JPEG", quality=90, exif=gps_exif(), comment=COMMENT)


def big_gps_jpeg():
    """A real photo with sensor noise, as a phone JPEG over werkzeug's 500 KB spool threshold."""
    img = photo("chelsea", (560, 420))
    rng = np.random.default_rng(7)
    noisy = np.clip(np.asarray(img, dtype=np.int16) + rng.normal(0, 12, (420, 560, 3)), 0, 255)
    return encode(Image.fromarray(noisy.astype(np.uint8)), "JPEG", quality=100, subsampling=0,
                  exif=gps_exif(), comment=COMMENT)


def mask_png(size):
    """A user mask (white = remove) over a band."""
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 8, size[1] * 3 // 4, size[0] * 7 // 8, size[1] * 7 // 8))
    return encode(mask, "PNG")


def multipart(tool, image, mask=None):
    """(body, content type) of a browser-like upload, built in memory (no spooled test input)."""
    fields = {"image": FileStorage(io.BytesIO(image), filename="IMG_0001.jpg", content_type="image/jpeg")}
    if tool == "remove_watermark" and mask is not None:
        fields["mask"] = FileStorage(io.BytesIO(mask), filename="mask.png", content_type="image/png")
    boundary, body = encode_multipart(fields)
    return body, f"multipart/form-data; boundary={boundary}"


def post_image(api, tool, image, mask=None, headers=None):
    """POST an image (and mask) to an image endpoint as multipart."""
    body, content_type = multipart(tool, image, mask)
    return api(tool).post(data=body, content_type=content_type, headers=headers or {})


@pytest.fixture(params=["local", "replicate"])
def engine(request, monkeypatch):
    """Each test once per engine; on replicate, returns the fake (short deadline for timeouts)."""
    if request.param == "local":
        yield None
        return
    fake = request.getfixturevalue("replicate_env")
    monkeypatch.setattr(config, "REPLICATE_DEADLINE_S", 5.0)
    with engines.use(ReplicateEngine()):
        yield fake


# --- (a) no file written, no temporary file, during any image request ------------------------------

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# Every os.*/shutil.*/tempfile.* event changes the filesystem or the process except these, which
# only read a directory or an attribute.
READ_ONLY_EVENTS = {"os.listdir", "os.scandir", "os.walk", "os.fwalk", "os.getxattr", "os.listxattr"}


class FileWriteRecorder:
    """A switchable sys.addaudithook recorder: audit hooks cannot be removed, so one is installed per
    process and records only while `recording()` is active (all threads: the fakes run in this
    process too, and keep uploads in memory)."""

    def __init__(self):
        self.active = False
        self.events = []

    def hook(self, event, args):
        """The audit hook: note file writes, temp files and filesystem changes while active."""
        if not self.active:
            return
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if (isinstance(mode, str) and set(mode) & set("wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            ):
                self.events.append((event, str(path), mode, flags))
        elif event.startswith(("os.", "shutil.", "tempfile.", "subprocess.")) and event not in READ_ONLY_EVENTS:
            self.events.append((event,) + tuple(str(a)[:200] for a in args))

    @contextlib.contextmanager
    def recording(self):
        """Record the events of the block into a fresh list, yielded."""
        self.events = []
        self.active = True
        try:
            yield self.events
        finally:
            self.active = False


_recorder = None


def recorder():
    """The process's one recorder, installed on first use."""
    global _recorder
    if _recorder is None:
        _recorder = FileWriteRecorder()
        sys.addaudithook(_recorder.hook)
    return _recorder


def test_the_recorder_sees_writes_and_temp_files(tmp_path):
    """The hook is not blind: the writes the app must never do are recorded."""
    import tempfile

    with recorder().recording() as events:
        (tmp_path / "x").write_bytes(b"1")
        fd = os.open(tmp_path / "y", os.O_WRONLY | os.O_CREAT)
        os.close(fd)
        with tempfile.SpooledTemporaryFile(max_size=10) as spooled:
            spooled.write(b"more than ten bytes")
        tempfile.mkdtemp(dir=tmp_path)
        os.remove(tmp_path / "x")
    names = [e[0] for e in events]
    assert names.count("open") >= 3 and "tempfile.mkdtemp" in names and "os.remove" in names
    with recorder().recording() as events:
        (tmp_path / "y").read_bytes()
    assert events == []  # reading is not recorded


def band_mask(image):
    """A detected watermark along the bottom (a photo where none is found answers 422 before any upload)."""
    mask = Image.new("L", image.size, 0)
    mask.paste(255, (0, image.height * 3 // 4, image.width, image.height))
    return mask


@pytest.mark.parametrize("tool", IMAGE_ENDPOINTS)
def test_no_file_is_written_during_an_image_request(api, engine, tool, monkeypatch):
    if engine is not None and tool == "remove_watermark":  # the raw body below carries no mask
        from lib import heuristic_mask

        monkeypatch.setattr(heuristic_mask, "detect_watermark", band_mask)
    image = big_gps_jpeg()
    mask = mask_png((560, 420))
    body, content_type = multipart(tool, image, mask)
    assert len(body) > WERKZEUG_SPOOL_BYTES  # werkzeug would spool this body to a temp file
    # Warm-up with a small photo first: a first model load may read weights (reads are fine) and
    # the clients are built lazily; the recorded request is then the steady state. Nothing excluded.
    assert post_image(api, tool, gps_jpeg((64, 48)), mask_png((64, 48))).status_code == 200
    client = api(tool)
    with recorder().recording() as events:
        statuses = [client.post(data=body, content_type=content_type).status_code]
        if engine is not None:  # the raw-body upload too (parsing is engine-independent: once is enough)
            statuses.append(client.post(data=image, content_type="image/jpeg").status_code)
    assert set(statuses) == {200}
    assert events == []
    if engine is not None:  # detection (watermark_mask) runs locally on either engine: no upload
        assert len(engine.uploaded) >= (0 if tool == "watermark_mask" else 2) and engine.live_files() == []


# --- (d) EXIF GPS never leaves the function ----------------------------------------------------------


def assert_no_metadata(data):
    """No GPS IFD, no EXIF at all, none of the EXIF/comment strings, in these image bytes."""
    img = Image.open(io.BytesIO(data))
    assert 0x8825 not in img.getexif() and not img.getexif()
    assert not {"exif", "comment", "xmp"} & set(img.info)
    for text in GPS_STRINGS:
        assert text.encode() not in data, text
    assert b"Exif\0\0" not in data and b"GPS" not in data


@pytest.mark.parametrize("tool", IMAGE_ENDPOINTS)
def test_exif_gps_never_leaves(api, engine, tool):
    source = gps_jpeg()
    assert b"GPS" in source or GPS_DATUM.encode() in source  # the input really carries it
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(0x8825)[0x12] == GPS_DATUM
    response = post_image(api, tool, source, mask_png((90, 120)))
    assert response.status_code == 200
    assert_no_metadata(response.get_data())
    if engine is not None:
        sent = [engine.upload_bytes(file_id) for file_id in engine.uploaded]
        assert len(sent) == (0 if tool == "watermark_mask" else 2 if tool == "remove_watermark" else 1)
        for data in sent:
            assert_no_metadata(data)
        assert engine.live_files() == []


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="47,13.7N" exif:GPSMapDatum="'
       + GPS_DATUM.encode() + b'"/></rdf:RDF></x:xmpmeta>')


@pytest.mark.parametrize("encoder", [heic, avif])
@pytest.mark.parametrize("tool", IMAGE_ENDPOINTS)
def test_heic_and_avif_gps_never_leaves_and_nothing_is_written(api, engine, tool, encoder):
    """An iPhone-style HEIC (and an AVIF) with the GPS EXIF above and a position in XMP: no file
    written while it is decoded (libheif and libavif work in memory), no metadata in what Replicate
    receives or in the answer."""
    source = encoder(photo("coffee", (120, 90)), quality=90, exif=gps_exif(), xmp=XMP)
    assert GPS_DATUM.encode() in source and MAKER.encode() in source and b"GPSLatitude" in source
    assert post_image(api, tool, encoder(photo("coffee", (64, 48))), mask_png((64, 48))).status_code == 200  # warm-up
    before = len(engine.uploaded) if engine is not None else 0
    with recorder().recording() as events:
        response = post_image(api, tool, source, mask_png((90, 120)))
    assert response.status_code == 200 and events == []
    assert_no_metadata(response.get_data())
    assert b"xmpmeta" not in response.get_data() and b"GPSLatitude" not in response.get_data()
    if engine is not None:
        sent = [engine.upload_bytes(file_id) for file_id in engine.uploaded[before:]]
        assert len(sent) == (0 if tool == "watermark_mask" else 2 if tool == "remove_watermark" else 1)
        for data in sent:
            assert_no_metadata(data)
            assert b"xmpmeta" not in data and b"GPSLatitude" not in data
        assert engine.live_files() == []


# --- (b) nothing private in any log ------------------------------------------------------------------


@pytest.fixture
def stripe_fake(monkeypatch):
    """A FakeStripe served on loopback (real HTTP from the real stripe client); no access log."""
    fake = FakeStripe()
    with serving(fake, monkeypatch, STRIPE_SECRET_KEY="sk_test_privacyKey7Q0123456789",
                 STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_PRICE_ID=fake.add_price(recurring=False)):
        yield fake


def windows(text, width):
    """Every substring of `text` of this width."""
    return {text[i:i + width] for i in range(max(0, len(text) - width + 1))}


def encodings_of(data):
    """(width, set of windows) for each way bytes could be written into a text log."""
    b64 = set()
    for shift in range(3):  # base64 of any slice lines up with one of three alignments
        b64 |= windows(base64.b64encode(data[shift:]).decode(), 24)
        b64 |= windows(base64.urlsafe_b64encode(data[shift:]).decode(), 24)
    return [
        (16, windows(data.decode("latin-1"), 16)),
        (24, b64),
        (32, windows(data.hex(), 32)),
        (40, windows(repr(data)[2:-1], 40)),
    ]


def find_leaks(text, secrets, uploads):
    """The secrets and the upload windows found in `text` (empty when clean)."""
    found = [s for s in secrets if s and s in text]
    text_windows = {width: windows(text, width) for width in (16, 24, 32, 40)}  # once, not per upload
    for data in uploads:
        for width, needles in encodings_of(data):
            hits = needles & text_windows[width]
            if hits:
                found.append(f"{len(hits)} {width}-char windows of an upload, e.g. {sorted(hits)[0]!r}")
    return found


def record_text(record):
    """All a log record carries: the formatted line, the raw args and any extra fields."""
    parts = [record.getMessage(), str(record.msg)]
    standard = logging.makeLogRecord({}).__dict__.keys() | {"message", "asctime"}
    values = list(record.args if isinstance(record.args, tuple) else [record.args])
    values += [v for k, v in record.__dict__.items() if k not in standard]
    for value in values:
        parts.append(value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value))
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)


SAMPLE = bytes(range(256)) * 4


@pytest.mark.parametrize(
    "written",
    [
        SAMPLE[100:117].decode("latin-1"),
        base64.b64encode(SAMPLE[301:340]).decode(),
        base64.urlsafe_b64encode(SAMPLE[302:340]).decode(),
        SAMPLE[500:520].hex(),
        repr(SAMPLE[600:640]),
        "the Pro key cus_SECRET7Q",
    ],
    ids=["latin-1", "base64", "base64url shifted", "hex", "repr", "secret"],
)
def test_the_leak_finder_sees_bytes_in_every_encoding(written):
    """The search is not blind: a slice of the upload in any of these forms is found."""
    assert find_leaks(f"INFO something {written} more", ["cus_SECRET7Q"], [SAMPLE])


def webhook(api, payload):
    header = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
    return api("stripe_webhook").post(data=payload, content_type="application/json",
                                      headers={"Stripe-Signature": header})


# Loggers the app pins above DEBUG because their DEBUG lines quote private data; the test keeps
# those levels (they are the app's own guard, asserted below) and runs everything else at DEBUG.
PINNED = {"stripe": logging.WARNING, "urllib3": logging.INFO, "PIL": logging.INFO}


def test_no_image_bytes_or_secrets_in_any_log(api, engine, stripe_fake, monkeypatch, caplog, capfd):
    jpeg, mask = gps_jpeg(), mask_png((120, 90))  # made before capture: Pillow logs what it writes
    import lib.images  # noqa: F401  (the modules that pin loggers, imported as the endpoints do)
    import lib.payments  # noqa: F401

    caplog.set_level(logging.DEBUG)  # the root logger, so every logger left at NOTSET
    for name in ("imgmend", "werkzeug", "httpx", "httpcore", "replicate", "requests", "limits", "redis"):
        caplog.set_level(logging.DEBUG, logger=name)
    capfd.readouterr()
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1000")
    uploads, secrets = [], [config.env("IMGMEND_SECRET"), "sk_test_privacyKey7Q", WEBHOOK_SECRET, STRIPE_EMAIL]
    secrets += list(GPS_STRINGS)
    if engine is not None:
        secrets.append(engine.token)

    def send(tool, image, mask=None, headers=None):
        uploads.append(image)
        if mask is not None and tool == "remove_watermark":
            uploads.append(mask)
        return post_image(api, tool, image, mask, headers).status_code

    # Pro: buy (one-time), verify by session id and by key, use the token, open the portal, webhooks.
    customer = stripe_fake.add_customer(email=STRIPE_EMAIL)
    session = stripe_fake.add_session(customer, mode="payment")
    verified = api("verify_pro").post(json={"session_id": session})
    assert verified.status_code == 200
    token = verified.get_json()["token"]
    secrets += [customer, token, session]
    assert api("verify_pro").post(json={"pro_key": customer}).status_code == 200
    pro = {"Authorization": f"Bearer {token}"}
    assert api("billing_portal").post(headers=pro).status_code == 200
    assert api("create_checkout").post(json={"lang": "en"}).status_code == 200
    event = fixture("event")
    event.update(id="evt_privacy7Q", type="checkout.session.completed", data={"object": stripe_fake.sessions[session]})
    assert webhook(api, json.dumps(event)).status_code == 200

    statuses = [send(tool, jpeg, mask) for tool in IMAGE_ENDPOINTS]
    statuses.append(send("denoise", jpeg, headers=pro))
    statuses.append(send("denoise", jpeg, headers={"Authorization": "Bearer forged.token.7Q"}))
    secrets.append("forged.token.7Q")
    statuses.append(send("denoise", jpeg[: len(jpeg) // 2]))  # truncated: invalid_image
    statuses.append(send("remove_watermark", jpeg, mask=jpeg[:300]))  # unreadable mask
    statuses.append(send("remove_bg", b"GIF89a" + jpeg[6:2000]))  # garbage behind a GIF header
    assert statuses == [200, 200, 200, 200, 200, 401, 400, 400, 400]

    stripe_fake.fail_with = (500, "api_error")  # Stripe down: verify and webhook answer 503
    assert api("verify_pro").post(json={"pro_key": customer}).status_code == 503
    event["id"] = "evt_privacy8R"  # a new event (one already acted on is acknowledged without Stripe)
    assert webhook(api, json.dumps(event)).status_code == 503
    stripe_fake.fail_with = None

    if engine is not None:  # Replicate failures: the model's error text, 401, reset, garbage, deadline
        fake = engine
        monkeypatch.setattr(config, "REPLICATE_DEADLINE_S", 1.3)
        failures = [
            lambda: setattr(fake.script, "outcome", "failed"),
            lambda: fake.fail("create", 401),
            lambda: fake.disconnect("create", times=1),
            lambda: setattr(fake.script, "output", "garbage"),
            lambda: setattr(fake.script, "never_finish", True),
        ]
        codes = []
        for setup in failures:
            fake.script.outcome, fake.script.output, fake.script.never_finish = "succeeded", "image", False
            fake._failures.clear()
            setup()
            codes.append(send("remove_bg", jpeg))
        assert codes == [502, 503, 503, 502, 504]
        assert fake.live_files() == []

    captured = capfd.readouterr()
    text = "\n".join([caplog.text, captured.out, captured.err] + [record_text(r) for r in caplog.records])
    assert '"endpoint":"/"' in text or '"endpoint"' in text  # the request log lines were captured
    assert {name: logging.getLogger(name).getEffectiveLevel() for name in PINNED} == PINNED
    assert find_leaks(text, secrets, uploads) == []


# --- (c) the upload is deleted when the browser goes away -----------------------------------------------


def _wait_for(condition, limit_s, what):
    """Poll `condition` until true; fail (not skip) after limit_s, a bound, not a timing claim."""
    end = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def devserver(replicate_env):
    """`python -m dev` in a subprocess on the fake Replicate; yields (port, stderr reader)."""
    port = free_port()
    env = dict(os.environ)
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dev", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )

    def up():
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        return proc.poll() is not None

    _wait_for(up, 60, "the dev server to listen")
    assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
    output = {}

    def stop():
        if "text" not in output:
            proc.terminate()
            output["text"] = proc.communicate(timeout=20)[0].decode("latin-1")
        return output["text"]

    yield port, stop
    stop()


def raw_request(port, tool, image):
    """A connected socket and the bytes of a multipart POST to /api/<tool>."""
    body, content_type = multipart(tool, image)
    head = (f"POST /api/{tool} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock, head + body


def slam(sock):
    """Close like a closed browser tab: at once, with a reset."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_upload_deleted_when_the_client_goes_away_mid_prediction(devserver, replicate_env):
    fake, (port, stop) = replicate_env, devserver
    fake.script.polls = 3  # the prediction runs a few polls: the client leaves meanwhile
    image = gps_jpeg()
    sock, request = raw_request(port, "remove_bg", image)
    sock.sendall(request)
    _wait_for(lambda: fake.calls("create"), 60, "the prediction to start")
    slam(sock)
    _wait_for(lambda: fake.deleted, 60, "the upload to be deleted")
    assert len(fake.uploaded) == 1 and fake.live_files() == [] and fake.deleted == fake.uploaded
    log = stop()
    assert find_leaks(log, [fake.token, *GPS_STRINGS], [image]) == []


def test_nothing_uploaded_when_the_client_goes_away_mid_upload(devserver, replicate_env):
    fake, (port, stop) = replicate_env, devserver
    image = gps_jpeg()
    sock, request = raw_request(port, "denoise", image)
    sock.sendall(request[: len(request) // 2])
    slam(sock)
    # A whole request afterwards: it runs, and it is the only upload there ever was.
    sock, request = raw_request(port, "denoise", image)
    with sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    assert len(fake.uploaded) == 1 and fake.live_files() == []
    log = stop()
    assert find_leaks(log, [fake.token, *GPS_STRINGS], [image]) == []
