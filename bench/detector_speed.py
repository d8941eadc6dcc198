"""Speed and memory of the numpy watermark detector (lib/watermark_detector.py) against the ONNX one.

Run from the repo root with the dev venv:  .venv/bin/python bench/detector_speed.py [--runs 5] [--skip-memory]
- detection: detect() on the coffee photo with tiled text at 1 MP (1224x816) and 12 MP (4000x3000),
  median of --runs calls after an untimed warm-up, wall and CPU (user + sys of the whole process: both
  detectors may use threads); numpy detector at its default threads and at 1, onnxruntime at 2 threads
  (what LocalEngine gives it) and at 1. Rounds are interleaved so each pair ran under the same load.
- first use: a fresh interpreter's `import numpy` + loading the weights (numpy) / building the session (ONNX).
- cold import: `python -c "import api.watermark_mask"` in a fresh interpreter, and the same plus
  `import lib.watermark_detector`, net of a bare `python -c pass` (medians, interleaved).
- memory: peak RSS of a fresh process above its RSS after loading the detector and the photo, for one
  detection (VmHWM reset through /proc/self/clear_refs; Linux only).
The machine is shared: compare figures taken in the same run, not across runs.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SIZES = {"1 MP": (1224, 816), "12 MP": (4000, 3000)}


def marked(size):
    """The coffee photo at `size` with small tiled text, white at 50 %."""
    import numpy as np
    import skimage.data
    from PIL import Image, ImageDraw, ImageFont

    base = Image.fromarray(skimage.data.coffee()).resize(size, Image.BICUBIC)
    layer = Image.new("L", size, 0)
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(12, size[0] // 40))
    step_x, step_y = size[0] // 6, size[1] // 10
    for row, y in enumerate(range(0, size[1], step_y)):
        for x in range(-(row % 2) * step_x // 2, size[0], step_x):
            draw.text((x, y), "© photo", fill=255, font=font)
    alpha = np.asarray(layer, np.float32)[..., None] * (0.5 / 255)
    pixels = np.asarray(base, np.float32) * (1 - alpha) + 255 * alpha
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")


def detectors():
    from lib import watermark_detector
    from tests.support import onnx_detector as watermark_model

    return {
        "numpy (default threads)": watermark_detector.WatermarkDetector(),
        "numpy, 1 thread": watermark_detector.WatermarkDetector(threads=1),
        "onnxruntime, 2 threads": watermark_model.WatermarkDetector(threads=2),
        "onnxruntime, 1 thread": watermark_model.WatermarkDetector(threads=1),
    }


def bench_detection(runs):
    import numpy as np

    found = detectors()
    print(f"\n== detection: detect() median of {runs}, wall s (CPU s of the process) ==")
    print(f"{'size':7} {'detector':26} {'wall s':>7} {'CPU s':>7} {'x onnx 2t':>9}  mask IoU vs onnx")
    for label, size in SIZES.items():
        image = marked(size)
        masks = {name: np.asarray(d.detect(image)) > 127 for name, d in found.items()}  # warm-up
        wall = {name: [] for name in found}
        cpu = {name: [] for name in found}
        for _ in range(runs):
            for name, d in found.items():
                c0, w0 = time.process_time(), time.perf_counter()
                d.detect(image)
                wall[name].append(time.perf_counter() - w0)
                cpu[name].append(time.process_time() - c0)
        ref = statistics.median(wall["onnxruntime, 2 threads"])
        ref_mask = masks["onnxruntime, 2 threads"]
        for name in found:
            mw, mc = statistics.median(wall[name]), statistics.median(cpu[name])
            agree = (masks[name] & ref_mask).sum() / max((masks[name] | ref_mask).sum(), 1)
            print(f"{label:7} {name:26} {mw:7.3f} {mc:7.3f} {mw / ref:9.2f}  {agree:.4f}")


def fresh(code):
    """(wall ms, CPU ms) of `python -c code` in a fresh interpreter at the repo root."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000, out.stdout


def bench_imports(runs):
    codes = {
        "bare python": "pass",
        "import api.watermark_mask": "import api.watermark_mask",
        "+ import lib.watermark_detector": "import api.watermark_mask, lib.watermark_detector",
    }
    wall = {k: [] for k in codes}
    cpu = {k: [] for k in codes}
    for _ in range(runs):
        for name, code in codes.items():
            w, c, _ = fresh(code)
            wall[name].append(w)
            cpu[name].append(c)
    bare_w, bare_c = statistics.median(wall["bare python"]), statistics.median(cpu["bare python"])
    print(f"\n== cold import, median of {runs} fresh interpreters (net = minus bare python) ==")
    for name in codes:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:34} wall {w:6.1f} ms  net {w - bare_w:6.1f} ms  net CPU {c - bare_c:6.1f} ms")
    first = {
        "numpy detector: import numpy + load weights":
            "import time; t = time.perf_counter(); from lib import watermark_detector as w; w.WatermarkDetector();"
            " print((time.perf_counter() - t) * 1000)",
        "onnx detector: import numpy, cv2, onnxruntime + session":
            "import time; t = time.perf_counter(); from tests.support import onnx_detector as w;"
            " w.WatermarkDetector(threads=2); print((time.perf_counter() - t) * 1000)",
    }
    print("first use (in a fresh interpreter, median):")
    for name, code in first.items():
        ms = statistics.median(float(fresh(code)[2]) for _ in range(runs))
        print(f"  {name:56} {ms:6.0f} ms")


MEMORY_CODE = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from detector_speed import marked
kind, size = {kind!r}, {size!r}
image = marked(size)
if kind == "numpy":
    from lib.watermark_detector import WatermarkDetector
    d = WatermarkDetector()
else:
    from tests.support.onnx_detector import WatermarkDetector
    d = WatermarkDetector(threads=2)
d.detect(image.resize((64, 64)))  # load everything once
def status(key):
    return int(open("/proc/self/status").read().split(key + ":")[1].split()[0]) // 1024
base = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark to the current RSS
d.detect(image)
print(base, status("VmHWM"))
"""


def bench_memory():
    print("\n== memory: one detection in a fresh process, MiB ==")
    print(f"{'size':7} {'detector':12} {'RSS before':>10} {'peak':>6} {'extra':>6}")
    for label, size in SIZES.items():
        for kind in ("numpy", "onnx"):
            code = MEMORY_CODE.format(root=ROOT, bench=os.path.join(ROOT, "bench"), kind=kind, size=size)
            base, peak = map(int, fresh(code)[2].split())
            print(f"{label:7} {kind:12} {base:10d} {peak:6d} {peak - base:6d}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    import numpy
    import onnxruntime
    import PIL

    print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}, pillow {PIL.__version__}, onnxruntime "
          f"{onnxruntime.__version__}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    bench_detection(args.runs)
    bench_imports(args.runs)
    if not args.skip_memory:
        bench_memory()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
