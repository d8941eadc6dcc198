"""The detection part of bench/quality.py for three detectors: numpy (lib/watermark_detector.py), ONNX
(the ONNX export, tests/support/onnx_detector.py, the reference) and the Pillow heuristic
(lib/heuristic_mask.py, the fallback).

Run from the repo root with the dev venv:  .venv/bin/python bench/detector_quality.py
Same cases and scoring as bench/quality.py's watermark section, without the removal and inpainting runs:
4 skimage photos x 4 marks x opacity 0.3/0.5/0.7 x white/black = 96 cases; precision = detected pixels
within 2 px of the footprint, recall = footprint pixels detected, pooled pixel counts over all cases;
"flagged" = share of each clean photo's pixels in its mask. Target (issue 11 item 6): precision >= 0.85
at recall >= 0.75. Also the mask agreement (IoU) of the numpy and ONNX detectors per case.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality  # noqa: E402  (bench/quality.py: its photos, marks and blending; puts the repo root on sys.path)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from lib import heuristic_mask, watermark_detector  # noqa: E402
from tests.support import onnx_detector as watermark_model  # noqa: E402

OPACITIES = (0.3, 0.5, 0.7)
TARGET_P, TARGET_R = 0.85, 0.75


def main():
    numpy_det = watermark_detector.WatermarkDetector()
    onnx_det = watermark_model.WatermarkDetector(threads=quality.THREADS)
    detectors = {
        "numpy (lib/watermark_detector.py)": numpy_det.detect,
        "onnx (reference)": onnx_det.detect,
        "heuristic (heuristic_mask.py)": heuristic_mask.detect_watermark,
    }
    k5 = np.ones((5, 5), np.uint8)
    counts = {name: {"tp_p": 0, "n": 0, "tp_r": 0, "empty": 0, "flagged": [], "seconds": 0.0} for name in detectors}
    truth_n, cases, agreement = 0, 0, []
    per_mark = {}
    start = time.perf_counter()
    for photo_name in quality.WATERMARK_PHOTOS:
        clean = quality.photo(photo_name)
        size = (clean.shape[1], clean.shape[0])
        for name, detect in detectors.items():
            counts[name]["flagged"].append(float((np.asarray(detect(Image.fromarray(clean))) > 127).mean()))
        for mark, make in quality.MARKS.items():
            layer = make(size)
            truth = np.asarray(layer) > 0
            near = cv2.dilate(truth.astype(np.uint8), k5) > 0
            for opacity in OPACITIES:
                for colour in (255, 0):
                    marked = Image.fromarray(quality.blend(clean, layer, opacity, colour))
                    truth_n += int(truth.sum())
                    cases += 1
                    masks = {}
                    for name, detect in detectors.items():
                        t0 = time.perf_counter()
                        found = np.asarray(detect(marked)) > 127
                        c = counts[name]
                        c["seconds"] += time.perf_counter() - t0
                        c["tp_p"] += int((found & near).sum())
                        c["n"] += int(found.sum())
                        c["tp_r"] += int((found & truth).sum())
                        c["empty"] += int(not found.any())
                        masks[name] = found
                        key = (name, mark)
                        m = per_mark.setdefault(key, [0, 0, 0, 0])
                        m[0] += int((found & near).sum())
                        m[1] += int(found.sum())
                        m[2] += int((found & truth).sum())
                        m[3] += int(truth.sum())
                    a, b = masks["numpy (lib/watermark_detector.py)"], masks["onnx (reference)"]
                    agreement.append((a & b).sum() / max((a | b).sum(), 1))
    print(f"detection on {cases} cases ({len(quality.WATERMARK_PHOTOS)} photos x {len(quality.MARKS)} marks x "
          f"opacity {'/'.join(map(str, OPACITIES))} x white/black), {time.perf_counter() - start:.0f} s")
    print(f"{'detector':36} {'precision':>9} {'recall':>7} {'empty':>6} {'s/case':>7}  flagged on clean photos")
    for name, c in counts.items():
        p = c["tp_p"] / c["n"] if c["n"] else 0.0
        r = c["tp_r"] / truth_n
        flagged = ", ".join(f"{100 * f:.2f} %" for f in c["flagged"])
        print(f"{name:36} {p:9.3f} {r:7.3f} {c['empty']:3d}/{cases} {c['seconds'] / cases:7.2f}  {flagged}")
    print("\nper mark, pooled precision / recall:")
    print(f"{'mark':20} " + " ".join(f"{name.split(' ')[0]:>13}" for name in detectors))
    for mark in quality.MARKS:
        cells = []
        for name in detectors:
            tp_p, n, tp_r, tn = per_mark[(name, mark)]
            cells.append(f"{tp_p / n if n else 0:.2f} / {tp_r / tn:.2f}")
        print(f"{mark:20} " + " ".join(f"{c:>13}" for c in cells))
    agreement = np.array(agreement)
    print(f"\nnumpy vs onnx mask IoU per case: min {agreement.min():.4f}, median {np.median(agreement):.4f}, "
          f"{(agreement == 1).sum()}/{cases} identical")
    c = counts["numpy (lib/watermark_detector.py)"]
    p, r = c["tp_p"] / c["n"], c["tp_r"] / truth_n
    verdict = "MET" if p >= TARGET_P and r >= TARGET_R else "MISSED"
    print(f"SUMMARY numpy detector: pooled precision {p:.3f} at recall {r:.3f} "
          f"(target precision >= {TARGET_P} at recall >= {TARGET_R}): {verdict}")


if __name__ == "__main__":
    main()
