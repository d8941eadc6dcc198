"""Image validation and normalisation: every image-related contract error, and real-world oddities."""

import io
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image, ImageCms

from lib import config, images
from lib.errors import InvalidImage, InvalidRequest, PayloadTooLarge, TooManyPixels, UnsupportedFormat
from tests.support.hostile import isobmff
from tests.support.images import (
    avif,
    encode,
    exif_bytes,
    heic,
    jpeg_with_size,
    left_red,
    photo,
    png_header_only,
    xmp_with_gps,
)

SMALL_HEIC = heic(photo("coffee", (96, 64)))
SMALL_AVIF = avif(photo("coffee", (96, 64)))


# --- the contract's image error codes, straight from lib.images --------------------------------

BAD_IMAGES = [
    ("empty", b"", InvalidImage),
    ("truncated jpeg", encode(photo("coffee", (200, 150)))[:700], InvalidImage),
    ("jpeg header only", b"\xff\xd8\xff\xe0" + b"\x00" * 40, InvalidImage),
    ("png garbage after signature", b"\x89PNG\r\n\x1a\n" + b"\x13" * 200, InvalidImage),
    ("webp riff garbage", b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 30, InvalidImage),
    ("over 4 MB", b"\xff\xd8\xff" + b"\x00" * config.MAX_BYTES, PayloadTooLarge),
    ("png 8000x6000 header", png_header_only(8000, 6000), TooManyPixels),
    ("png 30000x30000 header", png_header_only(30000, 30000), TooManyPixels),
    ("jpeg 9000x9000 header", jpeg_with_size(9000, 9000), TooManyPixels),
    ("bmp", encode(Image.new("RGB", (8, 8)), "BMP"), UnsupportedFormat),
    ("tiff", encode(Image.new("RGB", (8, 8)), "TIFF"), UnsupportedFormat),
    ("pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", UnsupportedFormat),
    ("text renamed .jpg", b"hello, this is not a photo", UnsupportedFormat),
    ("heic brand, no image", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", InvalidImage),
    ("avif brand, no image", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", InvalidImage),
    ("heic 9000x9000 header", isobmff.set_ispe(SMALL_HEIC, 9000, 9000), TooManyPixels),
    ("avif 9000x9000 header", isobmff.set_ispe(SMALL_AVIF, 9000, 9000), TooManyPixels),
    ("truncated heic", SMALL_HEIC[: len(SMALL_HEIC) * 2 // 3], InvalidImage),
    ("truncated avif", SMALL_AVIF[: len(SMALL_AVIF) * 2 // 3], InvalidImage),
    ("heic without ispe", isobmff.remove_boxes(SMALL_HEIC, b"ispe"), InvalidImage),
    ("mp4 video", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\0" * 64, UnsupportedFormat),
    ("svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", UnsupportedFormat),
]


@pytest.mark.parametrize("name,data,error", BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_bad_images_raise_the_contract_error(name, data, error):
    with pytest.raises(error) as caught:
        images.load_photo(data)
    assert caught.value.status in (400, 413, 415)
    if data:
        assert data[:12].hex() not in caught.value.message  # no bytes echoed back


def test_pixel_cap_is_decided_before_decoding(monkeypatch):
    """A bomb is refused from its header: no decoder ever runs."""
    calls = []
    monkeypatch.setattr(Image.Image, "load", lambda self: calls.append(1))
    with pytest.raises(TooManyPixels):
        images.load_photo(png_header_only(10000, 10000))
    assert calls == []


def test_exactly_40_megapixels_passes_the_header_check():
    img, fmt = images.open_checked(png_header_only(8000, 5000))
    assert (fmt, img.size) == ("PNG", (8000, 5000))


@pytest.mark.parametrize("data,fmt", [(SMALL_HEIC, "HEIF"), (SMALL_AVIF, "AVIF")], ids=["heic", "avif"])
def test_heif_and_avif_pixel_cap_is_decided_from_the_header(monkeypatch, data, fmt):
    """A small real file whose ispe claims 9000x9000 (81 MP, 243 MB as RGB): refused at once, before
    any decoder is loaded or called, in well under a millisecond's worth of memory."""
    calls = []
    monkeypatch.setattr(Image.Image, "load", lambda self: calls.append("load"))
    monkeypatch.setattr(images, "_register_heif", lambda: calls.append("pi-heif"))
    monkeypatch.setattr(Image, "open", lambda *a, **k: calls.append("open"))
    bomb = isobmff.set_ispe(data, 9000, 9000)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(TooManyPixels):
        images.load_photo(bomb)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert calls == []  # no opener, no decoder
    assert elapsed < 0.05 and peak < 1_000_000, (elapsed, peak)
    with pytest.raises(TooManyPixels):
        images.load_mask(bomb, (8, 8))  # masks are held to the same cap


def test_a_heif_mask_is_read_like_any_mask():
    mask = Image.new("L", (64, 32), 0)
    mask.paste(255, (0, 0, 32, 32))
    for data in (heic(mask.convert("RGB"), quality=95), avif(mask.convert("RGB"), quality=95)):
        out = images.load_mask(data, (64, 32))
        assert out.getpixel((10, 16)) == 255 and out.getpixel((50, 16)) == 0
    with pytest.raises(InvalidRequest):
        images.load_mask(SMALL_HEIC[:300], (64, 32))


def test_a_heic_decodes_to_the_same_picture_and_comes_back_as_high_quality_jpeg():
    original = photo("astronaut", (256, 192))
    p = images.load_photo(heic(original, quality=95))
    assert (p.format, p.image.mode, p.image.size) == ("HEIF", "RGB", (256, 192))
    assert _psnr(p.image, original) > 34  # the same picture through HEVC at q95
    data, fmt = images.encode(p.image, p.format, p.icc_profile)
    assert fmt == "JPEG" and Image.open(io.BytesIO(data)).format == "JPEG"
    assert _psnr(Image.open(io.BytesIO(data)), p.image) > 38  # q>=90: the JPEG adds almost nothing


def test_an_avif_comes_back_as_avif():
    original = photo("astronaut", (256, 192))
    p = images.load_photo(avif(original, quality=90))
    assert (p.format, p.image.mode, p.image.size) == ("AVIF", "RGB", (256, 192))
    assert _psnr(p.image, original) > 34
    data, fmt = images.encode(p.image, p.format, p.icc_profile)
    back = Image.open(io.BytesIO(data))
    assert fmt == "AVIF" and back.format == "AVIF" and _psnr(back, p.image) > 38


def _psnr(a, b):
    mse = np.mean((np.asarray(a.convert("RGB"), dtype=float) - np.asarray(b.convert("RGB"), dtype=float)) ** 2)
    return 10 * np.log10(255**2 / max(mse, 1e-9))


def test_avif_and_heic_alpha_is_kept():
    rgba = photo("coffee", (64, 48)).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((64, 48)))
    for data in (avif(rgba, quality=90), heic(rgba, quality=90)):
        p = images.load_photo(data)
        assert p.has_alpha and abs(p.image.getpixel((32, 2))[3] - rgba.getpixel((32, 2))[3]) < 12
        assert abs(p.image.getpixel((32, 45))[3] - rgba.getpixel((32, 45))[3]) < 12
    out, fmt = images.encode(images.load_photo(avif(rgba, quality=90)).image, "AVIF")
    assert fmt == "AVIF" and Image.open(io.BytesIO(out)).mode == "RGBA"


# --- real-world oddities ---------------------------------------------------------------------


def test_exif_orientation_is_applied():
    data = encode(left_red((120, 80)), "JPEG", quality=95, exif=exif_bytes(orientation=6))
    p = images.load_photo(data)
    assert p.image.size == (80, 120)  # orientation 6: rotate 90° clockwise to display
    top, bottom = p.image.getpixel((40, 10)), p.image.getpixel((40, 110))
    assert top[0] > 200 and top[2] < 60  # the red half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize("encoder", [heic, avif])
def test_heic_and_avif_orientation_is_applied_once(encoder):
    """An iPhone-style file: the pixels stored sideways, an irot transform, and EXIF orientation 6
    as well. The decoders apply irot; EXIF orientation must not turn it a second time."""
    data = encoder(left_red((120, 80)), quality=90, exif=exif_bytes(orientation=6))
    assert isobmff.find(data, b"irot")
    if encoder is heic:  # pillow-heif keeps the EXIF tag as an iPhone does (Pillow's AVIF encoder drops it)
        assert b"MM\x00*" in data and b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06" in data
    p = images.load_photo(data)
    assert p.image.size == (80, 120)
    top, bottom = p.image.getpixel((40, 10)), p.image.getpixel((40, 110))
    assert top[0] > 200 and top[2] < 60  # the red half is on top: turned once
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize("exif_item", [b"\0\0\0\6", b"\0\0\0\0", b"\0\0\0\6Exif\0\0"],
                         ids=["offset to the TIFF header", "offset 0", "Exif header twice"])
def test_heif_exif_orientation_is_never_applied_on_top_of_irot(exif_item):
    """libheif applies irot itself. pi-heif resets the EXIF orientation only when it can parse the
    EXIF; Pillow parses more layouts (here the "Exif" header twice) and would turn the photo again."""
    img = Image.new("RGB", (128, 64), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 64, 64))
    tiles = [isobmff.coded(heic(img.crop((x, 0, x + 64, 64)), quality=90)) for x in (0, 64)]
    props = [isobmff.ispe(128, 64), tiles[0][0], isobmff.ispe(64, 64), isobmff.box(b"irot", b"\x03")]  # 90° clockwise
    items = [(1, b"grid", isobmff.grid_data(1, 2, 128, 64)), (2, b"hvc1", tiles[0][1]), (3, b"hvc1", tiles[1][1]),
             (9, b"Exif", exif_item + exif_bytes(orientation=6))]
    data = isobmff.heif(items, props=props, assoc={1: [1, 0x84], 2: [0x82, 3], 3: [0x82, 3]},
                        refs=[(b"dimg", 1, [2, 3]), (b"cdsc", 9, [1])], idat_items={1})
    p = images.load_photo(data)
    assert p.image.size == (64, 128) and p.image.getpixel((32, 10))[0] > 200  # turned once: red on top
    without_irot = isobmff.heif(items, props=props[:3], assoc={1: [1], 2: [0x82, 3], 3: [0x82, 3]},
                                refs=[(b"dimg", 1, [2, 3]), (b"cdsc", 9, [1])], idat_items={1})
    assert images.load_photo(without_irot).image.size == (128, 64)  # HEIF's EXIF orientation is informative only


@pytest.mark.parametrize("encoder", [heic, avif])
def test_heic_and_avif_metadata_is_stripped_and_icc_kept(encoder):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encoder(photo("coffee", (120, 90)), exif=exif_bytes(orientation=3), xmp=xmp_with_gps(), icc_profile=icc)
    assert b"GPS" in data and b"GPSLatitude" in data and b"PhoneMaker" in data
    p = images.load_photo(data)
    assert p.image.info == {} and not p.image.getexif()
    assert p.icc_profile == icc
    out, fmt = images.encode(p.image, p.format, p.icc_profile)
    back = Image.open(io.BytesIO(out))
    assert fmt == ("JPEG" if encoder is heic else "AVIF") and back.info.get("icc_profile") == icc
    assert not back.getexif() and "xmp" not in back.info
    assert b"GPS" not in out and b"PhoneMaker" not in out and b"xmpmeta" not in out


def test_metadata_is_stripped_and_icc_kept():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(photo("coffee", (120, 90)), "JPEG", exif=exif_bytes(), icc_profile=icc, comment=b"secret")
    p = images.load_photo(data)
    assert p.image.info == {} and not p.image.getexif()
    assert p.icc_profile == icc
    out, fmt = images.encode(p.image, p.format, p.icc_profile)
    back = Image.open(io.BytesIO(out))
    assert fmt == "JPEG" and back.info.get("icc_profile") == icc
    assert not back.getexif() and "comment" not in back.info
    assert b"GPS" not in out and b"PhoneMaker" not in out and b"secret" not in out


def test_cmyk_jpeg_becomes_rgb():
    data = encode(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG")  # pure red in CMYK
    p = images.load_photo(data)
    assert p.image.mode == "RGB"
    r, g, b = p.image.getpixel((20, 15))
    assert r > 200 and g < 60 and b < 60


def test_16_bit_png_is_scaled_not_clipped():
    ramp = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    data = encode(Image.fromarray(ramp), "PNG")
    p = images.load_photo(data)
    values = np.asarray(p.image)
    assert p.image.mode == "L" and p.is_grey
    assert values.min() < 5 and values.max() > 250 and 100 < values.mean() < 155


def test_palette_png_with_transparency_keeps_alpha():
    img = Image.new("P", (32, 32), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(1, (16, 0, 32, 32))
    data = encode(img, "PNG", transparency=0)
    p = images.load_photo(data)
    assert p.image.mode == "RGBA" and p.has_alpha
    assert p.image.getpixel((4, 4))[3] == 0 and p.image.getpixel((20, 4)) == (0, 255, 0, 255)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_inputs_use_the_first_frame(fmt):
    frames = [Image.new("RGB", (40, 30), c) for c in ((250, 0, 0), (0, 0, 250), (0, 250, 0))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    p = images.load_photo(data)
    r, g, b = p.image.convert("RGB").getpixel((20, 15))
    assert r > 200 and g < 50 and b < 50 and p.image.size == (40, 30)


def test_greyscale_and_la_inputs():
    assert images.load_photo(encode(Image.new("L", (10, 10), 128), "PNG")).image.mode == "L"
    assert images.load_photo(encode(Image.new("LA", (10, 10), (128, 50)), "PNG")).image.mode == "LA"
    assert images.load_photo(encode(Image.new("1", (10, 10), 1), "PNG")).image.mode == "L"


# --- masks, colours, encoding ------------------------------------------------------------------


def test_mask_of_any_size_is_scaled_and_binarised():
    mask = Image.new("L", (20, 10), 0)
    mask.paste(255, (0, 0, 10, 10))
    out = images.load_mask(encode(mask, "PNG"), (200, 100))
    assert out.size == (200, 100) and set(np.unique(np.asarray(out))) <= {0, 255}
    assert out.getpixel((20, 50)) == 255 and out.getpixel((180, 50)) == 0


def test_painted_rgba_mask_uses_its_alpha():
    mask = Image.new("RGBA", (10, 10), (255, 255, 255, 0))
    mask.paste((255, 0, 0, 255), (0, 0, 5, 10))  # a red brush stroke on a transparent overlay
    out = images.load_mask(encode(mask, "PNG"), (10, 10))
    assert out.getpixel((2, 5)) == 255 and out.getpixel((8, 5)) == 0


def test_opaque_rgba_mask_uses_its_brightness():
    mask = Image.new("RGBA", (10, 10), (0, 0, 0, 255))
    mask.paste((255, 255, 255, 255), (0, 0, 5, 10))
    out = images.load_mask(encode(mask, "PNG"), (10, 10))
    assert out.getpixel((2, 5)) == 255 and out.getpixel((8, 5)) == 0


@pytest.mark.parametrize("value,expected", [("#ffffff", (255, 255, 255)), ("#00Ff7a", (0, 255, 122))])
def test_parse_color(value, expected):
    assert images.parse_color(value) == expected


@pytest.mark.parametrize("value", ["white", "#fff", "ffffff", "#gggggg", "#1234567", ""])
def test_parse_color_rejects(value):
    with pytest.raises(Exception) as caught:
        images.parse_color(value)
    assert caught.value.code == "invalid_request"


def test_oversized_result_falls_back_to_an_encoding_that_fits():
    noise = np.random.default_rng(0).integers(0, 256, (1500, 1500, 4), dtype=np.uint8)
    data, fmt = images.encode(Image.fromarray(noise, "RGBA"), "PNG")
    assert len(data) <= config.MAX_RESPONSE_BYTES
    assert fmt == "WEBP" and Image.open(io.BytesIO(data)).mode == "RGBA"
    noise_rgb = np.random.default_rng(1).integers(0, 256, (2000, 2000, 3), dtype=np.uint8)
    data, fmt = images.encode(Image.fromarray(noise_rgb), "PNG")
    assert fmt == "JPEG" and len(data) <= config.MAX_RESPONSE_BYTES
    data, fmt = images.encode(Image.fromarray(noise_rgb), "AVIF")
    assert fmt in ("AVIF", "JPEG") and len(data) <= config.MAX_RESPONSE_BYTES
    assert [f for f, _ in images._attempts("AVIF", False, 4000 * 3000 * 3, 4000 * 3000)][:4] == ["AVIF", "AVIF", "AVIF", "JPEG"]
    assert [f for f, _ in images._attempts("AVIF", True, 4000 * 3000 * 4, 4000 * 3000)][:4] == ["AVIF", "AVIF", "AVIF", "WEBP"]
    # Over the AVIF result size, the encoder's memory would not fit the function: JPEG (WebP with alpha).
    over = config.AVIF_RESULT_MAX_PIXELS + 1
    assert images._attempts("AVIF", False, 3 * over, over)[0][0] == "JPEG"
    assert images._attempts("AVIF", False, over, over)[0][0] == "JPEG"  # greyscale: fewer bytes, same pixels
    assert images._attempts("AVIF", True, 4 * over, over)[0][0] == "WEBP"
    data, fmt = images.encode(Image.new("RGB", (4001, 4000), (40, 90, 160)), "AVIF")
    assert fmt == "JPEG" and Image.open(io.BytesIO(data)).size == (4001, 4000)


@pytest.mark.parametrize("fmt,mime", [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WEBP"), ("GIF", "PNG"),
                                      ("HEIF", "JPEG"), ("AVIF", "AVIF")])
def test_encode_keeps_the_format_family(fmt, mime):
    data, out = images.encode(photo("coffee", (64, 48)), fmt)
    assert out == mime and Image.open(io.BytesIO(data)).format == mime


def test_jpeg_results_are_high_quality():
    img = photo("astronaut", (256, 256))
    data, _ = images.encode(img, "JPEG")
    back = np.asarray(Image.open(io.BytesIO(data)), dtype=float)
    mse = np.mean((back - np.asarray(img, dtype=float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 38  # q≥90 keeps the photo nearly lossless


@pytest.mark.parametrize("data", [b"", b"not an image", encode(Image.new("RGB", (4, 4)), "BMP"), b"\x89PNG\r\n\x1a\n" + b"x" * 50])
def test_model_output_garbage_is_an_upstream_error(data):
    with pytest.raises(Exception) as caught:
        images.decode_model_output(data)
    assert caught.value.code == "upstream_error"


@pytest.mark.parametrize("quality", [30, 50, 75, 85, 90, 95, 100])
def test_a_jpegs_quality_is_read_from_its_tables(quality):
    # Pillow's libjpeg scales the standard tables exactly as the estimate inverts them.
    data = encode(photo("coffee", (64, 48)), "JPEG", quality=quality)
    assert abs(images.load_photo(data).jpeg_quality - quality) <= 1


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_only_a_jpeg_has_a_jpeg_quality(fmt):
    assert images.load_photo(encode(photo("coffee", (64, 48)), fmt)).jpeg_quality is None
