"""Blind photo denoiser: Intel Open Image Denoise (pyoidn, Apache-2.0) on the CPU, then a DCT Wiener
pass, and for heavy noise a small learned pass of our own (lib.engines.local.refiner)."""

import math

import numpy as np

from lib.engines.local import refiner, wiener

# OIDN's LDR model was trained on render noise; photos denoise better when it sees a darker copy
# (it inverse-scales the output). Measured on skimage photos, Gaussian noise, seed 0, mean PSNR:
# sigma 25: 29.28 dB at 1.0 -> 30.47 at 0.35; sigma 40: 25.0 -> 28.2; sigma 5/10: +0.2 dB.
_INPUT_SCALE = 0.35
# Memory: OIDN's scratch is capped (it then tiles internally, seamlessly), and the float copies
# exist one strip at a time. Measured process peak RSS, input included: 12 MP 0.86 GB, 24 MP
# 1.02 GB, 40 MP 1.2 GB, at the speed of the uncapped filter (which took 1.8 GB for one 3 MP strip).
_SCRATCH_MB = 600
_STRIP_PIXELS = 3_100_000  # a 12 MP photo with its 16 px mirrored edge is 12.2 MP: still 4 strips, not 5
# OIDN's FAST filter halves the time of HIGH on the CPU for -0.14 dB at sigma 25 (tuning photos,
# 30.56 -> 30.42 dB): a 12 MP photo takes 10.9 s instead of 20.7 s on 2 cores. Big photos, where
# the wait is long, get FAST; smaller ones, which take a few seconds either way, HIGH.
_FAST_FROM_PIXELS = 6_000_000
_OVERLAP = 32  # rows shared by neighbouring strips, cross-faded so no seam shows
# OIDN darkens the pixels at a photo's corners (a flat photo of any size came back up to 37 levels
# darker in about 16 of them; a 1x1 at a third of its value), so every photo is mirrored out by
# this many pixels on each side first and cut back out after (+1.5 % pixels at 12 MP).
_EDGE = 16
# A JPEG at quality <= ~90 quantises away the finest noise and leaves blocky, correlated noise that
# OIDN (trained on white render noise) keeps as texture: Gaussian 20 + JPEG 75 came out at 26.0 dB,
# 2 dB under a plain wavelet. Fresh white noise (fixed seed), in proportion to the noise the photo
# still shows, turns it back into noise OIDN removes. The gain per JPEG quality was fitted on the
# tuning photos only (bench/quality.py's tuning set; the held-out photos never set it): Gaussian
# 12/20 and Poisson-Gaussian noise, JPEG 75-90, gains 0-2.1 tried. Mean gain there: +3.6 / +2.7 dB
# at q 75, +1.3 / +0.8 at 80, +0.1 to +0.7 at 85, +0.2 / +0.3 at 90, at worst -0.1 (q 90, sigma 12).
# None at 95 and above (the noise is still white), and none where the JPEG has already thrown
# nearly all of it away (noise left under 3, full from 5: more would only cost detail).
_WHITEN_QUALITY = (75, 80, 85, 90, 95)
_WHITEN_GAIN = (1.5, 0.7, 0.5, 0.4, 0.0)
_WHITEN_MAX = 20.0  # 0..255
_WHITEN_RAMP = (3.0, 5.0)  # noise left (0..255) below which none is added, above which all
# The Wiener pass (wiener.refine) over OIDN's output, fitted on the tuning photos only: OIDN smooths
# low noise away with the texture under it; the pass gives it back. Gain in mean PSNR there, Gaussian
# sigma 5/10/15/25/35: +1.9/+1.1/+0.7/+0.3/+0.1 dB; Poisson-Gaussian +0.3; noise + JPEG 75-90 +0.7 to
# +1.1. At sigma 40-50 it costs 0-0.2 dB, so it fades out between these noise estimates (0..255):
_REFINE_FADE = (28.0, 36.0)
# JPEG moves noise from the finest detail (where noise_sigma looks) into the block frequencies, so the
# pass is told more noise than the estimate: x2.5 at quality 75, x2 at 90 were best (x1.2-3 tried).
_REFINE_QUALITY = (75, 90, 95)
_REFINE_SCALE = (2.5, 2.0, 1.0)
# At quality 75 the JPEG leaves blocking and ringing of its own that the finest detail does not show
# at all: a photo with little noise left (estimate 0-3) still wants the pass told ~10 (clean photo) to
# ~25-35 (sigma 8-12 before the JPEG), so it is told at least this floor, by quality, growing from 40 %
# at an estimate of 0 to all of it at 3. And x2.5 of a high estimate mostly counts texture (grass,
# gravel: best told 20-30 at estimates 14-28), so the told noise is capped at 30 there. Fitted on
# the tuning photos plus 9 scikit-image photos outside the bench (the held-out photos never set it);
# python bench/denoise_jpeg.py on another noise draw, margin over the best baseline, mean / worst photo:
# Gaussian 12 + JPEG 75 -0.12 / -0.81 -> +2.32 / -0.45 dB, Poisson-Gaussian + JPEG 75 +1.52 / -2.93 ->
# +2.29 / +0.40, clean JPEG 75 +0.01 / -0.31 -> +0.28 / -1.05. Quality 90 and above are unchanged.
_REFINE_JPEG_QUALITY = (75, 90)  # floor and cap by quality, none from 90 (99: no cap)
_REFINE_FLOOR = (24.0, 0.0)
_REFINE_FLOOR_RAMP = ((0.0, 3.0), (0.4, 1.0))
_REFINE_CAP = (30.0, 99.0)
# From this noise estimate (0..255) on, where the Wiener pass fades out, the learned pass
# (lib.engines.local.refiner) runs over the result: +0.56 dB mean on its validation photos there
# (tools/models/denoise_refiner_train.log), held-out Gaussian 50 +1.2 dB (bench/quality.py). Below it,
# a first try of the same kind of model trained on every noise level gained only +0.04 dB at sigma 25
# over the Wiener pass, not worth its cost.
LEARNED_FROM = _REFINE_FADE[0]


class Denoiser:
    """One OIDN CPU device per process; call it with an RGB uint8 array (H, W, 3)."""

    def __init__(self, threads=2, learned=True):
        import pyoidn

        self._oidn = pyoidn
        self._device = pyoidn.Device(pyoidn.OIDN_DEVICE_TYPE_CPU)
        self._device.set_int("numThreads", threads)
        self._device.set_bool("setAffinity", False)  # a shared server: do not pin threads to cores
        self._device.commit()
        self._check("device setup")
        # learned=False stops after the Wiener pass: the learned pass's own inputs, in training.
        self.refiner = refiner.Refiner(threads) if learned else None

    def _check(self, step):
        error = self._device.get_error()
        if error:
            raise RuntimeError(f"OIDN {step} failed: {error}")

    def _run(self, color, quality):
        """Denoise one float32 (h, w, 3) array in 0..1; the caller serialises calls."""
        oidn = self._oidn
        color = np.ascontiguousarray(color, np.float32)
        output = np.empty_like(color)
        # A filter per strip: its scratch memory is freed as soon as the strip is done.
        flt = oidn.Filter(self._device, oidn.OIDN_FILTER_TYPE_RT)
        try:
            flt.set_image(oidn.OIDN_IMAGE_COLOR, color, oidn.OIDN_FORMAT_FLOAT3)
            flt.set_image(oidn.OIDN_IMAGE_OUTPUT, output, oidn.OIDN_FORMAT_FLOAT3)
            flt.set_float("inputScale", _INPUT_SCALE)
            flt.set_int("maxMemoryMB", _SCRATCH_MB)
            flt.set_quality(quality)
            flt.commit()
            self._check("filter setup")
            flt.execute()
            self._check("filter execution")
        finally:
            flt.release()
        return output

    def __call__(self, rgb, jpeg_quality=None):
        """Denoised copy of an RGB uint8 array, same shape; `jpeg_quality` is the input's, if a JPEG."""
        sigma = noise_sigma(rgb)
        big = rgb.shape[0] * rgb.shape[1] >= _FAST_FROM_PIXELS  # FAST filter, luminance-only pass
        result = self._oidn_pass(rgb, whitening_sigma(rgb, jpeg_quality, sigma), big)
        share = wiener_share(sigma)
        told = told_sigma(sigma, jpeg_quality)
        if share:
            result = self._wiener(rgb, result, told, share, big)
        if self.refiner is not None and sigma >= LEARNED_FROM:
            result = self.refiner(rgb, result, told, share, jpeg_quality)
        return result

    def _wiener(self, rgb, pilot, told, share, big):
        """The Wiener pass over OIDN's `pilot` (uint8), `share` of it mixed in."""
        # Big photos: wiener.LUMINANCE (+0.1 to +0.6 dB, 1.5 s at 12 MP) instead of wiener.PLAN's every
        # channel (+0.3 to +1.1 dB, ~1 s/MP), to keep a 12 MP photo within 15 s.
        refined = wiener.refine(rgb, pilot, told, wiener.LUMINANCE if big else wiener.PLAN)
        if share < 1.0:
            refined -= pilot
            refined *= np.float32(share)
            refined += pilot
        refined += np.float32(0.5)
        return np.clip(refined, 0, 255, out=refined).astype(np.uint8)

    def _oidn_pass(self, rgb, whiten, fast):
        """OIDN's estimate (uint8), strip by strip, with `whiten` (0..255) white noise added first and
        the FAST filter if `fast`."""
        rows, cols = rgb.shape[:2]
        rgb = np.pad(rgb, ((_EDGE, _EDGE), (_EDGE, _EDGE), (0, 0)), mode="symmetric")
        return self._strips(rgb, whiten, fast)[_EDGE : _EDGE + rows, _EDGE : _EDGE + cols]

    def _strips(self, rgb, whiten, fast):
        """OIDN over a (padded) photo, in strips of about _STRIP_PIXELS cross-faded into each other."""
        height, width, _ = rgb.shape
        whiten = whiten / 255
        quality = self._oidn.OIDN_QUALITY_FAST if fast else self._oidn.OIDN_QUALITY_HIGH

        def prepared(rows, top):
            x = rgb[rows].astype(np.float32) / 255
            if whiten:
                noise = np.random.default_rng(top).standard_normal(x.shape, np.float32)
                x += noise * np.float32(whiten)
                np.clip(x, 0, 1, out=x)
            return x

        cuts = _strip_cuts(height, width)
        if len(cuts) == 2:
            return _to_uint8(self._run(prepared(slice(None), 0), quality))

        out = np.empty_like(rgb)
        shared = 2 * _OVERLAP  # rows each pair of neighbouring strips both denoise
        ramp = np.linspace(0, 1, shared + 2, dtype=np.float32)[1:-1, None, None]
        tail = None  # the previous strip's shared rows, not yet written
        for top, bottom in zip(cuts, cuts[1:]):
            lo, hi = max(0, top - _OVERLAP), min(height, bottom + _OVERLAP)
            result = self._run(prepared(slice(lo, hi), lo), quality)
            if tail is not None:
                # Cross-fade the shared rows from the previous strip to this one: no seam.
                result[:shared] = tail * (1 - ramp) + result[:shared] * ramp
            if hi < height:
                out[lo : hi - shared] = _to_uint8(result[:-shared])
                tail = result[-shared:]
            else:
                out[lo:] = _to_uint8(result)
        return out


def noise_sigma(rgb):
    """The photo's noise (0..255): the finest diagonal Haar detail's median / 0.6745 per 32 px block,
    the 25th percentile over blocks — texture raises a block's figure, so the smoother blocks speak."""
    h, w = rgb.shape[0] // 32 * 32, rgb.shape[1] // 32 * 32
    if not h or not w:
        return 0.0
    top = rgb[0:h:2, :w].astype(np.int16)
    bottom = rgb[1:h:2, :w].astype(np.int16)
    diagonal = np.abs(top[:, 0::2] - top[:, 1::2] - bottom[:, 0::2] + bottom[:, 1::2])  # 2x the Haar detail
    blocks = diagonal.reshape(h // 32, 16, w // 32, 16, 3).transpose(0, 2, 1, 3, 4).reshape(-1, 16 * 16 * 3)
    return float(np.percentile(np.median(blocks, axis=1), 25)) / 2 / 0.6745


def wiener_share(sigma):
    """How much of the Wiener pass (0..1) a photo with noise estimate `sigma` gets."""
    return float(np.interp(sigma, _REFINE_FADE, (1.0, 0.0)))


def told_sigma(sigma, jpeg_quality):
    """The noise (0..255) the Wiener pass is told for a photo whose estimate is `sigma`, by JPEG quality."""
    if jpeg_quality is None:
        return sigma
    scaled = sigma * float(np.interp(jpeg_quality, _REFINE_QUALITY, _REFINE_SCALE))
    floor = float(np.interp(jpeg_quality, _REFINE_JPEG_QUALITY, _REFINE_FLOOR)) * float(np.interp(sigma, *_REFINE_FLOOR_RAMP))
    return min(float(np.interp(jpeg_quality, _REFINE_JPEG_QUALITY, _REFINE_CAP)), math.hypot(floor, scaled))


def whitening_sigma(rgb, jpeg_quality, sigma=None):
    """How much white noise (0..255) to add before OIDN so that JPEG-blocked noise is removed;
    `sigma` is noise_sigma(rgb) where the caller has it."""
    if jpeg_quality is None or jpeg_quality >= _WHITEN_QUALITY[-1]:
        return 0.0
    sigma = noise_sigma(rgb) if sigma is None else sigma
    low, high = _WHITEN_RAMP
    share = min(1.0, max(0.0, (sigma - low) / (high - low)))
    gain = float(np.interp(jpeg_quality, _WHITEN_QUALITY, _WHITEN_GAIN))
    return min(_WHITEN_MAX, share * gain * sigma)


def _strip_cuts(height, width):
    """Row boundaries [0, ..., height] of strips of about _STRIP_PIXELS, none thinner than 4 overlaps."""
    strips = max(1, min(-(-height * width // _STRIP_PIXELS), height // (4 * _OVERLAP)))
    rows = -(-height // strips)
    cuts = list(range(0, height, rows))
    if len(cuts) > 1 and height - cuts[-1] < 4 * _OVERLAP:
        cuts.pop()  # fold a thin last strip into the one before
    return cuts + [height]


def _to_uint8(x):
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)
