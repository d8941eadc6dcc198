"""Learned last pass of the denoiser for heavy noise: a small CNN of our own on onnxruntime.

From a noise estimate of denoise.LEARNED_FROM on, where the Wiener pass fades out (it no longer
helps there), OIDN's result, from a model trained on render noise, is corrected by one trained on
photos. The model (lib/engines/local/models/denoise_refiner.onnx, trained by
tools/train_denoise_refiner.py on photos outside the held-out set; Apache-2.0 like this repository)
sees the upload and the denoiser's result at half resolution (pixel-unshuffled), plus the noise the
Wiener pass was told, its share and the JPEG quality, and returns a correction to the result.
"""

import os

import numpy as np

from lib.engines.local import weights

# In the repository, but not in the production bundle (vercel.json's excludeFiles): only this engine runs it.
MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "denoise_refiner.onnx")
# Rows per model run, and rows of context above and below each (the receptive field is 13 px): the
# activations of one strip stay small whatever the photo's height. A heavy-noise 12 MP request peaked
# at 1064 MB with 256 rows and no memory arena, 1416 MB with 512 rows and the arena (bench/local_speed.py).
_STRIP_ROWS = 256
_HALO = 16


def conditioning(told, share, jpeg_quality):
    """The model's three scalar inputs, scaled as in training (tools/train_denoise_refiner.py)."""
    jpeg = 0.0 if jpeg_quality is None else (100 - jpeg_quality) / 25.0
    return np.array([[told / 50.0, share, jpeg]], np.float32)


class Refiner:
    """Loads the ONNX session once; call it with the upload and the denoiser's result."""

    def __init__(self, threads=2):
        # No memory arena: it would keep a strip's peak for the life of the process.
        self._session = weights.session(MODEL, threads, arena=False)

    def __call__(self, noisy, estimate, told, share, jpeg_quality):
        """Refined uint8 copy of `estimate` (H, W, 3), the denoiser's result for the uint8 upload `noisy`."""
        height, width = noisy.shape[:2]
        even = ((0, height % 2), (0, width % 2), (0, 0))  # pixel-unshuffle needs even sides
        noisy = np.pad(noisy, even, mode="symmetric")
        estimate = np.pad(estimate, even, mode="symmetric")
        cond = conditioning(told, share, jpeg_quality)
        out = np.empty_like(estimate)
        rows = noisy.shape[0]
        for top in range(0, rows, _STRIP_ROWS):
            bottom = min(rows, top + _STRIP_ROWS)
            lo, hi = max(0, top - _HALO), min(rows, bottom + _HALO)
            feed = {"noisy": _planar(noisy[lo:hi]), "estimate": _planar(estimate[lo:hi]), "cond": cond}
            result = self._session.run(None, feed)[0][0].transpose(1, 2, 0)
            result = result[top - lo : result.shape[0] - (hi - bottom)]
            out[top:bottom] = np.clip(result * 255 + 0.5, 0, 255).astype(np.uint8)
        return out[:height, :width]


def _planar(rows):
    """(1, 3, h, w) float32 in 0..1 of uint8 (h, w, 3) rows."""
    return np.ascontiguousarray(rows.transpose(2, 0, 1)[None], np.float32) / np.float32(255)
