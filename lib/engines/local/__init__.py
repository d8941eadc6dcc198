"""The embedded CPU engine (no Replicate key): OIDN denoiser, U²-Net-p cutouts, blend inversion,
learned watermark detector.

Importing this module is cheap: numpy, OpenCV, onnxruntime and OIDN load on first use, once per
process, under a lock. Each model also runs under its own lock: on a small server two requests for
the same model would only fight over the same cores and double the peak memory.
"""

import threading

from lib import catalog, config
from lib.errors import ImgmendError, InvalidRequest, NotConfigured, UpstreamError


class LocalEngine:
    """Runs the three tools in-process on the CPU; see lib.engines for the contract."""

    name = "local"

    def __init__(self):
        self._load_lock = threading.Lock()
        self._models = {}
        self._run_locks = {name: threading.Lock() for name in ("denoise", "remove_bg", "detect_watermark")}

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
            image = image if image.mode == "RGB" else image.convert("RGB")
            if tool == "denoise":
                return self._denoise(image)
            if tool == "remove_bg":
                return self._remove_bg(image)
            from lib.engines.local.watermark_removal import remove_watermark

            return remove_watermark(image, mask)
        except ImgmendError:
            raise
        except ImportError as exc:  # no engine at all: the production bundle ships without these packages
            raise NotConfigured() from exc
        except Exception as exc:  # a model failure: say so without echoing pixels or paths
            raise UpstreamError() from exc

    def detect_watermark(self, image):
        """Suggested watermark mask: mode "L", same size, 255 = watermark."""
        try:
            detector = self._watermark_detector()
            if detector is None:  # no learned detector here: the Pillow-only heuristic
                from lib.heuristic_mask import detect_watermark

                return detect_watermark(image)
            with self._run_locks["detect_watermark"]:
                return detector.detect(image)
        except ImgmendError:
            raise
        except Exception as exc:
            raise UpstreamError() from exc

    def _denoise(self, image):
        import numpy as np
        from PIL import Image

        denoiser = self._model("denoise")
        with self._run_locks["denoise"]:
            return Image.fromarray(denoiser(np.asarray(image)), "RGB")

    def _remove_bg(self, image):
        remover = self._model("remove_bg")
        with self._run_locks["remove_bg"]:
            return remover(image)

    def _watermark_detector(self):
        """The learned detector, or None without its weights file, numpy, OpenCV or onnxruntime."""
        try:
            from lib.engines.local import watermark_model

            return self._model("detect_watermark") if watermark_model.available() else None
        except ImportError:
            return None

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
                        from lib.engines.local.watermark_model import WatermarkDetector

                        model = WatermarkDetector(threads=config.local_threads())
                    else:
                        from lib.engines.local.background import BackgroundRemover

                        model = BackgroundRemover(threads=config.local_threads())
                    self._models[tool] = model
        return model
