"""The reference for lib/watermark_detector.py: the trained U-Net as exported (ONNX) on onnxruntime and OpenCV.

This was the local engine's detector; both engines now run the numpy twin, and the tests hold it to
this one (same probabilities, same masks).

Trained on 256-px crops of package-shipped photos with synthetic marks (text, tiled text, logos;
any colour, opacity 0.15-0.9). It runs on a working copy of at most ~1 MP; the mask is upsampled.
Watermarks are strokes: thick solid blobs it flags (eyes, bright rims) are dropped, at the cost of
missing filled logo shapes wider than ~4 % of the image side.
"""

import os

import cv2
import numpy as np
from PIL import Image

DETECTOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "models", "watermark_detector.onnx")

_WORK_PIXELS = 1_000_000  # detection working copy: thin marks survive, the cost stays flat
_THRESHOLD = 0.7  # probability above which a pixel is called a mark
_MIN_AREA = 0.0002  # components smaller than this share of the working copy are noise
_MAX_HALF_WIDTH = 0.02  # components thicker than 2 x this share of the longer side are not strokes
_MULTIPLE = 16  # the U-Net halves the size four times
# Bench (bench/quality.py, 4 photos x 24 marks) for threshold 0.5 / 0.7 x half-width 1.5 / 2 / 3 %:
# precision 0.86-0.91, recall 0.75-0.85; without the thickness rule 0.72-0.74 / 0.87-0.88 and 4-9 %
# of clean photos flagged. 0.7 / 2 % kept: precision 0.90, recall 0.81, at most 1.7 % flagged.


def available():
    """True when the detector's ONNX file ships with the code."""
    return os.path.exists(DETECTOR)


class WatermarkDetector:
    """Loads the ONNX session once; detect() suggests a watermark mask for a photo."""

    def __init__(self, threads=2):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._detector = ort.InferenceSession(DETECTOR, options, providers=["CPUExecutionProvider"])

    def probability(self, rgb):
        """Per-pixel mark probability (float32 HxW) for an RGB uint8 array, at its own size."""
        h, w = rgb.shape[:2]
        x = _pad(rgb.astype(np.float32) / 255)
        prob = self._detector.run(None, {"image": x.transpose(2, 0, 1)[None]})[0][0, 0]
        return prob[:h, :w]

    def detect(self, image):
        """Mask (mode "L", same size, 255 = watermark) from the detector on a <= 1 MP working copy."""
        rgb = np.asarray(image.convert("RGB"))
        h, w = rgb.shape[:2]
        scale = min(1.0, (_WORK_PIXELS / (h * w)) ** 0.5)
        work = rgb if scale == 1 else cv2.resize(rgb, (max(16, round(w * scale)), max(16, round(h * scale))),
                                                 interpolation=cv2.INTER_AREA)
        found = _strokes(self.probability(work) > _THRESHOLD)
        # One pixel more covers the anti-aliased rim the net calls uncertain.
        found = cv2.dilate(found, np.ones((3, 3), np.uint8))
        if scale < 1:
            found = cv2.resize(found.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.25
        return Image.fromarray(found.astype(np.uint8) * 255, "L")


def _strokes(found):
    """uint8 0/1 mask without specks and without components too thick to be a mark's strokes."""
    found = found.astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(found, connectivity=8)
    if count <= 1:
        return found
    half_width = np.zeros(count, np.float32)  # the largest distance to the edge within each component
    np.maximum.at(half_width, labels.ravel(), cv2.distanceTransform(found, cv2.DIST_L2, 3).ravel())
    drop = (stats[:, cv2.CC_STAT_AREA] < _MIN_AREA * found.size) | (half_width > _MAX_HALF_WIDTH * max(found.shape))
    drop[0] = False
    found[drop[labels]] = 0
    return found


def _pad(array):
    """HxWxC float32 padded (mirrored) on the bottom and right to multiples of 16, contiguous."""
    h, w = array.shape[:2]
    ph, pw = -h % _MULTIPLE, -w % _MULTIPLE
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "edge"
        array = np.pad(array, ((0, ph), (0, pw), (0, 0)), mode=mode)
    return np.ascontiguousarray(array)
