"""In-memory image validation and normalisation: bytes in, Pillow image out, and back to bytes.

Everything here treats its input as hostile: the byte cap is checked before anything else, the
format is decided from magic bytes, the pixel count from the header before any pixel is decoded,
and nothing is ever written to disk. HEIF/HEIC and AVIF headers are read by lib/heif.py first;
HEIF is decoded by pi-heif (libheif + libde265), loaded on the first HEIF upload only, and AVIF by
Pillow's own libavif.
"""

import io
import logging
import re
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from lib import config
from lib.errors import (
    InvalidImage,
    InvalidRequest,
    PayloadTooLarge,
    TooManyPixels,
    UnsupportedFormat,
    UpstreamError,
)

# Pillow's own bomb guard (a warning at MAX_IMAGE_PIXELS, an error at twice that) backs up our
# header check; pinning it to the contract's cap keeps the two in step.
Image.MAX_IMAGE_PIXELS = config.MAX_PIXELS
# Pillow's DEBUG lines quote EXIF tag values (GPS position, maker, comments) of every upload.
logging.getLogger("PIL").setLevel(logging.INFO)

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "AVIF": "image/avif"}
EXTENSION = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "AVIF": "avif"}
# GIF is accepted as an input (first frame); results are never GIF. HEIF (HEIC) photos come back as
# JPEG: no browser but Safari shows HEIC, and we carry no HEVC encoder (x265 is GPL and 23 MB).
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "HEIF", "AVIF")
OUTPUT_FAMILY = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "PNG", "HEIF": "JPEG", "AVIF": "AVIF"}
# The largest side each encoder writes (AVIF: the largest libavif reads back by default).
MAX_SIDE = {"JPEG": 65500, "WEBP": 16383, "PNG": 2**31 - 1, "AVIF": 32768}
# libaom's speed for AVIF results: 8 encodes 12 MP in ~1-2 s (6: ~6 s) for a few % more bytes.
AVIF_SPEED = 8


@dataclass
class Photo:
    """A validated, upright, metadata-free image plus what is needed to encode it like the input."""

    image: Image.Image  # RGB, RGBA, L or LA — nothing else
    format: str  # the input's format (JPEG, PNG, WEBP, GIF, HEIF, AVIF)
    icc_profile: bytes | None  # kept only where it fits the image's colour space
    jpeg_quality: int | None = None  # the input's JPEG quality as libjpeg would name it (denoise uses it)

    @property
    def has_alpha(self):
        return self.image.mode in ("RGBA", "LA")

    @property
    def is_grey(self):
        return self.image.mode in ("L", "LA")

    def rgb(self):
        """The pixels as RGB for a model (alpha handled by the caller); engines never modify it."""
        return self.image if self.image.mode == "RGB" else self.image.convert("RGB")

    def alpha(self):
        """The alpha band, or None."""
        return self.image.getchannel("A") if self.has_alpha else None


def sniff_format(data):
    """The image format from magic bytes, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[4:8] == b"ftyp":  # ISO-BMFF: HEIF (HEIC) or AVIF by its brands
        from lib import heif  # on first use: the endpoints' cold import never compiles the parser

        return heif.family(data)
    return None


# Pillow walks JPEG and GIF headers and PNG chunks in Python (junk one byte at a time), joins GIF
# comments in quadratic time, and libjpeg re-walks every block once per progressive scan: a 4 MB
# file of nothing but markers, chunks, comments or scans takes seconds to minutes (found by
# tests/test_fuzz.py). The limits sit far above any real photo's structure.
MAX_JPEG_SCANS = 64  # libjpeg's own progressive scripts use about 10
MAX_HEADER_STEPS = 16384  # JPEG segments + junk bytes before the first scan, GIF blocks before the first frame
MAX_PNG_CHUNKS = 65536  # a 4 MB PNG with 8 KB IDATs has ~500
MAX_GIF_COMMENT_BLOCKS = 1024  # comment sub-blocks, joined with one copy each
_GIF_BLOCK_START = re.compile(rb"[!,;]")


def _jpeg_steps(data):
    """Iterations of Pillow's JPEG header loop before the first scan (mirrors JpegImageFile._open)."""
    pos, steps, n = 2, 0, len(data)
    while pos + 1 < n and steps <= MAX_HEADER_STEPS:
        if data[pos] != 0xFF:  # junk: Pillow reads it a byte at a time
            nxt = data.find(b"\xff", pos)
            steps, pos = steps + ((nxt if nxt >= 0 else n) - pos), (nxt if nxt >= 0 else n)
            continue
        marker, steps = data[pos + 1], steps + 1
        if marker == 0xDA or marker < 0xC0 and marker != 0x00:
            break  # the first scan (libjpeg's from here), or "no marker found"
        if marker in (0x00, 0xFF) or marker == 0xC8 or 0xD0 <= marker <= 0xD9 or 0xF0 <= marker <= 0xFD:
            pos += 1 if marker == 0xFF else 2  # fill byte, stuffed zero or a marker without a length
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return steps


def _gif_steps(data):
    """(blocks and junk bytes, comment blocks) Pillow reads before the first frame (GifImageFile._seek)."""
    pos = 13 + (3 << ((data[10] & 7) + 1) if len(data) > 10 and data[10] & 0x80 else 0)
    steps = comments = 0
    while steps <= MAX_HEADER_STEPS and comments <= MAX_GIF_COMMENT_BLOCKS:
        found = _GIF_BLOCK_START.search(data, pos)
        steps += (found.start() if found else len(data)) - pos  # junk: Pillow reads it a byte at a time
        if found is None or data[found.start()] != 0x21:  # the first frame, or the trailer
            break
        steps += 1
        is_comment, pos = data[found.start() + 1 : found.start() + 2] == b"\xfe", found.start() + 2
        comments += is_comment
        while pos < len(data) and data[pos] and steps <= MAX_HEADER_STEPS:
            pos, steps, comments = pos + data[pos] + 1, steps + 1, comments + is_comment
        pos += 1
    return steps, comments


def _png_chunks(data):
    """Chunks up to IEND, counted no further than the limit."""
    pos, chunks = 8, 0
    while pos + 8 <= len(data) and chunks <= MAX_PNG_CHUNKS and data[pos + 4 : pos + 8] != b"IEND":
        pos, chunks = pos + 12 + int.from_bytes(data[pos : pos + 4], "big"), chunks + 1
    return chunks


def too_costly(data, fmt):
    """True for a file whose structure alone would take seconds to parse or decode."""
    if fmt == "JPEG":
        return data.count(b"\xff\xda") > MAX_JPEG_SCANS or _jpeg_steps(data) > MAX_HEADER_STEPS
    if fmt == "GIF":
        steps, comments = _gif_steps(data)
        return steps > MAX_HEADER_STEPS or comments > MAX_GIF_COMMENT_BLOCKS
    if fmt == "PNG":
        return _png_chunks(data) > MAX_PNG_CHUNKS
    return False


_heif_opener = []  # pi-heif's Pillow plugin, once registered


def _register_heif():
    """Register pi-heif's HEIF opener with Pillow, on the first HEIF upload only.

    Importing it loads libheif and libde265 (~20 ms, 4 MB): the endpoints' cold start never pays
    that. Thumbnails, depth maps and auxiliary images are never read, so pi-heif does not list them.
    """
    if not _heif_opener:
        from pi_heif import register_heif_opener

        register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
        _heif_opener.append(register_heif_opener)


def _check_heif(data, fmt, error, what):
    """lib/heif.py's header verdict on a HEIF or AVIF file, as the contract's errors."""
    from lib import heif

    found = heif.probe(data, fmt)
    if found.problem == "too_many_pixels":
        raise TooManyPixels(f"The {what} has more than {config.pixels_label(config.MAX_PIXELS)}.")
    if found.problem == "unsupported":
        if error is not InvalidImage:
            raise error(f"The {what} is not a {config.formats_label()} image.")
        raise UnsupportedFormat()
    if found.problem is not None:
        raise error(f"The {what} could not be read: it may be truncated or corrupt.")
    if fmt == "HEIF":
        _register_heif()


def open_checked(data, *, error=InvalidImage, what="image"):
    """Open bytes lazily after the byte, format and pixel checks; no pixel is decoded yet."""
    if not data:
        raise error(f"The {what} is empty.")
    if len(data) > config.MAX_BYTES:
        raise PayloadTooLarge(f"The {what} is larger than the {config.size_label(config.MAX_BYTES)} limit.")
    fmt = sniff_format(data)
    if fmt is None:
        if error is not InvalidImage:
            raise error(f"The {what} is not a {config.formats_label()} image.")
        raise UnsupportedFormat()
    if fmt in ("HEIF", "AVIF"):
        _check_heif(data, fmt, error, what)
    elif too_costly(data, fmt):
        raise error(f"The {what} could not be read: it may be truncated or corrupt.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooManyPixels(f"The {what} has more than {config.pixels_label(config.MAX_PIXELS)}.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, RuntimeError):
        # libavif and libheif report malformed files as RuntimeError.
        raise error(f"The {what} could not be read: it may be truncated or corrupt.") from None
    width, height = img.size
    if width < 1 or height < 1:
        raise error(f"The {what} has no pixels.")
    if width * height > config.MAX_PIXELS:
        raise TooManyPixels(f"The {what} has more than {config.pixels_label(config.MAX_PIXELS)}.")
    return img, fmt


def _decode(img, error, what):
    """Decode the first frame's pixels, mapping every decoder failure to `error`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.seek(0)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooManyPixels(f"The {what} has more than {config.pixels_label(config.MAX_PIXELS)}.") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError, struct.error, RuntimeError,
            ZeroDivisionError):
        # RuntimeError: libheif's and libavif's decode failures (and their own security limits);
        # ZeroDivisionError: Pillow's AVIF frame times on a zero timescale (lib/heif.py refuses those first).
        raise error(f"The {what} could not be read: it may be truncated or corrupt.") from None
    width, height = img.size  # pi-heif takes the size the decoder produced
    if width < 1 or height < 1 or width * height > config.MAX_PIXELS:
        raise error(f"The {what} could not be read: it may be truncated or corrupt.")


def _icc_space(icc):
    """The colour space an ICC profile describes (b'RGB ', b'GRAY', b'CMYK', ...)."""
    return icc[16:20] if icc and len(icc) >= 20 else None


def _to_working_mode(img, icc):
    """Convert any decoded mode to RGB/RGBA/L/LA, returning the image and the ICC that still fits."""
    mode = img.mode
    if mode == "CMYK":
        if _icc_space(icc) == b"CMYK":
            try:
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                dst = ImageCms.createProfile("sRGB")
                return ImageCms.profileToProfile(img, src, dst, outputMode="RGB"), None
            except (ImageCms.PyCMSError, OSError, ValueError):
                pass  # a broken profile: fall back to Pillow's naive conversion
        return img.convert("RGB"), None
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # Pillow clips (not scales) 16-bit to 8-bit; scale by hand so a 16-bit PNG is not all white.
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
        mode = "L"
    elif mode == "F":
        img = img.convert("L")
        mode = "L"
    if mode == "P" or mode == "PA":
        trns = img.info.get("transparency")
        if isinstance(trns, bytes) and img.palette is not None:
            # libpng ignores alphas past the palette; Pillow's convert raises ValueError on them.
            img.info["transparency"] = trns[: min(256, len(img.palette.palette) // len(img.palette.mode))]
        img = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode in ("RGBa", "La"):
        img = img.convert("RGBA" if mode == "RGBa" else "LA")
    elif mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGB")
    space = _icc_space(icc)
    if img.mode in ("RGB", "RGBA") and space != b"RGB ":
        icc = None
    if img.mode in ("L", "LA") and space != b"GRAY":
        icc = None
    return img, icc


def _strip(img):
    """The same pixels in a fresh Image with no metadata at all: EXIF (GPS too), XMP, comments, text.

    The new Image shares the decoded pixel buffer (no 36 MB copy for a 12 MP photo) but none of the
    file object's state (info, cached EXIF, JPEG APP segments), so nothing can be saved from it.
    """
    clean = img._new(img.im)
    clean.info = {}
    return clean


def _upright(img, fmt):
    """The image turned as its file says it is to be shown (in place: no copy of the pixels).

    HEIF: libheif has already applied the file's irot/imir/clap while decoding, and HEIF's EXIF
    orientation is informative only (an iPhone repeats its irot there), so it is never applied
    again: pi-heif resets it to 1 only when it can parse the EXIF itself. AVIF: Pillow reports
    irot/imir as the EXIF orientation (over the file's own), which exif_transpose then applies.
    """
    if fmt == "HEIF":
        return img
    try:
        ImageOps.exif_transpose(img, in_place=True)  # a phone photo must never come back rotated
    except (OSError, ValueError, SyntaxError, TypeError, KeyError, struct.error):
        pass  # unreadable EXIF: keep the pixels as stored rather than fail the upload
    return img


def load_photo(data):
    """Validate and decode an uploaded image: upright, first frame, metadata stripped, ICC kept."""
    img, fmt = open_checked(data)
    _decode(img, InvalidImage, "image")
    icc = img.info.get("icc_profile")
    quality = jpeg_quality(img) if fmt == "JPEG" else None
    img = _upright(img, fmt)
    img, icc = _to_working_mode(img, icc)
    return Photo(image=_strip(img), format=fmt, icc_profile=icc, jpeg_quality=quality)


# The luminance table of the JPEG standard (Annex K), which libjpeg scales by its quality setting.
_STANDARD_LUMA_SUM = sum((
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
))


def jpeg_quality(img):
    """The quality (1-100) a JPEG's luminance table corresponds to on libjpeg's scale, or None.

    Cameras and phones write their own tables; the ratio of sums still says how coarsely the file
    was quantised, which is what decides how much of the noise it turned into blocks.
    """
    tables = getattr(img, "quantization", None) or {}
    luma = tables.get(0)
    if not luma or len(luma) != 64:
        return None
    scale = 100.0 * sum(luma) / _STANDARD_LUMA_SUM  # libjpeg: 5000/q below 50, 200 - 2q above
    quality = 5000.0 / scale if scale > 100 else (200.0 - scale) / 2
    return int(round(min(100.0, max(1.0, quality))))


def load_mask(data, size):
    """Decode a user mask (white = remove) of any size into an L image of `size`, 0 or 255."""
    img, fmt = open_checked(data, error=InvalidRequest, what="mask")
    _decode(img, InvalidRequest, "mask")
    img, _ = _to_working_mode(_upright(img, fmt), None)
    if img.mode in ("RGBA", "LA") and img.getchannel("A").getextrema()[0] < 255:
        # A brush overlay on a transparent layer: painted pixels (any colour) are "remove".
        img = img.getchannel("A")
    else:
        img = img.convert("L")
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    return img.point(lambda v: 255 if v >= 128 else 0)


def mask_is_empty(mask):
    """Whether a mask marks nothing to remove: no pixel at 128 or above (white = remove)."""
    grey = mask if mask.mode == "L" else mask.convert("L")
    return grey.getextrema()[1] < 128


def decode_model_output(data):
    """Decode bytes a model returned (hostile as any upload) into an RGB or RGBA image."""
    fmt = sniff_format(data) if data else None
    if fmt not in ("JPEG", "PNG", "WEBP"):
        raise UpstreamError("The AI model returned something that is not an image.")
    if too_costly(data, fmt):
        raise UpstreamError("The AI model returned an image that could not be read.")
    try:
        img = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP"])
        _decode(img, UpstreamError, "model's result")
    except TooManyPixels:
        raise UpstreamError("The AI model returned an unusably large image.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UpstreamError("The AI model returned an image that could not be read.") from None
    img, _ = _to_working_mode(img, None)  # RGB, RGBA, L or LA
    if img.mode in ("L", "LA"):  # only grey needs a conversion: RGB(A) is kept, not copied
        img = img.convert("RGBA" if img.mode == "LA" else "RGB")
    return _strip(img)


def parse_color(value):
    """'#rrggbb' to an (r, g, b) tuple; anything else is a bad option value."""
    value = (value or "").strip()
    if len(value) == 7 and value[0] == "#":
        try:
            return tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))
        except ValueError:
            pass
    raise InvalidRequest("The background must be 'transparent' or a colour like #ffffff.")


def _save(img, fmt, icc, **params):
    """Encode to bytes in memory."""
    buf = io.BytesIO()
    if icc:
        params["icc_profile"] = icc
    img.save(buf, fmt, **params)
    return buf.getvalue()


def _attempts(fmt, has_alpha, raw_size, pixels):
    """Encodings to try in order: the input's family first, then smaller ones that keep alpha."""
    tries = []
    # A photo PNG rarely compresses below a third of its raw size: skip hopeless lossless tries.
    png_may_fit = raw_size <= 3 * config.MAX_RESPONSE_BYTES
    if fmt == "PNG":
        if png_may_fit:
            tries.append(("PNG", {"compress_level": 6}))
    elif fmt == "WEBP":
        tries += [("WEBP", {"quality": q, "method": 4}) for q in (92, 85, 75)]
    elif fmt == "AVIF" and pixels <= config.AVIF_RESULT_MAX_PIXELS:
        # libaom holds ~20 MB per megapixel while it encodes (4:2:0; 4:4:4 takes ~33): a 12 MP result
        # takes the request to ~590 MB. Larger results take the fallbacks below, within the
        # function's 1024 MB. q90 4:2:0 keeps a photo at ~42 dB PSNR in ~60% of JPEG q92's bytes.
        tries += [("AVIF", {"quality": q, "speed": AVIF_SPEED, "subsampling": "4:2:0"}) for q in (90, 80, 70)]
    elif fmt == "JPEG" and not has_alpha:
        # Full-chroma q92 of a photo over ~8 MP does not fit 4.5 MB: do not spend an encode finding out.
        first = 92 if raw_size <= 24_000_000 else 90
        tries += [("JPEG", {"quality": q, "subsampling": 0 if q >= 92 else 2}) for q in (92, 90) if q <= first]
    # Fallbacks when the preferred encoding is over the response limit.
    if has_alpha:
        tries += [("WEBP", {"quality": q, "method": 4}) for q in (90, 80, 65, 50)]
    else:
        tries += [("JPEG", {"quality": q}) for q in (90, 82, 72, 60, 45)]
    return tries


def encode(img, fmt, icc=None):
    """Encode a result in the input's format family, falling back to smaller encodings to fit 4.5 MB.

    Returns (bytes, format). Never writes metadata other than the ICC profile.
    """
    fmt = OUTPUT_FAMILY.get(fmt, "PNG")
    has_alpha = img.mode in ("RGBA", "LA")
    raw_size = img.size[0] * img.size[1] * len(img.getbands())
    # A WebP canvas may be 1,048,600 x 16 (VP8X), a PNG 65,535 wide: skip encoders that cannot hold it.
    pixels = img.size[0] * img.size[1]
    tries = [(f, p) for f, p in _attempts(fmt, has_alpha, raw_size, pixels) if max(img.size) <= MAX_SIDE[f]]
    for out_fmt, params in tries or [("PNG", {"compress_level": 6})]:
        target = img
        if out_fmt == "JPEG" and img.mode not in ("RGB", "L"):
            target = img.convert("RGB")
        if out_fmt in ("WEBP", "AVIF") and img.mode in ("L", "LA"):
            target = img.convert("RGBA" if has_alpha else "RGB")
        fit_icc = icc if _icc_space(icc) == (b"GRAY" if target.mode in ("L", "LA") else b"RGB ") else None
        data = _save(target, out_fmt, fit_icc, **params)
        if len(data) <= config.MAX_RESPONSE_BYTES:
            return data, out_fmt
    raise UpstreamError(f"The result could not be encoded within the {config.size_label(config.PLATFORM_BODY_BYTES)} response limit.")
