"""HEIF and AVIF files (ISO-BMFF boxes) taken apart and built in memory, independently of lib/heif.py.

Real coded images come from the encoders (pillow-heif's x265 for HEVC, Pillow's libaom for AV1);
heif() wraps their coded bytes in any structure: grids, alpha planes, floods, lies about sizes.
"""

import struct

# Container boxes and how many bytes of their own fields come before their children.
CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0, b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0,
              b"dinf": 0, b"iref": 4, b"stsd": 8}


def box(kind, payload=b""):
    """One box."""
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind, payload=b"", version=0, flags=0):
    """One FullBox (version and flags before the payload)."""
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def boxes(data, start=0, end=None, depth=0):
    """[(kind, box start, payload start, box end, depth)] of every box, containers opened."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            break
        out.append((kind, pos, pos + head, pos + size, depth))
        if kind in CONTAINERS:
            out += boxes(data, pos + head + CONTAINERS[kind], pos + size, depth + 1)
        elif kind == b"iinf":
            version = data[pos + head]
            out += boxes(data, pos + head + (6 if version == 0 else 8), pos + size, depth + 1)
        pos += size
    return out


def find(data, kind):
    """[(payload start, box end)] of every box of `kind`, at any depth."""
    return [(a, end) for k, _, a, end, _ in boxes(data) if k == kind]


def set_ispe(data, width, height, which=None):
    """The file with its `ispe` properties (all, or the `which`-th) claiming width x height."""
    out = bytearray(data)
    for i, (a, _) in enumerate(find(data, b"ispe")):
        if which is None or i == which:
            out[a + 4 : a + 12] = struct.pack(">II", width, height)
    return bytes(out)


def remove_boxes(data, kind):
    """The file with every `kind` box renamed to `free` (same length: every offset still holds)."""
    out = bytearray(data)
    for k, start, _, _, _ in boxes(data):
        if k == kind:
            out[start + 4 : start + 8] = b"free"
    return bytes(out)


def coded(data):
    """(codec configuration box, coded bytes) of a single-image file's primary item, e.g. from an encoder."""
    (pitm,) = find(data, b"pitm")
    primary = struct.unpack(">H", data[pitm[0] + 4 : pitm[0] + 6])[0]
    (iloc,) = find(data, b"iloc")
    a = iloc[0]
    version, sizes, more = data[a], data[a + 4], data[a + 5]
    offset_size, length_size, base_size = sizes >> 4, sizes & 15, more >> 4
    index_size = more & 15 if version in (1, 2) else 0
    count = struct.unpack(">H", data[a + 6 : a + 8])[0]
    pos = a + 8
    read = lambda n, at: int.from_bytes(data[at : at + n], "big")  # noqa: E731
    for _ in range(count):
        item = read(2, pos)
        pos += 2 + (2 if version in (1, 2) else 0) + 2
        base = read(base_size, pos)
        pos += base_size
        extents = read(2, pos)
        pos += 2
        chunks = []
        for _ in range(extents):
            pos += index_size
            offset, length = read(offset_size, pos), read(length_size, pos + offset_size)
            pos += offset_size + length_size
            chunks.append(data[base + offset : base + offset + length])
        if item == primary:
            payload = b"".join(chunks)
            break
    for kind in (b"hvcC", b"av1C"):
        found = [(s, e) for k, s, _, e, _ in boxes(data) if k == kind]
        if found:
            return data[found[0][0] : found[0][1]], payload
    raise ValueError("no codec configuration")


def ispe(width, height):
    return full_box(b"ispe", struct.pack(">II", width, height))


def aux_alpha(urn=b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha"):
    return full_box(b"auxC", urn + b"\0")


def grid_data(rows, cols, width, height):
    """An ImageGrid descriptor (16-bit sizes when they fit)."""
    wide = width > 0xFFFF or height > 0xFFFF
    sizes = struct.pack(">II" if wide else ">HH", width, height)
    return bytes([0, int(wide), rows - 1, cols - 1]) + sizes


def heif(items, *, primary=1, props=(), assoc=None, refs=(), brand=b"heic", compat=(b"mif1", b"heic"),
         idat_items=(), extra_meta=b"", tail=b"", handler=b"pict", aliases=None):
    """A HEIF/AVIF file.

    items: [(id, type, bytes)] stored in mdat (a type longer than 4 bytes carries the rest of its
    infe: item name, content type) (or in idat for ids in idat_items); props: property
    boxes (ipco, 1-based); assoc: {id: [property index, ...]}; refs: [(kind, from, [to, ...])];
    aliases: {id: other id} for items whose iloc names the other's bytes (theirs are not stored).
    """
    assoc, aliases = assoc or {}, aliases or {}
    wide_ids = any(i > 0xFFFF for i, _, _ in items)
    ftyp = box(b"ftyp", brand + b"\0\0\0\0" + b"".join(compat))
    iinf = full_box(b"iinf", struct.pack(">H", len(items)) + b"".join(
        full_box(b"infe", (struct.pack(">IH", i, 0) if wide_ids else struct.pack(">HH", i, 0)) + kind[:4] + (kind[4:] or b"\0"),
                 version=3 if wide_ids else 2) for i, kind, _ in items))
    ipco = box(b"ipco", b"".join(props))
    big_index = len(props) > 127
    ipma_entries = b"".join(
        struct.pack(">H", i) + bytes([len(idx)]) + b"".join(struct.pack(">H", x) if big_index else bytes([x]) for x in idx)
        for i, idx in assoc.items())
    ipma = full_box(b"ipma", struct.pack(">I", len(assoc)) + ipma_entries, flags=int(big_index))
    iref = full_box(b"iref", b"".join(box(kind, struct.pack(">HH", src, len(to)) + b"".join(struct.pack(">H", t) for t in to))
                                      for kind, src, to in refs)) if refs else b""
    idat_payload = b"".join(data for i, _, data in items if i in idat_items)
    idat = box(b"idat", idat_payload) if idat_items else b""

    def meta(offsets):
        entries = b""
        for (i, _, data), offset in zip(items, offsets):
            method = 1 if i in idat_items else 0
            entries += struct.pack(">HHH", i, method, 0) + struct.pack(">HII", 1, offset, len(data))
        iloc = full_box(b"iloc", bytes([0x44, 0x00]) + struct.pack(">H", len(items)) + entries, version=1)
        hdlr = full_box(b"hdlr", b"\0\0\0\0" + handler + b"\0" * 12 + b"\0")
        pitm = full_box(b"pitm", struct.pack(">H", primary))
        return full_box(b"meta", hdlr + pitm + iloc + iinf + box(b"iprp", ipco + ipma) + iref + idat + extra_meta)

    head = len(ftyp) + len(meta([0] * len(items))) + 8
    offsets, pos, in_idat, at = [], head, 0, {}
    for i, _, data in items:
        if i in aliases:
            offsets.append(at[aliases[i]])
        elif i in idat_items:
            offsets.append(in_idat)
            in_idat += len(data)
        else:
            offsets.append(pos)
            pos += len(data)
        at[i] = offsets[-1]
    mdat = box(b"mdat", b"".join(data for i, _, data in items if i not in idat_items and i not in aliases))
    return ftyp + meta(offsets) + mdat + tail
