"""HEIF (HEIC) and AVIF headers, read in Python before any decoder sees the file.

Both are ISO-BMFF box trees (ISO/IEC 14496-12, 23008-12 "HEIF", MIAF, AV1-ISOBMFF): a `meta` box
lists items (the primary image, its grid tiles, its alpha plane, thumbnails, EXIF, XMP), where
their bytes are (`iloc`) and their properties (`ispe` = the stored width and height); an AVIF
sequence also has `moov` tracks. probe() walks only what a decoder would decode — the primary item,
its grid tiles and its alpha plane, and for AVIF every AV1 track's first frame — and checks:

- the size each will decode to: `ispe`, a grid's output size, a track's sample entry; a missing
  `ispe` is refused, as is anything over the contract's pixel cap;
- the size the coded stream itself declares (an HEVC SPS, an AV1 sequence header, in the codec
  configuration and in the item's own bytes): libde265 and dav1d allocate by those, not by
  `ispe`, and libavif would decode a 16384x16384 frame hidden behind an `ispe` of 100x100 and only
  then scale it down (measured: 94 MB for a 1 KB file);
- that every byte range a decoder would read lies inside the file (a truncated file is refused
  here, deterministically, rather than half-decoded);
- structure floods: boxes, items, extents, references, NAL units and OBUs are counted against
  limits far above any camera's files (an iPhone HEIC has ~50-150 items), and the bytes all items
  point at are bounded by the file's own size (pi-heif copies every metadata item it is pointed to).

Nothing is decoded and nothing is written; the limits sit beside the parser as lib/images.py keeps
its own for JPEG, PNG and GIF.
"""

import re
from dataclasses import dataclass

from lib import config

HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
CODEC = {"HEIF": b"hvc1", "AVIF": b"av01"}  # the coded item type each family's decoder reads
ALPHA_URNS = (b"urn:mpeg:hevc:2015:auxid:1", b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha")

MAX_BOXES = 8192  # every box walked, at every level
MAX_ITEMS = 1024  # iinf, iloc and ipma entries (an iPhone HEIC: ~50-150 items; libheif allows 1000)
MAX_EXTENTS = 4096  # iloc extents, all items together
MAX_REFERENCES = 8192  # iref target ids, all references together
MAX_TRACKS = 16
MAX_UNITS = 4096  # NAL units or OBUs walked in one item or sample
MAX_BRANDS = 64
# The decoders may touch the primary image, its alpha plane and the grid tiles' overhang.
MAX_DECODED_PIXELS = 5 * config.MAX_PIXELS // 2
# A coded stream may exceed its `ispe` by its coding blocks' padding (HEVC pads to 8 and crops
# with a conformance window); libheif allows the same 64 pixels a side.
CODED_SLACK = 64


@dataclass(frozen=True)
class Probe:
    """What probe() found: the primary image's stored size, or the problem that refuses the file.

    problem is None, "corrupt" (truncated, inconsistent, missing ispe), "costly" (a structure flood),
    "unsupported" (a coding we do not decode, or no still image) or "too_many_pixels".
    """

    width: int = 0
    height: int = 0
    problem: str | None = None


PROBLEMS = frozenset({"corrupt", "costly", "unsupported", "too_many_pixels"})


def _refused(problem):
    """The exception that unwinds the walk with a problem (probe() turns it into a Probe)."""
    return ValueError(problem)


def _corrupt():
    return _refused("corrupt")


def family(data):
    """"HEIF", "AVIF" or None from the leading `ftyp` box's major and compatible brands."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    size = int.from_bytes(data[:4], "big")
    end = min(len(data), size if size >= 16 else 16, 16 + 4 * MAX_BRANDS)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & AVIF_BRANDS:
        return "AVIF"
    if brands & HEIF_BRANDS:
        return "HEIF"
    return None


def probe(data, fmt):
    """Check a HEIF or AVIF file's structure and sizes without decoding; returns a Probe."""
    try:
        return _File(data, fmt).check()
    except ValueError as refused:
        problem = refused.args[0] if refused.args else None
        return Probe(problem=problem if problem in PROBLEMS else "corrupt")
    except IndexError:
        return Probe(problem="corrupt")


# --- reading ----------------------------------------------------------------------------------------


class _Reader:
    """Big-endian fields from data[pos:end]; reading past `end` is corrupt."""

    def __init__(self, data, pos, end):
        self.data, self.pos, self.end = data, pos, end

    def take(self, n):
        if n < 0 or self.pos + n > self.end:
            raise _corrupt()
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def uint(self, n):
        return int.from_bytes(self.take(n), "big") if n else 0

    def u8(self):
        return self.uint(1)

    def u16(self):
        return self.uint(2)

    def u32(self):
        return self.uint(4)


class _Bits:
    """A bit reader over bytes (MSB first), for the HEVC SPS and the AV1 sequence header."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def u(self, n):
        value = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise _corrupt()
            value = value << 1 | (self.data[byte] >> (7 - (self.pos & 7))) & 1
            self.pos += 1
        return value

    def ue(self):
        """Exp-Golomb ue(v) (HEVC)."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise _corrupt()
        return (1 << zeros) - 1 + self.u(zeros)

    def uvlc(self):
        """uvlc() (AV1)."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros >= 32:
                return (1 << 32) - 1
        return (1 << zeros) - 1 + self.u(zeros)


class _File:
    def __init__(self, data, fmt):
        self.data, self.fmt, self.boxes = data, fmt, 0
        self.types, self.locations, self.props, self.assoc, self.refs = {}, {}, [], {}, {}
        self.idat = None
        self.extents = self.references = 0

    def walk(self, start, end, top=False):
        """[(type, payload start, payload end)] of the boxes filling data[start:end] exactly.

        At the top level, bytes after the last whole box are ignored, as libheif and libavif ignore
        them (a zip or a page appended to a photo); a truncated file still fails where its items'
        bytes are looked for.
        """
        out, pos, data = [], start, self.data
        while pos < end:
            self.boxes += 1
            if self.boxes > MAX_BOXES:
                raise _refused("costly")
            if end - pos < 8:
                if top and out:
                    break
                raise _corrupt()
            size, kind, head = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
            if size == 1:
                if end - pos < 16:
                    if top and out:
                        break
                    raise _corrupt()
                size, head = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
            elif size == 0:  # to the end of the enclosing box (the last top-level box, often mdat)
                size = end - pos
            if kind == b"uuid":
                head += 16
            if size < head or pos + size > end:
                if top and out:
                    break
                raise _corrupt()
            out.append((kind, pos + head, pos + size))
            pos += size
        return out

    # --- the top level ------------------------------------------------------------------------

    def check(self):
        top = self.walk(0, len(self.data), top=True)
        if top[0][0] != b"ftyp":
            raise _corrupt()
        major = self.data[top[0][1] : top[0][1] + 4]
        metas = [(a, b) for kind, a, b in top if kind == b"meta"]
        moovs = [(a, b) for kind, a, b in top if kind == b"moov"]
        if len(metas) > 1 or len(moovs) > 1:
            raise _corrupt()
        size = self.items(*metas[0]) if metas else None
        # pi-heif reads items only; libavif decodes the first AV1 track instead of the item unless
        # the major brand is avif, so for AVIF every AV1 track is checked as the items are.
        tracks = self.tracks(*moovs[0]) if moovs and self.fmt == "AVIF" else []
        if tracks and (size is None or major != b"avif"):
            size = tracks[0]
        if size is None:  # an image sequence with no still image we can read, or nothing at all
            raise _refused("unsupported" if moovs else "corrupt")
        return Probe(width=size[0], height=size[1])

    # --- items ----------------------------------------------------------------------------------

    def items(self, start, end):
        """Check the primary item and all it is built from; its (width, height)."""
        children = {}
        for kind, a, b in self.walk(start + 4, end):  # meta is a FullBox
            children.setdefault(kind, []).append((a, b))
        for kind in (b"hdlr", b"pitm", b"iinf", b"iloc", b"iprp"):
            if len(children.get(kind, ())) != 1:
                raise _corrupt()
        for kind in (b"iref", b"idat"):
            if len(children.get(kind, ())) > 1:
                raise _corrupt()
        (hdlr,) = children[b"hdlr"]
        if self.data[hdlr[0] + 8 : hdlr[0] + 12] != b"pict":
            raise _corrupt()
        if b"idat" in children:
            self.idat = children[b"idat"][0]
        primary = self.pitm(*children[b"pitm"][0])
        self.iinf(*children[b"iinf"][0])
        self.iloc(*children[b"iloc"][0])
        self.iprp(*children[b"iprp"][0])
        if b"iref" in children:
            self.iref(*children[b"iref"][0])
        if primary not in self.types:
            raise _corrupt()
        width, height = self.ispe(primary)
        if width * height > config.MAX_PIXELS:
            raise _refused("too_many_pixels")
        built = [primary] + [i for i in self.sources(primary, b"auxl") if self.is_alpha(i)]
        decoded = 0
        for item in built:
            decoded += self.image(item)
        if decoded > MAX_DECODED_PIXELS:
            raise _refused("too_many_pixels")
        return width, height

    def pitm(self, a, b):
        r = _Reader(self.data, a, b)
        version = r.u8()
        r.take(3)
        return r.u16() if version == 0 else r.u32()

    def iinf(self, a, b):
        r = _Reader(self.data, a, b)
        version = r.u8()
        r.take(3)
        count = r.u16() if version == 0 else r.u32()
        if count > MAX_ITEMS:
            raise _refused("costly")
        entries = [(x, y) for kind, x, y in self.walk(r.pos, b) if kind == b"infe"]
        if len(entries) > MAX_ITEMS:
            raise _refused("costly")
        for x, y in entries:
            e = _Reader(self.data, x, y)
            version = e.u8()
            e.take(3)
            if version < 2:  # old-style entries carry no item type: nothing a decoder reads as an image
                item, kind = e.u16(), b""
            else:
                item = e.u16() if version == 2 else e.u32()
                e.u16()  # item_protection_index
                kind = e.take(4)
                # pi-heif 1.4 makes Python strings of a metadata item's type and content type
                # without checking them: bytes that are not UTF-8 crash the process (a NULL
                # Py_DECREF, found by tests/test_fuzz.py). Item name, content type and encoding.
                _utf8(kind)
                for text in bytes(self.data[e.pos : y]).split(b"\0")[:3]:
                    _utf8(text)
            if item in self.types:
                raise _corrupt()
            self.types[item] = kind

    def iloc(self, a, b):
        r = _Reader(self.data, a, b)
        version = r.u8()
        r.take(3)
        sizes = r.u8()
        offset_size, length_size = sizes >> 4, sizes & 15
        sizes = r.u8()
        base_size, index_size = sizes >> 4, (sizes & 15) if version in (1, 2) else 0
        if version > 2 or {offset_size, length_size, base_size, index_size} - {0, 4, 8}:
            raise _corrupt()
        count = r.u16() if version < 2 else r.u32()
        if count > MAX_ITEMS:
            raise _refused("costly")
        pointed = 0
        for _ in range(count):
            item = r.u16() if version < 2 else r.u32()
            method = r.u16() & 15 if version in (1, 2) else 0
            reference = r.u16()
            base = r.uint(base_size)
            extents = []
            n = r.u16()
            self.extents += n
            if self.extents > MAX_EXTENTS:
                raise _refused("costly")
            for _ in range(n):
                r.uint(index_size)
                offset, length = r.uint(offset_size), r.uint(length_size)
                extents.append((base + offset, length))
                pointed += length or len(self.data)
            if item in self.locations:
                raise _corrupt()
            self.locations[item] = (method, reference, extents)
        # pi-heif copies each metadata item (EXIF, XMP) it is pointed to: a 4 MB file must not
        # point at the same megabytes a thousand times.
        if pointed > 2 * len(self.data) + 65536:
            raise _refused("costly")

    def iprp(self, a, b):
        children = self.walk(a, b)
        ipcos = [(x, y) for kind, x, y in children if kind == b"ipco"]
        if len(ipcos) != 1:
            raise _corrupt()
        self.props = self.walk(*ipcos[0])
        entries = 0
        for kind, x, y in children:
            if kind != b"ipma":
                continue
            r = _Reader(self.data, x, y)
            version = r.u8()
            flags = r.uint(3)
            count = r.u32()
            entries += count
            if entries > MAX_ITEMS:
                raise _refused("costly")
            for _ in range(count):
                item = r.u16() if version < 1 else r.u32()
                for _ in range(r.u8()):
                    value = r.u16() & 0x7FFF if flags & 1 else r.u8() & 0x7F
                    if value > len(self.props):
                        raise _corrupt()
                    if value:
                        self.assoc.setdefault(item, []).append(value - 1)

    def iref(self, a, b):
        r = _Reader(self.data, a, b)
        version = r.u8()
        r.take(3)
        for kind, x, y in self.walk(r.pos, b):
            e = _Reader(self.data, x, y)
            source = e.u16() if version == 0 else e.u32()
            count = e.u16()
            self.references += count
            if self.references > MAX_REFERENCES:
                raise _refused("costly")
            targets = [e.u16() if version == 0 else e.u32() for _ in range(count)]
            self.refs.setdefault(kind, []).append((source, targets))

    def sources(self, target, kind):
        """Items with a `kind` reference to `target` (auxl: alpha and depth planes of an image)."""
        return [source for source, targets in self.refs.get(kind, ()) if target in targets]

    def targets(self, source, kind):
        """The items `source` references with `kind`, in order (dimg: a grid's tiles)."""
        out = []
        for s, targets in self.refs.get(kind, ()):
            if s == source:
                out += targets
        return out

    def prop(self, item, kind):
        """(payload start, end) of the item's first associated property of `kind`, or None."""
        for index in self.assoc.get(item, ()):
            if self.props[index][0] == kind:
                return self.props[index][1:]
        return None

    def ispe(self, item):
        found = self.prop(item, b"ispe")
        if found is None:  # without ispe there is no size to decide on before decoding
            raise _corrupt()
        r = _Reader(self.data, *found)
        r.take(4)
        width, height = r.u32(), r.u32()
        if not width or not height:
            raise _corrupt()
        return width, height

    def is_alpha(self, item):
        found = self.prop(item, b"auxC")
        return found is not None and self.data[found[0] + 4 : found[1]].rstrip(b"\0") in ALPHA_URNS

    def bytes_of(self, item):
        """The item's bytes, every extent inside the file (or its idat)."""
        if item not in self.locations:
            raise _corrupt()
        method, reference, extents = self.locations[item]
        if reference != 0 or method not in (0, 1) or (method == 1 and self.idat is None):
            raise _corrupt()  # another file, or data built from other items: nothing we read
        lo, hi = (0, len(self.data)) if method == 0 else self.idat
        parts = []
        for offset, length in extents:
            start = lo + offset
            stop = hi if length == 0 else start + length
            if stop > hi or start > stop:
                raise _corrupt()  # truncated, or pointing past its box
            parts.append(self.data[start:stop])
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def image(self, item):
        """Check one image item (coded, or a grid of coded tiles); the pixels it decodes."""
        kind = self.types.get(item)
        width, height = self.ispe(item)
        if width * height > config.MAX_PIXELS:
            raise _refused("too_many_pixels")
        if kind == CODEC[self.fmt]:
            self.coded(item, width, height)
            return width * height
        if kind != b"grid":
            raise _refused("unsupported" if kind not in CODEC.values() else "corrupt")
        grid = self.bytes_of(item)
        r = _Reader(grid, 0, len(grid))
        r.u8()  # version
        wide = r.u8() & 1
        rows, cols = r.u8() + 1, r.u8() + 1
        out_w, out_h = (r.u32(), r.u32()) if wide else (r.u16(), r.u16())
        if out_w * out_h > config.MAX_PIXELS:
            raise _refused("too_many_pixels")
        tiles = self.targets(item, b"dimg")
        if len(tiles) != rows * cols or not out_w or not out_h:
            raise _corrupt()
        decoded, sizes = 0, set()
        for tile in tiles:
            if self.types.get(tile) != CODEC[self.fmt]:
                raise _corrupt()
            size = self.ispe(tile)
            sizes.add(size)
            decoded += size[0] * size[1]
            if decoded > MAX_DECODED_PIXELS:
                raise _refused("too_many_pixels")
        (tile_w, tile_h), *others = sizes
        if others or tile_w * cols < out_w or tile_h * rows < out_h:
            raise _corrupt()  # tiles of one size must cover the output
        for tile in dict.fromkeys(tiles):
            self.coded(tile, tile_w, tile_h)
        return decoded

    def coded(self, item, width, height):
        """The item's bytes lie in the file, and its stream declares no larger size than `ispe`."""
        data = self.bytes_of(item)
        config_box = self.prop(item, b"hvcC" if self.fmt == "HEIF" else b"av1C")
        if config_box is None:
            raise _corrupt()
        _stream_fits(self.fmt, self.data[config_box[0] : config_box[1]], data, width, height)

    # --- tracks (AVIF sequences) -------------------------------------------------------------

    def tracks(self, start, end):
        """[(width, height)] of the AV1 tracks, each checked as the items are."""
        found = []
        traks = [(a, b) for kind, a, b in self.walk(start, end) if kind == b"trak"]
        if len(traks) > MAX_TRACKS:
            raise _refused("costly")
        for a, b in traks:
            size = self.track(a, b)
            if size is not None:
                found.append(size)
        return found

    def child(self, start, end, kind):
        boxes = [(a, b) for k, a, b in self.walk(start, end) if k == kind]
        if len(boxes) != 1:
            raise _corrupt()
        return boxes[0]

    def track(self, start, end):
        """(width, height) of an AV1 track, its first frame checked; None for any other track."""
        mdia = self.child(start, end, b"mdia")
        r = _Reader(self.data, *self.child(*mdia, b"mdhd"))
        r.take(11 if r.u8() == 0 else 19)
        timescale = r.u32()
        stbl = self.child(*self.child(*mdia, b"minf"), b"stbl")
        stsd = self.child(*stbl, b"stsd")
        entries = self.walk(stsd[0] + 8, stsd[1])  # after version, flags and entry_count
        if not any(kind == b"av01" for kind, _, _ in entries):
            return None  # audio, metadata or another coding: libavif does not decode it
        if len(entries) != 1 or not timescale:  # Pillow divides frame times by the timescale
            raise _corrupt()
        r = _Reader(self.data, *self.child(start, end, b"tkhd"))
        r.take(75 if r.u8() == 0 else 87)  # to width, height: 16.16 fixed point
        track_w, track_h = r.u32() >> 16, r.u32() >> 16
        _, a, b = entries[0]
        r = _Reader(self.data, a, b)
        r.take(24)  # SampleEntry and VisualSampleEntry fields before width, height
        width, height = r.u16(), r.u16()
        if not width or not height:
            raise _corrupt()
        if max(width * height, track_w * track_h) > config.MAX_PIXELS:
            raise _refused("too_many_pixels")
        av1c = self.child(a + 78, b, b"av1C")  # the sample entry's boxes follow its 78 bytes of fields
        _stream_fits("AVIF", self.data[av1c[0] : av1c[1]], self.first_sample(stbl),
                     max(width, track_w), max(height, track_h))
        return width, height

    def first_sample(self, stbl):
        """The bytes of a track's first sample (the frame libavif decodes for frame 0)."""
        r = _Reader(self.data, *self.child(*stbl, b"stsz"))
        r.take(4)
        size, count = r.u32(), r.u32()
        if not count:
            raise _corrupt()
        size = size or r.u32()
        chunks = [(k, a, b) for k, a, b in self.walk(*stbl) if k in (b"stco", b"co64")]
        if len(chunks) != 1:
            raise _corrupt()
        kind, a, b = chunks[0]
        r = _Reader(self.data, a, b)
        r.take(4)
        if not r.u32():
            raise _corrupt()
        offset = r.uint(8 if kind == b"co64" else 4)
        if offset + size > len(self.data):
            raise _corrupt()
        return self.data[offset : offset + size]


def _utf8(text):
    """Refuse bytes that are not UTF-8 up to their first NUL (as C reads a string)."""
    try:
        bytes(text).split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise _corrupt() from None


# --- the coded streams' own sizes --------------------------------------------------------------------


def _stream_fits(fmt, config_record, data, width, height):
    """Every size the stream declares (its configuration record and its own bytes) within ispe + slack."""
    sizes = _hevc_sizes(config_record, data) if fmt == "HEIF" else _av1_sizes(config_record, data)
    for w, h in sizes:
        if w > width + CODED_SLACK or h > height + CODED_SLACK:
            raise _corrupt()


def _hevc_sizes(hvcc, data):
    """(width, height) of every base-layer SPS in an hvcC record and in the item's NAL units."""
    if len(hvcc) < 23:
        raise _corrupt()
    length_size = (hvcc[21] & 3) + 1  # lengthSizeMinusOne
    nals = []
    r = _Reader(hvcc, 23, len(hvcc))
    for _ in range(hvcc[22]):  # numOfArrays
        r.u8()
        for _ in range(r.u16()):
            nals.append(r.take(r.u16()))
    pos = units = 0
    while pos < len(data):
        units += 1
        if units + len(nals) > MAX_UNITS:
            raise _refused("costly")
        if pos + length_size > len(data):
            raise _corrupt()
        length = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if pos + length > len(data):
            raise _corrupt()
        if length > 2 and _is_sps(data[pos : pos + 2]):
            nals.append(data[pos : pos + min(length, 256)])
        pos += length
    return [_sps_size(nal) for nal in nals if len(nal) > 2 and _is_sps(nal)]


def _is_sps(nal):
    """NAL unit type 33 (SPS) of the base layer (libde265 decodes nuh_layer_id 0 only)."""
    return (nal[0] >> 1) & 63 == 33 and ((nal[0] & 1) << 5 | nal[1] >> 3) == 0


_EMULATION = re.compile(rb"\x00\x00\x03")


def _sps_size(nal):
    """pic_width/height_in_luma_samples of an HEVC sequence parameter set (H.265 7.3.2.2)."""
    bits = _Bits(_EMULATION.sub(b"\x00\x00", bytes(nal[2:256])))
    bits.u(4)  # sps_video_parameter_set_id
    sub_layers = bits.u(3)  # sps_max_sub_layers_minus1
    bits.u(1)
    bits.u(96)  # general profile, tier, compatibility and constraint flags, level
    present = [(bits.u(1), bits.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        bits.u(2 * (8 - sub_layers))
    for profile, level in present:
        bits.u(88 * profile + 8 * level)
    bits.ue()  # sps_seq_parameter_set_id
    if bits.ue() == 3:  # chroma_format_idc
        bits.u(1)
    return bits.ue(), bits.ue()


def _av1_sizes(av1c, data):
    """(max_frame_width, max_frame_height) of every sequence header OBU in an av1C record and the data."""
    if len(av1c) < 4:
        raise _corrupt()
    return [_sequence_size(obu) for obu in _obus(av1c[4:]) + _obus(data) if obu is not None]


def _obus(data):
    """The payloads of the sequence header OBUs in `data` (None for other OBUs)."""
    out, pos = [], 0
    while pos < len(data):
        if len(out) > MAX_UNITS:
            raise _refused("costly")
        header = data[pos]
        kind, extension, sized = header >> 3 & 15, header >> 2 & 1, header >> 1 & 1
        pos += 1 + extension
        if sized:
            length = shift = 0
            for i in range(8):  # leb128
                if pos >= len(data):
                    raise _corrupt()
                byte = data[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
        else:
            length = len(data) - pos
        if pos + length > len(data):
            raise _corrupt()
        out.append(data[pos : pos + length] if kind == 1 else None)
        pos += length
    return out


def _sequence_size(obu):
    """max_frame_width/height of an AV1 sequence header OBU (AV1 5.5)."""
    bits = _Bits(bytes(obu[:256]))
    bits.u(3)  # seq_profile
    bits.u(1)  # still_picture
    if bits.u(1):  # reduced_still_picture_header
        bits.u(5)  # seq_level_idx[0]
    else:
        decoder_model = False
        if bits.u(1):  # timing_info_present_flag
            bits.u(64)  # num_units_in_display_tick, time_scale
            if bits.u(1):  # equal_picture_interval
                bits.uvlc()
            decoder_model = bool(bits.u(1))
            if decoder_model:
                delay_length = bits.u(5) + 1
                bits.u(32 + 5 + 5)
        display_delay = bits.u(1)
        for _ in range(bits.u(5) + 1):  # operating points
            bits.u(12)  # operating_point_idc
            if bits.u(5) > 7:  # seq_level_idx
                bits.u(1)
            if decoder_model and bits.u(1):
                bits.u(2 * delay_length + 1)
            if display_delay and bits.u(1):
                bits.u(4)
    width_bits, height_bits = bits.u(4) + 1, bits.u(4) + 1
    return bits.u(width_bits) + 1, bits.u(height_bits) + 1
