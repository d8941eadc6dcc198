"""Learned watermark detector on numpy and Pillow only, for both engines (the lean Vercel bundle has no ONNX).

The same 0.92 M-parameter U-Net (tools/train_watermark.py; weights converted from the ONNX export by
tools/export_detector_weights.py into lib/models/watermark_detector.npz) and the same post-processing
(working copy of at most ~1 MP, threshold 0.7, 8-connected components without specks or thick blobs,
3x3 dilation, bilinear upsampling at 0.25), without onnxruntime, OpenCV or scipy, so it can run in the
lean Vercel bundle. Importing this module loads nothing: numpy and the weights load on the first detection.

How the network runs on numpy. Activations are channels-last float32 with one zero pixel of padding on
every side (and one spare zero row), flattened to (pixels, channels). In that layout the 3x3 neighbour
(dy, dx) of every output pixel is the same contiguous slice shifted by dy*(W+2)+dx, so a 3x3 convolution
is 9 matrix products of contiguous views with the per-tap (in, out) weights, summed: no im2col copies.
Rows are done in strips that stay in cache, with bias and ReLU applied per strip; the two pad columns get
the wrap-around garbage and are zeroed afterwards. A decoder block's input is concat(upsample2(low),
skip): its convolution is split into the skip part (9 taps at full size) and the upsampled part, which is
computed at low resolution as four 2x2 convolutions, one per output phase (a nearest-neighbour upsampled
image seen through a 3x3 kernel is a 2x2 kernel on the low-resolution image), so the upsampled and
concatenated tensors never exist and that part costs 4/9 of the multiplications.
"""

import os
import threading

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "watermark_detector.npz")

# Post-processing, as the ONNX reference (tests/support/onnx_detector.py) does. Bench (bench/quality.py,
# 4 photos x 24 marks) for threshold 0.5 / 0.7 x half-width 1.5 / 2 / 3 %: precision 0.86-0.91, recall
# 0.75-0.85; without the thickness rule 0.72-0.74 / 0.87-0.88 and 4-9 % of clean photos flagged.
# 0.7 / 2 % kept: precision 0.90, recall 0.81, at most 1.7 % flagged.
_WORK_PIXELS = 1_000_000  # detection working copy: thin marks survive, the cost stays flat
_THRESHOLD = 0.7  # probability above which a pixel is called a mark
_MIN_AREA = 0.0002  # components smaller than this share of the working copy are noise
_MAX_HALF_WIDTH = 0.02  # components thicker than 2 x this share of the longer side are not strokes
_MULTIPLE = 16  # the U-Net halves the size four times
_DEPTH = 5  # encoder levels (widths 16, 32, 64, 96, 128)
_STRIP_BYTES = 1 << 20  # per-strip working set of a convolution (input + output + product rows)
# Threads: ours split each layer's strips; OpenBLAS must not split the products again. Its own thread pool
# costs up to 100x on a busy or CPU-capped machine (measured here: a 4096x16 @ 16x16 product took 1 ms
# instead of 11 us while other work ran; a 2048^2 product was 2x slower on 2 threads than on 1). So while a
# forward pass runs, numpy's bundled OpenBLAS is held at one thread (_SerialBlas). Where that BLAS cannot
# be found (another build of numpy), every product stays at most this many multiply-adds instead, which
# OpenBLAS runs on the calling thread (65536 * its GEMM_MULTITHREAD_THRESHOLD, 4 by default).
_SERIAL_MACS = 65536 * 4
# OpenCV's 3x3 mask for DIST_L2 (distanceTransform's "optimal" Borgefors weights), so the thickness rule
# measures what the ONNX detector's cv2.distanceTransform(found, DIST_L2, 3) measures.
_CHAMFER_A, _CHAMFER_B = 0.955, 1.3693

_shared = None
_shared_lock = threading.Lock()


def available():
    """True when the detector's weights ship with the code and numpy is installed (found, not imported)."""
    import importlib.util

    return os.path.exists(MODEL) and importlib.util.find_spec("numpy") is not None


def detect_watermark(image):
    """Mask (mode "L", same size, 255 = watermark) from the learned detector; weights load on first use."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = WatermarkDetector()
    return _shared.detect(image)


class WatermarkDetector:
    """The U-Net's weights, prepared once; probability() and detect() are thread-safe (no shared buffers)."""

    def __init__(self, threads=None, path=MODEL):
        from concurrent.futures import ThreadPoolExecutor

        import numpy as np

        if threads is None:  # the CPUs this process may use, at most 4 (the strips are short; the GIL is shared)
            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            threads = min(4, cpus)
        # Strips of each layer run on `threads` threads (this one and threads - 1 pool workers).
        self._serial = _serial_blas()
        executor = ThreadPoolExecutor(threads - 1, "watermark-detector") if threads > 1 else None
        self._pool = _Strips(executor, threads, None if self._serial.available else _SERIAL_MACS)

        with np.load(path, allow_pickle=False) as npz:
            raw = {name: npz[name].astype(np.float32) for name in npz.files}
        self._down = [(_taps3(raw[f"down.{i}.0.weight"]), raw[f"down.{i}.0.bias"],
                       _taps3(raw[f"down.{i}.3.weight"]), raw[f"down.{i}.3.bias"]) for i in range(_DEPTH)]
        self._up = []
        for j in range(_DEPTH - 1):
            w0 = raw[f"up.{j}.0.weight"]
            low = w0.shape[1] - w0.shape[0]  # concat(upsampled low, skip): the skip has the block's own width
            self._up.append((_phase_taps(w0[:, :low]), _taps3(w0[:, low:]), raw[f"up.{j}.0.bias"],
                             _taps3(raw[f"up.{j}.3.weight"]), raw[f"up.{j}.3.bias"]))
        self._head = (np.ascontiguousarray(raw["head.weight"].reshape(1, -1).T), raw["head.bias"])

    def probability(self, rgb):
        """Per-pixel mark probability (float32 HxW) for an RGB array (uint8, or float 0..1), at its own size."""
        import numpy as np

        rgb = np.asarray(rgb)
        h, w = rgb.shape[:2]
        ph, pw = -h % _MULTIPLE, -w % _MULTIPLE
        if ph or pw:  # mirrored on the bottom and right to multiples of 16, as the ONNX detector does
            rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect" if h > ph and w > pw else "edge")
        height, width = h + ph, w + pw
        x = _padded(height, width, 3)
        inside = x[1:height + 1, 1:width + 1]
        if rgb.dtype == np.uint8:
            np.multiply(rgb, np.float32(2 / 255), out=inside, casting="unsafe")
        else:
            np.multiply(rgb, np.float32(2), out=inside, casting="unsafe")
        inside -= 1  # the network sees image * 2 - 1
        with self._serial:
            return self._forward(x, height, width)[:h, :w]

    def detect(self, image):
        """Mask (mode "L", same size, 255 = watermark) from the detector on a <= 1 MP working copy."""
        import numpy as np
        from PIL import Image

        w, h = image.size
        work_w, work_h = _work_size(w, h)
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        shrunk = (work_w, work_h) != (w, h)
        work = _area_resize(rgb, work_w, work_h) if shrunk else np.asarray(rgb)
        found = _strokes(self.probability(work) > _THRESHOLD)
        found = _dilate3(found)  # one pixel more covers the anti-aliased rim the net calls uncertain
        if shrunk:
            found = _upsample(found, w, h)
        return Image.fromarray(found.view(np.uint8) * np.uint8(255), "L")

    def _forward(self, x, height, width):
        """Probabilities (float32 height x width) for a padded input buffer from _padded()."""
        skips = []
        h, w = height, width
        for i, (t0, b0, t1, b1) in enumerate(self._down):
            mid = _conv3(x, h, w, t0, b0, self._pool)
            out = _conv3(mid, h, w, t1, b1, self._pool)
            del mid
            if i < _DEPTH - 1:
                skips.append((out, h, w))
                x = _pool2(out, h, w)
                h, w = h // 2, w // 2
            else:
                x = out
        del out
        for j, (phases, skip_taps, b0, t1, b1) in enumerate(self._up):
            skip, h, w = skips.pop()
            mid = _up_conv(x, skip, h, w, phases, skip_taps, b0, self._pool)
            del x, skip
            x = _conv3(mid, h, w, t1, b1, self._pool, head=self._head if j == _DEPTH - 2 else None)
            del mid
        return x


# ---------- layers (all on padded channels-last buffers: (h + 3, w + 2, c), zero outside the image) ----------


def _padded(h, w, c):
    import numpy as np

    return np.zeros((h + 3, w + 2, c), np.float32)


def _taps3(weight):
    """(out, in, 3, 3) -> (9, in, out): the matrix for tap dy * 3 + dx."""
    import numpy as np

    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0).reshape(9, weight.shape[1], weight.shape[0]))


def _phase_taps(weight):
    """(out, in, 3, 3) on a 2x nearest-upsampled input -> (2, 2, 4, in, out) 2x2 kernels on the low-res input.

    Output row 2i+a sees upsampled rows 2i+a-1 .. 2i+a+1, i.e. low rows (i-1, i, i) for a = 0 and (i, i, i+1)
    for a = 1: two low-res taps whose weights are sums of the 3x3 kernel's rows. The same holds for columns.
    Tap t = ty * 2 + tx of phase (a, b) reads the padded low-res buffer at row offset a + ty, column b + tx.
    """
    import numpy as np

    rows = np.array([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]], np.float64)  # [phase, tap, kernel row]
    combined = np.einsum("ayd,bxe,ocde->abyxco", rows, rows, weight.astype(np.float64))
    return np.ascontiguousarray(combined.reshape(2, 2, 4, weight.shape[1], weight.shape[0]).astype(np.float32))


def _strip_rows(c_in, c_out, width):
    """Flattened rows per strip: the strip's input, output and product rows fit in _STRIP_BYTES, >= 1 image row."""
    return max(width, _STRIP_BYTES // (4 * (c_in + 2 * c_out)))


def _chunk_rows(c_in, c_out, rows, macs):
    """Rows per matrix product: a strip's `rows`, or fewer so that each product stays under `macs`."""
    return rows if macs is None else max(1, min(rows, macs // (c_in * c_out)))


def _accumulate(acc, flat, start, offsets, taps, scratch):
    """acc = sum over k of flat[start + offsets[k] : + len(acc)] @ taps[k], in chunks of len(scratch) rows."""
    import numpy as np

    chunk = len(scratch)
    for c0 in range(0, len(acc), chunk):
        c1 = min(len(acc), c0 + chunk)
        a, t, s = acc[c0:c1], scratch[:c1 - c0], start + c0
        np.matmul(flat[s + offsets[0]:s + offsets[0] + c1 - c0], taps[0], out=a)
        for k in range(1, len(offsets)):
            np.matmul(flat[s + offsets[k]:s + offsets[k] + c1 - c0], taps[k], out=t)
            a += t


def _conv3(src, h, w, taps, bias, pool, head=None):
    """3x3 convolution (zero padding) + bias + ReLU. Returns a padded buffer, or with head=(weight, bias)
    the 1x1 head and sigmoid applied: float32 (h, w) probabilities."""
    import numpy as np

    c_in, c_out = taps.shape[1], taps.shape[2]
    wp = w + 2
    flat_in = src.reshape(-1, c_in)
    total = h * wp  # outputs on the padded-width grid: columns w and w + 1 of each row are wrap-around garbage
    n = _strip_rows(c_in, c_out, wp)
    offsets = [dy * wp + dx for dy in range(3) for dx in range(3)]
    if head is None:
        dst = _padded(h, w, c_out)
        flat_out = dst.reshape(-1, c_out)[wp + 1:wp + 1 + total]  # output pixel (y, x) lands at (y + 1, x + 1)
    else:
        prob = np.empty((total, 1), np.float32)
        head_w, head_b = head

    def work(starts):
        scratch = np.empty((_chunk_rows(c_in, c_out, n, pool.chunk_macs), c_out), np.float32)
        strip = np.empty((n, c_out), np.float32) if head is not None else None
        for q0 in starts:
            m = min(n, total - q0)
            acc = flat_out[q0:q0 + m] if head is None else strip[:m]
            _accumulate(acc, flat_in, q0, offsets, taps, scratch)
            acc += bias
            np.maximum(acc, 0, out=acc)
            if head is not None:
                z = prob[q0:q0 + m]
                np.matmul(acc, head_w, out=z)
                z += head_b
                np.negative(z, out=z)  # sigmoid: 1 / (1 + exp(-z))
                np.exp(z, out=z)
                z += 1
                np.reciprocal(z, out=z)

    pool.each(range(0, total, n), work)
    if head is not None:
        return prob.reshape(h, wp)[:, :w]
    dst[:, 0] = 0
    dst[:, w + 1] = 0
    return dst


def _up_conv(low, skip, h, w, phases, skip_taps, bias, pool):
    """3x3 conv + bias + ReLU of concat(upsample2(low), skip) without building either: the skip part as 9
    shifted products at full size, the upsampled part as four 2x2 convolutions at low size, interleaved."""
    import numpy as np

    c_skip, c_out = skip_taps.shape[1], skip_taps.shape[2]
    c_low = phases.shape[3]
    wp, hl, wl = w + 2, h // 2, w // 2
    wlp = wl + 2
    dst = _padded(h, w, c_out)
    flat_out = dst.reshape(-1, c_out)[wp + 1:wp + 1 + h * wp]
    flat_skip = skip.reshape(-1, c_skip)
    flat_low = low.reshape(-1, c_low)
    low_rows = max(1, _strip_rows(c_skip + c_low, c_out, wp) // (2 * wp))  # low-res rows per strip
    offsets = [dy * wp + dx for dy in range(3) for dx in range(3)]
    phase_offsets = [[[(a + ty) * wlp + (b + tx) for ty in range(2) for tx in range(2)] for b in range(2)]
                     for a in range(2)]

    def work(starts):
        scratch = np.empty((_chunk_rows(c_skip, c_out, 2 * low_rows * wp, pool.chunk_macs), c_out), np.float32)
        phase_scratch = np.empty((_chunk_rows(c_low, c_out, low_rows * wlp, pool.chunk_macs), c_out), np.float32)
        phase = np.empty((low_rows * wlp, c_out), np.float32)
        for i0 in starts:
            rows = min(low_rows, hl - i0)
            q0, m = 2 * i0 * wp, 2 * rows * wp
            acc = flat_out[q0:q0 + m]
            _accumulate(acc, flat_skip, q0, offsets, skip_taps, scratch)
            p = phase[:rows * wlp]
            for a in range(2):
                for b in range(2):
                    _accumulate(p, flat_low, i0 * wlp, phase_offsets[a][b], phases[a, b], phase_scratch)
                    # Output pixel (2i + a, 2j + b) sits at padded (2i + a + 1, 2j + b + 1).
                    dst[1 + 2 * i0 + a:1 + 2 * (i0 + rows) + a:2, 1 + b:1 + b + 2 * wl:2] += \
                        p.reshape(rows, wlp, c_out)[:, :wl]
            acc += bias
            np.maximum(acc, 0, out=acc)

    pool.each(range(0, hl, low_rows), work)
    dst[:, 0] = 0
    dst[:, w + 1] = 0
    return dst


class _Strips:
    """Runs work(part) for consecutive parts of a layer's strips: one here, the others on pool threads
    (numpy drops the GIL inside matmul and the in-place ufuncs, and each part writes its own rows).
    chunk_macs: None, or the most multiply-adds per matrix product (see _SERIAL_MACS)."""

    def __init__(self, executor, threads, chunk_macs):
        self._executor, self._threads, self.chunk_macs = executor, threads, chunk_macs

    def each(self, starts, work):
        starts = list(starts)
        parts = min(len(starts), self._threads) if self._executor else 1
        if parts <= 1:
            work(starts)
            return
        chunks = [starts[i * len(starts) // parts:(i + 1) * len(starts) // parts] for i in range(parts)]
        futures = [self._executor.submit(work, chunk) for chunk in chunks[1:]]
        try:
            work(chunks[0])
        finally:
            for future in futures:
                future.result()


_serial = None
_serial_lock = threading.Lock()


def _serial_blas():
    """The process's one _SerialBlas (numpy's OpenBLAS has one global thread count)."""
    global _serial
    with _serial_lock:
        if _serial is None:
            _serial = _SerialBlas()
    return _serial


class _SerialBlas:
    """Context manager: numpy's bundled OpenBLAS at one thread while any detector's forward pass runs,
    its previous thread count restored when the last one ends. available is False (and it does nothing)
    where numpy's BLAS is not the scipy-openblas it ships on Linux, Windows and Intel macOS."""

    _NAMES = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
              ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
              ("openblas_get_num_threads", "openblas_set_num_threads"))

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = None
        self._get = self._set = None
        try:
            self._get, self._set = self._find()
        except (OSError, TypeError, ValueError, AttributeError):
            pass
        self.available = self._set is not None

    def _find(self):
        import ctypes
        import glob

        import numpy as np

        root = os.path.dirname(os.path.abspath(np.__file__))
        for path in sorted(glob.glob(root + ".libs/*openblas*") + glob.glob(os.path.join(root, ".dylibs", "*openblas*"))):
            lib = ctypes.CDLL(path)  # already loaded by numpy: the same library, not a second copy
            for get_name, set_name in self._NAMES:
                get, set_ = getattr(lib, get_name, None), getattr(lib, set_name, None)
                if get is not None and set_ is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    set_.restype, set_.argtypes = None, [ctypes.c_int]
                    return get, set_
        return None, None

    def __enter__(self):
        if self.available:
            with self._lock:
                if not self._users:
                    self._saved = self._get()
                    self._set(1)
                self._users += 1
        return self

    def __exit__(self, *exc):
        if self.available:
            with self._lock:
                self._users -= 1
                if not self._users:
                    self._set(self._saved)
        return False


def _pool2(src, h, w):
    """2x2 max-pool of a padded buffer into a new padded buffer of half the size."""
    import numpy as np

    hh, hw = h // 2, w // 2
    dst = _padded(hh, hw, src.shape[2])
    inside = dst[1:hh + 1, 1:hw + 1]
    np.maximum(src[1:h + 1:2, 1:w + 1:2], src[1:h + 1:2, 2:w + 2:2], out=inside)
    np.maximum(inside, src[2:h + 2:2, 1:w + 1:2], out=inside)
    np.maximum(inside, src[2:h + 2:2, 2:w + 2:2], out=inside)
    return dst


# ---------- resampling (cv2.resize INTER_AREA down, INTER_LINEAR up, in numpy and Pillow) ----------


def _work_size(w, h):
    """The working copy's size: at most ~_WORK_PIXELS, sides of at least 16 px but never enlarged."""
    scale = min(1.0, (_WORK_PIXELS / (h * w)) ** 0.5)
    if scale == 1:
        return w, h
    return min(w, max(16, round(w * scale))), min(h, max(16, round(h * scale)))


def _area_taps(size, new_size):
    """Source indices and weights (new_size, taps) of area averaging, as OpenCV's computeResizeAreaTab
    (shrinking or keeping the size only: new_size <= size)."""
    import math

    import numpy as np

    scale = size / new_size
    taps = []
    for d in range(new_size):
        lo, hi = d * scale, d * scale + scale
        cell = min(scale, size - lo)
        first, last = math.ceil(lo), min(math.floor(hi), size - 1)
        first = min(first, last)
        row = [(first - 1, (first - lo) / cell)] if first - lo > 1e-3 else []
        row += [(s, 1.0 / cell) for s in range(first, last)]
        if hi - last > 1e-3:
            row.append((last, min(hi - last, 1.0, cell) / cell))
        taps.append(row)
    width = max(len(row) for row in taps)
    index = np.array([[s for s, _ in row] + [row[-1][0]] * (width - len(row)) for row in taps], np.intp)
    weight = np.array([[a for _, a in row] + [0.0] * (width - len(row)) for row in taps], np.float32)
    return index, weight


def _area_resize(image, new_w, new_h):
    """uint8 (new_h, new_w, 3) area average of an RGB Pillow image, as cv2.resize(INTER_AREA) when shrinking
    (one rounding at the end). Done in bands of output rows: only a band of the photo is ever a numpy array."""
    import numpy as np

    w, h = image.size
    rows, row_w = _area_taps(h, new_h)
    cols, col_w = _area_taps(w, new_w)
    out = np.empty((new_h, new_w, 3), np.uint8)
    band = max(1, (1 << 20) // (w * 3))  # output rows per band
    for i0 in range(0, new_h, band):
        i1 = min(new_h, i0 + band)
        lo, hi = int(rows[i0:i1].min()), int(rows[i0:i1].max()) + 1
        src = np.asarray(image.crop((0, lo, w, hi)))
        tall = np.zeros((i1 - i0, w, 3), np.float32)
        for k in range(rows.shape[1]):  # down the columns first: whole source rows, cheap to gather
            tall += src[rows[i0:i1, k] - lo] * row_w[i0:i1, k, None, None]
        across = tall.transpose(1, 0, 2)  # (w, rows, 3): gathering columns is gathering its rows
        small = np.take(across, cols[:, 0], axis=0) * col_w[:, 0, None, None]
        for k in range(1, cols.shape[1]):
            small += np.take(across, cols[:, k], axis=0) * col_w[:, k, None, None]
        small += 0.5
        np.floor(small, out=small)
        out[i0:i1] = small.transpose(1, 0, 2)
    return out


def _upsample(found, w, h):
    """bool (h, w): bilinear upsampling of a 0/1 mask above 0.25, as cv2.resize(INTER_LINEAR) on float32.
    Pillow's float resampling in bands of output rows (the box keeps each band on the full image's grid)."""
    import numpy as np
    from PIL import Image

    small = Image.fromarray(found.astype(np.float32), "F")
    sy = found.shape[0] / h
    out = np.empty((h, w), bool)
    band = max(1, (8 << 20) // w)  # output rows per band: at most ~32 MB of floats at a time
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        part = small.resize((w, y1 - y0), Image.Resampling.BILINEAR, box=(0, y0 * sy, found.shape[1], y1 * sy))
        np.greater(np.asarray(part), 0.25, out=out[y0:y1])
    return out


# ---------- post-processing (cv2.connectedComponentsWithStats, distanceTransform and dilate, in numpy) ----------


def _strokes(found):
    """bool mask without specks and without components too thick to be a mark's strokes."""
    import numpy as np

    row, start, end, component = _components(found)
    if not len(row):
        return found
    length = end - start
    count = int(component.max()) + 1
    area = np.bincount(component, weights=length, minlength=count)
    # The largest distance to the background within each component (max over its runs, then over runs).
    distance = _chamfer(found)[found]  # row-major, the pixels of run 0, then run 1, ...
    run_max = np.maximum.reduceat(distance, np.cumsum(length) - length)
    half_width = np.full(count, -np.inf)
    np.maximum.at(half_width, component, run_max)
    drop = (area < _MIN_AREA * found.size) | (half_width > _MAX_HALF_WIDTH * max(found.shape))
    if not drop.any():
        return found
    kept = found.copy()
    kept[found] = np.repeat(~drop[component], length)
    return kept


def _components(found):
    """Horizontal runs of a bool mask and their 8-connected component: (row, start, end, component id)."""
    import numpy as np

    h, w = found.shape
    edges = np.zeros((h, w + 2), np.int8)
    edges[:, 1:-1] = found
    edges = np.diff(edges, axis=1)  # +1 where a run starts, -1 one past where it ends
    row, start = np.nonzero(edges == 1)
    end = np.nonzero(edges == -1)[1]
    n = len(row)
    if not n:
        return row, start, end, row
    stride = w + 2
    start_key, end_key = row * stride + start, row * stride + end
    # Run b of the next row touches run a (8-connectivity) iff end_b >= start_a and start_b <= end_a; those
    # runs are consecutive in the row-major run order.
    first = np.searchsorted(end_key, (row + 1) * stride + start, "left")
    stop = np.searchsorted(start_key, (row + 1) * stride + end, "right")
    count = np.maximum(stop - first, 0)
    a = np.repeat(np.arange(n), count)
    b = np.arange(int(count.sum())) + np.repeat(first - (np.cumsum(count) - count), count)
    # Union-find, vectorised: hook the larger root of every unresolved edge to the smaller, then compress.
    parent = np.arange(n)
    while len(a):
        pa, pb = parent[a], parent[b]
        open_ = pa != pb
        if not open_.any():
            break
        a, b, pa, pb = a[open_], b[open_], pa[open_], pb[open_]
        np.minimum.at(parent, np.maximum(pa, pb), np.minimum(pa, pb))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return row, start, end, parent


def _chamfer(found):
    """Distance of each True pixel to the nearest False one, as cv2.distanceTransform(DIST_L2, mask 3): the
    3x3 chamfer (0.955 / 1.3693) in OpenCV's two raster passes; outside the image counts as far (inf)."""
    import numpy as np

    if found.shape[0] > found.shape[1]:  # loop over the shorter side
        return _chamfer(found.T).T
    h, w = found.shape
    a, b = _CHAMFER_A, _CHAMFER_B
    dist = np.where(found, np.inf, 0.0)
    ramp = np.arange(w) * a
    busy = found.any(axis=1)  # a row without mark pixels stays all zero
    for y in range(h):  # top-down, left to right: neighbours above, then the running minimum from the left
        if not busy[y]:
            continue
        r = dist[y]
        if y:
            _take_from(r, dist[y - 1], a, b)
        r[:] = np.minimum.accumulate(r - ramp) + ramp
    for y in range(h - 1, -1, -1):  # bottom-up, right to left
        if not busy[y]:
            continue
        r = dist[y]
        if y < h - 1:
            _take_from(r, dist[y + 1], a, b)
        r[:] = np.minimum.accumulate((r + ramp)[::-1])[::-1] - ramp
    return dist


def _take_from(row, other, a, b):
    """row = min(row, other + a, other shifted left / right + b): the three neighbours in the adjacent row."""
    import numpy as np

    np.minimum(row, other + a, out=row)
    np.minimum(row[1:], other[:-1] + b, out=row[1:])
    np.minimum(row[:-1], other[1:] + b, out=row[:-1])


def _dilate3(found):
    """3x3 binary dilation (outside the image adds nothing), as cv2.dilate with a 3x3 kernel."""
    wide = found.copy()
    wide[:, 1:] |= found[:, :-1]
    wide[:, :-1] |= found[:, 1:]
    out = wide.copy()
    out[1:] |= wide[:-1]
    out[:-1] |= wide[1:]
    return out
