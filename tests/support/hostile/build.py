"""Byte-level builders for PNG, JPEG, GIF, WebP and EXIF structures (valid framing, hostile content)."""

import io
import struct
import zlib

from PIL import Image

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def save(img, fmt, **params):
    """`img` encoded by Pillow, in memory."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def gradient(size, mode="RGB"):
    """A small image with real structure (edges and gradients compress like photos do)."""
    w, h = size
    img = Image.linear_gradient("L").resize(size)
    if mode == "L":
        return img
    rgb = Image.merge("RGB", (img, img.transpose(Image.Transpose.ROTATE_90).resize(size), Image.new("L", size, 90)))
    return rgb.convert(mode) if mode != "RGB" else rgb


def chunk(kind, data):
    """A PNG chunk with a correct CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, raw=b"", *, depth=8, colour=2, interlace=0, extra=(), compress=True, tail=()):
    """A PNG with the given IHDR and IDAT payload (raw scanlines, zlib-compressed unless told not to)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    idat = zlib.compress(raw, 9) if compress else raw
    return PNG_SIG + chunk(b"IHDR", ihdr) + b"".join(extra) + chunk(b"IDAT", idat) + b"".join(tail) + chunk(b"IEND", b"")


def png_bomb(width, height, rows=None):
    """A valid all-black RGB PNG of width x height whose IDAT holds `rows` rows (all by default).

    Tiny on disk, huge decoded: 8001 x 5000 is ~117 KB that would decode to 120 MB.
    """
    compressor, parts, row = zlib.compressobj(9), [], bytes(1 + 3 * width)  # filter byte + pixels
    for _ in range(height if rows is None else rows):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    return png(width, height, b"".join(parts), compress=False)


def png_chunks(data):
    """[(kind, payload)] of a PNG (CRCs dropped); stops at the first malformed length."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def png_from_chunks(chunks):
    """A PNG from [(kind, payload)], every CRC recomputed."""
    return PNG_SIG + b"".join(chunk(k, v) for k, v in chunks)


def fix_png_crcs(data):
    """The same PNG with every chunk CRC recomputed, so a mutation gets past the CRC check."""
    if not data.startswith(PNG_SIG):
        return data
    out, pos = bytearray(data), 8
    while pos + 12 <= len(out):
        length = struct.unpack(">I", out[pos : pos + 4])[0]
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(out[pos + 4 : end])))
        pos = end + 4
    return bytes(out)


def jpeg_segments(data):
    """[(marker, payload)] of a JPEG's header up to and including SOS, then ("scan", rest)."""
    out, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        out.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
        if marker == 0xDA:
            break
    out.append(("scan", data[pos:]))
    return out


def segment(marker, payload):
    """One JPEG marker segment."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_from_segments(segments):
    """A JPEG from jpeg_segments() output."""
    out = b"\xff\xd8"
    for marker, payload in segments:
        out += payload if marker == "scan" else segment(marker, payload)
    return out


def jpeg_insert(data, *segs):
    """A JPEG with extra segments right after SOI."""
    return data[:2] + b"".join(segs) + data[2:]


def set_jpeg_size(data, width, height):
    """A JPEG whose first SOFn claims width x height."""
    out = bytearray(data)
    for sof in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc2"):
        at = out.find(sof)
        if at >= 0:
            out[at + 5 : at + 9] = struct.pack(">HH", height, width)
            return bytes(out)
    return bytes(out)


def gif_header_end(data):
    """Offset just past a GIF's header, screen descriptor and global colour table."""
    flags = data[10]
    return 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)


def riff(fourcc_chunks, form=b"WEBP"):
    """A RIFF file from [(fourcc, payload)] with correct sizes and padding."""
    body = b"".join(c + struct.pack("<I", len(p)) + p + (b"\0" if len(p) % 2 else b"") for c, p in fourcc_chunks)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + form + body


def riff_chunks(data):
    """[(fourcc, payload)] of a RIFF/WEBP file."""
    out, pos = [], 12
    while pos + 8 <= len(data):
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        out.append((data[pos : pos + 4], data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def vp8x(width, height, flags=0):
    """A VP8X chunk payload claiming a width x height canvas."""
    return bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")


def tiff_ifd(entries, next_offset=0, *, at=8):
    """A little-endian TIFF/EXIF blob: header, one IFD of (tag, type, count, value) at `at`."""
    head = b"II*\x00" + struct.pack("<I", at) + b"\0" * (at - 8)
    body = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack("<HHII", tag, kind, count, value)
    return head + body + struct.pack("<I", next_offset)


def exif_app1(tiff):
    """A JPEG APP1 EXIF segment around a TIFF blob."""
    return segment(0xE1, b"Exif\x00\x00" + tiff)
