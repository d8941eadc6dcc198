"""lib.pipeline through the image endpoints over WSGI on the local engine: the contract's codes, formats, headers."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from lib import config, tokens
from tests.support.hostile import isobmff
from tests.support.images import avif, encode, exif_bytes, heic, left_red, photo, png_header_only, xmp_with_gps


def error_of(response):
    body = json.loads(response.get_data())
    return response.status_code, body["error"]["code"]


def post_image(client, data, filename="photo.jpg", **fields):
    parts = {"image": (io.BytesIO(data), filename), **fields}
    return client.post(data=parts, content_type="multipart/form-data")


# --- request errors: (name, how to send, expected status, expected code) ------------------------

JPEG = encode(photo("chelsea", (96, 64)))
HEIC = heic(photo("chelsea", (96, 64)), quality=90)
AVIF = avif(photo("chelsea", (96, 64)), quality=90)
BAD_REQUESTS = [
    ("no image part", dict(data={"other": "x"}, content_type="multipart/form-data"), 400, "invalid_request"),
    ("json body", dict(json={"image": "x"}), 400, "invalid_request"),
    ("no content type", dict(data=b"\xff\xd8\xff"), 400, "invalid_request"),
    ("malformed multipart", dict(data=b"--xx\r\ngarbage", content_type="multipart/form-data; boundary=xx"), 400, "invalid_request"),
    ("mask sent as text", dict(data={"image": (io.BytesIO(JPEG), "a.jpg"), "mask": "abc"}, content_type="multipart/form-data"), 400, "invalid_request"),
    ("empty image", dict(data={"image": (io.BytesIO(b""), "a.jpg")}, content_type="multipart/form-data"), 400, "invalid_image"),
    ("truncated image", dict(data=JPEG[: len(JPEG) // 3], content_type="image/jpeg"), 400, "invalid_image"),
    ("body over the cap", dict(data=b"\xff\xd8\xff" + b"\0" * (config.MAX_BODY_BYTES + 10), content_type="image/jpeg"), 413, "payload_too_large"),
    ("image part over 4 MB", dict(data={"image": (io.BytesIO(b"\xff\xd8\xff" + b"\0" * config.MAX_BYTES), "a.jpg")}, content_type="multipart/form-data"), 413, "payload_too_large"),
    ("raw image over 4 MB", dict(data=b"\xff\xd8\xff" + b"\0" * config.MAX_BYTES, content_type="image/jpeg"), 413, "payload_too_large"),
    ("48 MP header", dict(data=png_header_only(8000, 6000), content_type="image/png"), 413, "too_many_pixels"),
    ("bmp upload", dict(data=encode(Image.new("RGB", (8, 8)), "BMP"), content_type="image/bmp"), 415, "unsupported_format"),
    ("pdf named .jpg", dict(data={"image": (io.BytesIO(b"%PDF-1.4 ..."), "photo.jpg")}, content_type="multipart/form-data"), 415, "unsupported_format"),
    ("heic 9000x9000 header", dict(data=isobmff.set_ispe(HEIC, 9000, 9000), content_type="image/heic"), 413, "too_many_pixels"),
    ("avif 9000x9000 header", dict(data={"image": (io.BytesIO(isobmff.set_ispe(AVIF, 9000, 9000)), "a.avif")}, content_type="multipart/form-data"), 413, "too_many_pixels"),
    ("truncated heic", dict(data=HEIC[: len(HEIC) // 2], content_type="image/heic"), 400, "invalid_image"),
    ("corrupt heic", dict(data=HEIC[:200] + bytes(b ^ 0x5A for b in HEIC[200:]), content_type="image/heif"), 400, "invalid_image"),
    ("truncated avif", dict(data={"image": (io.BytesIO(AVIF[: len(AVIF) // 2]), "a.avif")}, content_type="multipart/form-data"), 400, "invalid_image"),
    ("corrupt avif", dict(data=AVIF[:200] + bytes(b ^ 0x5A for b in AVIF[200:]), content_type="image/avif"), 400, "invalid_image"),
    ("mp4 named .heic", dict(data={"image": (io.BytesIO(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomavc1" + b"\0" * 64), "a.heic")}, content_type="multipart/form-data"), 415, "unsupported_format"),
    ("forged bearer token", dict(data=JPEG, content_type="image/jpeg", headers={"Authorization": "Bearer abc.def"}), 401, "invalid_token"),
]


def fresh(kwargs):
    """A copy of a request's arguments with new file objects (werkzeug closes them after use)."""
    data = kwargs.get("data")
    if isinstance(data, dict):
        data = {k: (io.BytesIO(v[0].getvalue()), v[1]) if isinstance(v, tuple) else v for k, v in data.items()}
        kwargs = {**kwargs, "data": data}
    return kwargs


@pytest.mark.parametrize("tool", ["denoise", "remove_bg", "remove_watermark", "watermark_mask"])
@pytest.mark.parametrize("name,request_kwargs,status,code", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_the_contract_error(api, tool, name, request_kwargs, status, code):
    response = api(tool).post(**fresh(request_kwargs))
    assert error_of(response) == (status, code)
    assert response.headers["Cache-Control"] == "no-store"
    message = json.loads(response.get_data())["error"]["message"]
    assert message.endswith(".") and "Traceback" not in message


@pytest.mark.parametrize("value", ["purple", "#12345", "rgb(0,0,0)"])
def test_bad_background_value(api, value):
    response = post_image(api("remove_bg"), JPEG, background=value)
    assert error_of(response) == (400, "invalid_request")


@pytest.mark.parametrize("tool", ["denoise", "remove_bg", "remove_watermark", "watermark_mask"])
def test_wrong_method_is_405_with_allow(api, tool):
    response = api(tool).get()
    assert error_of(response) == (405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


def test_config_rejects_post(api):
    response = api("config").post()
    assert error_of(response) == (405, "method_not_allowed") and response.headers["Allow"] == "GET"


# --- success paths ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/png")])
def test_denoise_keeps_format_family_and_size(api, fmt, mime):
    data = encode(photo("astronaut", (120, 90)), fmt)
    response = post_image(api("denoise"), data)
    assert response.status_code == 200, response.get_data()[:200]
    assert response.mimetype == mime and response.headers["Cache-Control"] == "no-store"
    out = Image.open(io.BytesIO(response.get_data()))
    assert out.size == (120, 90)
    assert int(response.headers["X-Quota-Remaining"]) == 999


# --- HEIF (HEIC) and AVIF -------------------------------------------------------------------------

FAMILY = {"HEIF": ("image/jpeg", "JPEG", "jpg"), "AVIF": ("image/avif", "AVIF", "avif")}


@pytest.mark.parametrize("how", ["multipart", "raw"])
@pytest.mark.parametrize("fmt,ctype,filename", [("HEIF", "image/heic", "IMG_0001.HEIC"), ("HEIF", "image/heif", "photo.heif"),
                                                ("AVIF", "image/avif", "photo.avif")])
@pytest.mark.parametrize("tool", ["denoise", "remove_bg", "remove_watermark", "watermark_mask"])
def test_every_image_endpoint_takes_heic_and_avif(api, monkeypatch, tool, fmt, ctype, filename, how):
    from lib.engines.local import LocalEngine

    monkeypatch.setattr(LocalEngine, "detect_watermark", lambda self, image: band_mask(image))  # a raw body has no mask
    data = HEIC if fmt == "HEIF" else AVIF
    if how == "raw":
        response = api(tool).post(data=data, content_type=ctype)
    else:
        response = api(tool).post(data={"image": (io.BytesIO(data), filename, ctype)}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data()[:300]
    mime, pillow_format, extension = FAMILY[fmt] if tool in ("denoise", "remove_watermark") else ("image/png", "PNG", "png")
    out = Image.open(io.BytesIO(response.get_data()))
    assert (response.mimetype, out.format, out.size) == (mime, pillow_format, (96, 64))
    if tool != "watermark_mask":
        assert response.headers["Content-Disposition"].endswith(f'.{extension}"')
    assert out.mode == {"remove_bg": "RGBA", "watermark_mask": "L"}.get(tool, "RGB")


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_remove_bg_on_a_colour_answers_heic_as_jpeg_and_avif_as_avif(api, fmt):
    response = post_image(api("remove_bg"), HEIC if fmt == "HEIF" else AVIF, background="#00ff00")
    out = Image.open(io.BytesIO(response.get_data()))
    assert (response.mimetype, out.format, out.mode) == (FAMILY[fmt][0], FAMILY[fmt][1], "RGB")


@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_a_heic_named_jpg_is_read_by_its_bytes(api, how):
    if how == "raw":
        response = api("denoise").post(data=HEIC, content_type="image/jpeg")
    else:
        response = post_image(api("denoise"), HEIC, filename="photo.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    out = Image.open(io.BytesIO(response.get_data())).convert("RGB")
    assert out.size == (96, 64)
    mse = np.mean((np.asarray(out, dtype=float) - np.asarray(photo("chelsea", (96, 64)), dtype=float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 28  # the photo itself, not a refusal or garbage


@pytest.mark.parametrize("encoder", [heic, avif])
def test_an_iphone_photo_comes_back_upright_without_gps(api, encoder):
    data = encoder(left_red((120, 80)), quality=90, exif=exif_bytes(orientation=6), xmp=xmp_with_gps())
    assert b"GPS" in data and b"PhoneMaker" in data
    response = post_image(api("denoise"), data, filename="IMG_0001.HEIC")
    out_bytes = response.get_data()
    out = Image.open(io.BytesIO(out_bytes))
    assert response.status_code == 200 and out.size == (80, 120)
    rgb = out.convert("RGB")
    assert rgb.getpixel((40, 10))[0] > 180 and rgb.getpixel((40, 110))[2] > 180
    assert not out.getexif() and "xmp" not in out.info
    assert b"GPS" not in out_bytes and b"PhoneMaker" not in out_bytes and b"xmpmeta" not in out_bytes


def test_raw_body_upload(api):
    response = api("denoise").post(data=JPEG, content_type="image/jpeg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"


def test_phone_photo_comes_back_upright_without_gps(api):
    data = encode(left_red((120, 80)), "JPEG", quality=95, exif=exif_bytes(orientation=6))
    response = post_image(api("denoise"), data)
    out_bytes = response.get_data()
    out = Image.open(io.BytesIO(out_bytes)).convert("RGB")
    assert out.size == (80, 120)
    assert out.getpixel((40, 10))[0] > 180 and out.getpixel((40, 110))[2] > 180
    assert not out.getexif() and b"GPS" not in out_bytes and b"PhoneMaker" not in out_bytes


def test_remove_bg_transparent_png(api):
    response = post_image(api("remove_bg"), encode(photo("chelsea", (150, 100))))
    out = Image.open(io.BytesIO(response.get_data()))
    assert response.mimetype == "image/png" and out.mode == "RGBA" and out.size == (150, 100)
    assert 'filename="imgmend-no-background.png"' in response.headers["Content-Disposition"]


def test_remove_bg_on_a_colour_is_opaque_in_the_input_family(api):
    response = post_image(api("remove_bg"), encode(photo("chelsea", (150, 100))), background="#00ff00")
    out = Image.open(io.BytesIO(response.get_data()))
    assert response.mimetype == "image/jpeg" and out.mode == "RGB"
    r, g, b = out.getpixel((2, 2))  # a corner is background: now green
    assert g > 200 and r < 80 and b < 80


def test_transparent_input_stays_transparent(api):
    img = photo("coffee", (80, 60)).convert("RGBA")
    alpha = Image.new("L", (80, 60), 255)
    alpha.paste(0, (0, 0, 40, 60))
    img.putalpha(alpha)
    for tool in ("denoise", "remove_bg"):
        out = Image.open(io.BytesIO(post_image(api(tool), encode(img, "PNG")).get_data()))
        assert out.mode == "RGBA" and out.getpixel((5, 30))[3] == 0


def test_remove_watermark_with_a_mask_of_another_size(api):
    img = photo("coffee", (160, 120))
    mask = Image.new("L", (80, 60), 0)
    mask.paste(255, (20, 20, 60, 30))
    response = post_image(api("remove_watermark"), encode(img), mask=(io.BytesIO(encode(mask, "PNG")), "mask.png"))
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.get_data())).size == (160, 120)


def band_mask(image):
    """What a detector returns for a photo with a watermark along its bottom."""
    mask = Image.new("L", image.size, 0)
    mask.paste(255, (0, image.height * 3 // 4, image.width, image.height))
    return mask


def test_remove_watermark_without_mask_detects_one(api, monkeypatch):
    from lib.engines.local import LocalEngine

    seen, run = [], LocalEngine.run
    monkeypatch.setattr(LocalEngine, "detect_watermark", lambda self, image: seen.append(image.size) or band_mask(image))
    monkeypatch.setattr(LocalEngine, "run", lambda self, tool, image, options=None: seen.append(
        options["mask_type"]) or run(self, tool, image, options))
    response = post_image(api("remove_watermark"), encode(photo("coffee", (160, 120))))
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert seen == [(160, 120), "automatic"]


def test_remove_watermark_when_detection_finds_nothing_is_422_and_free(api, monkeypatch):
    from lib.engines.local import LocalEngine

    monkeypatch.setenv("FREE_DAILY_LIMIT", "2")
    runs = []
    monkeypatch.setattr(LocalEngine, "detect_watermark", lambda self, image: Image.new("L", image.size, 0))
    monkeypatch.setattr(LocalEngine, "run", lambda self, *args, **kwargs: runs.append(args))
    response = post_image(api("remove_watermark"), encode(photo("coffee", (160, 120))))
    body = json.loads(response.get_data())["error"]
    assert (response.status_code, body["code"]) == (422, "no_watermark_found")
    assert body["message"] == "We found no watermark; paint over it with the brush."
    assert runs == [] and "X-Quota-Remaining" not in response.headers
    assert json.loads(api("config").get().get_data())["free_remaining"] == 2  # nothing spent
    # With the user's brush the same photo is erased.
    mask = encode(band_mask(Image.new("L", (160, 120))), "PNG")
    monkeypatch.setattr(LocalEngine, "run", lambda self, tool, image, options=None: runs.append(options["mask_type"]) or image)
    response = post_image(api("remove_watermark"), encode(photo("coffee", (160, 120))), mask=(io.BytesIO(mask), "m.png"))
    assert response.status_code == 200 and runs == ["manual"] and response.headers["X-Quota-Remaining"] == "1"


def test_watermark_mask_is_an_l_png_of_the_image_size_and_free(api, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    for _ in range(3):
        response = post_image(api("watermark_mask"), encode(photo("coffee", (160, 120))))
        out = Image.open(io.BytesIO(response.get_data()))
        assert response.mimetype == "image/png" and out.mode == "L" and out.size == (160, 120)
        assert "X-Quota-Remaining" not in response.headers
    assert post_image(api("denoise"), JPEG).status_code == 200  # the one free image is still there


def test_a_mask_too_big_for_8_bits_comes_back_as_a_1_bit_png(api, monkeypatch):
    # 6000x5000 of noise: an 8-bit PNG is ~30 MB, far over 4.5 MB; 1-bit is ~3.8 MB. Still lossless.
    from lib.engines.local import LocalEngine

    noise = Image.fromarray((np.random.default_rng(7).random((5000, 6000)) > 0.5).astype(np.uint8) * 255, "L")
    monkeypatch.setattr(LocalEngine, "detect_watermark", lambda self, image: noise)
    flat = encode(Image.new("RGB", (6000, 5000), (90, 120, 150)), "PNG")
    response = post_image(api("watermark_mask"), flat, filename="big.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert len(response.get_data()) <= config.MAX_RESPONSE_BYTES
    out = Image.open(io.BytesIO(response.get_data()))
    assert out.format == "PNG" and out.mode == "1" and out.size == (6000, 5000)
    assert np.array_equal(np.asarray(out.convert("L")), np.asarray(noise))


def test_config_reports_limits_and_remaining(api, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "4")
    post_image(api("denoise"), JPEG)
    body = json.loads(api("config").get().get_data())
    assert body["limits"] == {"max_bytes": 4194304, "max_pixels": 40000000, "formats": ["image/jpeg", "image/png", "image/webp",
                                                                                "image/heic", "image/heif", "image/avif"]}
    assert body["free_daily_limit"] == 4 and body["free_remaining"] == 3
    assert body["engine"] == "local" and body["pro_available"] is False


def test_greyscale_input_stays_greyscale(api):
    grey = np.asarray(photo("astronaut", (64, 64)).convert("L"))
    response = post_image(api("denoise"), encode(Image.fromarray(grey), "PNG"))
    assert Image.open(io.BytesIO(response.get_data())).mode == "L"


def test_a_multipart_upload_of_nearly_4_mb_is_accepted(api):
    """Real phone photos are megabytes: the multipart parser must not stop at its read buffer."""
    noise = np.random.default_rng(3).integers(0, 256, (900, 1000, 3), dtype=np.uint8)  # incompressible
    data = encode(Image.fromarray(noise), "JPEG", quality=100, subsampling=0)
    assert 3_000_000 < len(data) <= config.MAX_BYTES
    response = post_image(api("watermark_mask"), data)
    assert response.status_code == 200, response.get_data()[:200]
    assert Image.open(io.BytesIO(response.get_data())).size == (1000, 900)


# --- Pro tokens in the image endpoints ------------------------------------------------------------

def test_pro_token_skips_the_quota(api, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    token, _ = tokens.issue_token("cus_Unlimited123")
    jpeg = encode(photo("chelsea", (64, 48)))
    for _ in range(3):
        response = api("denoise").post(data=jpeg, content_type="image/jpeg", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and "X-Quota-Remaining" not in response.headers
    assert api("denoise").post(data=jpeg, content_type="image/jpeg").status_code == 200  # free image untouched


def test_image_endpoints_do_not_import_stripe():
    import subprocess
    import sys

    code = "import api.denoise, api.remove_bg, api.remove_watermark, api.watermark_mask, api.config, sys; print('stripe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("tool", ["denoise", "remove_watermark"])
@pytest.mark.parametrize("fmt,params,expected", [("JPEG", {"quality": 80}, 80), ("PNG", {}, None)], ids=["jpeg", "png"])
def test_the_engine_is_told_the_uploads_jpeg_quality(api, monkeypatch, tool, fmt, params, expected):
    # The denoiser uses it for the noise a JPEG made blocky, the watermark remover for the JPEG's
    # error round the mark, which inverting the blend amplifies.
    from lib.engines.local import LocalEngine

    seen = []
    monkeypatch.setattr(LocalEngine, "run", lambda self, tool, image, options=None: seen.append(
        options.get("jpeg_quality", "absent")) or image)
    mask = {"mask": (io.BytesIO(encode(band_mask(Image.new("L", (160, 120))), "PNG")), "mask.png")}
    response = post_image(api(tool), encode(photo("coffee", (160, 120)), fmt, **params),
                          **(mask if tool == "remove_watermark" else {}))
    assert response.status_code == 200
    assert seen == [expected]
