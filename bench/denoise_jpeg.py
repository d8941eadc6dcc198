"""The denoiser on noisy photos saved as JPEG, on the photos its JPEG settings were fitted on.

The check set behind `lib/engines/local/denoise.py`'s JPEG rules: the four tuning photos plus nine
scikit-image photos outside `bench/quality.py` (the held-out photos are never used here). Each case
is noise (or none) then Pillow's JPEG at a quality; each photo is scored against the best of two
classical baselines measured in the same run (OpenCV NLM at h = 0.7 x estimate_sigma, scikit-image
wavelet BayesShrink with cycle spinning), for the shipped denoiser and for the same denoiser with
the quality-75 floor and cap of the told noise switched off (the rule before stop 27).

    python bench/denoise_jpeg.py [--quick] [--seed N]

Prints per photo and per case the margin (ours - best baseline, dB) of each variant; mean and worst.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from lib.engines.local import denoise  # noqa: E402
from quality import as_jpeg, photo, poisson_gaussian, psnr, table, to_u8, wavelet_cs  # noqa: E402

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina", "brick", "grass",
          "gravel", "clock", "coins", "moon", "cell"]
QUICK_PHOTOS = ["astronaut", "coffee", "grass", "moon"]


def load(name):
    """A scikit-image photo as RGB uint8 (quality.photo), big ones (retina) area-resized to 512 x 512."""
    image = photo(name)
    if max(image.shape[:2]) > 700:
        image = cv2.resize(image, (512, 512), interpolation=cv2.INTER_AREA)
    return image


def gaussian(clean, rng, sigma):
    return to_u8(clean + rng.normal(0, sigma, clean.shape)) if sigma else to_u8(clean)


CASES = [  # (name, noise(clean, rng), JPEG quality)
    ("clean+j75", lambda c, r: gaussian(c, r, 0), 75),
    ("g8+j75", lambda c, r: gaussian(c, r, 8), 75),
    ("g12+j75", lambda c, r: gaussian(c, r, 12), 75),
    ("g20+j75", lambda c, r: gaussian(c, r, 20), 75),
    ("g30+j75", lambda c, r: gaussian(c, r, 30), 75),
    ("pg60+j75", lambda c, r: poisson_gaussian(c, r, 60), 75),
    ("pg25+j75", lambda c, r: poisson_gaussian(c, r, 25), 75),
    ("pg60+j85", lambda c, r: poisson_gaussian(c, r, 60), 85),
    ("clean+j90", lambda c, r: gaussian(c, r, 0), 90),
    ("g12+j90", lambda c, r: gaussian(c, r, 12), 90),
    ("pg60+j90", lambda c, r: poisson_gaussian(c, r, 60), 90),
    ("pg60+j95", lambda c, r: poisson_gaussian(c, r, 60), 95),
]
QUICK_CASES = ("clean+j75", "g12+j75", "pg60+j75", "pg60+j90")
# The told-noise rule before the floor and cap: x2.5 / x2 / x1 of the estimate at quality 75 / 90 / 95.
UNFLOORED = {"_REFINE_FLOOR": (0.0, 0.0), "_REFINE_CAP": (99.0, 99.0)}


def best_baseline(clean, noisy):
    """PSNR of the better of NLM and cycle-spun wavelet BayesShrink on `noisy`."""
    from skimage.restoration import estimate_sigma

    est = float(estimate_sigma(noisy, channel_axis=-1, average_sigmas=True))
    nlm = cv2.fastNlMeansDenoisingColored(noisy, None, 0.7 * est, 0.7 * est, 7, 21)
    return max(psnr(clean, nlm), psnr(clean, wavelet_cs(noisy)))

def run(denoiser, noisy, quality, overrides):
    """The denoiser's result with module settings `overrides` in force for this call only."""
    saved = {k: getattr(denoise, k) for k in overrides}
    try:
        for k, v in overrides.items():
            setattr(denoise, k, v)
        return denoiser(noisy, jpeg_quality=quality)
    finally:
        for k, v in saved.items():
            setattr(denoise, k, v)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 photos, 4 cases")
    parser.add_argument("--seed", type=int, default=9100, help="noise draw (the rule was fitted on 7000)")
    args = parser.parse_args()
    photos = QUICK_PHOTOS if args.quick else PHOTOS
    cases = [c for c in CASES if not args.quick or c[0] in QUICK_CASES]
    variants = {"shipped": {}, "unfloored": UNFLOORED}
    print(f"imgmend denoise JPEG bench  command: python bench/{' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:])}")
    print("margin = ours - best of (NLM, wavelet-cs) measured in the same run, dB; unfloored = the told noise"
          " without the quality-75 floor and cap")
    denoiser = denoise.Denoiser(threads=2)
    start = time.perf_counter()
    rows, margins = [], {(v, c[0]): [] for v in variants for c in cases}
    for ci, (case, make, quality) in enumerate(cases):
        for pi, name in enumerate(photos):
            clean = load(name)
            noisy, _ = as_jpeg(make(clean.astype(np.float64), np.random.default_rng(args.seed + 100 * ci + pi)), quality)
            base = best_baseline(clean, noisy)
            row = [case, name, denoise.noise_sigma(noisy), base]
            for v, overrides in variants.items():
                margin = psnr(clean, run(denoiser, noisy, quality, overrides)) - base
                margins[(v, case)].append(margin)
                row.append(margin)
            rows.append(row)
    table(["case", "photo", "est.s", "best dB", *variants], rows, ["s", "s", ".1f", ".2f", "+.2f", "+.2f"])
    print("\nper case: mean / worst photo margin")
    summary = [[case] + [f"{np.mean(margins[(v, case)]):+.2f} / {min(margins[(v, case)]):+.2f}" for v in variants]
               for case, _, _ in cases]
    table(["case", *variants], summary, ["s", "s", "s"])
    every = {v: [m for c, *_ in cases for m in margins[(v, c)]] for v in variants}
    print("\nall cases: " + "; ".join(f"{v} mean {np.mean(m):+.2f}, worst {min(m):+.2f}" for v, m in every.items())
          + f" — {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
