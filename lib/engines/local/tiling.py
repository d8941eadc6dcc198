"""Tiled watermarks: find the shifts under which a mark repeats, and read each pixel from all its copies.

A tiled mark is one word stamped many times over the photo. Every copy is a separate, noisy reading
of the same coverage (how much of the mark lies on each pixel), because the photo underneath differs
from copy to copy. Real tilers round each copy to whole pixels, so the copies need not form an exact
lattice (the bench's tiler offsets odd rows by -158 and +157 px; a two-vector lattice was 0.4 px
off): each shift is kept as found, and the median outvotes the copies it fits less well.
"""

import math

import cv2
import numpy as np

_SMALL_PIXELS = 1_000_000  # the autocorrelation is computed on a copy this small
_PEAKS = 8  # strongest repeats kept (4: -0.08 dB, 12: -0.01 on the tuning photos)
_MIN_CORRELATION = 0.5  # normalised autocorrelation a repeat needs (0.3: -0.13 dB, 0.7: -0.03)
# A tile covers the photo in two directions. Big centred text correlates with itself moved up or
# down by half a letter's height (one bar of an E onto the next) at 0.50-0.55, in one direction
# only: repeats that all lie on one line (angles within asin 0.25 = 14 degrees) are not a tile.
_MIN_SINE = 0.25
_MIN_OVERLAP = 0.15  # share of the mask a shifted copy of it must still overlap
_MIN_SHIFT = 6  # px: shorter shifts are the stroke's own width, not another copy
_MIN_REPEATS = 2  # fewer repeats than this: not a tiled mark
_REFINE_POINTS = 50_000  # masked points the full-size refinement reads
_ROW = 4096  # points per row when sampling: cv2.remap maps at most 32767 rows


def repeats(coverage, marks):
    """Shifts (dy, dx) in px under which the coverage map repeats inside the mask, both signs; [] if none.

    `coverage` is a float32 map (0..1 at the masked pixels), `marks` the bool mask.
    """
    h, w = marks.shape
    scale = min(1.0, math.sqrt(_SMALL_PIXELS / (h * w)))
    small, inside = np.where(marks, coverage, 0).astype(np.float32), marks
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
        inside = cv2.resize(marks.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    if inside.sum() < 100:
        return []
    # Centred inside the mask, so that the mask's own shape (a region of ones) does not correlate.
    values = np.where(inside, small - small[inside].mean(), 0).astype(np.float32)
    m = inside.astype(np.float32)
    sh, sw = values.shape
    # padded (circular correlation would wrap copies round the edges) to sizes the FFT is fast at
    shape = (cv2.getOptimalDFTSize(2 * sh), cv2.getOptimalDFTSize(2 * sw))
    fv, fm, fq = (_spectrum(x, shape) for x in (values, m, values * values))
    cross = _correlate(fv, fv)  # sum over x of v(x) v(x + s)
    overlap = _correlate(fm, fm)  # masked pixels present at x and x + s
    # energy of v where the shifted mask is present, at the start of the shift and (mirrored) at its end
    energy_a = _correlate(fq, fm)
    energy_b = np.roll(energy_a[::-1, ::-1], 1, axis=(0, 1))
    correlation = cross / np.sqrt(np.maximum(energy_a * energy_b, 1e-12))
    # Shifts as signed offsets: index k is shift k, index 2n - k is shift -k.
    dy = np.fft.fftfreq(shape[0], 1 / shape[0]).astype(np.int64)
    dx = np.fft.fftfreq(shape[1], 1 / shape[1]).astype(np.int64)
    ok = overlap >= _MIN_OVERLAP * m.sum()
    ok &= np.hypot(dy[:, None] / scale, dx[None, :] / scale) >= _MIN_SHIFT
    # One sign of each shift (the map is symmetric): dy > 0, or dy == 0 and dx > 0.
    ok &= (dy[:, None] > 0) | ((dy[:, None] == 0) & (dx[None, :] > 0))
    score = np.where(ok, correlation, -np.inf).astype(np.float32)  # float32 both sides of the >=
    local_max = score >= cv2.dilate(score, np.ones((5, 5), np.uint8))
    candidates = np.argwhere(local_max & (score >= _MIN_CORRELATION))
    if len(candidates) < _MIN_REPEATS:
        return []
    strongest = candidates[np.argsort(-score[candidates[:, 0], candidates[:, 1]])][:_PEAKS]
    # Refining costs ~0.1 s a peak at 12 MP: first make sure these can be a tile at all.
    if not _two_directions([(dy[i], dx[j]) for i, j in strongest]):
        return []
    ys, xs = np.nonzero(marks)  # the points every refinement reads, picked once
    if len(ys) > _REFINE_POINTS:
        pick = np.random.default_rng(0).choice(len(ys), _REFINE_POINTS, replace=False)
        ys, xs = ys[pick], xs[pick]
    found = []
    for i, j in strongest:
        shift = _refine(coverage, marks, ys, xs, dy[i] / scale, dx[j] / scale, math.ceil(1 / scale))
        if shift is not None:
            found.append(shift)
    if len(found) < _MIN_REPEATS or not _two_directions(found):
        return []
    return found + [(-y, -x) for y, x in found]


def _spectrum(image, shape):
    """The DFT (complex) of an image zero-padded to `shape`, in float64: float32 sums moved which
    peaks pass the thresholds (-0.16 dB on the tuning photos)."""
    padded = np.zeros(shape, np.float64)
    padded[: image.shape[0], : image.shape[1]] = image
    return cv2.dft(padded, flags=cv2.DFT_COMPLEX_OUTPUT)


def _correlate(fa, fb):
    """Circular cross-correlation sum_x a(x) b(x + s) from the two spectra, as a map over s."""
    return cv2.idft(cv2.mulSpectrums(fb, fa, 0, conjB=True), flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)


def _two_directions(shifts):
    """Whether two of the shifts point in clearly different directions (a lattice, not a line)."""
    v = np.array(shifts, np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    sines = np.abs(v[:, None, 0] * v[None, :, 1] - v[:, None, 1] * v[None, :, 0])
    return bool((sines >= _MIN_SINE).any())


def _refine(coverage, marks, ys, xs, dy, dx, reach):
    """The shift near (dy, dx) that best maps the coverage at the masked points (ys, xs) onto itself,
    to a fraction of a pixel.

    Downhill from the rounded shift, one pixel at a time and at most `reach` px away (the small
    copy's peak is that close), then a parabola through the best pixel's neighbours.
    """
    h, w = marks.shape
    own = coverage[ys, xs]
    costs = {}

    def cost(a, b):
        if (a, b) not in costs:
            ty, tx = ys + a, xs + b
            ok = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
            ok[ok] = marks[ty[ok], tx[ok]]
            costs[a, b] = float(np.mean((own[ok] - coverage[ty[ok], tx[ok]]) ** 2)) if ok.sum() >= 50 else np.inf
        return costs[a, b]

    y0, x0 = round(dy), round(dx)
    y, x = y0, x0
    while True:
        around = [(y + i, x + j) for i in (-1, 0, 1) for j in (-1, 0, 1)
                  if abs(y + i - y0) <= reach and abs(x + j - x0) <= reach]
        best = min(around, key=lambda p: cost(*p))
        if best == (y, x):
            break
        y, x = best
    if not np.isfinite(cost(y, x)):
        return None
    return (y + _vertex(cost(y - 1, x), cost(y, x), cost(y + 1, x)),
            x + _vertex(cost(y, x - 1), cost(y, x), cost(y, x + 1)))


def _vertex(left, centre, right):
    """Offset (-1..1) of a parabola's minimum through three equally spaced costs."""
    if not (np.isfinite(left) and np.isfinite(right)):
        return 0.0
    curve = left - 2 * centre + right
    return float(np.clip(0.5 * (left - right) / curve, -1, 1)) if curve > 0 else 0.0


def copies_median(coverage, marks, ys, xs, shifts):
    """(median, copies) per point (ys, xs): the median of its own coverage and of each shifted copy
    that lies wholly inside the mask, and how many such copies it has besides its own."""
    cover = coverage.astype(np.float32)
    inside = marks.astype(np.float32)
    median = np.empty(len(ys), np.float32)
    copies = np.empty(len(ys), np.int32)
    step = max(1, 1_000_000 // (len(shifts) + 1))  # points at once: a (shifts + 1) x step float32 array
    for start in range(0, len(ys), step):
        py, px = ys[start:start + step], xs[start:start + step]
        readings = np.full((len(shifts) + 1, len(py)), np.nan, np.float32)
        readings[0] = cover[py, px]
        for k, (dy, dx) in enumerate(shifts, 1):
            qy, qx = (py + dy).astype(np.float32), (px + dx).astype(np.float32)
            whole = _read(inside, qy, qx) >= 0.999  # all four neighbours masked
            readings[k] = np.where(whole, _read(cover, qy, qx), np.nan)
        copies[start:start + step] = np.isfinite(readings[1:]).sum(0)
        # NaN-aware median by sorting: NaNs sort last, the median sits in the finite part.
        readings.sort(0)
        count = np.isfinite(readings).sum(0)
        low = readings[(count - 1) // 2, np.arange(len(py))]
        high = readings[count // 2, np.arange(len(py))]
        median[start:start + step] = (low + high) / 2
    return median, copies


def _read(image, ys, xs):
    """Bilinear samples of a float32 `image` at points (ys, xs); 0 outside it."""
    n = len(ys)
    rows = -(-n // _ROW)
    pad = rows * _ROW - n
    map_x = np.pad(xs, (0, pad)).reshape(rows, _ROW)
    map_y = np.pad(ys, (0, pad)).reshape(rows, _ROW)
    values = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return values.reshape(-1)[:n]
