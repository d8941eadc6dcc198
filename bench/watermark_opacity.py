"""How much of the watermark remover's error is a wrong opacity: fitted vs told the true one.

Run from the repo root with the dev venv:  python bench/watermark_opacity.py [--set tuning|validation|held-out]
The remover fits the mark's colour and opacity once (lib/engines/local/watermark_removal._fit_mark),
then inverts the blend with them. This bench repeats bench/quality.py's text-mark cases (SAMPLE
centred, SAMPLE tiled, (c) imgmend tiled; white/black at 30/50/70 %; the user mask, grown 2 px) and
prints, per case, the fitted opacity's error and the PSNR inside the mark's footprint as shipped and
with the fitted opacity replaced by the true one (colour still fitted). The gap between the two is
what a better opacity estimate could gain; the tuning set is where such an estimate may be fitted,
the validation set where it is checked, the held-out set only ever scored.
"""

import argparse
import os
import sys
import time
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench import quality  # noqa: E402
from lib.engines.local import watermark_removal  # noqa: E402

# Grey scikit-image photos no setting was fitted on: they inform keep/drop decisions only.
VALIDATION_PHOTOS = ["immunohistochemistry", "brick", "coins", "grass", "gravel"]
SETS = {"tuning": quality.WATERMARK_PHOTOS, "validation": VALIDATION_PHOTOS,
        "held-out": quality.WATERMARK_HELD_OUT}
OPACITIES = (0.3, 0.5, 0.7)
COLOURS = (("white", 255), ("black", 0))
COLOUR_NAMES = {value: name for name, value in COLOURS}


def run_case(case):
    """(case, fitted opacity, PSNR as shipped, PSNR told the true opacity) for one marked photo."""
    name, mark, opacity, colour = case
    clean = quality.photo(name)
    layer = quality.MARKS[mark]((clean.shape[1], clean.shape[0]))
    truth, user = quality.footprint_and_user(layer)
    marked = Image.fromarray(quality.blend(clean, layer, opacity, colour))
    mask = Image.fromarray(user.astype(np.uint8) * 255)
    fit = watermark_removal._fit_mark
    found = []  # the shipped run's fit, kept for the told run

    def recorded(rgb, marks):
        found.append(fit(rgb, marks))
        return found[-1]

    def true_opacity(rgb, marks):
        # The fitted colour with the true opacity: the only thing changed is the number the fit returns.
        return None if found[0] is None else (found[0][0], opacity)

    try:
        watermark_removal._fit_mark = recorded
        shipped = watermark_removal.remove_watermark(marked, mask)
        watermark_removal._fit_mark = true_opacity
        told = watermark_removal.remove_watermark(marked, mask)
    finally:
        watermark_removal._fit_mark = fit
    fitted = found[0]
    return (case, None if fitted is None else fitted[1],
            quality.psnr(clean, np.asarray(shipped), truth), quality.psnr(clean, np.asarray(told), truth))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default="tuning")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    photos = SETS[args.set]
    cases = [(n, m, o, c) for n in photos for m in quality.TEXT_MARKS for o in OPACITIES for _, c in COLOURS]
    start = time.perf_counter()
    with Pool(args.jobs) as pool:
        results = pool.map(run_case, cases)
    print(f"watermark opacity bench, {args.set} photos: {', '.join(photos)}")
    print("command: python bench/watermark_opacity.py --set", args.set)
    rows = []
    for (name, mark, opacity, colour), fitted, shipped, told in results:
        error = "none" if fitted is None else f"{fitted - opacity:+.3f}"
        rows.append([name, mark, opacity, COLOUR_NAMES[colour], error, shipped, told, told - shipped])
    quality.table(["photo", "mark", "opac", "colour", "fit error", "shipped dB", "told dB", "gain"],
                  rows, ["s", "s", ".1f", "s", "s", ".2f", ".2f", "+.2f"])
    print("\nmeans inside the footprint (dB), shipped -> told the true opacity:")
    groups = [(m, lambda c, m=m: c[1] == m) for m in quality.TEXT_MARKS]
    groups += [(f"opacity {o}", lambda c, o=o: c[2] == o) for o in OPACITIES] + [("all", lambda c: True)]
    for label, keep in groups:
        chosen = [r for r in results if keep(r[0])]
        print(f"  {label:18s} {np.mean([r[2] for r in chosen]):6.2f} -> {np.mean([r[3] for r in chosen]):6.2f}")
    errors = [abs(r[1] - r[0][2]) for r in results if r[1] is not None]
    print(f"|fitted - true opacity|: median {np.median(errors):.4f}, mean {np.mean(errors):.4f},"
          f" max {np.max(errors):.4f}; {len(results) - len(errors)} cases fitted no overlay")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
