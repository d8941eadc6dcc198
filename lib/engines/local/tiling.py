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
_REFINE_POINTS = 200_000  # masked points the full-size refinement reads
_ROW = 4096  # points per row when sampling: cv2.remap maps at most 32767 rows


def repeats(coverage, marks):
    """Shifts (dy, dx) in px under which the coverage map repeats inside the mask, both signs; [] if none.

    `coverage` is a float32 map (0..1 at the masked pixels), `marks` the bool mask.
    """
    h, w = marks.shape
    scale = min(1.0, math.sqrt(_SMALL_PIXELS / (h * w)))
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(np.where(marks, coverage, 0).astype(np.float32), size, interpolation=cv2.INTER_AREA)
        inside = cv2.resize(marks.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    else:
        small, inside = np.where(marks, coverage, 0).astype(np.float32), marks
    if inside.sum() < 100:
        return []
    # Centred inside the mask, so that the mask's own shape (a region of ones) does not correlate.
    values = np.where(inside, small - small[inside].mean(), 0).astype(np.float64)
    m = inside.astype(np.float64)
    sh, sw = values.shape
    shape = (2 * sh, 2 * sw)  # padded: circular correlation would wrap copies round the edges
    fv, fm, fq = np.fft.rfft2(values, shape), np.fft.rfft2(m, shape), np.fft.rfft2(values * values, shape)
    cross = np.fft.irfft2(fv * np.conj(fv), shape)  # sum over x of v(x) v(x + s)
    overlap = np.fft.irfft2(fm * np.conj(fm), shape)  # masked pixels present at x and x + s
    # energy of v where the shifted mask is present, at either end of the shift
    energy_a = np.fft.irfft2(fq * np.conj(fm), shape)
    energy_b = np.fft.irfft2(fm * np.conj(fq), shape)
    correlation = cross / np.sqrt(np.maximum(energy_a * energy_b, 1e-12))
    # Shifts as signed offsets: index k is shift k, index 2n - k is shift -k.
    dy = np.fft.fftfreq(shape[0], 1 / shape[0]).astype(np.int64)
    dx = np.fft.fftfreq(shape[1], 1 / shape[1]).astype(np.int64)
    ok = overlap >= _MIN_OVERLAP * m.sum()
    ok &= np.hypot(dy[:, None] / scale, dx[None, :] / scale) >= _MIN_SHIFT
    # One sign of each shift (the map is symmetric): dy > 0, or dy == 0 and dx > 0.
    ok &= (dy[:, None] > 0) | ((dy[:, None] == 0) & (dx[None, :] > 0))
    score = np.where(ok, correlation, -np.inf)
    local_max = score >= cv2.dilate(score.astype(np.float32), np.ones((5, 5), np.uint8))
    candidates = np.argwhere(local_max & (score >= _MIN_CORRELATION))
    if len(candidates) < _MIN_REPEATS:
        return []
    strongest = candidates[np.argsort(-score[candidates[:, 0], candidates[:, 1]])][:_PEAKS]
    found = []
    for i, j in strongest:
        shift = _refine(coverage, marks, dy[i] / scale, dx[j] / scale, math.ceil(1 / scale))
        if shift is not None:
            found.append(shift)
    if len(found) < _MIN_REPEATS or not _two_directions(found):
        return []
    return found + [(-y, -x) for y, x in found]


def _two_directions(shifts):
    """Whether two of the shifts point in clearly different directions (a lattice, not a line)."""
    v = np.array(shifts, np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    sines = np.abs(v[:, None, 0] * v[None, :, 1] - v[:, None, 1] * v[None, :, 0])
    return bool((sines >= _MIN_SINE).any())


def _refine(coverage, marks, dy, dx, reach):
    """The shift near (dy, dx) that best maps the coverage onto itself, to a fraction of a pixel."""
    ys, xs = np.nonzero(marks)
    if len(ys) > _REFINE_POINTS:
        pick = np.random.default_rng(0).choice(len(ys), _REFINE_POINTS, replace=False)
        ys, xs = ys[pick], xs[pick]
    h, w = marks.shape
    own = coverage[ys, xs]
    y0, x0 = round(dy), round(dx)
    side = 2 * reach + 1
    cost = np.full((side + 2, side + 2), np.inf)  # one ring more, for the parabola's neighbours
    for a in range(-reach - 1, reach + 2):
        for b in range(-reach - 1, reach + 2):
            ty, tx = ys + y0 + a, xs + x0 + b
            ok = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
            ok[ok] = marks[ty[ok], tx[ok]]
            if ok.sum() >= 50:
                cost[a + reach + 1, b + reach + 1] = float(np.mean((own[ok] - coverage[ty[ok], tx[ok]]) ** 2))
    inner = cost[1:-1, 1:-1]
    if not np.isfinite(inner).any():
        return None
    a, b = np.unravel_index(np.argmin(inner), inner.shape)
    a, b = a + 1, b + 1
    return (y0 + a - reach - 1 + _vertex(cost[a - 1, b], cost[a, b], cost[a + 1, b]),
            x0 + b - reach - 1 + _vertex(cost[a, b - 1], cost[a, b], cost[a, b + 1]))


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
