"""Test images: real photos shipped inside scikit-image, encoders, and crafted headers and metadata."""

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.hostile import build as hostile


def encode(img, fmt="JPEG", **params):
    """An in-memory file of `img`."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def heic(img, quality=80, **params):
    """`img` as a HEIC (HEVC in HEIF) from pillow-heif's libheif + x265, a test-only encoder.

    An EXIF orientation in `params` becomes an `irot`/`imir` transform, as an iPhone writes it,
    and stays in the EXIF too.
    """
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_pillow(img).save(buf, quality=quality, **params)
    return buf.getvalue()


def avif(img, quality=80, **params):
    """`img` as an AVIF from Pillow's libavif + libaom (an EXIF orientation becomes irot/imir)."""
    return encode(img, "AVIF", quality=quality, **params)


def xmp_with_gps():
    """An XMP packet with a GPS position in it."""
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="52,31.2N"'
            b' exif:GPSLongitude="13,24.6E"/></rdf:RDF></x:xmpmeta>')


def psnr(reference, test, where=None):
    """PSNR in dB between two uint8 images (arrays or PIL), optionally inside a boolean mask."""
    err = (np.asarray(reference, np.float64) - np.asarray(test, np.float64)) ** 2
    if where is not None:
        err = err[where]
    return 10 * np.log10(255.0**2 / max(err.mean(), 1e-12))


def bench_photo(name):
    """A held-out photo from bench/photos (bench/photos/README.md) as an RGB uint8 array."""
    with Image.open(Path(__file__).resolve().parents[2] / "bench" / "photos" / f"{name}.jpg") as img:
        return np.asarray(img.convert("RGB"))


def photo(name="chelsea", size=None):
    """A real photo shipped inside scikit-image, as an RGB Pillow image."""
    from skimage import data

    img = Image.fromarray(np.ascontiguousarray(getattr(data, name)()[..., :3]))
    return img.resize(size, Image.Resampling.LANCZOS) if size else img


def png_header_only(width, height):
    """A PNG whose IHDR claims width x height, with almost no pixel data (a decompression bomb)."""
    return hostile.png(width, height, b"")


def jpeg_with_size(width, height):
    """A real small JPEG whose SOF header is patched to claim width x height."""
    data = bytearray(encode(Image.new("RGB", (16, 16), "gray")))
    at = data.index(b"\xff\xc0")  # baseline SOF0: FF C0, length(2), precision(1), height(2), width(2)
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def exif_bytes(orientation=None, gps=True):
    """EXIF with an orientation tag and GPS coordinates."""
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    exif[0x010F] = "PhoneMaker"
    return exif.tobytes()


def left_red(size=(120, 80)):
    """Red left half, blue right half: orientation mistakes are visible."""
    img = Image.new("RGB", size, (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return img


def odd_profile():
    """An RGB ICC profile unlike sRGB: lcms's sRGB with the red and green primaries swapped (and its
    profile id cleared, its date fixed). A browser that colour-manages through it turns red into green, so it shows
    whether pixels were converted, and its bytes whether a file kept the profile."""
    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)  # a fixed creation time: the same bytes on every call
    data[84:100] = bytes(16)
    count = struct.unpack(">I", data[128:132])[0]
    entries = {bytes(data[132 + 12 * i:136 + 12 * i]): 132 + 12 * i for i in range(count)}
    red, green = entries[b"rXYZ"], entries[b"gXYZ"]
    data[red + 4:red + 12], data[green + 4:green + 12] = data[green + 4:green + 12], data[red + 4:red + 12]
    return bytes(data)
