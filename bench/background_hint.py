"""What a user's box round the subject would give the background remover on bench/quality.py's composites.

Run from the repo root with the dev venv:  python bench/background_hint.py [--grow 0.1]
The held-out composites are all "cluttered": a shape cut from one photo pasted on another photo with
its own subject, so a blind saliency model (U²-Net) often cuts out the wrong one (bench/quality.py).
`remove_bg` takes no hint today. This bench measures, before any contract change, what a loose box
drawn by the user (the true subject's bounding box grown by --grow of its size on each side) would
give, four ways: the engine on the whole photo as shipped (blind), the engine on the box's crop with
everything outside cleared (crop), OpenCV GrabCut started from the box (box-GrabCut), and GrabCut
started from the engine's cut-out of the crop with everything outside the box sure background
(seeded). IoU and boundary F (3 px) as bench/quality.py scores them; seconds per composite, all four together.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench import quality  # noqa: E402
from lib.engines.local import LocalEngine  # noqa: E402

METHODS = ("blind", "crop", "box-GrabCut", "seeded")


def user_box(truth, grow):
    """(top, bottom, left, right) of the true subject's bounding box grown by `grow` of its size per side."""
    ys, xs = np.nonzero(truth)
    height, width = truth.shape
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    dy, dx = int(grow * (bottom - top)), int(grow * (right - left))
    return max(0, top - dy), min(height, bottom + dy), max(0, left - dx), min(width, right + dx)


def cut_outs(engine, rgb, box):
    """{method: bool mask (alpha >= 0.5)} for one composite and box."""
    top, bottom, left, right = box
    height, width = rgb.shape[:2]
    out = {}
    out["blind"] = np.asarray(engine.run("remove_bg", Image.fromarray(rgb), {}))[..., 3] >= 128
    inside = np.asarray(engine.run("remove_bg", Image.fromarray(rgb[top:bottom, left:right]), {}))[..., 3] >= 128
    out["crop"] = np.zeros((height, width), bool)
    out["crop"][top:bottom, left:right] = inside
    out["box-GrabCut"] = quality.grabcut(rgb, rect=(left, top, right - left, bottom - top))
    labels = np.full((height, width), cv2.GC_BGD, np.uint8)  # outside the box: sure background
    labels[top:bottom, left:right] = np.where(inside, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    out["seeded"] = quality.grabcut(rgb, labels=labels)
    return out


def bench_set(engine, name, spec, grow):
    """Print one composite set's table and, per method, its mean and worst scores."""
    print(f"\n-- {name} composites; box = the true subject's bounding box grown by {grow:g} of its size per side")
    scores = {m: [] for m in METHODS}
    rows = []
    start = time.perf_counter()
    for label, rgb, truth, cluttered, _alpha, _fg in quality.composites(*spec):
        masks = cut_outs(engine, rgb, user_box(truth, grow))
        row = [label + (" (cluttered)" if cluttered else "")]
        for method in METHODS:
            scores[method].append((quality.iou(masks[method], truth), quality.boundary_f(masks[method], truth)))
            row += list(scores[method][-1])
        rows.append(row)
    seconds = (time.perf_counter() - start) / max(1, len(rows))
    headers = ["composite"] + [f"{m} {s}" for m in METHODS for s in ("IoU", "BF")]
    quality.table(headers, rows, ["s"] + [".3f"] * (2 * len(METHODS)))
    for method in METHODS:
        ious = [s[0] for s in scores[method]]
        print(f"{name:8} {method:12} mean IoU {quality.mean(ious):.3f}  worst {min(ious):.3f}  mean BF"
              f" {quality.mean([s[1] for s in scores[method]]):.3f}  composites >= {quality.TARGETS['bg_iou']}:"
              f" {sum(i >= quality.TARGETS['bg_iou'] for i in ious)} of {len(ious)}")
    print(f"{name:8} all four methods: {seconds:.1f} s per composite")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grow", type=float, default=0.1, help="box margin per side, as a share of the subject's size")
    args = parser.parse_args()
    engine = LocalEngine()
    print(f"background hint bench; command: python bench/background_hint.py --grow {args.grow:g}")
    for name, spec in (("held-out", quality.HELD_OUT_COMPOSITES), ("tuning", quality.TUNING_COMPOSITES)):
        bench_set(engine, name, spec, args.grow)


if __name__ == "__main__":
    main()
