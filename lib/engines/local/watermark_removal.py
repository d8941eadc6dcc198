"""Watermark removal from a mask: undo a semi-transparent overlay where possible, inpaint the rest.

A mark of colour M and opacity a turns a photo pixel B into P = (1 − a)·B + a·M. Where a < 1 the
photo survives underneath and B = (P − a·M) / (1 − a) recovers it exactly, texture included, which
inpainting (a guess from the surroundings) cannot. So: estimate M and a once for the whole mark;
decide per pixel whether the mark covers it (masks drawn by people are generous; a pixel the
inversion would push out of 0..255 cannot carry it) and invert the blend there; then weigh, per
pixel, how much of the mark it carries (anti-aliased text is mostly partly covered rim) and mix the
inversions by that. The colour is a grey (most marks are white or black) or, where the core is
clearly coloured, the paint that explains it. A tiled mark (one word stamped many times) gives each
pixel other readings, its copies: where they disagree with its own, it is weighed again against
their median (lib/engines/local/tiling.py). Opaque marks (nothing survives) are inpainted where
they cover the photo, the rest of the mask kept; a mask that shows no consistent overlay is
inpainted whole. For a JPEG upload the inverted pixels are then smoothed for the JPEG's error,
which the inversion amplifies. Measured on bench/quality.py (text marks, mask grown by 2 px,
inside the mark's footprint, mean over opacities 0.3/0.5/0.7 and white/black): tuning photos
30.29 dB, held-out photos 28.20 dB (29.01 and 27.15 before tiled marks were read from their
copies; bench/watermark_opacity.py), against cv2.inpaint TELEA r=5 at 21.15 and 18.66.
"""

import cv2
import numpy as np
from PIL import Image

from lib.engines.local import tiling, wiener

_RADIUS = 5  # TELEA neighbourhood for plain inpainting (px)
_MARGIN = 16  # context kept around each marked region (px)
_FIT_PIXELS = 1_000_000  # the mark's colour and opacity are estimated on a copy this small
_OPAQUE = 0.85  # at or above this opacity too little of the photo survives: inpaint what the mark covers
_MIN_OPACITY = 0.05
_MIN_CHANGE = 12  # 0..255: core pixels changed less than this do not inform the fit
_GREYS = np.arange(0, 256, 15, dtype=np.float32)  # neutral mark colours tried, white to black
# Coloured marks (a red logo, a blue "SAMPLE"): before these the fit knew only greys, and an opaque
# red logo came out at 9.6 dB inside it where plain TELEA gives 17.9 (tuning photos astronaut and
# coffee; red, blue, yellow, mid-grey logo/centred/tiled). Two colours beyond the greys are tried
# when they are clearly coloured: the core's dominant colour and a least-squares overlay fit.
_CHROMA = 48  # 0..255, max - min channel
_DOMINANT_SHARE = 0.15  # share of the core's pixels within _DOMINANT_TOLERANCE of the dominant colour
_DOMINANT_TOLERANCE = 12
# A colour explains the core only if P - G lies along M - G: the part across it, as a share of
# |P - G| (median), was 0.00-0.19 for the right colour and 0.69-0.98 for a wrong one on the cases
# checked (grey photos under yellow text, white text on a colour photo, ...).
_ACROSS_MAX = 0.45
# An opaque mark paints its fully covered pixels one colour whatever the photo underneath: a tight
# cluster (spread <= 1 level) over a background that varies (>= 15 levels, and 16 times the
# cluster's spread). Semi-transparent marks over flat photos cluster too, but over a flat guess.
_OPAQUE_PAINT_SPREAD = 1.0
_OPAQUE_MIN_BACKGROUND_SPREAD = 15.0
_OPAQUE_SPREAD_RATIO = 16.0
# Opaque marks: nothing survives under the mark, so only the pixels it covers are inpainted and the
# rest of a generous mask keeps its own values. A pixel is covered when it sits at least this share
# of the opacity of the way from the background guess to the mark colour; the hole is grown by one
# pixel for the anti-aliased rim. Tuning photos (logo, centred, tiled; white/black, opacity 1.0,
# user mask): inside the mark 20.84 (TELEA over the whole mask) -> 22.55 dB; share 0.5: 22.06,
# 0.7: 22.41, 0.9: 22.59; check photos 0.8: 24.05, 0.9: 24.02, TELEA 22.12.
_COVERED = 0.8
_PREFER_EXTREME = 1.6  # another grey must make the opacity this much more consistent than white/black
_ITERATIONS = 3
_LADDER = 16  # opacities 0, a/16, ..., a weighed per pixel (8: -0.4 dB, 32: no better)
_PRIOR = (0.4, 0.3)  # prior weight of "unmarked" and "fully covered"; the rungs between share the rest
_POSTERIOR_ROUNDS = 8  # 4: -0.16 dB, 12: +0.04
_SIGMA_SCALE = 3.0  # the spread left by the best-fitting opacity, widened (2: -0.06 dB, 4: +0.03)
_SIGMA_FLOOR = 3.0  # 0..255
_CHUNK = 65_536  # pixels weighed at once (17 rungs x 3 channels of float32: 13 MB an array)
_PEAK_BINS = 95  # 0.01 wide between _MIN_OPACITY and 1
_MEDIAN = 5  # window of the median that turns the current restoration into a background guess
# The yes/no pass tests each pixel against a median over a wider window than the posterior's, a
# steadier reference (why it helps is not pinned down: the share of fully covered pixels it calls
# unmarked barely moved on the cases checked). Fitted on the tuning photos (text marks, user mask,
# inside the footprint): 5: 28.75 dB, 7: 29.01, 9: 29.00, 11: 28.90, 15: 28.73; the mask's unmarked
# pixels 29.23 -> 29.87 at 7; exact masks 29.53 at 5 and 7. Coarse-to-fine schedules (15-9-5,
# 11-7-5) and wider posterior medians did no better.
_DECIDE_MEDIAN = 7
# A solid mask (a box): at least this share survives a 9 px erosion. Then the detector's finding
# guides the fit when the mask is at least _FOUND_SHARE times larger than it. Tuning photos, logo
# and centred text in a box 8 px round the mark, white/black/red at 30-100 %: inside the mark
# 19.90 -> 23.24 dB (TELEA 15.81); brush masks unchanged.
_SOLID = 0.6
_FOUND_SHARE = 2.5
# A JPEG's error (ringing and 4:2:0 colour round the mark's high-contrast edges) is multiplied by
# 1 / (1 - t) where the blend is inverted at opacity t: at 70 % and JPEG quality 75 even the true
# coverage inverts to 21.3 dB inside the mark (lossless: 50.3). So for a JPEG upload the inverted
# pixels are denoised for that amplified error: non-local means as a pilot, then the Wiener pass
# the denoiser uses, and each pixel takes the share of the smoothing its amplification calls for
# (none where it is unmarked, all where it is fully covered). RMS JPEG error in the mask (0..255)
# per quality: median over the tuning photos' text and logo marks (white/black, 30-70 %, Pillow's
# 4:2:0 encoder, p10-p90 within +-20 %).
# Fitted on the tuning photos (text and logo marks, 30-70 %, user mask, inside the mark; bench/quality.py
# with these settings): JPEG 75 23.84 -> 25.75 dB, JPEG 90 25.50 -> 27.07, the mask's unmarked pixels
# +0.3; no case worse. Pilot and Wiener told 0.7-1.4 times this error: within 0.1 dB; a bilateral
# pilot -0.4 dB.
_JPEG_QUALITY = (50, 60, 70, 75, 80, 85, 90, 95, 98)
_JPEG_ERROR = (9.3, 8.7, 7.9, 7.5, 7.0, 6.3, 5.5, 4.4, 3.7)
_NLM_SEARCH = 9  # px; 15 is 0.05 dB better at 2.8 times the time (12.6 s at 12 MP)
# Photos this big (a 512 px one is 0.3 MP) get the Wiener pass on the luminance only: -0.07 dB on the
# tuning photos, and 1.5 s instead of 18 s for a 12 MP region.
_BIG_PHOTO = 2_000_000
# A tiled mark repeats one word: after the region-by-region repair the masked pixels are weighed
# again with their prior centred on the median coverage of their copies (lib/engines/local/tiling.py),
# a Gaussian _TILED_WIDTH wide in coverage (0..1) with _TILED_PLAIN of the plain prior kept. A pixel
# needs _TILED_COPIES copies besides its own, and its own reading must disagree with theirs by more
# than _TILED_DISAGREE (where they agree, weighing it again only blurs it). Fitted on the tuning photos
# (text marks, user mask, inside the footprint; validation photos in brackets): 29.01 (25.13) dB
# without, 29.88 (26.04) weighing every pixel with copies, 30.29 (26.08) with _TILED_DISAGREE 0.1;
# 0.03: 30.08, 0.2: 30.50 (25.88), 0.35: 30.13. Width 0.05 / 0.12 / 0.2: -0.05 / -0.02 / -0.12;
# plain share 0.003 / 0.05 / 0.2: +0.05 / -0.17 / -0.27; one round -0.19, three +0.04 (those
# before the disagreement gate); _POSTERIOR_ROUNDS 2 / 4 instead of 8 here: -0.17 / -0.07.
_TILED_ROUNDS = 2
_TILED_COPIES = 3
_TILED_WIDTH = 0.08
_TILED_PLAIN = 0.01
_TILED_DISAGREE = 0.1


def remove_watermark(image, mask, find_mark=None, jpeg_quality=None):
    """RGB image with the masked watermark removed; pixels outside the mask are unchanged.

    `find_mark(image) -> mask` (a watermark detector) helps with a solid mask such as the editor's
    box: the overlay is then fitted where it finds the mark inside the mask. `jpeg_quality` is the
    upload's, if it is a JPEG: its error, amplified by the inversion, is then smoothed away.
    """
    rgb = np.asarray(image.convert("RGB"))
    marks = np.asarray(mask.convert("L")) > 127
    if not marks.any():
        return image.copy()
    fit = _fit_mark(rgb, _where_to_fit(image, marks, find_mark))
    if jpeg_quality is not None:
        error = jpeg_error(jpeg_quality)
        plan = wiener.LUMINANCE if marks.size >= _BIG_PHOTO else wiener.PLAN
    out = rgb.copy()
    regions = list(_regions(marks))  # again below for the JPEG smoothing
    for ys, xs, own in regions:
        region, region_marks = rgb[ys, xs], marks[ys, xs]
        if fit is None:
            repaired = _inpaint(region, region_marks, _RADIUS)
        elif fit[1] >= _OPAQUE:
            repaired = _repair_opaque(region, region_marks, *fit)
        else:
            repaired = _repair(region, region_marks, *fit)
        # Margins may overlap a neighbouring region: write only this region's own masked pixels.
        out[ys, xs][own] = repaired[own]
    if fit is not None and fit[1] < _OPAQUE:
        out = _repair_tiled(rgb, marks, out, *fit)
        if jpeg_quality is not None:
            smoothed = out.copy()
            for ys, xs, own in regions:
                repaired = _smooth_amplified(rgb[ys, xs], out[ys, xs], marks[ys, xs], *fit, error, plan)
                smoothed[ys, xs][own] = repaired[own]
            out = smoothed
    return Image.fromarray(out, "RGB")


def _repair_tiled(rgb, marks, out, colour, opacity):
    """`out` with a tiled mark's pixels weighed again, each against the median coverage of its copies.

    Unchanged when the mark does not repeat (centred text, a logo).
    """
    ys, xs = np.nonzero(marks)
    pixels = rgb[ys, xs].astype(np.float32)
    for _ in range(_TILED_ROUNDS):
        restored = out[ys, xs].astype(np.float32)
        own = np.clip(_along(pixels - restored, colour - restored) / opacity, 0, 1)
        coverage = np.zeros(marks.shape, np.float32)
        coverage[ys, xs] = own
        # found again each round: the better restoration finds them better (once only: -0.12 dB)
        shifts = tiling.repeats(coverage, marks)
        if not shifts:
            return out
        median, copies = tiling.copies_median(coverage, marks, ys, xs, shifts)
        read = (copies >= _TILED_COPIES) & (np.abs(own - median) > _TILED_DISAGREE)
        if not read.any():
            return out
        out = _posterior(out, ys[read], xs[read], pixels[read], colour, opacity, coverage=median[read])
    return out


def _where_to_fit(image, marks, find_mark):
    """The mask, or for a solid mask the part of it where `find_mark` sees the mark (grown by 2 px)."""
    # A box drawn round a logo is mostly photo: its core misleads the fit (black text at 70 % read
    # as white at 8 %), while the repair itself copes (with the true overlay a box gives 25.8-29.5 dB
    # inside the mark). Text drawn over with the brush is thin (0.16-0.34 of it survives a 9 px
    # erosion on a 512 px photo), a box solid (0.86-0.90). The erosion grows with the photo: on a
    # 12 MP photo the exact footprint of big text (strokes ~70 px) was "solid" at 9 px and the
    # detector ran for nothing (a 12 MP request 3.5 -> 5.6 s).
    if find_mark is None:
        return marks
    side = max(9, round(9 * min(marks.shape) / 512) | 1)
    if (cv2.erode(marks.astype(np.uint8), np.ones((side, side), np.uint8)) > 0).sum() < _SOLID * marks.sum():
        return marks
    ys, xs = np.nonzero(marks)
    y0, y1 = max(0, ys.min() - _MARGIN), min(marks.shape[0], ys.max() + 1 + _MARGIN)
    x0, x1 = max(0, xs.min() - _MARGIN), min(marks.shape[1], xs.max() + 1 + _MARGIN)
    found = np.zeros(marks.shape, np.uint8)
    found[y0:y1, x0:x1] = np.asarray(find_mark(image.crop((x0, y0, x1, y1)))) > 127
    found = (cv2.dilate(found, np.ones((5, 5), np.uint8)) > 0) & marks
    # Too little found, or nearly the whole mask: the mask itself is the better guide.
    if found.sum() < 50 or marks.sum() < _FOUND_SHARE * found.sum():
        return marks
    return found


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

    None when the mask shows no consistent overlay (then: inpaint only).
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
    diff, background, pixels = diff[strong], background[strong], pixels[strong]
    dominant = _dominant(pixels)
    paint = np.median(pixels[dominant], 0).astype(np.float32) if dominant.mean() >= _DOMINANT_SHARE else None
    opaque = _opaque_fit(pixels, background, dominant, paint)
    if opaque is not None:
        return opaque
    extreme = (255.0 if diff.mean() > 0 else 0.0,) * 3
    fits = {}
    for colour in [np.full(3, grey, np.float32) for grey in _GREYS] + _coloured(pixels, background, paint):
        towards = colour - background
        ok = _measurable(towards)
        if ok.sum() < 20:
            continue
        a = _along(diff[ok], towards[ok])
        median = float(np.median(a))
        if _MIN_OPACITY < median <= 1.0:
            # One overlay has one opacity everywhere: the right colour gives the smallest spread.
            spread, opacity = float(np.median(np.abs(a - median))) / median, _peak(a)
            across = np.linalg.norm(diff[ok] - a[:, None] * towards[ok], axis=-1)
            share = float(np.median(across)) / max(float(np.median(np.linalg.norm(diff[ok], axis=-1))), 1e-6)
            fits[tuple(float(v) for v in colour)] = (
                spread, opacity, _restoration_error(pixels, background, colour, opacity), share)
    explained = {colour: fit for colour, fit in fits.items() if fit[3] <= _ACROSS_MAX}
    fits = explained or fits
    if not fits:
        return None
    colour = min(fits, key=lambda c: fits[c][0])
    # Most marks are white or black; on flat backgrounds every grey fits about as well. On texture a
    # near-opaque grey can spread least (it reads the core as flat paint: brick under 50 % white text
    # gave grey 180 at 0.965, so the photo was only inpainted), though inverting it multiplies the
    # texture: white or black is kept when its inversion matches the inpainted guess as well.
    if extreme in fits and (fits[extreme][0] <= _PREFER_EXTREME * fits[colour][0]
                            or fits[extreme][2] <= fits[colour][2]):
        colour = extreme
    return np.array(colour, np.float32), fits[colour][1]


def _dominant(pixels):
    """Which core pixels lie within _DOMINANT_TOLERANCE of the core's most common colour (bool)."""
    bins = np.round(pixels / 8).astype(np.int32)
    keys, counts = np.unique(bins[:, 0] * 4096 + bins[:, 1] * 64 + bins[:, 2], return_counts=True)
    key = int(keys[np.argmax(counts)])
    mode = np.array([key // 4096, key // 64 % 64, key % 64], np.float32) * 8
    return np.abs(pixels - mode).max(-1) <= _DOMINANT_TOLERANCE


def _spread(x):
    """Median absolute deviation per channel, averaged over the channels (0..255)."""
    return float(np.median(np.abs(x - np.median(x, 0)), 0).mean())


def _opaque_fit(pixels, background, dominant, paint):
    """(colour, opacity) when the core is one flat paint over a varied photo, else None.

    `paint` is the dominant colour, None when too few pixels share it.
    """
    if paint is None or dominant.sum() < 20:
        return None
    flat, under = _spread(pixels[dominant]), _spread(background[dominant])
    if flat > _OPAQUE_PAINT_SPREAD or under < max(_OPAQUE_MIN_BACKGROUND_SPREAD, _OPAQUE_SPREAD_RATIO * flat):
        return None
    towards = paint - background
    ok = _measurable(towards)
    if ok.sum() < 20:
        return None
    opacity = _peak(_along(pixels[ok] - background[ok], towards[ok]))
    return (paint, opacity) if opacity >= _OPAQUE else None


def _coloured(pixels, background, paint):
    """Candidate colours beyond the greys: the dominant `paint`, and M of a least-squares fit of
    P = (1 - a)·G + a·M over the core (one slope for all channels); only clearly coloured ones."""
    out = [] if paint is None else [paint]
    mean_g, mean_p = background.mean(0), pixels.mean(0)
    g, p = background - mean_g, pixels - mean_p
    keep = float((g * p).sum() / max(float((g * g).sum()), 1e-6))  # 1 - a
    if _MIN_OPACITY < 1 - keep <= 1.0:
        out.append(np.clip((mean_p - keep * mean_g) / (1 - keep), 0, 255))
    return [c.astype(np.float32) for c in out if c.max() - c.min() >= _CHROMA]


def _measurable(towards):
    """Pixels whose background differs enough from the mark colour (towards = M - G) to measure an opacity."""
    return (towards * towards).sum(-1) > 3 * 30**2


def _along(diff, towards):
    """How far each pixel lies from the background towards the mark colour: (P - G)·(M - G) / |M - G|²."""
    return (diff * towards).sum(-1) / np.maximum((towards * towards).sum(-1), 1.0)


def _restoration_error(pixels, background, colour, opacity):
    """Median distance (0..255) of the core inverted with this colour and opacity from the inpainted guess."""
    restored = (pixels - opacity * colour) / (1 - opacity)
    return float(np.median(np.abs(restored - background).mean(-1)))


def _peak(opacities):
    """The mark's full opacity: the peak of the per-pixel estimates, not their median.

    Even the eroded mask of thin anti-aliased text is mostly rim, where the mark covers a pixel
    partly; those pixels spread below the full opacity and pull the median down (0.58 for a
    0.7 mark on a tuning photo). The fully covered pixels pile up at the true value.

    The answer is the peak bin's centre, up to 0.005 off. Told the true opacity instead, the remover
    gains 29.01 -> 29.71 dB on the tuning photos (mostly chelsea's centred text), 25.13 -> 25.40 on
    validation photos, 27.15 -> 27.19 on the held-out ones (bench/watermark_opacity.py). Reading it
    finer did not help: the median of the estimates within 0.02-0.05 of the peak or a parabola
    through the smoothed histogram gained 0.13-0.2 dB on the tuning photos and 0.04 on validation
    photos, with cases 1-1.7 dB worse (gravel, coins: texture skews the estimates near the peak).
    Choosing the opacity that leaves the smoothest restoration found 0.700 for centred text on
    chelsea but cost 0.6 dB on thin tiled text.
    """
    counts, edges = np.histogram(opacities, bins=_PEAK_BINS, range=(_MIN_OPACITY, 1.0))
    smooth = np.convolve(counts, np.ones(3) / 3, mode="same")
    i = int(np.argmax(smooth))
    return float((edges[i] + edges[i + 1]) / 2)


def _repair(rgb, marks, colour, opacity):
    """Repair one region: invert the blend where the mark is, then weigh each pixel's share of it."""
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
    first = possible & (_along(pixels - background, colour - background) >= 0.5 * opacity)
    core = (cv2.erode(marks.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)[ys, xs]
    starts = [first]
    with_core = first | (core & possible)
    if (with_core != first).any():
        starts.append(with_core)
    best = None
    for marked in starts:
        for _ in range(_ITERATIONS):
            background = _median(_compose(rgb, ys, xs, inverted, marked), _DECIDE_MEDIAN)[ys, xs].astype(np.float32)
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
    # Inside a stroke (all 8 neighbours marked too) the mark covers the pixel fully: keep its inversion.
    m8 = np.zeros(marks.shape, np.uint8)
    m8[ys[marked], xs[marked]] = 1
    edge = ~(cv2.erode(m8, np.ones((3, 3), np.uint8)) > 0)[ys, xs]
    return _posterior(out, ys[edge], xs[edge], pixels[edge], colour, opacity)


def _posterior(out, ys, xs, pixels, colour, opacity, coverage=None):
    """Each masked pixel as the posterior mean over a ladder of opacities, against a median background.

    Thin anti-aliased text is mostly rim: two thirds of a text mark's pixels carry it only partly,
    and a generous mask adds pixels that carry none. A yes/no decision per pixel inverts the former
    wrongly and an inpainted rim smears the latter. Here every pixel P weighs the opacities
    0, a/16, ..., a: each explains P as (1 - t)·G + t·M against G, the median of the current
    restoration, with the background's spread (1 - t)·sigma; the prior favours "unmarked" and "fully
    covered". The result mixes the inversions (P - t·M) / (1 - t) by those weights, so a pixel the
    evidence calls unmarked or fully covered gets back its own texture, and one in between leans on G.
    Repeated _POSTERIOR_ROUNDS times, G improving each round. Only pixels at the edge of the marked
    area are weighed: inside a thick stroke the binary inversion is exact, and weighing it cost up
    to 4.5 dB on large centred text. Fitted on the tuning photos (bench/quality.py, text marks, user
    mask, inside the footprint): 26.88 -> 28.75 dB mean.

    `coverage` (0..1 per pixel, a tiled mark's median over its copies) centres each pixel's prior on
    what the other copies say, instead of the one prior for all.
    """
    if not len(ys):
        return out
    ladder = opacity * np.arange(_LADDER + 1, dtype=np.float32) / _LADDER
    prior = np.full(_LADDER + 1, (1 - sum(_PRIOR)) / (_LADDER - 1), np.float32)
    prior[0], prior[-1] = _PRIOR
    keep = 1 - ladder  # share of the photo left under each opacity
    # log prior and the Gaussian's normalisation over 3 channels, per rung (per pixel with coverage)
    offset = np.log(prior) - 3 * np.log(keep)
    # In chunks: a 12 MP photo under tiled text has millions of edge pixels, 17 rungs each.
    chunks = [slice(i, i + _CHUNK) for i in range(0, len(ys), _CHUNK)]
    restored = np.empty_like(pixels)
    out = out.copy()  # written in place each round, after that round's median has read it
    near = None if coverage is None else [_offset_near(coverage[c], prior, keep) for c in chunks]
    for _ in range(_POSTERIOR_ROUNDS):
        background = _median(out)[ys, xs].astype(np.float32)
        # The photo's spread around its median: what the best-fitting opacity leaves unexplained.
        best = np.concatenate([_misfit(pixels[c], background[c], ladder, colour).min(1) for c in chunks])
        sigma = max(_SIGMA_FLOOR, _SIGMA_SCALE * 1.4826 * float(np.median(np.sqrt(best / 3))))
        for k, c in enumerate(chunks):
            own = offset if near is None else near[k]
            log_weight = own - _misfit(pixels[c], background[c], ladder, colour) / (2 * (keep * sigma) ** 2)
            weight = np.exp(log_weight - log_weight.max(1, keepdims=True))
            weight /= weight.sum(1, keepdims=True)
            # the inversions (P - t·M) / (1 - t), mixed by the weights: P·sum(w / (1 - t)) - M·sum(w·t / (1 - t))
            restored[c] = pixels[c] * (weight @ (1 / keep))[:, None] - (weight @ (ladder / keep))[:, None] * colour
        out[ys, xs] = np.clip(restored + 0.5, 0, 255).astype(np.uint8)
    return out


def _offset_near(coverage, prior, keep):
    """Per pixel and rung: log of a prior centred on `coverage`, plus the Gaussian's normalisation."""
    rungs = np.arange(_LADDER + 1, dtype=np.float32) / _LADDER
    near = np.exp(-0.5 * ((rungs[None, :] - coverage[:, None]) / _TILED_WIDTH) ** 2)
    near /= near.sum(1, keepdims=True)
    return np.log((1 - _TILED_PLAIN) * near + _TILED_PLAIN * prior) - 3 * np.log(keep)


def _misfit(pixels, background, ladder, colour):
    """Squared distance (n, rungs) of each pixel from (1 - t)·G + t·M for each opacity t of the ladder."""
    # |P - (1 - t)·G - t·M|² = |d - t·e|² with d = P - G, e = M - G: three dot products, not 17 x 3 squares.
    d, e = pixels - background, colour - background
    dd, de, ee = (d * d).sum(-1), (d * e).sum(-1), (e * e).sum(-1)
    return np.maximum(dd[:, None] - 2 * de[:, None] * ladder + ee[:, None] * ladder**2, 0)


def jpeg_error(quality):
    """Typical RMS error (0..255) a JPEG of this quality leaves round a watermark's edges."""
    return float(np.interp(quality, _JPEG_QUALITY, _JPEG_ERROR))


def _smooth_amplified(rgb, restored, marks, colour, opacity, error, plan):
    """`restored` with the JPEG `error` the inversion amplified smoothed out of its masked pixels;
    `plan` is the Wiener pass's (wiener.refine)."""
    photo, out = rgb.astype(np.float32), restored.astype(np.float32)
    # The opacity each pixel was inverted at, read back from the input and the restoration.
    share = np.clip(_along(photo - out, colour - out), 0, opacity)
    amplified = error / (1 - opacity)  # the error's size where the mark covers fully
    pilot = cv2.fastNlMeansDenoisingColored(restored, None, amplified, amplified, 5, _NLM_SEARCH)
    smooth = wiener.refine(out, pilot.astype(np.float32), amplified, plan)
    # The share of the full amplification each pixel's own inversion carries: 0 unmarked, 1 covered.
    weight = np.clip((1 / (1 - share) - 1) / (1 / (1 - opacity) - 1), 0, 1) * marks
    out += weight[..., None] * (smooth - out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _repair_opaque(rgb, marks, colour, opacity):
    """Repair one region under an opaque mark: inpaint only the pixels it covers (grown by 1 px)."""
    ys, xs = np.nonzero(marks)
    pixels = rgb[ys, xs].astype(np.float32)
    background = _coarse_background(rgb, marks, ys, xs)
    for _ in range(2):  # decide, inpaint, decide again against the better guess (a third: no gain)
        hole = np.zeros(marks.shape, np.uint8)
        covered = _along(pixels - background, colour - background) >= _COVERED * opacity
        hole[ys[covered], xs[covered]] = 1
        hole = cv2.dilate(hole, np.ones((3, 3), np.uint8)) & marks.astype(np.uint8)
        filled = _inpaint(rgb, hole > 0, _RADIUS)
        background = filled[ys, xs].astype(np.float32)
    return filled


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


def _median(image, window=_MEDIAN):
    return cv2.medianBlur(image, window)
