"""Valid seed images and a malformed corpus of the kinds in Pillow's own test images.

Each corpus entry is (name, bytes, outcomes): the validator outcomes that are right for it, where
"ok" means a decoded photo and anything else is a contract error code.
"""

import io
import struct
import zlib

from PIL import Image

from lib import config
from tests.support.hostile.build import (
    chunk,
    exif_app1,
    gif_header_end,
    gradient,
    jpeg_insert,
    png,
    png_chunks,
    png_from_chunks,
    riff,
    riff_chunks,
    save,
    segment,
    set_jpeg_size,
    tiff_ifd,
    vp8x,
)

OK, BAD, BIG, PIXELS, FORMAT = "ok", "invalid_image", "payload_too_large", "too_many_pixels", "unsupported_format"
ANY = frozenset({OK, BAD, BIG, PIXELS, FORMAT})
# Truncation may leave a decodable prefix (a missing IEND, a GIF trailer): both answers are right.
OK_OR_BAD = frozenset({OK, BAD})


def _exif(orientation=6):
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}
    return exif.tobytes()


def _apng(frames, size=(4, 4)):
    imgs = [Image.new("RGB", size, (i % 256, 0, 0)) for i in range(frames)]
    return save(imgs[0], "PNG", save_all=True, append_images=imgs[1:], duration=10)


def _agif(frames, size=(4, 4)):
    imgs = [Image.new("P", size, i % 4) for i in range(frames)]
    return save(imgs[0], "GIF", save_all=True, append_images=imgs[1:], duration=10, disposal=2)


def seeds():
    """Small valid images of every accepted format and many modes: [(name, bytes)]."""
    rgb, rgba = gradient((24, 16)), gradient((20, 14), "RGBA")
    grey = gradient((16, 12), "L")
    pal = rgb.quantize(16)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 3
    icc = _srgb_icc()
    out = [
        ("jpeg", save(rgb, "JPEG", quality=80)),
        ("jpeg progressive", save(rgb, "JPEG", progressive=True)),
        ("jpeg grey", save(grey, "JPEG")),
        ("jpeg cmyk", save(rgb.convert("CMYK"), "JPEG")),
        ("jpeg exif+icc", save(rgb, "JPEG", exif=_exif(6), icc_profile=icc)),
        ("jpeg restart markers", save(gradient((32, 32)), "JPEG", restart_marker_blocks=1)),
        ("jpeg 4:4:4", save(rgb, "JPEG", subsampling=0)),
        ("png rgb", save(rgb, "PNG")),
        ("png rgba", save(rgba, "PNG")),
        ("png grey", save(grey, "PNG")),
        ("png LA", save(gradient((12, 10), "LA"), "PNG")),
        ("png palette", save(pal, "PNG")),
        ("png palette trns", save(pal_t, "PNG")),
        ("png 1-bit", save(grey.convert("1"), "PNG")),
        ("png 16-bit", save(grey.convert("I;16"), "PNG")),
        ("png interlaced", _interlaced(rgb)),
        ("png exif+icc+text", save(rgb, "PNG", exif=_exif(8), icc_profile=icc, pnginfo=_text())),
        ("apng", _apng(3)),
        ("gif", save(pal, "GIF")),
        ("gif transparency", save(pal_t, "GIF")),
        ("gif animated", _agif(3)),
        ("gif interlaced", save(pal, "GIF", interlace=True)),
        ("webp lossy", save(rgb, "WEBP", quality=70)),
        ("webp lossless", save(rgb, "WEBP", lossless=True)),
        ("webp alpha", save(rgba, "WEBP")),
        ("webp animated", save(rgb, "WEBP", save_all=True, append_images=[rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], duration=10)),
        ("webp exif+icc", save(rgb, "WEBP", exif=_exif(3), icc_profile=icc)),
        ("heic", _heic(rgb)),
        ("heic rgba", _heic(rgba)),
        ("heic exif+icc+xmp", _heic(rgb, exif=_exif(6), icc_profile=icc, xmp=_XMP)),
        ("avif", save(rgb, "AVIF", quality=70)),
        ("avif rgba", save(rgba, "AVIF")),
        ("avif exif+icc+xmp", save(rgb, "AVIF", exif=_exif(6), icc_profile=icc, xmp=_XMP)),
        ("avif animated", save(rgb, "AVIF", save_all=True, append_images=[rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], duration=10)),
    ]
    return out


_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'


def _heic(img, **params):
    """A HEIC from pillow-heif (libheif + x265), the test-only encoder."""
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_pillow(img).save(buf, quality=70, **params)
    return buf.getvalue()


def _srgb_icc():
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _text():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hello")
    info.add_text("Big", "x" * 300, zip=True)
    return info


def _interlaced(img):
    """An Adam7 PNG (Pillow cannot write one): scanlines per pass, filter 0."""
    w, h = img.size
    px = img.tobytes()
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        for y in range(y0, h, dy):
            row = b"".join(px[(y * w + x) * 3 : (y * w + x) * 3 + 3] for x in range(x0, w, dx))
            if row:
                raw += b"\0" + row
    return png(w, h, raw, interlace=1)


def _heif_cases():
    """HEIF and AVIF lying about their sizes, hiding larger streams, flooding their structure."""
    from tests.support.hostile import isobmff as bm

    rgb = gradient((64, 64))  # the smallest tile MIAF allows in a grid
    out = []
    for name, data in (("heic", _heic(rgb)), ("avif", save(rgb, "AVIF", quality=70))):
        out += [
            (f"{name} ispe 9000x9000", bm.set_ispe(data, 9000, 9000), {PIXELS}),
            (f"{name} ispe 8001x5000", bm.set_ispe(data, 8001, 5000), {PIXELS}),
            (f"{name} ispe 2^32-1 square", bm.set_ispe(data, 2**32 - 1, 2**32 - 1), {PIXELS}),
            (f"{name} ispe 0x16", bm.set_ispe(data, 0, 16), {BAD}),
            (f"{name} without ispe", bm.remove_boxes(data, b"ispe"), {BAD}),
            (f"{name} without meta", bm.remove_boxes(data, b"meta"), {BAD}),
            (f"{name} without mdat", bm.remove_boxes(data, b"mdat"), {BAD, OK}),
            (f"{name} + zip", data + b"PK\x03\x04" + b"\0" * 26 + b"evil.php<?php system($_GET['c']); ?>", {OK}),
        ]
        config_box, coded = bm.coded(data)
        kind = b"hvc1" if name == "heic" else b"av01"
        brand = {} if name == "heic" else {"brand": b"avif", "compat": (b"mif1", b"avif", b"miaf")}
        ispe = bm.find(data, b"ispe")[0]
        w, h = struct.unpack(">II", data[ispe[0] + 4 : ispe[0] + 12])

        def grid(rows, cols, out_size, refs, tile=(w, h)):
            return bm.heif([(1, b"grid", bm.grid_data(rows, cols, *out_size)), (2, kind, coded)],
                           props=[bm.ispe(*out_size), config_box, bm.ispe(*tile)], assoc={1: [1], 2: [0x82, 3]},
                           refs=[(b"dimg", 1, refs)], idat_items={1}, **brand)

        out += [
            # libheif and libavif refuse a tile named twice today; the header check does not rely on it.
            (f"{name} 2x2 grid naming one tile 4 times", grid(2, 2, (2 * w, 2 * h), [2] * 4), {OK, BAD}),
            (f"{name} grid 9000x9000", grid(2, 2, (9000, 9000), [2] * 4), {PIXELS}),
            (f"{name} grid of 8,100 repeats", grid(90, 90, (90 * w, 90 * h), [2] * 8100, tile=(1000, 1000)), {PIXELS}),
            (f"{name} grid of 20,000 references", grid(1, 1, (w, h), [2] * 20000), {BAD}),
            (f"{name} 2,000 items", bm.heif([(1, kind, coded)] + [(i, b"Exif", b"\0" * 8) for i in range(2, 2000)],
                                            props=[bm.ispe(w, h), config_box], assoc={1: [1, 0x82]}, **brand), {BAD}),
            (f"{name} 10,000 boxes", bm.heif([(1, kind, coded)], props=[bm.ispe(w, h), config_box], assoc={1: [1, 0x82]},
                                             extra_meta=bm.box(b"free") * 10000, **brand), {BAD}),
            (f"{name} 500 exif items on the same 200 KB",
             bm.heif([(1, kind, coded)] + [(i, b"Exif", b"\0\0\0\0II*\0" + b"\0" * 200_000) for i in range(2, 502)],
                     props=[bm.ispe(w, h), config_box], assoc={1: [1, 0x82]}, refs=[(b"cdsc", i, [1]) for i in range(2, 502)],
                     aliases={i: 2 for i in range(3, 502)}, **brand), {BAD}),
            (f"{name} primary item missing", bm.heif([(1, kind, coded)], primary=9, props=[bm.ispe(w, h), config_box],
                                                     assoc={1: [1, 0x82]}, **brand), {BAD}),
        ]
    big = gradient((600, 600))
    for name, data in (("heic", _heic(big)), ("avif", save(big, "AVIF", quality=30))):
        out.append((f"{name} 600x600 stream behind an ispe of 48x48", bm.set_ispe(data, 48, 48), {BAD}))
    out.append(("heic sequence with no still image",
                bm.box(b"ftyp", b"msf1\0\0\0\0msf1hevc") + bm.box(b"moov", bm.box(b"mvhd", b"\0" * 100)), {FORMAT}))
    return [(n, d, frozenset(o)) for n, d, o in out]


def _must_fail_before(data):
    """A cut before this offset cannot decode; past it, what is left may (zlib streams end early)."""
    if data.startswith(b"\x89PNG"):
        pos = 8
        for kind, payload in png_chunks(data):
            if kind == b"IDAT":
                return pos + 8 + len(payload) // 2
            pos += 12 + len(payload)
    return int(len(data) * 0.8)


def _truncations(seed_list):
    """Every seed cut at ~24 points, plus its last byte dropped."""
    out = []
    for name, data in seed_list:
        cuts = sorted({*range(1, len(data), max(1, len(data) // 24)), len(data) - 1})
        end = _must_fail_before(data)
        for cut in cuts:
            # Cutting inside the magic makes it an unknown format; a cut near the end may still decode.
            if cut < 12:
                outcomes = frozenset({BAD, FORMAT})
            elif cut < end:
                outcomes = frozenset({BAD})
            else:
                outcomes = OK_OR_BAD
            out.append((f"{name} cut at {cut}/{len(data)}", data[:cut], outcomes))
    return out


def _headers_and_tiny():
    """Zero bytes, one byte, magic only, headers only."""
    out = [("zero bytes", b"", {BAD})]
    out += [(f"one byte {b:#04x}", bytes([b]), {FORMAT}) for b in (0x00, 0xFF, 0x89, 0x47, 0x52, 0x0A)]
    out += [
        ("jpeg magic only", b"\xff\xd8\xff", {BAD}),
        ("png signature only", b"\x89PNG\r\n\x1a\n", {BAD}),
        ("gif magic only", b"GIF89a", {BAD}),
        ("gif87a screen only", b"GIF87a\x10\x00\x10\x00\x00\x00\x00", {BAD}),
        ("webp riff only", b"RIFF\x04\x00\x00\x00WEBP", {BAD}),
        ("png ihdr only", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)), {BAD}),
        ("jpeg soi+sof only", b"\xff\xd8" + segment(0xC0, b"\x08\x00\x10\x00\x10\x01\x01\x11\x00"), {BAD}),
        ("jpeg soi+eoi", b"\xff\xd8\xff\xd9", {BAD}),
        ("png iend only", b"\x89PNG\r\n\x1a\n" + chunk(b"IEND", b""), {BAD}),
    ]
    return [(n, d, frozenset(o)) for n, d, o in out]


def _pixel_bombs():
    """Headers claiming huge sizes, and small files that decompress to huge ones."""
    jpeg = save(gradient((16, 16)), "JPEG")
    pjpeg = save(gradient((16, 16)), "JPEG", progressive=True)
    gif = save(Image.new("P", (8, 8), 1), "GIF")
    over = (7000, 6000)  # 42 MP
    out = []
    for w, h in ((65535, 65535), (2**31 - 1, 1), (1, 2**31 - 1), (2**32 - 1, 2**32 - 1), over, (40_000_001, 1)):
        out.append((f"png ihdr {w}x{h}", png(w, h), {PIXELS, BAD}))
    out += [
        ("png ihdr 0x0", png(0, 0), {BAD}),
        ("png ihdr 0x16", png(0, 16), {BAD}),
        ("png ihdr under the cap, no data", png(6300, 6300), {BAD}),
        ("png idat bomb over the cap", png(8000, 8000, b"\0" * (8001 * 200), colour=0), {PIXELS}),
        # 36 MP of zeros in 35 KB: legal and under the cap, so it decodes (bounded by the cap).
        ("png idat bomb under the cap", png(6000, 6000, b"\0" * (6001 * 6000), colour=0), {OK}),
        # A complete zlib stream with too few rows: Pillow leaves the rest black, as libpng would.
        ("png idat bomb, short data", png(6000, 6000, b"\0" * 6001 * 10, colour=0), {OK, BAD}),
        ("png ztxt bomb", png(4, 4, b"\0" * 13 * 4, extra=[chunk(b"zTXt", b"k\0\0" + zlib.compress(b"A" * 50_000_000))]), OK_OR_BAD),
        ("png iccp bomb", png(4, 4, b"\0" * 13 * 4, extra=[chunk(b"iCCP", b"p\0\0" + zlib.compress(b"\0" * 50_000_000))]), OK_OR_BAD),
        ("png itxt bomb", png(4, 4, b"\0" * 13 * 4, extra=[chunk(b"iTXt", b"k\0\1\0\0\0" + zlib.compress(b"B" * 50_000_000))]), OK_OR_BAD),
        ("jpeg sof 65535x65535", set_jpeg_size(jpeg, 65535, 65535), {PIXELS}),
        ("jpeg sof 7000x6000", set_jpeg_size(jpeg, 7000, 6000), {PIXELS}),
        ("jpeg sof 0x0", set_jpeg_size(jpeg, 0, 0), {BAD}),
        ("jpeg sof 6000x6000 truncated", set_jpeg_size(jpeg, 6000, 6000), {BAD, OK}),
        ("progressive jpeg sof 65535x65535", set_jpeg_size(pjpeg, 65535, 65535), {PIXELS}),
        ("gif screen 65535x65535", gif[:6] + struct.pack("<HH", 65535, 65535) + gif[10:], {PIXELS}),
        ("gif frame 65535x65535 on a small screen", _gif_big_frame(gif), {PIXELS, BAD}),
        ("gif screen 0x0", gif[:6] + struct.pack("<HH", 0, 0) + gif[10:], {BAD, OK}),
        ("webp vp8x canvas 16777216^2", riff([(b"VP8X", vp8x(2**24, 2**24))] + riff_chunks(save(gradient((8, 8)), "WEBP"))), {PIXELS, BAD}),
        ("webp vp8x canvas 7000x6000", riff([(b"VP8X", vp8x(7000, 6000))] + riff_chunks(save(gradient((8, 8)), "WEBP"))), {PIXELS, BAD}),
        ("webp vp8 16383x16383", _webp_vp8_size(16383, 16383), {PIXELS, BAD}),
    ]
    return [(n, d, frozenset(o)) for n, d, o in out]


def _gif_big_frame(gif):
    at = gif.index(b",", gif_header_end(gif))
    return gif[: at + 5] + struct.pack("<HH", 65535, 65535) + gif[at + 9 :]


def _webp_vp8_size(w, h):
    data = bytearray(save(gradient((8, 8)), "WEBP", quality=50))
    at = data.index(b"VP8 ") + 8 + 6  # frame tag (3) + start code (3), then 14-bit width/height
    data[at : at + 4] = struct.pack("<HH", w, h)
    return bytes(data)


def _cost_bombs():
    """Timeout reproducers: files whose structure alone costs seconds in Pillow or libjpeg."""
    cap = config.MAX_BYTES - 1024
    jpeg = save(gradient((16, 16)), "JPEG")
    pjpeg = save(gradient((16, 16), "L"), "JPEG", progressive=True)
    gif = save(Image.new("P", (16, 16), 1), "GIF")
    g = gif_header_end(gif)
    sos = pjpeg.index(b"\xff\xda")
    scan = pjpeg[sos : sos + 2 + struct.unpack(">H", pjpeg[sos + 2 : sos + 4])[0]]
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 17 * 16))
    sig = b"\x89PNG\r\n\x1a\n"
    out = [
        ("jpeg 5000 empty progressive scans at 36 MP", set_jpeg_size(pjpeg[:sos], 6000, 6000) + (scan + b"\0" * 4) * 5000 + b"\xff\xd9", {BAD}),
        ("jpeg 60 empty progressive scans at 1 MP", set_jpeg_size(pjpeg[:sos], 1000, 1000) + (scan + b"\0" * 4) * 60 + b"\xff\xd9", {OK, BAD}),
        ("jpeg 1M empty COM segments", jpeg[:2] + b"\xff\xfe\x00\x02" * (cap // 4) + jpeg[2:], {BAD}),
        ("jpeg 1M empty APP5 segments", jpeg[:2] + b"\xff\xe5\x00\x02" * (cap // 4) + jpeg[2:], {BAD}),
        ("jpeg 4 MB of fill bytes", jpeg[:2] + b"\xff" * cap + jpeg[2:], {BAD}),
        ("jpeg 4 MB of junk between segments", jpeg[:20] + b"\x00" * cap + jpeg[20:], {BAD}),
        ("jpeg 1000 fill bytes (legal)", jpeg[:2] + b"\xff" * 1000 + jpeg[2:], {OK}),
        ("png 350k empty IDAT chunks", sig + ihdr + chunk(b"IDAT", b"") * (cap // 12) + idat + chunk(b"IEND", b""), {BAD}),
        ("png 350k unknown chunks", sig + ihdr + chunk(b"abCd", b"") * (cap // 12) + idat + chunk(b"IEND", b""), {BAD}),
        ("png 280k tEXt chunks", sig + ihdr + chunk(b"tEXt", b"a\0b") * (cap // 15) + idat + chunk(b"IEND", b""), {BAD}),
        ("png 280k tEXt chunks after IDAT", sig + ihdr + idat + chunk(b"tEXt", b"a\0b") * (cap // 15) + chunk(b"IEND", b""), {BAD}),
        ("png 2000 tEXt chunks (legal)", sig + ihdr + chunk(b"tEXt", b"a\0b") * 2000 + idat + chunk(b"IEND", b""), {OK}),
        ("gif 1.4M empty comments", gif[:g] + b"\x21\xfe\x00" * (cap // 3) + gif[g:], {BAD}),
        ("gif one 4 MB comment", gif[:g] + b"\x21\xfe" + (b"\xff" + b"a" * 255) * (cap // 256) + b"\x00" + gif[g:], {BAD}),
        ("gif app extension of 2M 1-byte blocks", gif[:g] + b"\x21\xff\x0bNETSCAPE2.0" + b"\x01a" * (cap // 2) + b"\x00" + gif[g:], {BAD}),
        ("gif 4 MB of junk before the frame", gif[:g] + b"\x00" * cap + gif[g:], {BAD}),
        ("gif junk and comments interleaved", gif[:g] + (b"\x00" * 50 + b"\x21\xfe\x01a\x00") * (cap // 55) + gif[g:], {BAD}),
        ("gif 100 comments (legal)", gif[:g] + b"\x21\xfe\x05hello\x00" * 100 + gif[g:], {OK}),
    ]
    return [(n, d, frozenset(o)) for n, d, o in out]


def _many_frames():
    return [
        ("apng 3000 frames", _apng(3000, (1, 1)), frozenset({OK})),
        ("animated gif 3000 frames", _agif(3000, (2, 2)), frozenset({OK})),
        ("animated webp 1000 frames", save(Image.new("RGB", (2, 2)), "WEBP", save_all=True,
                                          append_images=[Image.new("RGB", (2, 2), (i % 256, 0, 0)) for i in range(999)], duration=10), frozenset({OK})),
        ("apng acTL claims 2^31 frames", _apng_actl_lie(), frozenset({OK, BAD})),
    ]


def _apng_actl_lie():
    chunks = png_chunks(_apng(2))
    return png_from_chunks([(k, struct.pack(">II", 2**31 - 1, 0) if k == b"acTL" else v) for k, v in chunks])


def _exif_cases():
    """Broken EXIF: offsets out of range, IFD loops, huge counts, wrong types, bad orientation."""
    base = save(gradient((24, 16)), "JPEG")
    tiffs = {
        "ifd offset past the end": b"II*\x00" + struct.pack("<I", 0x7FFFFFF0),
        "ifd loops to itself": tiff_ifd([(0x0112, 3, 1, 6)], next_offset=8),
        "exif sub-ifd loops": tiff_ifd([(0x8769, 4, 1, 8)]),
        "gps ifd loops": tiff_ifd([(0x8825, 4, 1, 8)]),
        "huge entry count": b"II*\x00\x08\x00\x00\x00\xff\xff" + b"\0" * 40,
        "value count 2^32-1": tiff_ifd([(0x010F, 2, 0xFFFFFFFF, 100)]),
        "orientation 0": tiff_ifd([(0x0112, 3, 1, 0)]),
        "orientation 9": tiff_ifd([(0x0112, 3, 1, 9)]),
        "orientation 65535": tiff_ifd([(0x0112, 3, 1, 0xFFFF)]),
        "orientation as ascii": tiff_ifd([(0x0112, 2, 4, 0x00333231)]),
        "orientation as rational off the end": tiff_ifd([(0x0112, 5, 1, 0x7FFFFFF)]),
        "orientation count 1000": tiff_ifd([(0x0112, 3, 1000, 40)]),
        "unknown type 99": tiff_ifd([(0x0112, 99, 1, 6)]),
        "big-endian header, little data": b"MM\x00*" + struct.pack("<I", 8) + b"\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00",
        "bad byte-order mark": b"XX*\x00\x08\x00\x00\x00" + b"\0" * 20,
        "empty": b"",
        "one byte": b"I",
        "interop ifd out of range": tiff_ifd([(0xA005, 4, 1, 0xFFFFFF00)]),
    }
    out = []
    for name, tiff in tiffs.items():
        out.append((f"jpeg exif {name}", jpeg_insert(base, exif_app1(tiff)), frozenset({OK})))
        out.append((f"png eXIf {name}", png(4, 4, b"\0" * 13 * 4, extra=[chunk(b"eXIf", tiff)]), frozenset({OK})))
    webp = riff_chunks(save(gradient((8, 8)), "WEBP", lossless=True))
    out.append(("webp exif loop", riff([(b"VP8X", vp8x(8, 8, 0x08))] + webp + [(b"EXIF", tiffs["ifd loops to itself"])]), frozenset({OK, BAD})))
    out.append(("jpeg 200 exif segments", jpeg_insert(base, *[exif_app1(tiff_ifd([(0x0112, 3, 1, 6)]))] * 200), frozenset({OK})))
    return out


def _icc_and_mode_cases():
    """Garbage ICC profiles, CMYK, 16-bit, palette oddities."""
    rgb = gradient((24, 16))
    jpeg = save(rgb, "JPEG")
    cmyk = save(rgb.convert("CMYK"), "JPEG")
    garbage_cmyk_icc = b"\0\0\x02\x00lcms\x02\x10\0\0mntrCMYKLab " + b"\x5a" * 400
    row = lambda w, v: b"\0" + bytes([v]) * w  # noqa: E731 - one filter-0 scanline
    out = [
        ("jpeg icc garbage", save(rgb, "JPEG", icc_profile=b"\x01" * 500), {OK}),
        ("jpeg cmyk icc garbage", save(rgb.convert("CMYK"), "JPEG", icc_profile=garbage_cmyk_icc), {OK}),
        ("jpeg cmyk truncated icc header", save(rgb.convert("CMYK"), "JPEG", icc_profile=b"\0" * 16 + b"CMYK"), {OK}),
        ("jpeg icc chunks out of order", jpeg_insert(jpeg, segment(0xE2, b"ICC_PROFILE\0\x02\x02" + b"b" * 50), segment(0xE2, b"ICC_PROFILE\0\x01\x02" + b"a" * 50)), {OK}),
        ("jpeg icc chunk count 0", jpeg_insert(jpeg, segment(0xE2, b"ICC_PROFILE\0\x00\x00" + b"a" * 50)), {OK, BAD}),
        ("jpeg icc chunk index past count", jpeg_insert(jpeg, segment(0xE2, b"ICC_PROFILE\0\x09\x01" + b"a" * 50)), {OK, BAD}),
        ("jpeg adobe inverted cmyk", jpeg_insert(cmyk, segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x02")), {OK}),
        ("jpeg 12-bit precision", _jpeg_precision(jpeg, 12), {OK, BAD}),
        ("jpeg 255 components", _jpeg_components(jpeg, 255), {BAD}),
        ("jpeg arithmetic sof9", jpeg.replace(b"\xff\xc0", b"\xff\xc9", 1), {OK, BAD}),
        ("jpeg lossless sof3", jpeg.replace(b"\xff\xc0", b"\xff\xc3", 1), {BAD}),
        ("png iccp garbage", png(4, 4, b"\0" * 13 * 4, extra=[chunk(b"iCCP", b"p\0\0" + zlib.compress(b"junk" * 40))]), {OK}),
        ("png iccp not zlib", png(4, 4, b"\0" * 13 * 4, extra=[chunk(b"iCCP", b"p\0\0" + b"not zlib")]), {OK, BAD}),
        ("png 16-bit rgb", png(3, 2, row(18, 200) * 2, depth=16, colour=2), {OK}),
        ("png 16-bit rgba", png(3, 2, row(24, 200) * 2, depth=16, colour=6), {OK}),
        ("png 16-bit grey", png(3, 2, row(6, 200) * 2, depth=16, colour=0), {OK}),
        ("png 2-bit grey", png(8, 2, row(2, 0x1B) * 2, depth=2, colour=0), {OK}),
        ("png palette without PLTE", png(4, 4, row(4, 1) * 4, colour=3), {BAD, OK}),
        ("png palette index past PLTE", png(4, 4, row(4, 200) * 4, colour=3, extra=[chunk(b"PLTE", b"\xff\0\0\0\xff\0")]), {OK}),
        ("png trns longer than PLTE", png(4, 4, row(4, 1) * 4, colour=3, extra=[chunk(b"PLTE", b"\xff\0\0\0\xff\0"), chunk(b"tRNS", b"\0" * 300)]), {OK, BAD}),
        ("png trns on rgb wrong length", png(4, 4, row(12, 9) * 4, extra=[chunk(b"tRNS", b"\0\1")]), {OK, BAD}),
        ("png PLTE of 1000 entries", png(4, 4, row(4, 1) * 4, colour=3, extra=[chunk(b"PLTE", b"\x10" * 3000)]), {OK, BAD}),
        ("png bad depth for colour", png(4, 4, row(12, 9) * 4, depth=4, colour=2), {BAD}),
        ("png colour type 7", png(4, 4, row(12, 9) * 4, colour=7), {BAD}),
        ("png unknown filter type", png(4, 4, (b"\x09" + b"\x10" * 12) * 4), {BAD, OK}),
        ("png interlace method 2", png(4, 4, row(12, 9) * 4, interlace=2), {BAD, OK}),
        ("png bad idat crc", _png_bad_crc(), {BAD, OK}),
        ("gif no palette", b"GIF89a\x04\x00\x04\x00\x00\x00\x00,\x00\x00\x00\x00\x04\x00\x04\x00\x00\x02\x05\x84\x8f\xa9\xcb\x00;", {OK, BAD}),
        ("gif transparency index past palette", save(Image.new("P", (4, 4), 1), "GIF", transparency=250), {OK}),
        ("gif lzw code size 12", _gif_code_size(12), {OK, BAD}),
        ("gif lzw code size 0", _gif_code_size(0), {OK, BAD}),
        ("webp lossless 1x1", save(Image.new("RGBA", (1, 1)), "WEBP", lossless=True), {OK}),
    ]
    return [(n, d, frozenset(o)) for n, d, o in out]


def _jpeg_precision(jpeg, bits):
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 4] + bytes([bits]) + jpeg[at + 5 :]


def _jpeg_components(jpeg, count):
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 9] + bytes([count]) + jpeg[at + 10 :]


def _png_bad_crc():
    data = bytearray(png(4, 4, b"\0" * 13 * 4))
    at = data.index(b"IEND") - 5
    data[at] ^= 0xFF
    return bytes(data)


def _gif_code_size(bits):
    gif = bytearray(save(Image.new("P", (4, 4), 1), "GIF"))
    at = gif.index(b",", gif_header_end(gif)) + 10
    gif[at] = bits
    return bytes(gif)


def _polyglots():
    """Valid images that are also something else; the result must carry none of the payload."""
    rgb = gradient((24, 16))
    jpeg, pngb, gif = save(rgb, "JPEG"), save(rgb, "PNG"), save(rgb.quantize(8), "GIF")
    zip_tail = b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\0" * 16 + b"evil.php<?php system($_GET['c']); ?>" + b"PK\x05\x06" + b"\0" * 18
    html = b"<html><script>alert(document.cookie)</script></html>"
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF"
    out = [
        ("png + zip", pngb + zip_tail, {OK}),
        ("png with html in tEXt", png_from_chunks([*png_chunks(pngb)[:1], (b"tEXt", b"c\0" + html), *png_chunks(pngb)[1:]]), {OK}),
        ("png + pdf", pngb + pdf, {OK}),
        ("png with html in a private chunk", png_from_chunks([*png_chunks(pngb)[:1], (b"htMl", html), *png_chunks(pngb)[1:]]), {OK}),
        ("jpeg + php", jpeg + b"<?php system($_GET['c']); ?>", {OK}),
        ("jpeg with php in COM", jpeg_insert(jpeg, segment(0xFE, b"<?php system($_GET['c']); ?>")), {OK}),
        ("jpeg with html in APP1 xmp", jpeg_insert(jpeg, segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + html)), {OK}),
        ("gif + jar (gifar)", gif + zip_tail, {OK}),
        ("gif magic then javascript", b"GIF89a=1;alert(document.cookie);//" + b"\0" * 20, {BAD}),
        ("jpeg magic then pdf", b"\xff\xd8\xff" + pdf, {BAD}),
        ("png signature then html", b"\x89PNG\r\n\x1a\n" + html, {BAD}),
        ("riff webp magic then zip", b"RIFF\x40\x00\x00\x00WEBP" + zip_tail, {BAD}),
        ("webp + html", save(rgb, "WEBP") + html, {OK, BAD}),
    ]
    return [(n, d, frozenset(o)) for n, d, o in out]


POLYGLOT_MARKERS = (b"<?php", b"<script", b"%PDF", b"evil.php", b"alert(")


def _renamed():
    """Other formats sent as .jpg: decided by magic bytes, so all are unsupported."""
    img = gradient((16, 16))
    out = [
        ("pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"),
        ("svg", b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg' width='10000000' height='10000000'/>"),
        ("mp4", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\0" * 64),
        ("tiff le", save(img, "TIFF")),
        ("tiff be", b"MM\x00*\x00\x00\x00\x08" + b"\0" * 40),
        ("bmp", save(img, "BMP")),
        ("ico", save(img, "ICO")),
        ("psd", b"8BPS\x00\x01" + b"\0" * 6 + b"\x00\x03\x00\x00\x00\x10\x00\x00\x00\x10\x00\x08\x00\x03" + b"\0" * 64),
        ("pcx", save(img, "PCX")),
        ("tga", save(img, "TGA")),
        ("ppm", save(img, "PPM")),
        ("jpeg 2000", b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\0" * 64),
        ("jpeg xl", b"\xff\x0a" + b"\0" * 64),
        ("qoi", b"qoif\x00\x00\x00\x10\x00\x00\x00\x10\x03\x00" + b"\0" * 64),
        ("riff wave", riff([(b"fmt ", b"\0" * 16), (b"data", b"\0" * 32)], form=b"WAVE")),
        ("riff avi", riff([(b"LIST", b"hdrl")], form=b"AVI ")),
        ("zip", b"PK\x03\x04" + b"\0" * 64),
        ("gzip", zlib.compress(b"x" * 100)[:2] + b"\x1f\x8b" + b"\0" * 32),
        ("elf", b"\x7fELF\x02\x01\x01" + b"\0" * 64),
        ("exe", b"MZ\x90\x00" + b"\0" * 64),
        ("html", b"<!doctype html><html><body>not a photo</body></html>"),
        ("json", b'{"image": "not really"}'),
        ("text", "这不是一张照片 — not a photo\n".encode()),
        ("utf-16 text", "hello".encode("utf-16")),
        ("png signature without ^Z", b"\x89PNG\r\n\n" + save(img, "PNG")[8:]),
        ("jpeg without the third ff", b"\xff\xd8" + save(img, "JPEG")[3:]),
        ("gif88a", b"GIF88a" + save(img.quantize(4), "GIF")[6:]),
        ("riff webp lowercase", b"RIFF\x20\x00\x00\x00webpVP8 " + b"\0" * 30),
        ("base64 jpeg", __import__("base64").b64encode(save(img, "JPEG"))),
        ("data url", b"data:image/jpeg;base64," + __import__("base64").b64encode(save(img, "JPEG"))),
    ]
    renamed = [(f"{name} renamed .jpg", data, frozenset({FORMAT})) for name, data in out]
    # HEIF and AVIF brands are accepted formats now: with nothing inside they are unreadable, not unsupported.
    brands_only = [
        ("heic brand, nothing inside, renamed .jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 64),
        ("avif brand, nothing inside, renamed .jpg", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\0" * 64),
    ]
    return renamed + [(name, data, frozenset({BAD})) for name, data in brands_only]


def _oversized():
    return [
        ("jpeg one byte over 4 MB", b"\xff\xd8\xff" + b"\0" * (config.MAX_BYTES - 2), frozenset({BIG})),
        ("valid jpeg padded to 4 MB + 1", save(gradient((16, 16)), "JPEG").ljust(config.MAX_BYTES + 1, b"\0"), frozenset({BIG})),
        ("valid jpeg padded to exactly 4 MB", save(gradient((16, 16)), "JPEG").ljust(config.MAX_BYTES, b"\0"), frozenset({OK})),
    ]


def malformed():
    """The whole malformed corpus: [(name, bytes, outcomes)]."""
    return (
        _headers_and_tiny()
        + _truncations(seeds())
        + _pixel_bombs()
        + _cost_bombs()
        + _many_frames()
        + _exif_cases()
        + _icc_and_mode_cases()
        + _polyglots()
        + _heif_cases()
        + _renamed()
        + _oversized()
    )
