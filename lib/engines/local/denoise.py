"""Blind photo denoiser: Intel Open Image Denoise (pyoidn, Apache-2.0) on the CPU."""

import numpy as np

# OIDN's LDR model was trained on render noise; photos denoise better when it sees a darker copy
# (it inverse-scales the output). Measured on skimage photos, Gaussian noise, seed 0, mean PSNR:
# sigma 25: 29.28 dB at 1.0 -> 30.47 at 0.35; sigma 40: 25.0 -> 28.2; sigma 5/10: +0.2 dB.
_INPUT_SCALE = 0.35
# Memory: OIDN's scratch is capped (it then tiles internally, seamlessly), and the float copies
# exist one strip at a time. Measured process peak RSS, input included: 12 MP 0.86 GB, 24 MP
# 1.02 GB, 40 MP 1.2 GB, at the speed of the uncapped filter (which took 1.8 GB for one 3 MP strip).
_SCRATCH_MB = 600
_STRIP_PIXELS = 3_000_000
_OVERLAP = 32  # rows shared by neighbouring strips, cross-faded so no seam shows


class Denoiser:
    """One OIDN CPU device per process; call it with an RGB uint8 array (H, W, 3)."""

    def __init__(self, threads=2):
        import pyoidn

        self._oidn = pyoidn
        self._device = pyoidn.Device(pyoidn.OIDN_DEVICE_TYPE_CPU)
        self._device.set_int("numThreads", threads)
        self._device.set_bool("setAffinity", False)  # a shared server: do not pin threads to cores
        self._device.commit()
        self._check("device setup")

    def _check(self, step):
        error = self._device.get_error()
        if error:
            raise RuntimeError(f"OIDN {step} failed: {error}")

    def _run(self, color):
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
            flt.set_quality(oidn.OIDN_QUALITY_HIGH)
            flt.commit()
            self._check("filter setup")
            flt.execute()
            self._check("filter execution")
        finally:
            flt.release()
        return output

    def __call__(self, rgb):
        """Denoised copy of an RGB uint8 array, same shape."""
        height, width, _ = rgb.shape
        cuts = _strip_cuts(height, width)
        if len(cuts) == 2:
            return _to_uint8(self._run(rgb.astype(np.float32) / 255))

        out = np.empty_like(rgb)
        shared = 2 * _OVERLAP  # rows each pair of neighbouring strips both denoise
        ramp = np.linspace(0, 1, shared + 2, dtype=np.float32)[1:-1, None, None]
        tail = None  # the previous strip's shared rows, not yet written
        for top, bottom in zip(cuts, cuts[1:]):
            lo, hi = max(0, top - _OVERLAP), min(height, bottom + _OVERLAP)
            result = self._run(rgb[lo:hi].astype(np.float32) / 255)
            if tail is not None:
                # Cross-fade the shared rows from the previous strip to this one: no seam.
                result[:shared] = tail * (1 - ramp) + result[:shared] * ramp
            if hi < height:
                out[lo : hi - shared] = _to_uint8(result[:-shared])
                tail = result[-shared:]
            else:
                out[lo:] = _to_uint8(result)
        return out


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
