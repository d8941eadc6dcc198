"""The Replicate engine through the real `replicate` client against a loopback fake of the API."""

import io
import json
import logging
import re
import socket
import time

import httpx
import pytest
from PIL import Image, ImageDraw

from lib.engines import replicate as engine_module
from lib.engines.replicate import DEFAULT_MODELS, ReplicateEngine
from lib.errors import NotConfigured, UpstreamError, UpstreamTimeout, UpstreamUnavailable

SCUNET_VERSION = DEFAULT_MODELS["denoise"].split(":", 1)[1]
BG_851_VERSION = "a029dff38972b5fda4ec5d75d7d1cd25aeff621d2cf4946a41055d7db66b80bc"


def photo(size=(64, 48)):
    """A small RGB test image with structure (gradient plus squares)."""
    img = Image.new("RGB", size)
    img.putdata([(x * 4 % 256, y * 5 % 256, (x * y) % 256) for y in range(size[1]) for x in range(size[0])])
    draw = ImageDraw.Draw(img)
    draw.rectangle((8, 8, 20, 20), fill=(250, 250, 250))
    draw.rectangle((40, 20, 56, 40), fill=(10, 30, 200))
    return img


def watermark_mask(size=(64, 48)):
    """An L mask, white (remove) over a band."""
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((4, 30, 60, 40), fill=255)
    return mask


@pytest.fixture
def engine(replicate_env):
    """An engine with a short deadline and quick polling, pointed at the fake."""
    return ReplicateEngine(deadline_s=5.0, poll_interval_s=(0.02, 0.1))


def assert_uploads_deleted(fake, expected=1):
    assert len(fake.uploaded) == expected
    assert fake.live_files() == []
    assert sorted(fake.deleted) == sorted(fake.uploaded)


def prefer_wait(call):
    match = re.fullmatch(r"wait=(\d+)", call.headers.get("prefer", ""))
    assert match, call.headers
    return int(match.group(1))


# --- the three tools --------------------------------------------------------------------------


def test_remove_bg_runs_official_model_with_prefer_wait(engine, replicate_env):
    fake = replicate_env
    image = photo()
    result = engine.run("remove_bg", image)

    assert result.mode == "RGBA" and result.size == image.size
    assert result.getchannel("A").getextrema() == (0, 255)  # the fake model's cut-out came back
    (create,) = fake.calls("create")
    assert create.path == "/v1/models/bria/remove-background/predictions"
    assert 1 <= prefer_wait(create) <= 60
    assert create.json == {"input": {"image": f"{fake.base_url}/v1/files/{fake.uploaded[0]}"}}
    (upload,) = fake.calls("upload")
    assert upload.headers["content-type"].startswith("multipart/form-data") and upload.body_size > 0
    assert fake.calls("get") == []  # done within Prefer: wait, no polling
    assert_uploads_deleted(fake)
    (download,) = fake.calls("output")
    assert "authorization" not in download.headers  # the output host never sees the token
    assert fake.calls().index(download) < fake.calls().index(fake.calls("delete")[0])


def test_denoise_runs_scunet_version_and_reads_denoised_image(engine, replicate_env):
    fake = replicate_env
    image = photo()
    result = engine.run("denoise", image)

    assert result.mode == "RGB" and result.size == image.size
    assert result.tobytes() != image.tobytes()  # the fake model's blurred copy, not the input
    (create,) = fake.calls("create")
    assert create.path == "/v1/predictions"
    assert 1 <= prefer_wait(create) <= 60  # the client sends Prefer for version predictions too
    assert create.json["version"] == SCUNET_VERSION
    assert create.json["input"]["model_name"] == "real image denoising"
    assert fake.predictions()[0]["output"]["denoised_image"].endswith("/out.png")
    assert_uploads_deleted(fake)


def test_remove_watermark_uploads_mask_and_deletes_both(engine, replicate_env):
    fake = replicate_env
    image, mask = photo(), watermark_mask()
    result = engine.run("remove_watermark", image, {"mask": mask})

    assert result.mode == "RGB" and result.size == image.size
    inside = {result.getpixel((x, 35)) for x in range(10, 50)}
    assert len(inside) == 1  # the fake eraser filled the masked band with one colour
    (create,) = fake.calls("create")
    assert create.path == "/v1/models/bria/eraser/predictions"
    image_id, mask_id = fake.uploaded
    assert create.json["input"] == {
        "image": f"{fake.base_url}/v1/files/{image_id}",
        "mask": f"{fake.base_url}/v1/files/{mask_id}",
        "mask_type": "manual",  # a mask the caller gave is a user's brush
    }
    uploaded_mask = Image.open(io.BytesIO(fake.upload_bytes(mask_id)))
    assert uploaded_mask.format == "PNG" and uploaded_mask.mode == "L"
    assert_uploads_deleted(fake, expected=2)


def test_remove_watermark_without_mask_detects_one(engine, replicate_env, monkeypatch):
    seen = []

    def detect_watermark(image):
        seen.append(image.size)
        return watermark_mask(image.size)

    from lib import watermark_detector

    monkeypatch.setattr(watermark_detector, "detect_watermark", detect_watermark)
    result = engine.run("remove_watermark", photo())

    assert result.mode == "RGB" and seen == [(64, 48)]
    assert_uploads_deleted(replicate_env, expected=2)
    assert replicate_env.calls("create")[0].json["input"]["mask_type"] == "automatic"  # the detector's mask
    assert engine.detect_watermark(photo()).mode == "L"  # detect_watermark delegates to the detector


# --- waiting, polling, deadline ------------------------------------------------------------------


def test_polls_when_the_first_answer_is_processing(engine, replicate_env):
    fake = replicate_env
    fake.script.polls = 3
    result = engine.run("remove_bg", photo())

    assert result.mode == "RGBA"
    assert fake.predictions()[0]["status"] == "succeeded"
    assert len(fake.calls("get")) == 4  # three "processing" answers, then "succeeded"
    assert fake.cancelled == []
    assert_uploads_deleted(fake)


def test_sync_output_while_processing_is_used_without_polling(engine, replicate_env):
    fake = replicate_env
    fake.script.sync_output_while_processing = True
    assert engine.run("remove_bg", photo()).mode == "RGBA"
    assert fake.calls("get") == [] and fake.cancelled == []
    assert_uploads_deleted(fake)


def test_transient_poll_errors_are_retried(engine, replicate_env):
    fake = replicate_env
    fake.script.polls = 1
    fake.fail("get", 503, times=1)
    assert engine.run("denoise", photo()).mode == "RGB"
    assert len(fake.calls("get")) == 3  # 503, "processing", "succeeded"
    assert_uploads_deleted(fake)


def test_deadline_cancels_the_prediction_and_deletes_the_upload(replicate_env):
    fake = replicate_env
    fake.script.never_finish = True
    engine = ReplicateEngine(deadline_s=1.5, poll_interval_s=(0.05, 0.2))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        engine.run("remove_bg", photo())

    assert 1.4 <= time.monotonic() - started < 3.5
    assert caught.value.status == 504 and caught.value.code == "upstream_timeout"
    assert fake.cancelled == [fake.predictions()[0]["id"]]
    assert fake.predictions()[0]["status"] == "canceled"
    assert prefer_wait(fake.calls("create")[0]) == 1  # never asks the API to hold past the deadline
    assert_uploads_deleted(fake)


# --- failures: mapped error, cleanup, no secret ---------------------------------------------------


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


FAILURES = {
    # name: (setup(fake, monkeypatch), error class, status, code, uploads made)
    "create 401": (lambda f, m: f.fail("create", 401), UpstreamUnavailable, 503, "upstream_unavailable", 1),
    "create 403": (lambda f, m: f.fail("create", 403), UpstreamUnavailable, 503, "upstream_unavailable", 1),
    "create 402": (lambda f, m: f.fail("create", 402), UpstreamUnavailable, 503, "upstream_unavailable", 1),
    "create 422": (lambda f, m: f.fail("create", 422), UpstreamError, 502, "upstream_error", 1),
    "create 429": (lambda f, m: f.fail("create", 429), UpstreamUnavailable, 503, "upstream_unavailable", 1),
    "create 500": (lambda f, m: f.fail("create", 500), UpstreamUnavailable, 503, "upstream_unavailable", 1),
    "upload 500": (lambda f, m: f.fail("upload", 500), UpstreamUnavailable, 503, "upstream_unavailable", 0),
    "wrong token": (
        lambda f, m: m.setenv("REPLICATE_API_TOKEN", "r8_wrongTokenValue0123456789abcdef"),
        UpstreamUnavailable,
        503,
        "upstream_unavailable",
        0,
    ),
    "prediction failed": (
        lambda f, m: setattr(f.script, "outcome", "failed"),
        UpstreamError,
        502,
        "upstream_error",
        1,
    ),
    "prediction canceled": (
        lambda f, m: setattr(f.script, "outcome", "canceled"),
        UpstreamError,
        502,
        "upstream_error",
        1,
    ),
    "failed after polling": (
        lambda f, m: (setattr(f.script, "outcome", "failed"), setattr(f.script, "polls", 2)),
        UpstreamError,
        502,
        "upstream_error",
        1,
    ),
    "poll 404": (
        lambda f, m: (setattr(f.script, "polls", 2), f.fail("get", 404)),
        UpstreamError,
        502,
        "upstream_error",
        1,
    ),
    "garbage output": (
        lambda f, m: setattr(f.script, "output", "garbage"),
        UpstreamError,
        502,
        "upstream_error",
        1,
    ),
    "output 404": (lambda f, m: setattr(f.script, "output", "not_found"), UpstreamError, 502, "upstream_error", 1),
    "no output": (lambda f, m: setattr(f.script, "output", "missing"), UpstreamError, 502, "upstream_error", 1),
    "connection refused": (
        lambda f, m: m.setenv("REPLICATE_BASE_URL", _closed_port_url()),
        UpstreamUnavailable,
        503,
        "upstream_unavailable",
        0,
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_upstream_failures_map_to_contract_errors(case, engine, replicate_env, monkeypatch, caplog):
    fake = replicate_env
    setup, error_class, status, code, uploads = FAILURES[case]
    setup(fake, monkeypatch)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(error_class) as caught:
        engine.run("remove_bg", photo())

    error = caught.value
    assert type(error) is error_class and error.status == status and error.code == code
    assert_uploads_deleted(fake, expected=uploads)
    exposed = " ".join(
        [str(error), repr(error), error.message, json.dumps(error.to_dict()), json.dumps(error.headers)]
    )
    assert fake.token not in exposed and fake.token not in caplog.text
    assert "r8_wrongTokenValue" not in exposed + caplog.text
    assert "CUDA" not in exposed and "predict.py" not in exposed  # never the model's own error text
    assert "Insufficient credit" not in exposed and "throttled" not in exposed


def test_401_says_the_service_is_misconfigured(engine, replicate_env):
    replicate_env.fail("create", 401)
    with pytest.raises(UpstreamUnavailable, match="misconfigured"):
        engine.run("denoise", photo())


def test_429_passes_retry_after_on(engine, replicate_env):
    replicate_env.fail("create", 429)
    with pytest.raises(UpstreamUnavailable) as caught:
        engine.run("remove_bg", photo())
    assert caught.value.headers == {"Retry-After": "7"}


def test_a_failed_poll_cancels_the_prediction(engine, replicate_env):
    fake = replicate_env
    fake.script.polls = 2
    fake.fail("get", 404)
    with pytest.raises(UpstreamError):
        engine.run("remove_bg", photo())
    assert fake.cancelled == [fake.predictions()[0]["id"]]


def test_mask_upload_failure_still_deletes_the_image(engine, replicate_env):
    fake = replicate_env
    fake.fail("upload", 500, skip=1)
    with pytest.raises(UpstreamUnavailable):
        engine.run("remove_watermark", photo(), {"mask": watermark_mask()})
    assert_uploads_deleted(fake, expected=1)
    assert fake.calls("create") == []


def test_delete_is_retried_and_a_lasting_failure_does_not_fail_the_run(engine, replicate_env, caplog):
    fake = replicate_env
    fake.fail("delete", 503, times=1)
    assert engine.run("remove_bg", photo()).mode == "RGBA"
    assert_uploads_deleted(fake)
    assert len(fake.calls("delete")) == 2

    fake.fail("delete", 500)
    caplog.set_level(logging.DEBUG)
    assert engine.run("remove_bg", photo()).mode == "RGBA"
    assert fake.uploaded[1] in fake.live_files()
    assert f"upload {fake.uploaded[1]} not deleted" in caplog.text
    assert fake.token not in caplog.text


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool, variable, value, path, expected_input, mode",
    [
        (
            "remove_bg",
            "REPLICATE_MODEL_REMOVE_BG",
            f"851-labs/background-remover:{BG_851_VERSION}",
            "/v1/predictions",
            {"format": "png", "background_type": "rgba"},
            "RGBA",
        ),
        (
            "denoise",
            "REPLICATE_MODEL_DENOISE",
            "megvii-research/nafnet",
            "/v1/models/megvii-research/nafnet/predictions",
            {"task_type": "Image Denoising"},
            "RGB",
        ),
        (
            "remove_watermark",
            "REPLICATE_MODEL_REMOVE_WATERMARK",
            "allenhooo/lama",
            "/v1/models/allenhooo/lama/predictions",
            {},
            "RGB",
        ),
        (
            "remove_bg",
            "REPLICATE_MODEL_REMOVE_BG",
            "acme/cutout-v2",
            "/v1/models/acme/cutout-v2/predictions",
            {},
            "RGBA",
        ),
    ],
)
def test_model_override_changes_route_and_input(
    tool, variable, value, path, expected_input, mode, engine, replicate_env, monkeypatch
):
    fake = replicate_env
    monkeypatch.setenv(variable, value)
    options = {"mask": watermark_mask()} if tool == "remove_watermark" else {}
    result = engine.run(tool, photo(), options)

    assert result.mode == mode
    (create,) = fake.calls("create")
    assert create.path == path
    assert 1 <= prefer_wait(create) <= 60
    if ":" in value:
        assert create.json["version"] == value.split(":", 1)[1]
    inputs = create.json["input"]
    assert inputs.pop("image").startswith(f"{fake.base_url}/v1/files/")
    if tool == "remove_watermark":
        assert inputs.pop("mask").startswith(f"{fake.base_url}/v1/files/")
    assert inputs == expected_input
    assert_uploads_deleted(fake, expected=2 if tool == "remove_watermark" else 1)


@pytest.mark.parametrize("output", ["list", "data_url"])
def test_generic_model_output_shapes(output, engine, replicate_env, monkeypatch):
    replicate_env.script.output = output
    monkeypatch.setenv("REPLICATE_MODEL_DENOISE", "acme/denoiser")
    assert engine.run("denoise", photo()).mode == "RGB"
    assert_uploads_deleted(replicate_env)


def test_no_token_is_not_configured(engine, replicate_env, monkeypatch):
    monkeypatch.delenv("REPLICATE_API_TOKEN")
    with pytest.raises(NotConfigured):
        engine.run("remove_bg", photo())
    assert replicate_env.calls() == []


def test_malformed_model_override_is_not_configured(engine, replicate_env, monkeypatch):
    monkeypatch.setenv("REPLICATE_MODEL_REMOVE_BG", "not a model ref")
    with pytest.raises(NotConfigured):
        engine.run("remove_bg", photo())
    assert replicate_env.calls() == []


def test_default_deadline_comes_from_config(replicate_env):
    ReplicateEngine().run("remove_bg", photo())
    wait = prefer_wait(replicate_env.calls("create")[0])
    deadline = engine_module.config.REPLICATE_DEADLINE_S
    assert min(60, int(deadline) - 2) <= wait <= min(60, int(deadline))


def test_every_api_request_gets_a_finite_timeout(replicate_env):
    # files.create sends timeout=None; the engine's transport must still bound the request.
    unbounded = {"timeout": httpx.Timeout(None).as_dict()}
    request = httpx.Request("GET", f"{replicate_env.base_url}/v1/files", extensions=unbounded)
    with engine_module._BoundedTransport() as transport:
        transport.handle_request(request).close()
    assert all(value is not None for value in request.extensions["timeout"].values())


# --- what leaves for Replicate -------------------------------------------------------------------


def test_upload_is_png_without_metadata(engine, replicate_env):
    image = photo()
    image.info.update(icc_profile=b"\0" * 200, exif=b"Exif\0\0MM", comment=b"secret place")
    engine.run("denoise", image)

    data = replicate_env.upload_bytes(replicate_env.uploaded[0])
    uploaded = Image.open(io.BytesIO(data))
    assert uploaded.format == "PNG" and uploaded.tobytes() == image.tobytes()  # lossless
    for chunk in (b"iCCP", b"eXIf", b"tEXt", b"zTXt", b"iTXt"):
        assert chunk not in data


def test_large_upload_falls_back_to_jpeg_without_metadata(engine, replicate_env, monkeypatch):
    monkeypatch.setattr(engine_module, "MAX_PNG_UPLOAD_BYTES", 1000)
    image = photo()
    image.info.update(icc_profile=b"\0" * 200, exif=b"Exif\0\0MM", comment=b"secret place")
    engine.run("denoise", image)

    (upload,) = replicate_env.calls("upload")
    data = replicate_env.upload_bytes(replicate_env.uploaded[0])
    uploaded = Image.open(io.BytesIO(data))
    assert uploaded.format == "JPEG"
    assert not {"icc_profile", "exif", "comment"} & set(uploaded.info)
    assert b"secret place" not in data and upload.body_size > len(data)


# --- deployments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tool, model, expected_input", [
    ("denoise", "cszn/scunet", {"model_name": "real image denoising"}),
    ("remove_bg", "bria/remove-background", {}),
    ("remove_watermark", "bria/eraser", {"mask_type": "manual"}),
])
def test_a_deployment_runs_the_tool_instead_of_the_public_model(engine, replicate_env, monkeypatch, tool, model,
                                                                 expected_input):
    fake = replicate_env
    fake.deployments["acme/imgmend-" + tool.replace("_", "-")] = model
    monkeypatch.setenv(f"REPLICATE_DEPLOYMENT_{tool.upper()}", "acme/imgmend-" + tool.replace("_", "-"))
    options = {"mask": watermark_mask()} if tool == "remove_watermark" else {}
    result = engine.run(tool, photo(), options)

    assert result.size == (64, 48)
    (create,) = fake.calls("create")
    assert create.path == f"/v1/deployments/acme/imgmend-{tool.replace('_', '-')}/predictions"
    assert "version" not in create.json  # a deployment names its own version
    assert 1 <= prefer_wait(create) <= 60 and create.headers["cancel-after"].endswith("s")
    inputs = create.json["input"]
    assert inputs.pop("image").startswith(f"{fake.base_url}/v1/files/")
    inputs.pop("mask", None)
    assert inputs == expected_input  # the inputs of the tool's model, which the deployment runs
    assert fake.predictions()[0]["model"] == model
    assert_uploads_deleted(fake, expected=2 if tool == "remove_watermark" else 1)


@pytest.mark.parametrize("value", ["acme", "acme/name:version", "acme/na me", "/name"])
def test_a_malformed_deployment_is_not_configured(engine, replicate_env, monkeypatch, value):
    monkeypatch.setenv("REPLICATE_DEPLOYMENT_DENOISE", value)
    with pytest.raises(NotConfigured):
        engine.run("denoise", photo())
    assert replicate_env.calls() == []


def test_an_unknown_deployment_is_an_upstream_error(engine, replicate_env, monkeypatch):
    monkeypatch.setenv("REPLICATE_DEPLOYMENT_REMOVE_BG", "acme/missing")
    with pytest.raises(UpstreamError):
        engine.run("remove_bg", photo())
    assert_uploads_deleted(replicate_env)


# --- the eraser is told whose mask it gets --------------------------------------------------------


def test_an_empty_detected_mask_creates_no_prediction(engine, replicate_env, monkeypatch):
    from lib import watermark_detector
    from lib.errors import NoWatermarkFound

    monkeypatch.setattr(watermark_detector, "detect_watermark", lambda image: Image.new("L", image.size, 0))
    with pytest.raises(NoWatermarkFound) as caught:
        engine.run("remove_watermark", photo())
    assert (caught.value.status, caught.value.code) == (422, "no_watermark_found")
    assert replicate_env.calls() == []  # no upload, no prediction, no $0.04


@pytest.mark.parametrize("mask_type", ["manual", "automatic"])
def test_the_mask_type_given_is_sent(engine, replicate_env, mask_type):
    engine.run("remove_watermark", photo(), {"mask": watermark_mask(), "mask_type": mask_type})
    assert replicate_env.calls("create")[0].json["input"]["mask_type"] == mask_type
