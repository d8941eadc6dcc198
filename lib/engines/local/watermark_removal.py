"""Watermark removal from a mask: undo a semi-transparent overlay where possible, inpaint the rest.

A mark of colour M and opacity a turns a photo pixel B into P = (1 − a)·B + a·M. Where a < 1 the
photo survives underneath and B = (P − a·M) / (1 − a) recovers it exactly, texture included, which
inpainting (a guess from the surroundings) cannot. So: estimate M and a once for the whole mark;
decide per pixel whether the mark covers it (masks drawn by people are generous; a pixel the
inversion would push out of 0..255 cannot carry it); invert the blend there; on the anti-aliased
rim invert with a per-pixel opacity where that is safe, inpaint elsewhere. Opaque marks (nothing
survives) fall back to plain inpainting, as does a mask that shows no consistent overlay.
Measured inside the mask on 5 skimage photos (centred / tiled white text at 42 %, black at 42 %,
white at 60 %): mean gain over cv2.inpaint TELEA r=5 of +3.2 to +10.7 dB with the exact mask,
+3.4 to +6.6 dB with the mask grown by 5 px; worst single case +1.1 dB.
"""

import cv2
import numpy as np
from PIL import Image

_RADIUS = 5  # TELEA neighbourhood for plain inpainting (px)
_RIM_RADIUS = 3  # TELEA neighbourhood for the thin rim left after inversion (px)
_RIM_TRUST = (0.25, 0.5)  # rim opacity up to which its inversion is trusted fully, and past which not at all
_MARGIN = 16  # context kept around each marked region (px)
_FIT_PIXELS = 1_000_000  # the mark's colour and opacity are estimated on a copy this small
_OPAQUE = 0.85  # at or above this opacity too little of the photo survives: inpaint only
_MIN_OPACITY = 0.05
_MIN_CHANGE = 12  # 0..255: core pixels changed less than this do not inform the fit
_GREYS = np.arange(0, 256, 15, dtype=np.float32)  # mark colours tried (neutral: white to black)
_PREFER_EXTREME = 1.6  # another grey must make the opacity this much more consistent than white/black
_ITERATIONS = 3
_MEDIAN = 5  # window of the median that turns the current restoration into a background guess


def remove_watermark(image, mask):
    """RGB image with the masked watermark removed; pixels outside the mask are unchanged."""
    rgb = np.asarray(image.convert("RGB"))
    marks = np.asarray(mask.convert("L")) > 127
    if not marks.any():
        return image.copy()
    fit = _fit_mark(rgb, marks)
    out = rgb.copy()
    for ys, xs, own in _regions(marks):
        region, region_marks = rgb[ys, xs], marks[ys, xs]
        if fit is None:
            repaired = _inpaint(region, region_marks, _RADIUS)
        else:
            repaired = _repair(region, region_marks, *fit)
        # Margins may overlap a neighbouring region: write only this region's own masked pixels.
        out[ys, xs][own] = repaired[own]
    return Image.fromarray(out, "RGB")


def _regions(marks):
    """(rows, cols, own) per cluster of masked pixels: work scales with the mask, not the photo.

    own marks the masked pixels of the slice that belong to this cluster.
    """
    h, w = marks.shape
    # Cluster on a coarse grid: letters of one word merge, far-apart marks stay separate.
    cell = 32
    coarse = np.zeros((-(-h // cell), -(-w // cell)), np.uint8)
    ys, xs = np.nonzero(marks)
    coarse[ys // cell, xs // cell] = 1
    grown = cv2.dilate(coarse, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    for label in range(1, count):
        x, y, bw, bh, _ = stats[label]
        y0, y1 = max(0, y * cell - _MARGIN), min(h, (y + bh) * cell + _MARGIN)
        x0, x1 = max(0, x * cell - _MARGIN), min(w, (x + bw) * cell + _MARGIN)
        cells = labels[np.ix_(np.arange(y0, y1) // cell, np.arange(x0, x1) // cell)]
        own = marks[y0:y1, x0:x1] & (cells == label)
        if own.any():
            yield slice(y0, y1), slice(x0, x1), own


def _inpaint(rgb, mask, radius):
    return cv2.inpaint(rgb, mask.astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)


def _fit_mark(rgb, marks):
    """(colour, opacity) of the overlay, from the mask's core against an inpainted background.

    None when the mask shows no consistent overlay or an opaque one (then: inpaint only).
    """
    h, w = marks.shape
    scale = min(1.0, (_FIT_PIXELS / (h * w)) ** 0.5)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        cover = cv2.resize(marks.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        touched, inside = cover > 0, cover > 0.999  # any masked pixel / only masked pixels
    else:
        small, touched, inside = rgb, marks, marks
    background = _inpaint(small, cv2.dilate(touched.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0, _RADIUS)
    # The core, away from the anti-aliased rim, carries the mark at full opacity.
    core = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if core.sum() < 20:
        core = inside
    pixels, background = small[core].astype(np.float32), background[core].astype(np.float32)
    diff = pixels - background
    strong = np.abs(diff).mean(-1) > _MIN_CHANGE
    if strong.sum() < 20:
        return None
    diff, background = diff[strong], background[strong]
    extreme = 255.0 if diff.mean() > 0 else 0.0
    fits = {}
    for grey in _GREYS:
        towards = grey - background
        norm = (towards * towards).sum(-1)
        ok = norm > 3 * 30**2  # the colour must differ from the background to measure a
        if ok.sum() < 20:
            continue
        a = (diff[ok] * towards[ok]).sum(-1) / norm[ok]
        median = float(np.median(a))
        if _MIN_OPACITY < median <= 1.0:
            # One overlay has one opacity everywhere: the right colour gives the smallest spread.
            fits[float(grey)] = (float(np.median(np.abs(a - median))) / median, median)
    if not fits:
        return None
    grey = min(fits, key=lambda g: fits[g][0])
    # Most marks are white or black; on flat backgrounds every grey fits about as well.
    if extreme in fits and fits[extreme][0] <= _PREFER_EXTREME * fits[grey][0]:
        grey = extreme
    opacity = fits[grey][1]
    if opacity >= _OPAQUE:
        return None
    return np.full(3, grey, np.float32), opacity


def _repair(rgb, marks, colour, opacity):
    """Repair one region: invert the blend where the mark is, inpaint its rim."""
    # Decisions are made on the masked pixels only (vectors), images are rebuilt for the medians.
    ys, xs = np.nonzero(marks)
    pixels = rgb[ys, xs].astype(np.float32)
    inverted = (pixels - opacity * colour) / (1 - opacity)
    # Where inverting leaves 0..255 the pixel cannot carry this mark (e.g. too dark for white).
    possible = (inverted >= -8).all(-1) & (inverted <= 263).all(-1)
    inverted = np.clip(inverted + 0.5, 0, 255).astype(np.uint8)

    # Two starting guesses, both refined, the more self-consistent one kept: (1) opacity against
    # an inpainted background, which handles generous masks; (2) the same plus the mask's core,
    # which is better for tight masks where inpainting mistakes whole stroke pieces.
    background = _coarse_background(rgb, marks, ys, xs)
    towards = colour - background
    alpha = ((pixels - background) * towards).sum(-1) / np.maximum((towards * towards).sum(-1), 1.0)
    first = possible & (alpha >= 0.5 * opacity)
    core = (cv2.erode(marks.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)[ys, xs]
    starts = [first]
    with_core = first | (core & possible)
    if (with_core != first).any():
        starts.append(with_core)
    best = None
    for marked in starts:
        for _ in range(_ITERATIONS):
            background = _median(_compose(rgb, ys, xs, inverted, marked))[ys, xs].astype(np.float32)
            plain = np.abs(pixels - background).sum(-1)
            overlaid = np.abs(pixels - (background * (1 - opacity) + opacity * colour)).sum(-1)
            # The median ignores a minority of wrong decisions nearby; keep what explains P best.
            marked = possible & (overlaid < plain)
        current = _compose(rgb, ys, xs, inverted, marked)
        # Left-over or over-corrected strokes show as local outliers of the restoration.
        roughness = float(np.abs(current[ys, xs].astype(np.int16) - _median(current)[ys, xs]).mean())
        if best is None or roughness < best[0]:
            best = (roughness, marked, current)
    _, marked, out = best

    # The rim of each marked area is anti-aliased (partial opacity): inpaint it from both sides.
    m8 = np.zeros(marks.shape, np.uint8)
    m8[ys[marked], xs[marked]] = 1
    k3 = np.ones((3, 3), np.uint8)
    rim = marks & ((cv2.dilate(m8, k3) - cv2.erode(m8, k3)) > 0)
    if rim.any():
        out = _invert_rim(rgb, _inpaint(out, rim, _RIM_RADIUS), rim, colour, opacity)
    return out


def _invert_rim(rgb, painted, rim, colour, opacity):
    """The rim with its photo recovered where it can be: a per-pixel opacity in [0, opacity].

    The rim is anti-aliased: the mark covers each pixel partly, so the photo survives there too.
    Against the inpainted guess of the background, each pixel says how much of the mark it carries;
    inverting that keeps texture the inpainting smears, and leaves an unmarked pixel of a generous
    mask as it was (opacity ~0). Inverting divides errors by 1 - alpha, so it is trusted fully up to
    _RIM_TRUST[0] and not past _RIM_TRUST[1], the inpainted guess taking over in between. Fitted on
    the tuning photos (bench/quality.py, text marks, user mask, inside the footprint): 24.89 ->
    26.01 dB mean; by opacity 0.3: +2.6, 0.5: +0.5, 0.7: +0.2 dB.
    """
    ry, rx = np.nonzero(rim)
    guess = painted[ry, rx].astype(np.float32)
    pixel = rgb[ry, rx].astype(np.float32)
    towards = colour - guess
    norm = (towards * towards).sum(-1)
    alpha = np.clip(((pixel - guess) * towards).sum(-1) / np.maximum(norm, 1.0), 0.0, opacity)
    inverted = (pixel - alpha[:, None] * colour) / (1 - alpha[:, None])
    full, none = _RIM_TRUST
    weight = np.clip((none - alpha) / (none - full), 0, 1)
    weight[norm <= 3 * 25**2] = 0  # the mark's colour must differ from the photo there to read alpha
    out = painted.copy()
    out[ry, rx] = np.clip(weight[:, None] * inverted + (1 - weight[:, None]) * guess + 0.5, 0, 255).astype(np.uint8)
    return out


def _coarse_background(rgb, marks, ys, xs):
    """A smooth guess of the photo under the masked pixels: TELEA at half size (only a guide)."""
    h, w = marks.shape
    if min(h, w) < 64:
        return _inpaint(rgb, marks, _RADIUS)[ys, xs].astype(np.float32)
    size = (-(-w // 2), -(-h // 2))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    small_marks = cv2.resize(marks.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0  # any overlap
    small_marks = cv2.dilate(small_marks.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return _inpaint(small, small_marks, 3)[ys // 2, xs // 2].astype(np.float32)


def _compose(rgb, ys, xs, inverted, marked):
    """The region with the marked pixels replaced by their inverted values (uint8)."""
    out = rgb.copy()
    out[ys[marked], xs[marked]] = inverted[marked]
    return out


def _median(image):
    return cv2.medianBlur(image, _MEDIAN)
