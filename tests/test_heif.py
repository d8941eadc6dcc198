"""lib/heif.py: HEIF/HEIC and AVIF headers read before decoding — brands, sizes, lies and floods.

Coded images come from the real encoders (pillow-heif's x265, Pillow's libaom); the structure
around them is built by tests/support/hostile/isobmff.py, independently of the parser under test.
"""

import io
import struct
import time

import pytest
from PIL import Image

from lib import config, heif, images
from lib.errors import InvalidImage
from tests.support.hostile import isobmff as bm
from tests.support.images import avif, heic, left_red


@pytest.fixture(scope="module")
def tiles():
    """{family: [(codec configuration box, coded bytes)]} of four 64x64 tiles of a 128x128 picture."""
    img = Image.new("RGB", (128, 128), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 64, 64))
    img.paste((0, 255, 0), (64, 64, 128, 128))
    crops = [img.crop((x, y, x + 64, y + 64)) for y in (0, 64) for x in (0, 64)]
    return {"HEIF": [bm.coded(heic(c, quality=90)) for c in crops], "AVIF": [bm.coded(avif(c, quality=90)) for c in crops]}


BRANDS = {"HEIF": (b"heic", (b"mif1", b"heic")), "AVIF": (b"avif", (b"mif1", b"avif", b"miaf"))}
CODED = {"HEIF": b"hvc1", "AVIF": b"av01"}


def grid(tiles, fmt, rows=2, cols=2, out=(128, 128), refs=None, tile_ispe=(64, 64), primary_ispe=None, **kwargs):
    """A grid image of `rows` x `cols` coded 64x64 tiles (the same four, repeated as needed)."""
    n = rows * cols
    coded = [tiles[fmt][i % 4] for i in range(n)]
    props = [bm.ispe(*(primary_ispe or out)), coded[0][0], bm.ispe(*tile_ispe)]
    items = [(1, b"grid", bm.grid_data(rows, cols, *out))] + [(i + 2, CODED[fmt], c[1]) for i, c in enumerate(coded)]
    assoc = {1: [1]} | {i + 2: [0x80 | 2, 3] for i in range(n)}
    brand, compat = BRANDS[fmt]
    refs = [(b"dimg", 1, list(range(2, n + 2)))] if refs is None else refs
    return bm.heif(items, props=props, assoc=assoc, refs=refs, idat_items={1}, brand=brand, compat=compat, **kwargs)


def single(tiles, fmt, ispe=(64, 64), extra_props=(), extra_items=(), extra_assoc=None, **kwargs):
    """One coded 64x64 image as the primary item, with any extra items and properties."""
    config_box, data = tiles[fmt][0]
    props = [bm.ispe(*ispe), config_box, *extra_props]
    assoc = {1: [1, 0x80 | 2]} | (extra_assoc or {})
    brand, compat = BRANDS[fmt]
    kwargs = {"brand": brand, "compat": compat} | kwargs
    items = [(1, CODED[fmt], data), *extra_items]
    return bm.heif(items, props=props, assoc=assoc, **kwargs)


# --- brands -----------------------------------------------------------------------------------------


def ftyp(major, *compat):
    return bm.box(b"ftyp", major + b"\0\0\0\0" + b"".join(compat)) + b"\0" * 16


@pytest.mark.parametrize("data,expected", [
    (ftyp(b"heic", b"mif1", b"heic"), "HEIF"),  # an iPhone photo
    (ftyp(b"heix"), "HEIF"), (ftyp(b"hevc"), "HEIF"), (ftyp(b"hevx"), "HEIF"), (ftyp(b"heim"), "HEIF"), (ftyp(b"heis"), "HEIF"),
    (ftyp(b"mif1", b"heic"), "HEIF"), (ftyp(b"msf1", b"hevc"), "HEIF"), (ftyp(b"mif1"), "HEIF"),
    (ftyp(b"avif", b"mif1", b"avif", b"miaf"), "AVIF"), (ftyp(b"avis", b"avif", b"msf1"), "AVIF"),
    (ftyp(b"mif1", b"avif", b"miaf"), "AVIF"),  # AVIF by a compatible brand
    (ftyp(b"isom", b"iso2", b"avc1", b"mp41"), None),  # an MP4 video
    (ftyp(b"qt  "), None), (ftyp(b"crx "), None), (ftyp(b"jxl "), None), (ftyp(b"miaf"), None),
    (b"\x00\x00\x00\x18ftyp", None),  # too short for a brand
    (b"\x00\x00\x00\x18ftpyheic" + b"\0" * 16, None),
], ids=lambda v: v if isinstance(v, str) or v is None else v[8:12].decode("latin-1"))
def test_family_from_the_ftyp_brands(data, expected):
    assert heif.family(data) == expected
    assert images.sniff_format(data) == expected


def test_family_reads_no_further_than_its_brand_limit():
    many = ftyp(b"zzzz", *[b"zzzz"] * (heif.MAX_BRANDS + 10), b"heic")
    assert heif.family(many) is None  # the brand past the limit is not looked at
    assert heif.family(ftyp(b"zzzz", *[b"zzzz"] * (heif.MAX_BRANDS - 10), b"heic")) == "HEIF"


# --- sizes from real files ------------------------------------------------------------------------


@pytest.mark.parametrize("encoder,fmt", [(heic, "HEIF"), (avif, "AVIF")])
def test_real_files_give_their_stored_size(encoder, fmt):
    data = encoder(left_red((120, 80)), exif=Image.Exif().tobytes())
    assert heif.probe(data, fmt) == heif.Probe(120, 80)
    rotated = encoder(left_red((120, 80)), exif=_orientation(6))
    assert heif.probe(rotated, fmt) == heif.Probe(120, 80)  # as stored: irot turns it when decoded


def _orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def test_alpha_and_animated_avif_and_alpha_heic():
    rgba = Image.new("RGBA", (40, 30), (10, 20, 30, 100))
    assert heif.probe(avif(rgba), "AVIF") == heif.Probe(40, 30)
    assert heif.probe(heic(rgba), "HEIF").problem is None
    frames = [Image.new("RGB", (40, 30), c) for c in ((250, 0, 0), (0, 0, 250))]
    buf = io.BytesIO()
    frames[0].save(buf, "AVIF", save_all=True, append_images=frames[1:], duration=100)
    assert buf.getvalue()[8:12] == b"avis" and bm.find(buf.getvalue(), b"trak")
    assert heif.probe(buf.getvalue(), "AVIF") == heif.Probe(40, 30)


def test_grid_images_are_checked_tile_by_tile(tiles):
    for fmt in ("HEIF", "AVIF"):
        data = grid(tiles, fmt)
        assert heif.probe(data, fmt) == heif.Probe(128, 128)
        photo = images.load_photo(data)  # the crafted grid is one the real decoders read
        assert photo.image.size == (128, 128)
        assert photo.image.getpixel((10, 10))[0] > 200 and photo.image.getpixel((100, 100))[1] > 200


# --- the pixel cap, from the header -----------------------------------------------------------------


@pytest.mark.parametrize("encoder,fmt", [(heic, "HEIF"), (avif, "AVIF")])
@pytest.mark.parametrize("size,problem", [((9000, 9000), "too_many_pixels"), ((8001, 5000), "too_many_pixels"),
                                          ((2**32 - 1, 2**32 - 1), "too_many_pixels"), ((8000, 5000), None),
                                          ((0, 100), "corrupt")])
def test_the_ispe_decides_the_pixel_count(encoder, fmt, size, problem):
    data = bm.set_ispe(encoder(Image.new("RGB", (64, 64), "gray")), *size)
    found = heif.probe(data, fmt)
    assert found.problem == problem
    if problem is None:
        assert (found.width, found.height) == size and size[0] * size[1] == config.MAX_PIXELS


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_missing_ispe_is_refused(tiles, fmt):
    data = bm.remove_boxes(single(tiles, fmt), b"ispe")
    assert heif.probe(data, fmt).problem == "corrupt"


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_grids_over_the_cap_or_inconsistent(tiles, fmt):
    assert heif.probe(grid(tiles, fmt, out=(9000, 9000), primary_ispe=(128, 128)), fmt).problem == "too_many_pixels"
    assert heif.probe(grid(tiles, fmt, out=(128, 128), primary_ispe=(9000, 9000)), fmt).problem == "too_many_pixels"
    assert heif.probe(grid(tiles, fmt, out=(129, 128)), fmt).problem == "corrupt"  # tiles do not cover it
    assert heif.probe(grid(tiles, fmt, refs=[(b"dimg", 1, [2, 3, 4])]), fmt).problem == "corrupt"  # 3 tiles for 2x2
    assert heif.probe(grid(tiles, fmt, refs=[]), fmt).problem == "corrupt"  # no tiles at all


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_one_tile_repeated_into_a_gigapixel_grid(tiles, fmt):
    """A grid may name the same small tile again and again: every repeat is decoded, so each counts."""
    repeats = 100 * 100  # 64x64 tiles -> 6400x6400 = 41 MP from one 64x64 tile's bytes
    data = grid(tiles, fmt, rows=1, cols=1, out=(64, 64), refs=[(b"dimg", 1, [2] * 5000)])
    assert heif.probe(data, fmt).problem == "corrupt"  # 5,000 references for a 1x1 grid
    data = grid(tiles, fmt, rows=100, cols=100, out=(6400, 6400), refs=[(b"dimg", 1, [2] * repeats)])
    assert heif.probe(data, fmt).problem == "costly"  # over the references limit
    config_box, coded = tiles[fmt][0]
    brand, compat = BRANDS[fmt]
    data = bm.heif([(1, b"grid", bm.grid_data(90, 90, 5760, 5760)), (2, CODED[fmt], coded)],
                   props=[bm.ispe(5760, 5760), config_box, bm.ispe(1000, 1000)], assoc={1: [1], 2: [0x82, 3]},
                   refs=[(b"dimg", 1, [2] * 8100)], idat_items={1}, brand=brand, compat=compat)
    assert heif.probe(data, fmt).problem == "too_many_pixels"  # one tile claiming 1 MP, decoded 8,100 times


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_stream_larger_than_its_ispe_is_refused(fmt):
    """libde265 and dav1d allocate by the size the stream declares: a 2000x2000 frame behind an
    ispe of 64x64 would be decoded in full (libavif then scales it down)."""
    encoder = heic if fmt == "HEIF" else avif
    big = encoder(Image.new("RGB", (2000, 2000), "gray"), quality=10)
    assert heif.probe(big, fmt).problem is None
    hidden = bm.set_ispe(big, 64, 64)
    assert heif.probe(hidden, fmt).problem == "corrupt"
    assert heif.probe(bm.set_ispe(big, 2000 + heif.CODED_SLACK, 2000), fmt).problem is None


def test_an_hevc_sps_hidden_in_the_item_data_is_found(tiles):
    """The codec configuration says 64x64, but the item's own bytes start with a 2000x2000 SPS."""
    big_config, big_data = bm.coded(heic(Image.new("RGB", (2000, 2000), "gray"), quality=10))
    nal_arrays = big_config[8 + 23 :]  # hvcC arrays after the header and its 23 bytes of fields
    nals, pos = [], 0
    for _ in range(big_config[8 + 22]):
        count = struct.unpack(">H", nal_arrays[pos + 1 : pos + 3])[0]
        pos += 3
        for _ in range(count):
            length = struct.unpack(">H", nal_arrays[pos : pos + 2])[0]
            nals.append(nal_arrays[pos + 2 : pos + 2 + length])
            pos += 2 + length
    prefix = b"".join(struct.pack(">I", len(n)) + n for n in nals)  # VPS, SPS, PPS as in-band NAL units
    small_config, _ = tiles["HEIF"][0]
    data = bm.heif([(1, b"hvc1", prefix + big_data)], props=[bm.ispe(64, 64), small_config], assoc={1: [1, 0x82]})
    assert heif.probe(data, "HEIF").problem == "corrupt"


# --- structure: truncation, lies, floods ------------------------------------------------------------


@pytest.mark.parametrize("encoder,fmt", [(heic, "HEIF"), (avif, "AVIF")])
def test_every_truncation_is_refused_before_decoding(encoder, fmt):
    data = encoder(left_red((48, 32)))
    for cut in range(12, len(data)):
        assert heif.probe(data[:cut], fmt).problem == "corrupt", cut


def test_brand_and_coding_must_agree(tiles):
    heic_as_avif = single(tiles, "HEIF", brand=b"avif", compat=(b"mif1", b"avif"))
    assert heif.probe(heic_as_avif, "AVIF").problem == "corrupt"
    avif_as_heic = single(tiles, "AVIF", brand=b"heic", compat=(b"mif1", b"heic"))
    assert heif.probe(avif_as_heic, "HEIF").problem == "corrupt"


@pytest.mark.parametrize("kind,problem", [(b"jpeg", "unsupported"), (b"unci", "unsupported"), (b"iovl", "unsupported"),
                                          (b"mime", "unsupported")])
def test_codings_we_do_not_decode(tiles, kind, problem):
    config_box, data = tiles["HEIF"][0]
    file = bm.heif([(1, kind, data)], props=[bm.ispe(64, 64), config_box], assoc={1: [1, 2]})
    assert heif.probe(file, "HEIF").problem == problem


def test_a_heif_sequence_without_a_still_image_is_unsupported():
    moov_only = bm.box(b"ftyp", b"msf1\0\0\0\0msf1hevc") + bm.box(b"moov", bm.box(b"mvhd", b"\0" * 100)) + bm.box(b"mdat", b"x")
    assert heif.probe(moov_only, "HEIF").problem == "unsupported"
    assert heif.probe(bm.box(b"ftyp", b"heic\0\0\0\0mif1") + bm.box(b"mdat", b"x"), "HEIF").problem == "corrupt"


@pytest.mark.parametrize("change", ["handler", "property index", "two metas", "no primary", "iloc beyond the file",
                                    "iloc in another file", "extents past idat"])
def test_structural_lies(tiles, change):
    fmt = "HEIF"
    if change == "handler":
        data = single(tiles, fmt, handler=b"vide")
    elif change == "property index":
        data = single(tiles, fmt, extra_assoc={1: [1, 2, 9]})
    elif change == "two metas":
        good = single(tiles, fmt)
        meta = bm.find(good, b"meta")[0]
        data = good + good[meta[0] - 8 : meta[1]]
    elif change == "no primary":
        data = single(tiles, fmt, primary=7)
    elif change == "iloc beyond the file":
        data = single(tiles, fmt)[:-1]  # the mdat box and the item's extent now end past the file
    elif change == "iloc in another file":
        good = single(tiles, fmt)
        (iloc,) = bm.find(good, b"iloc")
        data = good[: iloc[0] + 12] + b"\x00\x01" + good[iloc[0] + 14 :]  # data_reference_index 1
    else:
        config_box, coded = tiles[fmt][0]
        data = bm.heif([(1, b"grid", bm.grid_data(1, 1, 64, 64)), (2, b"hvc1", coded)],
                       props=[bm.ispe(64, 64), config_box], assoc={1: [1], 2: [1, 2]}, refs=[(b"dimg", 1, [2])],
                       idat_items={1})
        (iloc,) = bm.find(data, b"iloc")
        entry = iloc[0] + 8  # the grid's entry: id, method, reference, extent count, offset, length
        data = data[: entry + 12] + struct.pack(">I", 5000) + data[entry + 16 :]
    assert heif.probe(data, fmt).problem == "corrupt"


@pytest.mark.parametrize("infe", [b"mime\0application/rdf+xm\x80\0", b"mi\xffe\0", b"mime\xc3(\0application/rdf+xml\0"],
                         ids=["content type", "item type", "item name"])
def test_metadata_strings_that_are_not_utf8_are_refused(tiles, infe):
    """pi-heif 1.4 turns a metadata item's type and content type into Python strings unchecked: one
    byte that is not UTF-8 (found by tests/test_fuzz.py in an XMP item) is a NULL Py_DECREF, a
    segfault of the whole process (measured for the first two cases; the item name is held to the
    same rule). Were this check gone, this test would crash rather than fail."""
    data = single(tiles, "HEIF", extra_items=[(2, infe, b"<x:xmpmeta/>")], refs=[(b"cdsc", 2, [1])])
    assert heif.probe(data, "HEIF").problem == "corrupt"
    with pytest.raises(InvalidImage):
        images.load_photo(data)
    fine = single(tiles, "HEIF", extra_items=[(2, "mime\0application/rdf+xml\0".encode(), b"<x:xmpmeta/>")],
                  refs=[(b"cdsc", 2, [1])])
    assert images.load_photo(fine).image.size == (64, 64)


def test_an_avif_track_with_a_zero_timescale_is_refused():
    """Pillow divides a frame's time by its track's timescale (a ZeroDivisionError, found by fuzzing)."""
    frames = [Image.new("RGB", (40, 30), c) for c in ((250, 0, 0), (0, 0, 250))]
    buf = io.BytesIO()
    frames[0].save(buf, "AVIF", save_all=True, append_images=frames[1:], duration=100)
    data = bytearray(buf.getvalue())
    (mdhd,) = bm.find(bytes(data), b"mdhd")
    at = mdhd[0] + (12 if data[mdhd[0]] == 0 else 20)
    assert struct.unpack(">I", data[at : at + 4])[0] > 0
    data[at : at + 4] = b"\0\0\0\0"
    assert heif.probe(bytes(data), "AVIF").problem == "corrupt"
    with pytest.raises(InvalidImage):
        images.load_photo(bytes(data))


def test_item_and_box_floods_are_costly(tiles):
    config_box, coded = tiles["HEIF"][0]
    many = [(i, b"Exif", b"\0\0\0\0II*\0") for i in range(2, heif.MAX_ITEMS + 10)]
    assert heif.probe(single(tiles, "HEIF", extra_items=many), "HEIF").problem == "costly"
    within = [(i, b"Exif", b"\0\0\0\0II*\0") for i in range(2, heif.MAX_ITEMS - 10)]
    assert heif.probe(single(tiles, "HEIF", extra_items=within), "HEIF").problem is None
    free = bm.box(b"free") * (heif.MAX_BOXES + 1)
    assert heif.probe(single(tiles, "HEIF", extra_meta=free), "HEIF").problem == "costly"
    props = [bm.box(b"free")] * (heif.MAX_BOXES + 1)
    assert heif.probe(single(tiles, "HEIF", extra_props=props), "HEIF").problem == "costly"


def test_metadata_items_may_not_point_at_the_same_bytes_over_and_over(tiles):
    """pi-heif copies every EXIF item it is pointed to: 300 items naming the same 100 KB are 30 MB."""
    exif = b"\0\0\0\0II*\0" + b"\0" * 100_000
    items = [(i, b"Exif", exif) for i in range(2, 300)]
    refs = [(b"cdsc", i, [1]) for i in range(2, 300)]
    few = single(tiles, "HEIF", extra_items=items[:3], refs=refs[:3])
    assert heif.probe(few, "HEIF").problem is None
    flood = single(tiles, "HEIF", extra_items=items, refs=refs, aliases={i: 2 for i in range(3, 300)})
    assert len(flood) < 200_000 and heif.probe(flood, "HEIF").problem == "costly"


@pytest.mark.parametrize("field", ["sample entry", "track header"])
def test_avif_tracks_are_checked_too(field):
    frames = [Image.new("RGB", (40, 30), c) for c in ((250, 0, 0), (0, 0, 250))]
    buf = io.BytesIO()
    frames[0].save(buf, "AVIF", save_all=True, append_images=frames[1:], duration=100)
    data = bytearray(buf.getvalue())
    if field == "sample entry":
        (entry,) = bm.find(bytes(data), b"av01")
        data[entry[0] + 24 : entry[0] + 28] = struct.pack(">HH", 9000, 9000)
    else:
        (tkhd,) = bm.find(bytes(data), b"tkhd")
        at = tkhd[0] + (76 if data[tkhd[0]] == 0 else 88)
        data[at : at + 8] = struct.pack(">II", 9000 << 16, 9000 << 16)
    assert heif.probe(bytes(data), "AVIF").problem == "too_many_pixels"
    track_only = bm.remove_boxes(buf.getvalue(), b"meta")
    assert heif.probe(track_only, "AVIF") == heif.Probe(40, 30)


def test_probing_a_4_mb_file_is_fast():
    data = heic(left_red((64, 64)))
    padded = data + bm.box(b"free", b"\0" * (config.MAX_BYTES - len(data) - 16))
    started = time.perf_counter()
    assert heif.probe(padded, "HEIF").problem is None
    assert time.perf_counter() - started < 0.05
