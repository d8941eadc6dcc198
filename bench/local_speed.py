"""Speed of the local engine per tool, in seconds per megapixel, at ~1 MP and 12 MP (24 MP on request).

Run from the repo root with the dev venv:  python bench/local_speed.py [--runs 3] [--sizes 1 12 24] [--tools ...]
For one tool's own memory peak at 24 MP, run it alone in a fresh process:
    python bench/local_speed.py --sizes 24 --tools remove_bg --runs 1
A whole request, as a user waits for it (multipart upload parsed, decode, engine, encode), through
api/<tool> in a fresh process, with the 12 MP denoise target (<= 15 s, peak RSS <= 1.5 GB):
    python bench/local_speed.py --request --sizes 12 --tools denoise
The test photo carries Gaussian noise sigma 12 (requests: saved as JPEG --quality 85). The denoiser's
learned pass for heavy noise runs from a noise estimate of 28; the request bench prints the upload's:
    python bench/local_speed.py --request --sizes 12 --tools denoise --noise 50 --quality 60
(at 12 MP, quality 60 is what keeps such a noisy photo under the 4 MB upload cap).
Each figure is the median of --runs timed calls (models are loaded by an untimed warm-up call),
next to a bare Pillow JPEG decode+encode of the same image timed in the same run, as a ratio.
Peak RSS is the process's high-water mark (resource.getrusage) after each tool; the JPEG row shows
it before that size's tools ran (it includes building the test image).
"""

import argparse
import io
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from lib import catalog  # noqa: E402
from lib.engines.local import LocalEngine, denoise  # noqa: E402

SIZES = {"1 MP": (1224, 816), "12 MP": (4000, 3000), "24 MP": (6000, 4000)}
TOOLS = (*catalog.IDS, "watermark_mask")


def peak_rss_mb():
    """The process's peak resident memory so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    """Seconds one call of fn() takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_seconds(fn, runs):
    """Median wall time of `runs` calls of fn()."""
    return statistics.median(timed(fn) for _ in range(runs))


def test_image(size, noise=12.0):
    """The coffee photo scaled to `size` with sensor-like noise (sigma `noise`, 0..255) and a 42 % white
    text mark."""
    base = Image.fromarray(skimage.data.coffee()).resize(size, Image.BICUBIC)
    # float32 and in place: the bench's own arrays should not dominate the peak RSS it reports.
    pixels = np.asarray(base, np.float32).copy()
    pixels += np.random.default_rng(0).standard_normal(pixels.shape, dtype=np.float32) * np.float32(noise)
    layer = Image.new("L", size, 0)
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=size[0] // 6)
    draw.text((size[0] // 10, size[1] // 3), "SAMPLE", fill=255, font=font)
    alpha = np.asarray(layer, np.float32)[..., None] * (0.42 / 255)
    pixels *= 1 - alpha
    pixels += 255 * alpha
    np.clip(pixels + 0.5, 0, 255, out=pixels)
    mask = layer.point(lambda v: 255 if v else 0)
    return Image.fromarray(pixels.astype(np.uint8), "RGB"), mask


def jpeg_roundtrip(image):
    """A function that decodes and re-encodes the image as JPEG (quality 90), the baseline."""
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    data = buf.getvalue()

    def run():
        decoded = Image.open(io.BytesIO(data))
        decoded.load()
        decoded.save(io.BytesIO(), "JPEG", quality=90)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", choices=["1", "12", "24"], default=["1", "12"], help="megapixels")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--request", action="store_true", help="time whole requests to api/<tool> instead")
    parser.add_argument("--noise", type=float, default=12.0,
                        help="Gaussian noise sigma (0..255) of the test photo; from 28 (an estimate of 28) the"
                             " denoiser runs its learned pass too")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality of the uploads (--request)")
    args = parser.parse_args()
    if args.request:
        return bench_requests(args)

    engine = LocalEngine()
    print(f"test photo noise sigma {args.noise:g}")
    print(f"{'size':6} {'tool':17} {'s/MP':>7} {'x JPEG':>8} {'peak RSS MB':>12}")
    warmed = False
    for label, size in SIZES.items():
        if label.split()[0] not in args.sizes:
            continue
        image, mask = test_image(size, args.noise)
        megapixels = size[0] * size[1] / 1e6
        tools = {
            "denoise": lambda: engine.run("denoise", image, {}),
            "remove_bg": lambda: engine.run("remove_bg", image, {}),
            "remove_watermark": lambda: engine.run("remove_watermark", image, {"mask": mask}),
            "watermark_mask": lambda: engine.detect_watermark(image),
        }
        tools = {name: fn for name, fn in tools.items() if name in args.tools}
        if not warmed:
            start = time.perf_counter()
            for fn in tools.values():
                fn()
            print(f"(first calls, incl. model loading: {time.perf_counter() - start:.1f} s at {label})")
            warmed = True
        baseline = median_seconds(jpeg_roundtrip(image), args.runs)
        print(f"{label:6} {'JPEG dec+enc':17} {baseline / megapixels:7.3f} {1:8.1f} {peak_rss_mb():12.0f}")
        for name, fn in tools.items():
            seconds = median_seconds(fn, args.runs)
            print(f"{label:6} {name:17} {seconds / megapixels:7.3f} {seconds / baseline:8.1f} {peak_rss_mb():12.0f}")
            if name == "denoise" and denoise.noise_sigma(np.asarray(image)) >= denoise.LEARNED_FROM:
                # What the learned pass for heavy noise costs: the same call without it, in the same run.
                denoiser = engine._model("denoise")
                learned, denoiser.refiner = denoiser.refiner, None
                try:
                    seconds = median_seconds(fn, args.runs)
                finally:
                    denoiser.refiner = learned
                print(f"{label:6} {'  without learned':17} {seconds / megapixels:7.3f} {seconds / baseline:8.1f}"
                      f" {peak_rss_mb():12.0f}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


def bench_requests(args):
    """Whole requests through the api/ WSGI apps on the local engine: median seconds and peak RSS."""
    import importlib

    from werkzeug.test import Client

    os.environ.update(IMGMEND_ENGINE="local", FREE_DAILY_LIMIT="1000", RATE_LIMIT_PER_MINUTE="1000")
    os.environ.pop("REDIS_URL", None)  # per-process counters: the bench measures the image work
    targets = {"12 MP": (15.0, 1536)} if args.tools == ["denoise"] else {}
    ok = True
    print(f"{'size':6} {'request':22} {'median s':>9} {'runs':>18} {'peak RSS MB':>12}")
    for label, size in SIZES.items():
        if label.split()[0] not in args.sizes:
            continue
        image, mask = test_image(size, args.noise)
        buf = io.BytesIO()
        # What a phone sends, under the 4 MB upload cap (at quality 90 the sigma 12 photo is over it).
        image.save(buf, "JPEG", quality=args.quality)
        upload = buf.getvalue()
        sigma = denoise.noise_sigma(np.asarray(Image.open(io.BytesIO(upload)).convert("RGB")))
        learned = "runs" if sigma >= denoise.LEARNED_FROM else "does not run"
        print(f"{label}: {size[0]}x{size[1]} JPEG q{args.quality}, {len(upload) / 2**20:.2f} MiB;"
              f" noise estimate {sigma:.1f}: the denoiser's learned pass {learned}")
        mask_png = io.BytesIO()
        mask.save(mask_png, "PNG")
        del image
        for tool in args.tools:
            if tool not in catalog.IDS:
                continue
            client = Client(importlib.import_module(f"api.{tool}").app)

            def post():
                data = {"image": (io.BytesIO(upload), "photo.jpg", "image/jpeg")}
                if tool == "remove_watermark":
                    data["mask"] = (io.BytesIO(mask_png.getvalue()), "mask.png", "image/png")
                response = client.post(f"/api/{tool}", data=data)
                assert response.status_code == 200, (response.status_code, response.get_data()[:200])

            times = [timed(post) for _ in range(args.runs)]
            seconds = statistics.median(times)
            line = (f"{label:6} {'POST /api/' + tool:22} {seconds:9.1f} {' '.join(f'{t:.1f}' for t in times):>18}"
                    f" {peak_rss_mb():12.0f}")
            if tool == "denoise" and size[0] * size[1] >= denoise._FAST_FROM_PIXELS:
                # The baseline, in the same run: the small-photo settings (OIDN HIGH, then the Wiener
                # pass's full plan, wiener.PLAN, on every channel) that big photos would get without their own.
                fast_from, denoise._FAST_FROM_PIXELS = denoise._FAST_FROM_PIXELS, 1 << 62
                try:
                    high = median_seconds(post, args.runs)
                finally:
                    denoise._FAST_FROM_PIXELS = fast_from
                line += f"  (small-photo settings: {high:.1f} s, x{seconds / high:.2f})"
            if label in targets:
                limit_s, limit_mb = targets[label]
                good = seconds <= limit_s and peak_rss_mb() <= limit_mb
                ok = ok and good
                line += f"   target <= {limit_s:.0f} s, <= {limit_mb} MB: {'PASS' if good else 'FAIL'}"
            print(line, flush=True)
    print(f"peak RSS: {peak_rss_mb():.0f} MB (the first run includes loading the model)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
