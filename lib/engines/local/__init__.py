"""The embedded CPU engine (no Replicate key): OIDN denoiser, U²-Net cutouts, blend inversion,
learned watermark detector.

Importing this module is cheap: numpy, OpenCV, onnxruntime and OIDN load on first use, once per
process, under a lock. Every job (a tool run or a detection) runs through one admission gate
(lib.engines.local.admission): at most a few at once, a bounded queue, `503 busy` beyond, since
on a small server more jobs would only fight over the same cores and multiply the peak memory.
"""

import threading

from lib import catalog, config
from lib.engines.local.admission import Admission
from lib.errors import ImgmendError, InvalidRequest, NotConfigured, UpstreamError

_shared_admission = None  # set by share_admission() in a pre-fork server, used by every engine


def share_admission(**limits):
    """Make one admission gate for all worker processes; call before the server forks them."""
    global _shared_admission
    _shared_admission = Admission(shared=True, **limits)
    return _shared_admission


class LocalEngine:
    """Runs the three tools in-process on the CPU; see lib.engines for the contract."""

    name = "local"

    def __init__(self):
        self._load_lock = threading.Lock()
        self._models = {}
        self.admission = _shared_admission or Admission()

    def run(self, tool, image, options=None):
        """Apply `tool` to an RGB image; the result has the same pixel size."""
        options = options or {}
        if tool not in catalog.IDS:
            raise InvalidRequest("Unknown tool.")
        mask = options.get("mask")
        if tool == "remove_watermark":
            if mask is None:
                raise InvalidRequest("The watermark remover needs a mask.")
            if mask.size != image.size:
                raise InvalidRequest("The mask must have the same size as the image.")
        try:
            with self.admission.slot():
                image = image if image.mode == "RGB" else image.convert("RGB")
                if tool == "denoise":
                    return self._denoise(image, options.get("jpeg_quality"))
                if tool == "remove_bg":
                    return self._remove_bg(image)
                from lib.engines.local.watermark_removal import remove_watermark

                from lib import watermark_detector

                # The detector is loaded only if the mask asks for it (a box), not for every brush.
                find_mark = self._find_mark if watermark_detector.available() else None
                return remove_watermark(image, mask, find_mark, options.get("jpeg_quality"))
        except ImgmendError:
            raise
        except ImportError as exc:  # no engine at all: the production bundle ships without these packages
            raise NotConfigured() from exc
        except Exception as exc:  # a model failure: say so without echoing pixels or paths
            raise UpstreamError() from exc

    def detect_watermark(self, image):
        """Suggested watermark mask: mode "L", same size, 255 = watermark."""
        try:
            with self.admission.slot():
                detector = self._watermark_detector()
                if detector is None:  # no learned detector here: the Pillow-only heuristic
                    from lib.heuristic_mask import detect_watermark

                    return detect_watermark(image)
                return detector.detect(image)
        except ImgmendError:
            raise
        except Exception as exc:
            raise UpstreamError() from exc

    def _denoise(self, image, jpeg_quality=None):
        import numpy as np
        from PIL import Image

        return Image.fromarray(self._model("denoise")(np.asarray(image), jpeg_quality), "RGB")

    def _remove_bg(self, image):
        return self._model("remove_bg")(image)

    def _find_mark(self, image):
        """The learned detector's mask for `image` (remove_watermark's guide inside a box)."""
        return self._watermark_detector().detect(image)

    def _watermark_detector(self):
        """The learned detector (lib.watermark_detector), or None without its weights or numpy."""
        from lib import watermark_detector

        return self._model("detect_watermark") if watermark_detector.available() else None

    def _model(self, tool):
        """The model behind `tool`, built on first use (double-checked under the load lock)."""
        model = self._models.get(tool)
        if model is None:
            with self._load_lock:
                model = self._models.get(tool)
                if model is None:
                    if tool == "denoise":
                        from lib.engines.local.denoise import Denoiser

                        model = Denoiser(threads=config.local_threads())
                    elif tool == "detect_watermark":
                        from lib.watermark_detector import WatermarkDetector

                        model = WatermarkDetector(threads=config.local_threads())
                    else:
                        from lib.engines.local.background import BackgroundRemover

                        model = BackgroundRemover(threads=config.local_threads())
                    self._models[tool] = model
        return model
