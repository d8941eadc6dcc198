"""HEIC and AVIF on the server: decoding a 12 MP iPhone-style HEIC, and what AVIF in and out costs.

Run from the repo root with the dev venv:  .venv/bin/python bench/heif_speed.py [--runs 5]
Prints one table; nothing is written to disk, nothing leaves the process but the child runs.

- the HEIC is built like an iPhone's: 4032x3024 as an 8x6 grid of 512x512 HEVC tiles (x265 via
  pillow-heif, a test-only encoder), with EXIF orientation, GPS and an irot transform;
- first use: `import pi_heif` + registering its opener, in a fresh interpreter (what the first HEIF
  upload of a function instance pays; the cold start of the endpoints never does);
- header: lib/heif.probe() on the file (pure Python, before any decoder);
- decode: lib.images.load_photo (probe, pi-heif open, libheif/libde265 decode, orientation, metadata
  stripped), wall and CPU, and peak RSS of a fresh process doing one;
- the same for a 12 MP AVIF, and the AVIF result encode (q90 4:2:0, libaom speed 8);
- peak RSS of a fresh process serving one such upload through api/denoise and api/remove_bg on the
  Replicate engine (bench/speed_budget.py's measurement and its 400 MB budget), beside a JPEG of
  the same pixels for comparison.
"""

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def photo_12mp():
    """The coffee photo at 4032x3024 with light sensor-like noise, as an RGB image."""
    import numpy as np
    import skimage.data
    from PIL import Image

    base = Image.fromarray(skimage.data.coffee()).resize((4032, 3024), Image.Resampling.BICUBIC)
    pixels = np.asarray(base, np.float32).copy()
    pixels += np.random.default_rng(0).standard_normal(pixels.shape, dtype=np.float32) * 4
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")


def iphone_heic(img, quality=60):
    """An 8x6 grid of 512x512 HEVC tiles in HEIF, with irot (90°) and EXIF orientation 6 + GPS."""
    from PIL import Image

    from tests.support.hostile import isobmff as bm
    from tests.support.images import exif_bytes, heic

    tiles = []
    for row in range(6):
        for col in range(8):
            tile = Image.new("RGB", (512, 512))
            tile.paste(img.crop((col * 512, row * 512, min(col * 512 + 512, 4032), min(row * 512 + 512, 3024))))
            tiles.append(bm.coded(heic(tile, quality=quality)))
    exif = b"\0\0\0\6" + exif_bytes(orientation=6)  # offset to the TIFF header, after "Exif\0\0"
    items = [(1, b"grid", bm.grid_data(6, 8, 4032, 3024))] + [(i + 2, b"hvc1", t[1]) for i, t in enumerate(tiles)]
    items.append((60, b"Exif", exif))
    props = [bm.ispe(4032, 3024), tiles[0][0], bm.ispe(512, 512), bm.box(b"irot", b"\x03")]  # irot 3 = 270° anticlockwise
    assoc = {1: [1, 0x80 | 4]} | {i + 2: [0x80 | 2, 3] for i in range(48)}
    return bm.heif(items, props=props, assoc=assoc, refs=[(b"dimg", 1, list(range(2, 50))), (b"cdsc", 60, [1])],
                   idat_items={1})


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, ROOT)
def hwm_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
data = sys.stdin.buffer.read()
started = time.perf_counter()
from lib import images
before = hwm_mb()
t = time.perf_counter()
photo = images.load_photo(data)
print(json.dumps({"ms": (time.perf_counter() - t) * 1000, "size": photo.image.size, "before_mb": before, "peak_mb": hwm_mb()}))
"""


def child(data):
    out = subprocess.run([sys.executable, "-c", f"ROOT = {str(ROOT)!r}\n" + CHILD], input=data, capture_output=True, check=True)
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def first_use(runs):
    """Median ms of importing pi_heif and registering its opener, in fresh interpreters that have Pillow."""
    code = ("import time; from PIL import Image, ImageFile, ImageSequence; t = time.perf_counter(); import pi_heif; "
            "pi_heif.register_heif_opener(); print((time.perf_counter() - t) * 1000)")  # Pillow is loaded already
    found = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(runs)]
    return statistics.median(found)


def timed(call, runs):
    """(median wall ms, median CPU ms) of `call()`."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from PIL import Image

    from lib import heif, images

    rows = []
    img = photo_12mp()
    t = time.perf_counter()
    heic = iphone_heic(img)
    rows.append(("12 MP iPhone-style HEIC (8x6 grid of 512 tiles, x265 q60)", f"{len(heic) / 2**20:.2f} MiB",
                 f"built in {time.perf_counter() - t:.0f} s"))
    buf = io.BytesIO()
    img.save(buf, "AVIF", quality=75, speed=8)
    avif = buf.getvalue()
    rows.append(("12 MP AVIF (libaom q75)", f"{len(avif) / 2**20:.2f} MiB", ""))
    rows.append(("first use: import pi_heif + register (fresh process, Pillow loaded)", f"{first_use(args.runs):.0f} ms", "once per instance"))
    for name, data, fmt in (("HEIC", heic, "HEIF"), ("AVIF", avif, "AVIF")):
        wall, _ = timed(lambda: heif.probe(data, fmt), args.runs)
        rows.append((f"{name} header check (lib/heif.probe)", f"{wall:.2f} ms", ""))
        images.load_photo(data)  # registered, warm
        wall, cpu = timed(lambda: images.load_photo(data), args.runs)
        photo = images.load_photo(data)
        assert photo.image.size == ((3024, 4032) if fmt == "HEIF" else (4032, 3024)), photo.image.size  # irot applied once
        rows.append((f"{name} 12 MP load_photo: header, decode, upright, bare", f"{wall:.0f} ms", f"CPU {cpu:.0f} ms, {photo.image.size}"))
        found = child(data)
        rows.append((f"{name} 12 MP load_photo in a fresh process: peak RSS", f"{found['peak_mb']:.0f} MB",
                     f"{found['before_mb']:.0f} MB before; first decode {found['ms']:.0f} ms incl. first use"))
    photo = images.load_photo(heic)
    wall, cpu = timed(lambda: images.encode(photo.image, "HEIF", photo.icc_profile), args.runs)
    data, fmt = images.encode(photo.image, "HEIF", photo.icc_profile)
    rows.append(("HEIC result encode (JPEG q90-92)", f"{wall:.0f} ms", f"CPU {cpu:.0f} ms, {fmt} {len(data) / 2**20:.2f} MiB"))
    photo = images.load_photo(avif)
    wall, cpu = timed(lambda: images.encode(photo.image, "AVIF", photo.icc_profile), args.runs)
    data, fmt = images.encode(photo.image, "AVIF", photo.icc_profile)
    rows.append(("AVIF result encode (q90 4:2:0, speed 8)", f"{wall:.0f} ms", f"CPU {cpu:.0f} ms, {fmt} {len(data) / 2**20:.2f} MiB"))
    assert Image.open(io.BytesIO(data)).size == (4032, 3024)
    sys.path.insert(0, str(ROOT / "bench"))
    import speed_budget

    buf = io.BytesIO()
    images.load_photo(heic).image.save(buf, "JPEG", quality=95)  # the HEIC's own pixels, upright, as a JPEG
    for name, data in (("HEIC", heic), ("JPEG of the HEIC's pixels", buf.getvalue()), ("AVIF", avif)):
        for endpoint, (peak, growth) in speed_budget.upload_rss(data, max(1, args.runs // 2)).items():
            verdict = "PASS" if peak <= speed_budget.RSS_MAX_MB else "FAIL"
            rows.append((f"peak RSS, 12 MP {name} upload to api/{endpoint} (Replicate fake)", f"{peak:.0f} MB",
                         f"request adds {growth:.0f} MB; budget {speed_budget.RSS_MAX_MB} MB {verdict}"))
    width = max(len(r[0]) for r in rows)
    print(f"HEIF/AVIF speed, medians of {args.runs} runs")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")


if __name__ == "__main__":
    main()
