"""Quality of the local engine against baselines run in the same process, on skimage sample photos.

Run from the repo root with the dev venv:  python bench/quality.py [--quick] [--only TOOL ...]
Needs PyWavelets for the wavelet baseline and the sigma estimate (scikit-image imports it lazily).

Everything is deterministic (fixed seeds, fixed crops); only the s/MP timings vary with load.
Images: the colour photos that ship inside scikit-image at their native ~0.2-0.3 MP sizes; the
denoiser is scored on a held-out set first (bench/photos/: photos from the scikit-learn, matplotlib
and SciPy 1.9 wheels, plus scikit-image's hubble_deep_field and camera — never used to set anything)
and then on the tuning set its settings were fitted on (astronaut, chelsea, coffee, rocket).

Denoise     noisy copies: Gaussian sigma 15/25/50 (0..255), a camera-like Poisson-Gaussian case,
            the same followed by JPEG q=75 and q=90 (a phone's encoder), and Gaussian sigma 20
            followed by JPEG q=75 (Pillow, 4:2:0). Ours is blind: it gets the file the user would
            upload (PNG, or the JPEG) through lib.images.load_photo, as the pipeline does.
            Baselines: OpenCV fastNlMeansDenoisingColored with h = hColor = 0.7*sigma, the TRUE
            sigma on the Gaussian cases (an oracle it would not have in the product) and
            0.7*estimate_sigma() otherwise; skimage wavelet (BayesShrink, soft, YCbCr, sigma
            estimated), plain and with cycle spinning (16 shifts). PSNR and SSIM (skimage.metrics,
            7x7 uniform window, colour) against the clean photo; targets: +1.5 dB over the best
            baseline at sigma 25 and never below a photo's best baseline on noise + JPEG.
Background  synthetic composites with a known alpha: a geometric shape (ellipse, rounded box, wavy
            blob, head-and-shoulders silhouette) rendered at 4x, filled with a crop of one photo,
            edge softened (Gaussian, 1 px), pasted on a different photo or texture. Ground truth =
            alpha >= 0.5. Limits: smooth boundaries (no hair, no holes), no shadows or consistent
            lighting, and the subject is "pasted" (a saliency model may find that easier, or may
            prefer an object already in the background photo: the "cluttered" third of the set, reported
            apart). IoU of our
            alpha >= 0.5, boundary F-score at 3 px (Euclidean) tolerance. Baseline: GrabCut,
            5 iterations, box inset 5 % from every side of the frame. Two sets, held-out first: the
            held-out composites are built only from photos no background setting saw (flower, china,
            grace_hopper, camera); the tuning ones are those the edge refinement was measured on.
            Edge colour error: the cut-out on white against the true subject on white, in the true
            soft edge, with our colours and with the photo's own (what foreground estimation buys).
Watermark   white and black marks blended at opacity 0.3/0.5/0.7 through anti-aliased coverage:
            "SAMPLE" centred (font 16 % of the width), "SAMPLE" tiled at 30 deg (8 %), "(c) imgmend"
            tiled at 30 deg (6 %), a logo (ring + "imgmend", lower right). Masks: exact (coverage > 0),
            user (exact grown by 2 px, like a brush), detected (LocalEngine().detect_watermark: the
            learned detector, lib/watermark_detector.py). PSNR/SSIM
            "in" = over the exact footprint (the same pixels for every mask, so a missed mark
            counts), "all" = whole image. Detection: precision = detected pixels within 2 px of
            the footprint, recall = footprint pixels detected (as tests/engines/test_local.py); the
            Pillow-only heuristic lib.heuristic_mask is reported beside it as "heuristic".
            Baselines: cv2.inpaint TELEA and NS, radius 5, with the same masks. Removal is scored on
            held-out photos (china, flower, grace_hopper, camera, face, ascent) first, then on the tuning photos;
            the detection verdict comes from the tuning photos (the detector was trained on marks over
            china, flower and camera, so its figures there are not held out). Also: opaque and
            coloured marks, the editor's box mask, and the marked photo saved as JPEG 75/90 (ours
            told the upload's quality, as the pipeline tells it, and not told).
"""

import argparse
import datetime
import io
import math
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

from lib import images  # noqa: E402
from lib.engines.local import LocalEngine  # noqa: E402
from lib.heuristic_mask import detect_watermark as heuristic_detect  # noqa: E402
from tests.support.marks import box_round, footprint_and_mask  # noqa: E402

THREADS = int(os.environ.get("IMGMEND_LOCAL_THREADS", "2"))
cv2.setNumThreads(THREADS)

TUNING_PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]  # the settings were fitted on these
HELD_OUT_PHOTOS = ["china", "flower", "grace_hopper", "hubble_deep_field", "camera", "face", "ascent"]  # only ever scored
PHOTO_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "photos")  # see its README.md
WATERMARK_PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]  # the removal's settings were fitted on these
# Unseen by the removal's settings; the learned detector was trained on marks over china, flower and
# camera (tools/train_watermark.py), so detection figures on this set are not held out.
WATERMARK_HELD_OUT = ["china", "flower", "grace_hopper", "camera", "face", "ascent"]
TARGETS = {"denoise_margin_db": 1.5, "bg_iou": 0.92, "wm_db": 28.0, "det_p": 0.7, "det_r": 0.5}


# ---------- shared helpers ----------


def photo(name):
    found = [p for p in (os.path.join(PHOTO_FILES, name + ext) for ext in (".jpg", ".png")) if os.path.exists(p)]
    if found:
        path = found[0]
        with Image.open(path) as img:
            image = np.asarray(img.convert("RGB"))
    else:
        image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.dstack([image] * 3)
    return np.ascontiguousarray(image[..., :3])


def to_u8(x):
    return np.clip(np.asarray(x, np.float64) + 0.5, 0, 255).astype(np.uint8)


def psnr(ref, test, where=None):
    if where is None:
        return peak_signal_noise_ratio(ref, test, data_range=255)
    err = (ref.astype(np.float64) - test.astype(np.float64))[where] ** 2
    return 10 * math.log10(255.0**2 / max(float(err.mean()), 1e-10))


def ssim(ref, test):
    return structural_similarity(ref, test, channel_axis=-1, data_range=255)


def ssim_in_all(ref, test, where):
    """(mean SSIM map over `where`, mean over the whole image), the map computed on a crop.

    Outside the bounding box of the differences and `where` (plus the 7x7 window) both images are
    equal and the map is exactly 1, so only that box is computed.
    """
    changed = (ref != test).any(-1) | where
    ys, xs = np.nonzero(changed)
    if len(ys) == 0:
        return 1.0, 1.0
    h, w = where.shape
    y0, y1 = max(0, ys.min() - 8), min(h, ys.max() + 9)
    x0, x1 = max(0, xs.min() - 8), min(w, xs.max() + 9)
    _, smap = structural_similarity(ref[y0:y1, x0:x1], test[y0:y1, x0:x1], channel_axis=-1,
                                    data_range=255, full=True)
    smap = smap.mean(-1)
    inside = float(smap[where[y0:y1, x0:x1]].mean()) if where.any() else float("nan")
    overall = (float(smap.sum()) + (h * w - smap.size)) / (h * w)
    return inside, overall


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def table(headers, rows, formats):
    """Plain aligned text table; formats: one format spec per column ('s' for text)."""
    cells = [[(h if isinstance(h, str) else str(h)) for h in headers]]
    for row in rows:
        cells.append([
            ("—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, f))
            for v, f in zip(row, formats)
        ])
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(wd) if i == 0 or formats[i] == "s" else c.rjust(wd)
                               for i, (c, wd) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            lines.append("  ".join("-" * wd for wd in widths))
    print("\n".join(lines))


def mean(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return statistics.fmean(xs) if xs else float("nan")


def median(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")


def verdict(ok):
    return "MET" if ok else "MISSED"


def as_jpeg(rgb, quality):
    """(decoded uint8 RGB, file bytes) of `rgb` saved by Pillow's libjpeg (4:2:0) at `quality`."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    data = buf.getvalue()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), data


# ---------- denoise ----------


def poisson_gaussian(clean, rng, photons=60.0):
    """Camera-like noise: shot noise at `photons` photo-electrons at full white, read noise 3/255, per channel."""
    y = rng.poisson(clean / 255.0 * photons) / photons + rng.normal(0, 3 / 255, clean.shape)
    return to_u8(y * 255)


def wavelet(x):
    """scikit-image wavelet BayesShrink (soft, YCbCr, sigma estimated and rescaled) of an image."""
    from skimage.restoration import denoise_wavelet

    return denoise_wavelet(x, channel_axis=-1, convert2ycbcr=True, method="BayesShrink", mode="soft",
                           rescale_sigma=True)


def wavelet_cs(noisy):
    """`wavelet` with cycle spinning (max_shifts 3: 16 shifts averaged) of a uint8 image, as uint8."""
    from skimage.restoration import cycle_spin

    return to_u8(cycle_spin(noisy / 255.0, func=wavelet, max_shifts=3, channel_axis=-1, workers=1) * 255)


def noise_cases():
    """(name, make(clean, rng) -> (noisy uint8, file bytes the engine is given), true sigma or None)."""

    def as_png(noisy):
        buf = io.BytesIO()
        Image.fromarray(noisy).save(buf, "PNG", compress_level=1)
        return noisy, buf.getvalue()

    def gaussian(sigma):
        return lambda clean, rng: as_png(to_u8(clean + rng.normal(0, sigma, clean.shape)))

    def phone(quality):
        # What a phone writes: sensor noise, then its JPEG encoder.
        return lambda clean, rng: as_jpeg(poisson_gaussian(clean, rng), quality)

    def gauss_jpeg(clean, rng):
        return as_jpeg(to_u8(clean + rng.normal(0, 20, clean.shape)), 75)

    cases = [(f"gauss s={s}", gaussian(s), s) for s in (15, 25, 50)]
    cases.append(("poisson-gauss", lambda clean, rng: as_png(poisson_gaussian(clean, rng)), None))
    cases.append(("pg+jpeg75", phone(75), None))
    cases.append(("pg+jpeg90", phone(90), None))
    cases.append(("gauss20+jpeg75", gauss_jpeg, None))
    return cases


JPEG_CASES = ("pg+jpeg75", "pg+jpeg90", "gauss20+jpeg75")
BASELINES = ("NLM", "wavelet", "wavelet-cs")


def bench_denoise(engine, photo_sets):
    from skimage.restoration import estimate_sigma

    print("\n== DENOISE ==  ours = LocalEngine().run('denoise') on the decoded upload (blind; told the JPEG quality"
          " the file's tables say, as the pipeline does); PSNR dB / SSIM vs the clean photo")
    print("NLM = cv2.fastNlMeansDenoisingColored(h = hColor = 0.7*sigma; true sigma on the Gaussian cases,"
          " estimate_sigma otherwise), 7/21 windows")
    print("wavelet = skimage denoise_wavelet(BayesShrink, soft, YCbCr, sigma estimated, rescale_sigma);"
          " wavelet-cs = the same with cycle spinning (cycle_spin, max_shifts 3: 16 shifts averaged)")
    print("held-out photos: never used to set anything (bench/photos/README.md); tuning photos: the settings"
          " were fitted on them")

    def ours(data, told=True):
        upload = images.load_photo(data)
        options = {"jpeg_quality": upload.jpeg_quality} if told else {}
        return np.asarray(engine.run("denoise", upload.rgb(), options))

    engine.run("denoise", Image.fromarray(photo(photo_sets[0][1][0])), {})  # warm-up: model loading is not timed
    methods = ["noisy", "ours", *BASELINES]
    seconds = {m: [] for m in methods[1:]}
    summary, untold = {}, {}
    for set_name, photos in photo_sets:
        rows, results = [], {}
        for ci, (case, make, sigma) in enumerate(noise_cases()):
            for pi, name in enumerate(photos):
                clean = photo(name)
                noisy, data = make(clean.astype(np.float64), np.random.default_rng(1000 * ci + pi))
                mp = clean.shape[0] * clean.shape[1] / 1e6
                est = float(estimate_sigma(noisy, channel_axis=-1, average_sigmas=True))  # 0..255 units
                h = 0.7 * (sigma if sigma is not None else est)
                outs = {"noisy": noisy}
                outs["ours"], t = timed(lambda: ours(data))
                seconds["ours"].append(t / mp)
                outs["NLM"], t = timed(lambda: cv2.fastNlMeansDenoisingColored(noisy, None, h, h, 7, 21))
                seconds["NLM"].append(t / mp)
                wav, t = timed(lambda: wavelet(noisy))
                outs["wavelet"] = to_u8(wav * 255)
                seconds["wavelet"].append(t / mp)
                outs["wavelet-cs"], t = timed(lambda: wavelet_cs(noisy))
                seconds["wavelet-cs"].append(t / mp)
                scores = {m: (psnr(clean, outs[m]), ssim(clean, outs[m])) for m in methods}
                results[(case, name)] = scores
                if case in JPEG_CASES:  # what the JPEG-aware step adds: the same run, not told the quality
                    untold[(set_name, case, name)] = (scores["ours"][0], psnr(clean, ours(data, told=False)))
                row = [case, name, est]
                for m in methods:
                    row += list(scores[m])
                rows.append(row)
        headers = ["case", "photo", "est.s"]
        formats = ["s", "s", ".1f"]
        for m in methods:
            headers += [f"{m} dB", "SSIM"]
            formats += [".2f", ".3f"]
        print(f"\n-- {set_name} photos: {', '.join(photos)}")
        print("per photo:")
        table(headers, rows, formats)
        print("\nper case, mean over photos; margin = ours - best baseline (mean dB); worst = min over photos of"
              " ours - that photo's best baseline")
        srows = []
        for case, _, _ in noise_cases():
            means = {m: [mean([results[(case, p)][m][i] for p in photos]) for i in (0, 1)] for m in methods}
            best = max(means[m][0] for m in BASELINES)
            worst = min(results[(case, p)]["ours"][0] - max(results[(case, p)][m][0] for m in BASELINES) for p in photos)
            summary[(set_name, case)] = (means["ours"][0] - best, worst)
            srows.append([case, *(v for m in methods for v in means[m]), *summary[(set_name, case)]])
        table(["case"] + headers[3:] + ["margin", "worst"], srows, ["s"] + formats[3:] + ["+.2f", "+.2f"])

    print("\nthe JPEG-aware step: ours told the upload's JPEG quality vs the same run not told (mean dB | worst photo)")
    jrows = []
    for set_name, photos in photo_sets:
        for case in JPEG_CASES:
            pairs = [untold[(set_name, case, p)] for p in photos]
            jrows.append([set_name, case, mean([t for t, _ in pairs]), mean([u for _, u in pairs]),
                          mean([t - u for t, u in pairs]), min(t - u for t, u in pairs)])
    table(["photos", "case", "told dB", "not told dB", "gain", "worst"], jrows, ["s", "s", ".2f", ".2f", "+.2f", "+.2f"])

    print("\nspeed, s/MP over all runs (median | mean), threads =", THREADS)
    table(["method", "median s/MP", "mean s/MP"], [[m, median(seconds[m]), mean(seconds[m])] for m in methods[1:]],
          ["s", ".2f", ".2f"])

    ok = True
    for set_name, _ in photo_sets:
        margin25 = summary[(set_name, "gauss s=25")][0]
        jpeg_worst = min(summary[(set_name, c)][1] for c in JPEG_CASES)
        good = margin25 >= TARGETS["denoise_margin_db"] and jpeg_worst >= 0
        if set_name == photo_sets[0][0]:
            ok = good
        print(f"SUMMARY denoise ({set_name}): sigma 25 {margin25:+.2f} dB over the best baseline (target >= "
              f"+{TARGETS['denoise_margin_db']}); noise + JPEG worst photo {jpeg_worst:+.2f} dB against its best"
              f" baseline (target >= 0): {verdict(good)}")
    speed = median(seconds["ours"])
    print(f"SUMMARY denoise speed: {speed:.2f} s/MP median on these small photos (12 MP: bench/local_speed.py)")
    return ok


# ---------- background ----------


def shape_alpha(kind, size, soft=1.0, ss=4):
    """Soft alpha (float 0..1) of a shape filling most of a (w, h) box, rendered at ss x then blurred."""
    w, h = size
    big = Image.new("L", (w * ss, h * ss), 0)
    d = ImageDraw.Draw(big)
    W, H = w * ss, h * ss
    if kind == "ellipse":
        d.ellipse((0, 0, W - 1, H - 1), fill=255)
    elif kind == "rounded":
        d.rounded_rectangle((0, 0, W - 1, H - 1), radius=min(W, H) // 5, fill=255)
    elif kind == "blob":
        t = np.linspace(0, 2 * np.pi, 720, endpoint=False)
        r = 1 + 0.14 * np.sin(3 * t + 0.4) + 0.08 * np.cos(5 * t) + 0.05 * np.sin(8 * t + 1.0)
        r /= r.max()
        pts = list(zip(W / 2 + (W / 2 - 1) * r * np.cos(t), H / 2 + (H / 2 - 1) * r * np.sin(t)))
        d.polygon(pts, fill=255)
    elif kind == "person":  # head and shoulders
        head = 0.42 * W
        d.ellipse(((W - head) / 2, 0, (W + head) / 2, head * 1.2), fill=255)
        d.rounded_rectangle((0, head * 1.05, W - 1, H - 1), radius=int(0.3 * W), fill=255)
        d.rectangle((0, H * 0.8, W - 1, H - 1), fill=255)  # cut off by the frame like a portrait
    alpha = np.asarray(big.resize((w, h), Image.BOX), np.float32) / 255
    return cv2.GaussianBlur(alpha, (0, 0), soft) if soft else alpha


# Composites: shape, texture photo, (top, left) of the crop as shares, size as share of the min side;
# then per shape two backgrounds with no competing subject and one "cluttered" photo with its own
# salient object, where which object is "the subject" is ambiguous. The tuning set is the one the
# edge refinement was measured on; the held-out set uses only photos no background setting saw.
TUNING_COMPOSITES = (
    [("ellipse", "chelsea", (0.15, 0.35), 0.62), ("rounded", "coffee", (0.05, 0.15), 0.55),
     ("blob", "astronaut", (0.05, 0.25), 0.72), ("person", "immunohistochemistry", (0.1, 0.1), 0.70)],
    {"ellipse": ["rocket", "grass", "astronaut"], "rounded": ["gravel", "immunohistochemistry", "astronaut"],
     "blob": ["brick", "rocket", "coffee"], "person": ["grass", "hubble_deep_field", "coffee"]},
    (2,),  # which background of each row is cluttered
)
HELD_OUT_COMPOSITES = (
    [("ellipse", "flower", (0.1, 0.3), 0.62), ("rounded", "china", (0.15, 0.3), 0.55),
     ("blob", "grace_hopper", (0.05, 0.2), 0.72), ("person", "camera", (0.05, 0.2), 0.70)],
    {"ellipse": ["camera", "china", "grace_hopper"], "rounded": ["flower", "camera", "grace_hopper"],
     "blob": ["china", "camera", "flower"], "person": ["flower", "china", "grace_hopper"]},
    (0, 1, 2),  # every held-out background is a scene with its own subject: no plain ones ship unseen
)


def composites(subjects, backgrounds, cluttered):
    """(label, rgb uint8, truth bool, cluttered, alpha, foreground) per synthetic composite; fixed crops and placements."""
    out = []
    for si, (kind, tex_name, (ty, tx), share) in enumerate(subjects):
        tex = photo(tex_name)
        for bi, bg_name in enumerate(backgrounds[kind]):
            bg = photo(bg_name).astype(np.float32)
            if bg_name == "hubble_deep_field":
                bg = bg[200:712, 300:940]  # a 640x512 crop, the size of the others
            if bg_name in ("grass", "gravel", "brick", "camera"):  # grey photos: tint them so they look like colour
                tint = {"grass": (0.75, 1.0, 0.6), "gravel": (1.0, 0.95, 0.85), "brick": (1.0, 0.7, 0.55),
                        "camera": (0.95, 0.9, 0.8)}[bg_name]
                bg = bg * np.array(tint, np.float32)
            bh, bw = bg.shape[:2]
            sh = int(share * min(bh, bw))
            sw = int(sh * (0.75 if kind in ("person", "blob") else 1.1 if kind == "rounded" else 0.85))
            y0, x0 = int(ty * tex.shape[0]), int(tx * tex.shape[1])
            crop = tex[y0:y0 + sh, x0:x0 + sw]
            if crop.shape[:2] != (sh, sw):
                crop = cv2.resize(tex, (sw, sh), interpolation=cv2.INTER_AREA)
            a = shape_alpha(kind, (sw, sh))
            rng = np.random.default_rng(100 * si + bi)
            margin_y, margin_x = int(0.08 * bh), int(0.08 * bw)
            py = bh - sh if kind == "person" else int(rng.integers(margin_y, max(margin_y + 1, bh - sh - margin_y)))
            px = int(rng.integers(margin_x, max(margin_x + 1, bw - sw - margin_x)))
            alpha = np.zeros((bh, bw), np.float32)
            alpha[py:py + sh, px:px + sw] = a
            fg = np.zeros_like(bg)
            fg[py:py + sh, px:px + sw] = crop
            rgb = to_u8(alpha[..., None] * fg + (1 - alpha[..., None]) * bg)
            out.append((f"{kind}/{tex_name} on {bg_name}", rgb, alpha >= 0.5, bi in cluttered, alpha, fg))
    return out


def boundary(mask):
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)) > 0


def boundary_f(pred, truth, tol=3.0):
    bp, bt = boundary(pred), boundary(truth)
    if not bp.any() or not bt.any():
        return 0.0
    dist_t = cv2.distanceTransform((~bt).astype(np.uint8), cv2.DIST_L2, 5)
    dist_p = cv2.distanceTransform((~bp).astype(np.uint8), cv2.DIST_L2, 5)
    precision = float((dist_t[bp] <= tol).mean())
    recall = float((dist_p[bt] <= tol).mean())
    return 2 * precision * recall / max(precision + recall, 1e-9)


def iou(pred, truth):
    return float((pred & truth).sum() / max((pred | truth).sum(), 1))


def grabcut(rgb, rect=None, labels=None):
    """GrabCut's foreground (bool) after 5 iterations, started from `labels` (a cv2.GC_* uint8 map) if
    given, else from `rect` (x, y, w, h; default the photo inset 5 % per side)."""
    h, w = rgb.shape[:2]
    if labels is None:
        rect = rect or (int(0.05 * w), int(0.05 * h), int(0.9 * w), int(0.9 * h))
        mask, mode = np.zeros((h, w), np.uint8), cv2.GC_INIT_WITH_RECT
    else:
        rect, mask, mode = None, labels.copy(), cv2.GC_INIT_WITH_MASK
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(rgb[..., ::-1]), mask, rect, bgd, fgd, 5, mode)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def bench_background(engine, quick):
    """Both composite sets, held-out first; the verdict is the held-out set's."""
    print("\n== BACKGROUND ==  synthetic composites with a known alpha (see the docstring for the set and its"
          " limits)")
    verdicts = [bench_composites(engine, quick, name, composites(*spec))
                for name, spec in (("held-out", HELD_OUT_COMPOSITES), ("tuning", TUNING_COMPOSITES))]
    return verdicts[0]


def bench_composites(engine, quick, set_name, sets):
    print(f"\n-- {set_name} composites")
    print("ours = LocalEngine().run('remove_bg') alpha >= 0.5; GrabCut = 5 iterations, box inset 5 % per side;"
          " BF = boundary F-score at 3 px")
    if quick:
        sets = sets[::3] + sets[2::3]

    def ours(rgb):
        return np.asarray(engine.run("remove_bg", Image.fromarray(rgb), {}))

    def halo(rgba, rgb, alpha, fg):
        # The cut-out on white against the true subject on white, in the true soft edge: mean
        # absolute error (0..255) with our colours, and with the photo's own colours under our alpha.
        band = (alpha > 0.02) & (alpha < 0.98)
        a = rgba[..., 3:].astype(np.float32) / 255
        truth = alpha[..., None] * fg + (1 - alpha[..., None]) * 255
        errors = [np.abs(a * colours.astype(np.float32) + (1 - a) * 255 - truth)[band].mean()
                  for colours in (rgba[..., :3], rgb)]
        return tuple(errors)

    ours(sets[0][1])  # warm-up
    rows, res, cluttered, halos = [], [], [], []
    for label, rgb, truth, clutter, alpha, fg in sets:
        cluttered.append(clutter)
        mp = rgb.shape[0] * rgb.shape[1] / 1e6
        rgba, t_ours = timed(lambda: ours(rgb))
        pred = rgba[..., 3] >= 128
        halos.append(halo(rgba, rgb, alpha, fg))
        gc, t_gc = timed(lambda: grabcut(rgb))
        r = (iou(pred, truth), boundary_f(pred, truth), iou(gc, truth), boundary_f(gc, truth), t_ours / mp, t_gc / mp)
        res.append(r)
        rows.append([label + (" (cluttered)" if clutter else ""), f"{rgb.shape[1]}x{rgb.shape[0]}", 100 * truth.mean(), *r,
                     *halos[-1]])
    headers = ["composite", "size", "subj %", "ours IoU", "ours BF", "GrabCut IoU", "GrabCut BF", "ours s/MP",
               "GrabCut s/MP", "edge err", "photo colours"]
    formats = ["s", "s", ".0f", ".3f", ".3f", ".3f", ".3f", ".2f", ".2f", ".1f", ".1f"]
    print("edge err = the cut-out on white vs the true subject on white in the true soft edge (mean |error|, 0..255);"
          " photo colours = the same with the photo's own colours under our alpha (no foreground estimation)")
    table(headers, rows, formats)
    print(f"edge colour error ({set_name}), mean over composites: ours {mean([h[0] for h in halos]):.1f}, with the photo's own"
          f" colours {mean([h[1] for h in halos]):.1f}")
    headers = headers[:-2]
    groups = {"plain": [r for r, c in zip(res, cluttered) if not c], "all": res}
    groups = {group: rs for group, rs in groups.items() if rs}
    for group, rs in groups.items():
        for stat, fn in (("mean", mean), ("median", median)):
            print(f"{group:5} {stat:6}", "  ".join(f"{h} {fn([r[i] for r in rs]):.3f}" for i, h in enumerate(headers[3:])))
    ok = True
    for group, rs in groups.items():
        ours_iou, gc_iou = mean([r[0] for r in rs]), mean([r[2] for r in rs])
        worst = min(r[0] for r in rs)
        # The issue asks for the target on every composite: the worst one decides.
        good = worst >= TARGETS["bg_iou"] and ours_iou > gc_iou
        ok = ok and good
        print(f"{'SUMMARY background' if group == next(iter(groups)) else '                  '} ({set_name}, {group}, n={len(rs)}): mean IoU "
              f"{ours_iou:.3f} (worst {worst:.3f}; target: every one >= {TARGETS['bg_iou']}) vs GrabCut {gc_iou:.3f}; mean BF "
              f"{mean([r[1] for r in rs]):.3f} vs {mean([r[3] for r in rs]):.3f}: {verdict(good)}")
    return ok


# ---------- watermark ----------


def _font(px):
    return ImageFont.load_default(size=max(8, int(px)))


def text_centred(size, text, share):
    layer = Image.new("L", size, 0)
    draw = ImageDraw.Draw(layer)
    font = _font(size[0] * share)
    l, t, r, b = draw.textbbox((0, 0), text, font=font)
    draw.text(((size[0] - r + l) // 2 - l, (size[1] - b + t) // 2 - t), text, fill=255, font=font)
    return layer


def text_tiled(size, text, share, angle=30):
    w, h = size
    side = int(math.hypot(w, h)) + 40
    big = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(big)
    font = _font(w * share)
    l, t, r, b = draw.textbbox((0, 0), text, font=font)
    tw, th = r - l, b - t
    step_x, step_y = int(tw * 1.6), int(th * 3.2)
    for row, y in enumerate(range(0, side, step_y)):
        for x in range(-(row % 2) * step_x // 2, side, step_x):
            draw.text((x - l, y - t), text, fill=255, font=font)
    big = big.rotate(angle, resample=Image.BILINEAR)
    x0, y0 = (side - w) // 2, (side - h) // 2
    return big.crop((x0, y0, x0 + w, y0 + h))


def logo(size, share=0.07):
    w, h = size
    layer = Image.new("L", size, 0)
    draw = ImageDraw.Draw(layer)
    radius = int(w * share)
    font = _font(w * share * 1.1)
    l, t, r, b = draw.textbbox((0, 0), "imgmend", font=font)
    total = 2 * radius + radius // 2 + (r - l)
    x0 = w - total - int(0.06 * w)
    cy = h - radius - int(0.08 * h)
    draw.ellipse((x0, cy - radius, x0 + 2 * radius, cy + radius), outline=255, width=max(2, radius // 4))
    draw.text((x0 + 2 * radius + radius // 2 - l, cy - (b - t) // 2 - t), "imgmend", fill=255, font=font)
    return layer


MARKS = {
    "SAMPLE centred": lambda s: text_centred(s, "SAMPLE", 0.16),
    "SAMPLE tiled": lambda s: text_tiled(s, "SAMPLE", 0.08),
    "(c) imgmend tiled": lambda s: text_tiled(s, "© imgmend", 0.06),
    "logo": lambda s: logo(s),
}
TEXT_MARKS = ("SAMPLE centred", "SAMPLE tiled", "(c) imgmend tiled")


def footprint_and_user(layer):
    """(footprint, user mask) as bool arrays: the mark's pixels, and those grown by 2 px like a brush."""
    truth, mask = footprint_and_mask(layer)
    return truth, mask > 0


def blend(clean, layer, opacity, colour):
    alpha = np.asarray(layer, np.float32)[..., None] / 255 * opacity
    return to_u8(clean.astype(np.float32) * (1 - alpha) + np.float32(colour) * alpha)


def bench_watermark(engine, photos, opacities, set_name="tuning"):
    print(f"\n== WATERMARK ({set_name} photos) ==  PSNR/SSIM 'in' = over the exact mark footprint, 'all' = whole image;"
          " means over photos:", ", ".join(photos))
    print("masks: exact = coverage > 0; user = exact grown by 2 px; det = LocalEngine().detect_watermark (learned);"
          " TELEA/NS = cv2.inpaint r=5 with the same mask")
    methods = ["ours", "TELEA", "NS"]
    masks = ["exact", "user", "det"]
    records = []  # dicts
    clean_alarm, heur_alarm = [], []
    engine.run("remove_watermark", Image.fromarray(photo(photos[0])),
               {"mask": Image.new("L", Image.fromarray(photo(photos[0])).size, 0)})
    total_s = {m: [] for m in methods}
    det_seconds = []
    for name in photos:
        clean = photo(name)
        size = (clean.shape[1], clean.shape[0])
        mp = clean.shape[0] * clean.shape[1] / 1e6
        clean_alarm.append(float((np.asarray(engine.detect_watermark(Image.fromarray(clean))) > 127).mean()))
        heur_alarm.append(float((np.asarray(heuristic_detect(Image.fromarray(clean))) > 127).mean()))
        for mark, make in MARKS.items():
            layer = make(size)
            truth, user = footprint_and_user(layer)
            for opacity in opacities:
                for colour_name, colour in (("white", 255), ("black", 0)):
                    marked = blend(clean, layer, opacity, colour)
                    marked_img = Image.fromarray(marked)
                    det, det_s = timed(lambda: np.asarray(engine.detect_watermark(marked_img)) > 127)
                    det_seconds.append(det_s / mp)
                    heur = np.asarray(heuristic_detect(marked_img)) > 127
                    near = user  # within 2 px of the footprint
                    rec = {"photo": name, "mark": mark, "opacity": opacity, "colour": colour_name,
                           "det_tp_p": int((det & near).sum()), "det_n": int(det.sum()),
                           "det_tp_r": int((det & truth).sum()), "truth_n": int(truth.sum()),
                           "heur_tp_p": int((heur & near).sum()), "heur_n": int(heur.sum()),
                           "heur_tp_r": int((heur & truth).sum()),
                           "marked": (psnr(clean, marked, truth), psnr(clean, marked)) + ssim_in_all(clean, marked, truth)}
                    rec["precision"] = rec["det_tp_p"] / rec["det_n"] if rec["det_n"] else float("nan")
                    rec["recall"] = rec["det_tp_r"] / rec["truth_n"]
                    for mask_name, m in (("exact", truth), ("user", user), ("det", det)):
                        m8 = m.astype(np.uint8) * 255
                        runs = {"ours": lambda: np.asarray(engine.run(
                                    "remove_watermark", marked_img, {"mask": Image.fromarray(m8, "L")})),
                                "TELEA": lambda: cv2.inpaint(marked, m8, 5, cv2.INPAINT_TELEA),
                                "NS": lambda: cv2.inpaint(marked, m8, 5, cv2.INPAINT_NS)}
                        outs = {}
                        for meth in methods:
                            outs[meth], t = timed(runs[meth])
                            if mask_name == "user":
                                total_s[meth].append(t / mp)
                                # the generous mask's pixels that carry no mark
                                rec[(meth, "unmarked")] = psnr(clean, outs[meth], user & ~truth)
                        for meth in methods:
                            s_in, s_all = ssim_in_all(clean, outs[meth], truth)
                            rec[(meth, mask_name)] = (psnr(clean, outs[meth], truth), psnr(clean, outs[meth]), s_in, s_all)
                    records.append(rec)

    def group_rows(metric_index, fmt):
        rows = []
        for mark in MARKS:
            for opacity in opacities:
                for colour_name in ("white", "black"):
                    sel = [r for r in records if r["mark"] == mark and r["opacity"] == opacity and r["colour"] == colour_name]
                    row = [mark, f"{opacity:.1f}", colour_name, mean([r["marked"][metric_index] for r in sel])]
                    for mask_name in masks:
                        for meth in methods:
                            row.append(mean([r[(meth, mask_name)][metric_index] for r in sel]))
                    rows.append(row)
        headers = ["mark", "opac", "colour", "marked"] + [f"{meth}/{mk}" for mk in masks for meth in methods]
        table(headers, rows, ["s", "s", "s"] + [fmt] * (1 + len(masks) * len(methods)))

    print("\nPSNR in the footprint (dB), mean over photos:")
    group_rows(0, ".2f")
    print("\nSSIM in the footprint, mean over photos:")
    group_rows(2, ".3f")

    print("\nall cases pooled (mean | median over photo x mark x opacity x colour):")
    rows = [["marked", "—", mean([r["marked"][0] for r in records]), median([r["marked"][0] for r in records]),
             mean([r["marked"][2] for r in records]), mean([r["marked"][1] for r in records]),
             median([r["marked"][1] for r in records]), mean([r["marked"][3] for r in records])]]
    for mask_name in masks:
        for meth in methods:
            vals = [r[(meth, mask_name)] for r in records]
            rows.append([meth, mask_name, mean([v[0] for v in vals]), median([v[0] for v in vals]),
                         mean([v[2] for v in vals]), mean([v[1] for v in vals]), median([v[1] for v in vals]),
                         mean([v[3] for v in vals])])
    table(["method", "mask", "in dB mean", "in dB median", "in SSIM", "all dB mean", "all dB median", "all SSIM"],
          rows, ["s", "s", ".2f", ".2f", ".3f", ".2f", ".2f", ".3f"])
    print("pixels of the user mask that carry no mark (PSNR dB, mean | median):",
          ", ".join(f"{m} {mean([r[(m, 'unmarked')] for r in records]):.2f} | "
                    f"{median([r[(m, 'unmarked')] for r in records]):.2f}" for m in methods))
    print("speed with the user mask, s/MP median:",
          ", ".join(f"{m} {median(total_s[m]):.2f}" for m in methods))

    print("\ndetection (precision: detected pixels within 2 px of the footprint; recall: footprint pixels"
          " detected; pooled pixel counts over photos; 'empty' = photos with an empty mask):")
    rows = []
    for mark in MARKS:
        for opacity in opacities:
            for colour_name in ("white", "black"):
                sel = [r for r in records if r["mark"] == mark and r["opacity"] == opacity and r["colour"] == colour_name]
                tp_p, n = sum(r["det_tp_p"] for r in sel), sum(r["det_n"] for r in sel)
                tp_r, tn = sum(r["det_tp_r"] for r in sel), sum(r["truth_n"] for r in sel)
                hp, hn, hr = (sum(r[k] for r in sel) for k in ("heur_tp_p", "heur_n", "heur_tp_r"))
                rows.append([mark, f"{opacity:.1f}", colour_name, tp_p / n if n else float("nan"), tp_r / tn,
                             f"{sum(1 for r in sel if r['det_n'] == 0)}/{len(sel)}", hp / hn if hn else float("nan"),
                             hr / tn, f"{sum(1 for r in sel if r['heur_n'] == 0)}/{len(sel)}"])
    table(["mark", "opac", "colour", "precision", "recall", "empty", "heuristic P", "heuristic R", "heur. empty"], rows,
          ["s", "s", "s", ".2f", ".2f", "s", ".2f", ".2f", "s"])
    hp, hn, hr = (sum(r[k] for r in records) for k in ("heur_tp_p", "heur_n", "heur_tp_r"))
    tn = sum(r["truth_n"] for r in records)
    print(f"heuristic (lib.heuristic_mask, baseline): pooled precision {hp / hn if hn else 0.0:.3f}, recall "
          f"{hr / tn:.3f}; empty masks {sum(1 for r in records if r['heur_n'] == 0)}/{len(records)}; flagged on the "
          "clean photos: " + ", ".join(f"{100 * a:.2f} %" for a in heur_alarm))
    print(f"learned detector speed: {median(det_seconds):.2f} s/MP median")
    tp_p, n = sum(r["det_tp_p"] for r in records), sum(r["det_n"] for r in records)
    tp_r, tn = sum(r["det_tp_r"] for r in records), sum(r["truth_n"] for r in records)
    pooled_p, pooled_r = (tp_p / n if n else 0.0), tp_r / tn
    print(f"pooled: precision {pooled_p:.3f}, recall {pooled_r:.3f}; per case median precision "
          f"{median([r['precision'] for r in records]):.3f} (non-empty only), median recall "
          f"{median([r['recall'] for r in records]):.3f}; empty masks {sum(1 for r in records if r['det_n'] == 0)}"
          f"/{len(records)}; flagged on the clean photos: " + ", ".join(f"{100 * a:.2f} %" for a in clean_alarm))

    text = [r for r in records if r["mark"] in TEXT_MARKS]
    ours_user = mean([r[("ours", "user")][0] for r in text])
    telea_user = mean([r[("TELEA", "user")][0] for r in text])
    per_op = ", ".join(f"{o:.1f}: {mean([r[('ours', 'user')][0] for r in text if r['opacity'] == o]):.2f}"
                       for o in opacities)
    ok_wm = ours_user >= TARGETS["wm_db"]
    print(f"\nSUMMARY watermark ({set_name}): text marks, user mask, inside the footprint: ours {ours_user:.2f} dB mean "
          f"(by opacity {per_op}) vs TELEA {telea_user:.2f} (target >= {TARGETS['wm_db']}): {verdict(ok_wm)}")
    ok_det = pooled_p >= TARGETS["det_p"] and pooled_r >= TARGETS["det_r"]
    print(f"SUMMARY detection ({set_name}): pooled precision {pooled_p:.3f} at recall {pooled_r:.3f} (target precision >= "
          f"{TARGETS['det_p']} at recall >= {TARGETS['det_r']}): {verdict(ok_det)}")
    return ok_wm, ok_det


# Beyond the white and black overlays above: opaque marks (nothing survives: inpainting is all that
# is left), and coloured ones. Same marks and generous mask; opacity 1.0 for opaque, 0.5 and 1.0 in colour.
OTHER_MARKS = ("logo", "SAMPLE centred", "SAMPLE tiled")
OTHER_COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0), "red": (220, 30, 30), "blue": (30, 90, 200),
                 "yellow": (250, 200, 0)}


def bench_watermark_other(engine, photos, set_name):
    """Opaque and coloured marks with the user mask: ours vs TELEA/NS inside the footprint and on the
    mask's unmarked pixels; the verdict is the opaque logo's (the issue's target for opaque marks)."""
    print(f"\n== WATERMARK, opaque and coloured marks ({set_name} photos) ==  user mask (footprint grown by 2 px);"
          " PSNR dB inside the footprint | on the mask's unmarked pixels, mean over photos:", ", ".join(photos))
    cases = [(c, 1.0) for c in OTHER_COLOURS] + [(c, o) for c in ("red", "blue", "yellow") for o in (0.5,)]
    rows, results = [], {}
    for mark in OTHER_MARKS:
        for colour_name, opacity in cases:
            got = []
            for name in photos:
                clean = photo(name)
                layer = MARKS[mark]((clean.shape[1], clean.shape[0]))
                truth, user = footprint_and_user(layer)
                m8 = user.astype(np.uint8) * 255
                marked = blend(clean, layer, opacity, OTHER_COLOURS[colour_name])
                outs = [np.asarray(engine.run("remove_watermark", Image.fromarray(marked), {"mask": Image.fromarray(m8, "L")})),
                        cv2.inpaint(marked, m8, 5, cv2.INPAINT_TELEA), cv2.inpaint(marked, m8, 5, cv2.INPAINT_NS)]
                got.append([v for out in outs for v in (psnr(clean, out, truth), psnr(clean, out, user & ~truth))])
            results[(mark, colour_name, opacity)] = [mean(col) for col in zip(*got)]
            rows.append([mark, f"{opacity:.1f}", colour_name, *results[(mark, colour_name, opacity)]])
    table(["mark", "opac", "colour", "ours in", "ours unmarked", "TELEA in", "TELEA unmarked", "NS in", "NS unmarked"],
          rows, ["s", "s", "s"] + [".2f"] * 6)

    def summary(label, keys):
        vals = [results[k] for k in keys]
        return (f"{label}: ours {mean([v[0] for v in vals]):.2f} dB inside (unmarked {mean([v[1] for v in vals]):.2f})"
                f" vs TELEA {mean([v[2] for v in vals]):.2f} ({mean([v[3] for v in vals]):.2f})"), mean([v[0] for v in vals])

    logo_line, logo_db = summary("logo", [("logo", c, 1.0) for c in ("white", "black")])
    text_line, _ = summary("text", [(m, c, 1.0) for m in OTHER_MARKS[1:] for c in ("white", "black")])
    colour_line, _ = summary("coloured (red/blue/yellow at 0.5 and 1.0)",
                             [k for k in results if k[1] in ("red", "blue", "yellow")])
    ok = logo_db >= TARGETS["wm_db"]
    print(f"SUMMARY watermark opaque ({set_name}), white/black at 100 %, user mask: {logo_line}; {text_line}"
          f" (target for opaque logos >= {TARGETS['wm_db']}): {verdict(ok)}")
    print(f"        watermark coloured ({set_name}): {colour_line}")

    # The editor's Box tool: a rectangle 8 px round the mark, mostly photo.
    got = []
    for name in photos:
        clean = photo(name)
        for mark in OTHER_MARKS[:2]:
            layer = MARKS[mark]((clean.shape[1], clean.shape[0]))
            truth = np.asarray(layer) > 0
            box = box_round(truth)
            for colour_name in ("white", "black", "red"):
                for opacity in (0.3, 0.5, 0.7, 1.0):
                    marked = blend(clean, layer, opacity, OTHER_COLOURS[colour_name])
                    out = np.asarray(engine.run("remove_watermark", Image.fromarray(marked),
                                                {"mask": Image.fromarray(box, "L")}))
                    telea = cv2.inpaint(marked, box, 5, cv2.INPAINT_TELEA)
                    got.append((psnr(clean, out, truth), psnr(clean, out, (box > 0) & ~truth), psnr(clean, telea, truth),
                                psnr(clean, telea, (box > 0) & ~truth)))
    print(f"        watermark in a box ({set_name}; logo and centred text, white/black/red at 0.3-1.0): ours"
          f" {mean([g[0] for g in got]):.2f} dB inside (unmarked {mean([g[1] for g in got]):.2f}) vs TELEA"
          f" {mean([g[2] for g in got]):.2f} ({mean([g[3] for g in got]):.2f})")
    return ok


JPEG_QUALITIES = (75, 90)  # what a watermarked photo saved for the web usually is


def bench_watermark_jpeg(engine, photos, set_name):
    """Text and logo marks saved as JPEG after marking (as photos on the web are): ours told the
    upload's quality vs not told vs TELEA, user mask; inside the footprint | the mask's unmarked pixels."""
    print(f"\n== WATERMARK, marked photo saved as JPEG ({set_name} photos) ==  user mask; Pillow JPEG 4:2:0;"
          " PSNR dB against the clean photo, mean over photos:", ", ".join(photos))
    results = {}
    for name in photos:
        clean = photo(name)
        for mark in MARKS:
            layer = MARKS[mark]((clean.shape[1], clean.shape[0]))
            truth, user = footprint_and_user(layer)
            given = {"mask": Image.fromarray(user.astype(np.uint8) * 255, "L")}
            for opacity in (0.3, 0.5, 0.7):
                for colour in (255, 0):
                    for quality in JPEG_QUALITIES:
                        marked, data = as_jpeg(blend(clean, layer, opacity, colour), quality)
                        upload = images.load_photo(data)  # the quality as the pipeline reads it from the file
                        outs = [engine.run("remove_watermark", upload.rgb(), {**given, "jpeg_quality": upload.jpeg_quality}),
                                engine.run("remove_watermark", upload.rgb(), given),
                                cv2.inpaint(marked, user.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)]
                        results.setdefault((quality, opacity), []).append(
                            [v for out in outs for v in (psnr(clean, np.asarray(out), truth),
                                                         psnr(clean, np.asarray(out), user & ~truth))])
    rows = [[f"{q}", f"{o:.1f}", *(mean(col) for col in zip(*results[(q, o)]))] for q, o in sorted(results)]
    table(["JPEG q", "opac", "told in", "told unmarked", "not told in", "not told unmarked", "TELEA in", "TELEA unmarked"],
          rows, ["s", "s"] + [".2f"] * 6)
    for quality in JPEG_QUALITIES:
        cases = [r for (q, _), rs in results.items() if q == quality for r in rs]
        worst = min(r[0] - r[2] for r in cases)
        print(f"SUMMARY watermark JPEG {quality} ({set_name}): told {mean([r[0] for r in cases]):.2f} dB inside (unmarked"
              f" {mean([r[1] for r in cases]):.2f}) vs not told {mean([r[2] for r in cases]):.2f}"
              f" ({mean([r[3] for r in cases]):.2f}), worst case {worst:+.2f}; TELEA {mean([r[4] for r in cases]):.2f}"
              f" ({mean([r[5] for r in cases]):.2f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 photos per tool, half the composites, opacity 0.5 only")
    parser.add_argument("--only", nargs="+", choices=["denoise", "background", "watermark"])
    args = parser.parse_args()
    tools = args.only or ["denoise", "background", "watermark"]
    if "denoise" in tools:
        try:
            import pywt  # noqa: F401  (skimage's wavelet denoiser and estimate_sigma need it)
        except ImportError:
            sys.exit("bench/quality.py: the denoise part needs PyWavelets (pip install PyWavelets==1.9.0),"
                     " or run it with --only background watermark")

    import onnxruntime
    import PIL
    print(f"imgmend quality bench  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
    print("command: python bench/" + " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]))
    print(f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__}, scikit-image "
          f"{skimage.__version__}, pillow {PIL.__version__}, onnxruntime {onnxruntime.__version__}; "
          f"{os.cpu_count()} CPUs, {THREADS} threads per model")

    engine = LocalEngine()
    start = time.perf_counter()
    outcome = {}
    if "denoise" in tools:
        sets = [("held-out", HELD_OUT_PHOTOS), ("tuning", TUNING_PHOTOS)]
        outcome["denoise"] = bench_denoise(engine, [(n, p[:2]) for n, p in sets] if args.quick else sets)
    if "background" in tools:
        outcome["background"] = bench_background(engine, args.quick)
    if "watermark" in tools:
        opacities = (0.5,) if args.quick else (0.3, 0.5, 0.7)
        outcome["watermark"], _ = bench_watermark(
            engine, WATERMARK_HELD_OUT[:2] if args.quick else WATERMARK_HELD_OUT, opacities, "held-out")
        _, outcome["detection"] = bench_watermark(
            engine, WATERMARK_PHOTOS[:2] if args.quick else WATERMARK_PHOTOS, opacities, "tuning")
        outcome["watermark opaque"] = bench_watermark_other(
            engine, WATERMARK_HELD_OUT[:2] if args.quick else WATERMARK_HELD_OUT, "held-out")
        bench_watermark_other(engine, WATERMARK_PHOTOS[:2] if args.quick else WATERMARK_PHOTOS, "tuning")
        for set_name, photos in (("held-out", WATERMARK_HELD_OUT), ("tuning", WATERMARK_PHOTOS)):
            bench_watermark_jpeg(engine, photos[:2] if args.quick else photos, set_name)
    print("\ntargets:", ", ".join(f"{k} {verdict(v)}" for k, v in outcome.items()),
          f"— total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
